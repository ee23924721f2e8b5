package loggen

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/apimgw/apimgw/internal/logs"
)

// Label is one incident a scenario contains on purpose.
type Label struct {
	Cause      string
	Start, End time.Time
	BackendURL string // scheme://host[:port]
}

// Scenario is a generated log and what diagnose must conclude from it.
type Scenario struct {
	Name    string
	Verdict string
	Labels  []Label
	Records []logs.Record
}

// Names lists the scenarios Generate knows, one per cause plus variants.
func Names() []string {
	return []string{
		"healthy", "snat-exhaustion", "snat-enforce", "mixed", "backend-errors", "backend-down",
		"backend-timeouts", "client-disconnects", "throttling", "circuit-open",
	}
}

// Epoch returns the start of every generated log.
func Epoch() time.Time { return time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC) }

const (
	ordersURL  = "https://orders.contoso.internal"
	catalogURL = "https://catalog.contoso.internal:8443"
	gatewayURL = "http://127.0.0.1:9001"
)

// Generate builds the named scenario. The same name and seed always give
// the same records.
func Generate(name string, seed uint64) (*Scenario, error) {
	g := &gen{rng: rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))}
	s := &Scenario{Name: name, Verdict: name}
	at := func(min int) time.Time { return Epoch().Add(time.Duration(min) * time.Minute) }
	switch name {
	case "healthy":
		g.traffic(60, func(t time.Time) float64 { return 2 }, g.ok(ordersURL, 120))
		g.traffic(60, func(t time.Time) float64 { return 1 }, g.ok(catalogURL, 40))
	case "snat-exhaustion":
		// Keep-alive off: every call opens a connection that holds a SNAT
		// port for its lifetime plus 4 minutes. Load and latency rise at
		// 08:20–08:40 and the port budget (512 here, a small instance) runs
		// out; other destinations are unaffected.
		ledger := g.snatPeak(at(20), at(40), nil)
		g.traffic(70, func(t time.Time) float64 { return 0.5 }, g.ok(catalogURL, 40))
		s.Labels = ledger.labels(CauseSNAT, ordersURL)
		s.Verdict = CauseSNAT
	case "mixed":
		// SNAT exhaustion at 08:20–08:40 and, later, a smaller burst of
		// throttling: two incidents, the verdict is the dominant cause.
		ledger := g.snatPeak(at(20), at(40), func(t time.Time, r *logs.Record) {
			if inSpan(t, at(55), at(60)) && g.rng.Float64() < 0.3 {
				throttle(r)
			}
		})
		s.Labels = append(ledger.labels(CauseSNAT, ordersURL), Label{CauseThrottling, at(55), at(60), ""})
		s.Verdict = CauseSNAT
	case "snat-enforce":
		// What apimgw itself logs with keepAlive: false and
		// snat.enforce: true: constant load, a small port budget.
		ledger := &portLedger{budget: 256, reclaim: 240 * time.Second}
		g.traffic(20, func(t time.Time) float64 { return 2 }, func(t time.Time, r *logs.Record) {
			g.snatCall(t, r, gatewayURL, 5, ledger, "Unable to connect to the remote server")
		})
		s.Labels = ledger.labels(CauseSNAT, gatewayURL)
		s.Verdict = CauseSNAT
	case "backend-errors":
		g.traffic(60, func(t time.Time) float64 { return 2 }, func(t time.Time, r *logs.Record) {
			g.ok(ordersURL, 120)(t, r)
			if inSpan(t, at(30), at(40)) && g.rng.Float64() < 0.3 {
				r.BackendResponseCode, r.ResponseCode, r.IsRequestSuccess = 500, 500, false
			}
		})
		s.Labels = []Label{{CauseBackendErrors, at(30), at(40), ordersURL}}
	case "backend-down":
		// Connection refused for ten minutes: every call fails, no rise
		// in load: the backend is down, not the ports.
		g.traffic(60, func(t time.Time) float64 { return 2 }, func(t time.Time, r *logs.Record) {
			g.ok(ordersURL, 120)(t, r)
			if inSpan(t, at(30), at(40)) {
				connFailure(r, "No connection could be made because the target machine actively refused it")
			}
		})
		s.Labels = []Label{{CauseBackendErrors, at(30), at(40), ordersURL}}
		s.Verdict = CauseBackendErrors
	case "backend-timeouts":
		g.traffic(60, func(t time.Time) float64 { return 2 }, func(t time.Time, r *logs.Record) {
			g.ok(ordersURL, 120)(t, r)
			if inSpan(t, at(15), at(25)) && g.rng.Float64() < 0.2 {
				r.ResponseCode, r.BackendResponseCode, r.IsRequestSuccess = 504, 0, false
				r.BackendTime, r.TotalTime = 30000, 30002
				setError(r, "forward-request", "Timeout", "Request to the backend service timed out", "backend")
			}
		})
		s.Labels = []Label{{CauseBackendTimeouts, at(15), at(25), ordersURL}}
	case "client-disconnects":
		g.traffic(60, func(t time.Time) float64 { return 2 }, func(t time.Time, r *logs.Record) {
			g.ok(ordersURL, 120)(t, r)
			if inSpan(t, at(40), at(50)) && g.rng.Float64() < 0.25 {
				r.ResponseCode, r.IsRequestSuccess = 0, false
				setError(r, "transfer-response", "ClientConnectionFailure", "A task was canceled.", "outbound")
			}
		})
		s.Labels = []Label{{CauseClientDisconnects, at(40), at(50), ""}}
	case "throttling":
		g.traffic(60, func(t time.Time) float64 {
			if inSpan(t, at(10), at(20)) {
				return 4
			}
			return 2
		}, func(t time.Time, r *logs.Record) {
			g.ok(ordersURL, 120)(t, r)
			if inSpan(t, at(10), at(20)) && g.rng.Float64() < 0.4 {
				throttle(r)
			}
		})
		s.Labels = []Label{{CauseThrottling, at(10), at(20), ""}}
	case "circuit-open":
		// A short burst of 5xx trips the breaker, which then answers 503
		// without calling the backend for much longer (several trips).
		g.traffic(60, func(t time.Time) float64 { return 2 }, func(t time.Time, r *logs.Record) {
			g.ok(ordersURL, 120)(t, r)
			switch {
			case inSpan(t, at(20), at(21)) && g.rng.Float64() < 0.5:
				r.BackendResponseCode, r.ResponseCode, r.IsRequestSuccess = 500, 500, false
			case inSpan(t, at(21), at(36)):
				r.ResponseCode, r.BackendResponseCode, r.BackendTime, r.IsRequestSuccess = 503, 0, 0, false
				r.TotalTime = 1
				setError(r, "forward-request", "", "Backend circuit breaker is open: Service Unavailable", "backend")
			}
		})
		// The breaker answers until 08:36, so the 08:35 bin is part of it.
		s.Labels = []Label{{CauseCircuitOpen, at(20), at(40), ordersURL}}
	default:
		return nil, fmt.Errorf("unknown scenario %q (known: %v)", name, Names())
	}
	slices.SortStableFunc(g.recs, func(a, b logs.Record) int { return a.TimeGenerated.Compare(b.TimeGenerated) })
	s.Records = g.recs
	if name == "healthy" {
		s.Verdict = CauseHealthy
	}
	return s, nil
}

// Cause labels (the values of diagnose's verdict).
const (
	CauseSNAT              = "snat-exhaustion"
	CauseBackendErrors     = "backend-errors"
	CauseBackendTimeouts   = "backend-timeouts"
	CauseClientDisconnects = "client-disconnects"
	CauseThrottling        = "throttling"
	CauseCircuitOpen       = "circuit-open"
	CauseHealthy           = "healthy"
)

type gen struct {
	rng  *rand.Rand
	recs []logs.Record
	seq  int
}

// traffic emits Poisson arrivals for minutes minutes at rate(t) req/s and
// lets fill shape each record.
func (g *gen) traffic(minutes int, rate func(time.Time) float64, fill func(time.Time, *logs.Record)) {
	end := Epoch().Add(time.Duration(minutes) * time.Minute)
	for t := Epoch(); t.Before(end); {
		r := rate(t)
		if r <= 0 {
			t = t.Add(time.Second)
			continue
		}
		t = t.Add(time.Duration(g.rng.ExpFloat64() / r * float64(time.Second)))
		if !t.Before(end) {
			break
		}
		g.seq++
		rec := logs.Record{
			TimeGenerated:   t.Truncate(time.Millisecond),
			CorrelationId:   fmt.Sprintf("%08x-0000-4000-8000-%012x", g.seq, g.seq),
			Method:          "GET",
			Url:             fmt.Sprintf("https://gw.contoso.net/orders/%d?expand=lines&x=1", g.seq%5000),
			Cache:           logs.CacheNone,
			CallerIpAddress: fmt.Sprintf("203.0.113.%d", g.seq%200+1),
			ApiId:           "orders",
			OperationId:     "get-order",
			ProductId:       "starter",
		}
		fill(t, &rec)
		g.recs = append(g.recs, rec)
	}
}

// ok returns a filler for a successful call with a latency around ms.
func (g *gen) ok(base string, ms float64) func(time.Time, *logs.Record) {
	return func(_ time.Time, r *logs.Record) {
		bt := int64(math.Max(1, ms*(0.5+g.rng.ExpFloat64()*0.5)))
		r.BackendMethod = "GET"
		r.BackendUrl = base + "/api" + r.Url[len("https://gw.contoso.net"):]
		r.BackendId = "orders"
		r.BackendResponseCode, r.ResponseCode = 200, 200
		r.ResponseSize = 512
		r.BackendTime, r.ClientTime, r.TotalTime = bt, 1, bt+2
		r.IsRequestSuccess = true
	}
}

// snatCall is one call over a new connection that needs a free port.
func (g *gen) snatCall(t time.Time, r *logs.Record, base string, ms float64, l *portLedger, msg string) {
	g.ok(base, ms)(t, r)
	life := time.Duration(r.BackendTime) * time.Millisecond
	if !l.take(t, life) {
		connFailure(r, msg)
	}
}

// throttle turns r into the gateway's own 429 from rate-limit.
func throttle(r *logs.Record) {
	*r = logs.Record{TimeGenerated: r.TimeGenerated, CorrelationId: r.CorrelationId, Method: r.Method,
		Url: r.Url, ResponseCode: 429, ResponseSize: 84, ClientTime: 1, TotalTime: 1, Cache: logs.CacheNone,
		CallerIpAddress: r.CallerIpAddress, ApiId: "orders", OperationId: "get-order"}
	setError(r, "rate-limit", "RateLimitExceeded", "Rate limit is exceeded. Try again in 12 seconds.", "inbound")
}

func connFailure(r *logs.Record, msg string) {
	r.ResponseCode, r.BackendResponseCode, r.IsRequestSuccess = 502, 0, false
	r.BackendTime, r.TotalTime, r.ResponseSize = 0, 3, 96
	setError(r, "forward-request", "BackendConnectionFailure", msg, "backend")
}

func setError(r *logs.Record, source, reason, msg, section string) {
	r.LastErrorSource, r.LastErrorReason, r.LastErrorMessage, r.LastErrorSection = source, reason, msg, section
	r.Errors = []logs.Error{{Source: source, Reason: reason, Message: msg, Section: section, Elapsed: r.TotalTime}}
}

// snatPeak generates 70 minutes of calls to the orders backend without
// keep-alive against a 512-port budget, with load and latency up between
// from and to; also, when not nil, runs after each call. It returns the
// port ledger, for the labels.
func (g *gen) snatPeak(from, to time.Time, also func(time.Time, *logs.Record)) *portLedger {
	ledger := &portLedger{budget: 512, reclaim: 240 * time.Second}
	g.traffic(70, func(t time.Time) float64 {
		if inSpan(t, from, to) {
			return 6
		}
		return 1.5
	}, func(t time.Time, r *logs.Record) {
		lat := 150.0
		if inSpan(t, from, to) {
			lat = 900
		}
		g.snatCall(t, r, ordersURL, lat, ledger, "Unable to connect to the remote server")
		if also != nil {
			also(t, r)
		}
	})
	return ledger
}

func inSpan(t, from, to time.Time) bool { return !t.Before(from) && t.Before(to) }

// portLedger models Azure SNAT for one destination: a port is held for the
// connection's life plus the reclaim delay; beyond the budget connects fail.
type portLedger struct {
	budget  int
	reclaim time.Duration
	release []time.Time // min-heap of the times held ports come back
	fails   []time.Time
}

func (l *portLedger) take(t time.Time, life time.Duration) bool {
	for len(l.release) > 0 && !l.release[0].After(t) {
		l.pop()
	}
	if len(l.release) >= l.budget {
		l.fails = append(l.fails, t)
		return false
	}
	l.push(t.Add(life + l.reclaim))
	return true
}

func (l *portLedger) push(v time.Time) {
	h := append(l.release, v)
	for i := len(h) - 1; i > 0; {
		p := (i - 1) / 2
		if !h[i].Before(h[p]) {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
	l.release = h
}

func (l *portLedger) pop() {
	h := l.release
	n := len(h) - 1
	h[0] = h[n]
	h = h[:n]
	for i := 0; ; {
		c := 2*i + 1
		if c >= n {
			break
		}
		if c+1 < n && h[c+1].Before(h[c]) {
			c++
		}
		if !h[c].Before(h[i]) {
			break
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
	l.release = h
}

// labels turns the failure times into incident labels: one span from the
// 5-minute bin of the first failure to the end of the last one's.
func (l *portLedger) labels(cause, backend string) []Label {
	if len(l.fails) < 5 {
		return nil
	}
	first, last := l.fails[0], l.fails[len(l.fails)-1]
	return []Label{{cause, first.Truncate(5 * time.Minute), last.Truncate(5 * time.Minute).Add(5 * time.Minute), backend}}
}
