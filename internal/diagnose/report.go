package diagnose

import "time"

// Causes: the values of Report.Verdict and Incident.Cause (SPEC §7).
const (
	CauseSNATExhaustion    = "snat-exhaustion"
	CauseBackendErrors     = "backend-errors"
	CauseBackendTimeouts   = "backend-timeouts"
	CauseClientDisconnects = "client-disconnects"
	CauseThrottling        = "throttling"
	CauseCircuitOpen       = "circuit-open"
	CauseHealthy           = "healthy"
)

// Report is the result of an analysis. Its JSON form is the stable schema
// of SPEC §7: fields may be added, never renamed.
type Report struct {
	Window       Window         `json:"window"`
	Totals       Totals         `json:"totals"`
	Verdict      string         `json:"verdict"`
	Incidents    []Incident     `json:"incidents"`
	Mitigations  []Mitigation   `json:"mitigations"`
	Series       Series         `json:"series"`
	Destinations []Destination  `json:"destinations"`
	Inputs       []InputSummary `json:"inputs"`
	BadLines     []BadLine      `json:"badLineSamples"`
	Thresholds   Thresholds     `json:"thresholds"`
}

// Window is the time span the logs cover.
type Window struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// Totals counts every record read.
type Totals struct {
	Requests                  int64 `json:"requests"`
	Failed                    int64 `json:"failed"`
	BackendConnectionFailures int64 `json:"backendConnectionFailures"`
	BadLines                  int64 `json:"badLines"`
	BackendErrors             int64 `json:"backendErrors"`
	Timeouts                  int64 `json:"timeouts"`
	ClientDisconnects         int64 `json:"clientDisconnects"`
	Throttled                 int64 `json:"throttled"`
	CircuitOpen               int64 `json:"circuitOpen"`
}

// Incident is a span of consecutive analysis windows with the same cause
// (and, where the cause has one, the same destination).
type Incident struct {
	Start      time.Time `json:"start"`
	End        time.Time `json:"end"`
	Cause      string    `json:"cause"`
	BackendURL string    `json:"backendUrl,omitempty"`
	// BackendID is the backend entity the log names for BackendURL (its
	// BackendId column), empty when the log has none.
	BackendID      string `json:"backendId,omitempty"`
	FailedRequests int64  `json:"failedRequests"`
	Requests       int64  `json:"requests"`
	// Evidence says in words and numbers why the cause was chosen.
	Evidence []string        `json:"evidence"`
	Metrics  IncidentMetrics `json:"metrics"`
}

// IncidentMetrics are the numbers behind an incident's evidence.
type IncidentMetrics struct {
	FailureRatio              float64 `json:"failureRatio"`              // cause events / requests
	DestinationShare          float64 `json:"destinationShare"`          // share of the cause events on BackendURL
	NoBackendCodeShare        float64 `json:"noBackendCodeShare"`        // connection failures without a backend response code
	RefusedShare              float64 `json:"refusedShare"`              // connection failures whose message says refused/unresolvable
	GatewaySNATShare          float64 `json:"gatewaySnatShare"`          // connection failures apimgw's own SNAT budget refused (its LastErrorDetail)
	PeakRequestsPerMinute     int64   `json:"peakRequestsPerMinute"`     // towards BackendURL, or all when none
	AvgBackendTime            float64 `json:"avgBackendTime"`            // ms, answered requests
	P95BackendTime            float64 `json:"p95BackendTime"`            // ms, all destinations
	PeakConcurrency           float64 `json:"peakConcurrency"`           // Little's law, busiest minute
	PeakPortsWithoutReuse     float64 `json:"peakPortsWithoutReuse"`     // new connection per request, busiest minute
	BaselineRequestsPerMinute float64 `json:"baselineRequestsPerMinute"` // median of healthy windows
	BaselineAvgBackendTime    float64 `json:"baselineAvgBackendTime"`    // ms, median of healthy windows
	LoadCorrelation           float64 `json:"loadCorrelation"`           // Pearson r, per-minute attempts vs connection failures on BackendURL
}

// Mitigation is one remedy, with the configuration that applies it.
type Mitigation struct {
	ID    string `json:"id"`
	Rank  int    `json:"rank"` // 1 = least invasive
	Title string `json:"title"`
	// Config is the apimgw configuration (gateway.yaml or policy XML).
	Config string `json:"config"`
	// Azure is the equivalent setting for a team that stays on Azure APIM.
	Azure string `json:"azure"`
	// ExpectedEffect is computed from the analysed data.
	ExpectedEffect string `json:"expectedEffect"`
	// For lists the causes the mitigation addresses.
	For []string `json:"for"`
}

// Series holds the time series behind the charts.
type Series struct {
	OneMinute []Point `json:"1m"`
	// ConnectionFailures5m is the seed's first query: BackendConnectionFailure
	// per 5 minutes by BackendUrl (non-zero bins only).
	ConnectionFailures5m []DestinationBin `json:"connectionFailures5m"`
	// Fine is the traffic of a log spanning less than 5 minutes in bins of
	// FineBinMs milliseconds (100 ms to 30 s, at most 60 bins), for its
	// charts; absent for longer logs. Counts are per bin, not per minute.
	Fine      []Point `json:"fine,omitempty"`
	FineBinMs int64   `json:"fineBinMs,omitempty"`
}

// Point is one minute of traffic.
type Point struct {
	T                         time.Time `json:"t"`
	Requests                  int64     `json:"requests"`
	Failed                    int64     `json:"failed"`
	AvgBackendTime            float64   `json:"avgBackendTime"` // ms
	P95BackendTime            float64   `json:"p95BackendTime"` // ms
	BackendConnectionFailures int64     `json:"backendConnectionFailures"`
	Throttled                 int64     `json:"throttled"`
	// Concurrency is Little's law: backend busy time / minute.
	Concurrency float64 `json:"concurrency"`
	// PortsWithoutReuse is the SNAT ports this minute's rate would hold with
	// a new connection per request: rate × (backend time + port reclaim).
	PortsWithoutReuse float64 `json:"portsWithoutReuse"`
}

// DestinationBin counts one destination's calls in one 5-minute bin.
type DestinationBin struct {
	T                         time.Time `json:"t"`
	BackendURL                string    `json:"backendUrl"`
	Requests                  int64     `json:"requests"`
	BackendConnectionFailures int64     `json:"backendConnectionFailures"`
}

// Destination summarises the calls to one backend destination.
type Destination struct {
	BackendURL                string  `json:"backendUrl"`
	BackendID                 string  `json:"backendId,omitempty"`
	Requests                  int64   `json:"requests"`
	BackendConnectionFailures int64   `json:"backendConnectionFailures"`
	BackendErrors             int64   `json:"backendErrors"`
	Timeouts                  int64   `json:"timeouts"`
	AvgBackendTime            float64 `json:"avgBackendTime"`
}

// InputSummary describes one input file.
type InputSummary struct {
	Name     string `json:"name"`
	Format   string `json:"format"`
	Records  int64  `json:"records"`
	BadLines int64  `json:"badLines"`
}

// Thresholds are the classification parameters (docs/diagnose.md explains
// each). DefaultThresholds returns the values used unless overridden.
type Thresholds struct {
	WindowMinutes        int     `json:"windowMinutes"`        // analysis window
	MinEvents            int64   `json:"minEvents"`            // events of a cause to flag a window
	MinRatio             float64 `json:"minRatio"`             // share of the window's requests
	SNATNoCodeShare      float64 `json:"snatNoCodeShare"`      // connection failures without backend code
	SNATDestinationShare float64 `json:"snatDestinationShare"` // concentration on one destination
	SNATMaxRefusedShare  float64 `json:"snatMaxRefusedShare"`  // above: backend down, not SNAT
	SNATMaxFailRatio     float64 `json:"snatMaxFailRatio"`     // below: calls still succeed meanwhile
	SNATLoadFactor       float64 `json:"snatLoadFactor"`       // load vs healthy baseline
	SNATCorrelation      float64 `json:"snatCorrelation"`      // failures vs volume, Pearson r
	PortsPerInstance     int     `json:"portsPerInstance"`     // SNAT ports per instance and destination
	PortReclaimSeconds   int     `json:"portReclaimSeconds"`   // a closed connection's port is reusable after this
}

// DefaultThresholds returns the documented default thresholds.
func DefaultThresholds() Thresholds {
	return Thresholds{
		WindowMinutes:        5,
		MinEvents:            5,
		MinRatio:             0.02,
		SNATNoCodeShare:      0.9,
		SNATDestinationShare: 0.7,
		SNATMaxRefusedShare:  0.5,
		SNATMaxFailRatio:     0.95,
		SNATLoadFactor:       1.2,
		SNATCorrelation:      0.5,
		PortsPerInstance:     1024,
		PortReclaimSeconds:   240,
	}
}

// withDefaults replaces zero or negative fields with their defaults, so a
// partly filled Thresholds never divides by zero.
func (t Thresholds) withDefaults() Thresholds {
	d := DefaultThresholds()
	if t.WindowMinutes <= 0 {
		t.WindowMinutes = d.WindowMinutes
	}
	if t.MinEvents <= 0 {
		t.MinEvents = d.MinEvents
	}
	for _, f := range []struct{ v, d *float64 }{
		{&t.MinRatio, &d.MinRatio}, {&t.SNATNoCodeShare, &d.SNATNoCodeShare},
		{&t.SNATDestinationShare, &d.SNATDestinationShare}, {&t.SNATMaxRefusedShare, &d.SNATMaxRefusedShare},
		{&t.SNATMaxFailRatio, &d.SNATMaxFailRatio}, {&t.SNATLoadFactor, &d.SNATLoadFactor},
		{&t.SNATCorrelation, &d.SNATCorrelation},
	} {
		if *f.v <= 0 {
			*f.v = *f.d
		}
	}
	if t.PortsPerInstance <= 0 {
		t.PortsPerInstance = d.PortsPerInstance
	}
	if t.PortReclaimSeconds <= 0 {
		t.PortReclaimSeconds = d.PortReclaimSeconds
	}
	return t
}
