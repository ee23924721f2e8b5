package sim

import (
	"encoding/json"
	"fmt"
	"io"
)

// scenarioJSON is the scenario as echoed in the JSON report: durations as
// Go duration strings.
type scenarioJSON struct {
	Rate            float64 `json:"rate"`
	Duration        string  `json:"duration"`
	Arrivals        string  `json:"arrivals"`
	BurstRate       float64 `json:"burstRate,omitempty"`
	BurstEvery      string  `json:"burstEvery,omitempty"`
	BurstLength     string  `json:"burstLength,omitempty"`
	DailyMin        float64 `json:"dailyMin,omitempty"`
	Log             string  `json:"log,omitempty"`
	Latency         string  `json:"latency"`
	LatencyDist     string  `json:"latencyDist"`
	LatencySigma    float64 `json:"latencySigma,omitempty"`
	Units           int     `json:"units"`
	PortsPerUnit    int     `json:"portsPerUnit"`
	Reclaim         string  `json:"reclaim"`
	Pooling         bool    `json:"pooling"`
	MaxConns        int     `json:"maxConns"`
	IdleTimeout     string  `json:"idleTimeout"`
	BackendIPs      int     `json:"backendIps"`
	NATGatewayIPs   int     `json:"natGatewayIps"`
	NATIdleTimeout  string  `json:"natIdleTimeout"`
	CacheHitRatio   float64 `json:"cacheHitRatio"`
	RateLimit       float64 `json:"rateLimit"`
	Timeout         string  `json:"timeout"`
	Retries         int     `json:"retries"`
	RetryInterval   string  `json:"retryInterval"`
	BreakerFailures int     `json:"breakerFailures"`
	BreakerInterval string  `json:"breakerInterval,omitempty"`
	BreakerTrip     string  `json:"breakerTrip,omitempty"`
	Seed            uint64  `json:"seed"`
}

func scenarioToJSON(s *Scenario) scenarioJSON {
	j := scenarioJSON{
		Rate: s.Rate, Duration: s.Duration.String(), Arrivals: s.Arrivals,
		Log:     s.TraceFile,
		Latency: s.Latency.String(), LatencyDist: s.LatencyDist,
		Units: s.Units, PortsPerUnit: s.PortsPerUnit, Reclaim: s.Reclaim.String(),
		Pooling: s.Pooling, MaxConns: s.MaxConns, IdleTimeout: s.IdleTimeout.String(),
		BackendIPs: s.BackendIPs, NATGatewayIPs: s.NATGatewayIPs, NATIdleTimeout: s.NATIdleTimeout.String(),
		CacheHitRatio: s.CacheHitRatio, RateLimit: s.RateLimit, Timeout: s.Timeout.String(),
		Retries: s.Retries, RetryInterval: s.RetryInterval.String(),
		BreakerFailures: s.BreakerFailures, Seed: s.Seed,
	}
	if s.Arrivals == ArrivalsBursts {
		j.BurstRate, j.BurstEvery, j.BurstLength = s.BurstRate, s.BurstEvery.String(), s.BurstLength.String()
	}
	if s.Arrivals == ArrivalsDaily {
		j.DailyMin = s.DailyMin
	}
	if s.LatencyDist == LatencyLogNormal {
		j.LatencySigma = s.LatencySigma
	}
	if s.BreakerFailures > 0 {
		j.BreakerInterval, j.BreakerTrip = s.BreakerInterval.String(), s.BreakerTrip.String()
	}
	return j
}

// jsonReport is the shape of `apimgw simulate --format json` (SPEC §7).
type jsonReport struct {
	Scenario scenarioJSON `json:"scenario"`
	Step     string       `json:"step"`
	Interval string       `json:"interval"`
	Summary  Summary      `json:"summary"`
	Series   []Point      `json:"series"`
	Compare  []Outcome    `json:"compare,omitempty"`
}

// WriteJSON writes the run (and, when c is not nil, the comparison of
// mitigations, whose Baseline is r) as one indented JSON object.
func WriteJSON(w io.Writer, r *Result, c *Comparison) error {
	rep := jsonReport{
		Scenario: scenarioToJSON(&r.Scenario),
		Step:     r.Step.String(),
		Interval: r.Interval.String(),
		Summary:  r.Summary,
		Series:   r.Series,
	}
	if rep.Series == nil {
		rep.Series = []Point{}
	}
	if c != nil {
		rep.Compare = c.Outcomes
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep); err != nil {
		return fmt.Errorf("write JSON report: %w", err)
	}
	return nil
}
