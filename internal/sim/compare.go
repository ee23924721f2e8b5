package sim

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"
	"time"
)

// Outcome is the scenario run under one mitigation.
type Outcome struct {
	// ID names the mitigation with the ids `apimgw diagnose` uses.
	ID string `json:"id"`
	// Rank orders the outcomes by failures avoided (1 = most); ties keep
	// the least invasive first.
	Rank int `json:"rank"`
	// Title says what the mitigation is.
	Title string `json:"title"`
	// Change is the scenario change that models it, in option names.
	Change string `json:"change"`
	// Cost says what it costs or risks.
	Cost string `json:"cost"`
	// FailuresAvoided is the baseline's failed requests minus this run's
	// (negative when the mitigation makes things worse).
	FailuresAvoided int64 `json:"failuresAvoided"`
	// Summary is this run's summary.
	Summary Summary `json:"summary"`
}

// Comparison is a scenario run as is and under each mitigation.
type Comparison struct {
	// Baseline is the scenario as given.
	Baseline *Result
	// Outcomes are the mitigations, best first.
	Outcomes []Outcome
}

// mitigation changes a scenario the way one mitigation would. apply
// returns the change in option syntax, or "" when the mitigation does not
// apply (already in place).
type mitigation struct {
	id, title, cost string
	apply           func(s *Scenario) string
}

// mitigations lists the mitigations from least to most invasive.
func mitigations() []mitigation {
	return []mitigation{
		{"connection-pooling", "Reuse backend connections (keep-alive pooling)",
			"config only; needs a backend that keeps connections open",
			func(s *Scenario) string {
				if s.Pooling {
					return ""
				}
				s.Pooling = true
				return "pooling: true"
			}},
		{"backend-timeout", "Shorter forward-request timeout",
			"calls slower than the timeout fail with 504 instead of holding a port",
			func(s *Scenario) string {
				// Only a spread of latencies has slow calls to cut.
				t := max(time.Second, 3*meanLatency(s)).Round(time.Millisecond)
				if s.LatencyDist == LatencyFixed || t >= s.Timeout {
					return ""
				}
				s.Timeout = t
				return "timeout: " + t.String()
			}},
		{"retry-backoff", "One retry after a longer interval",
			"clients see a failure sooner when the backend is unreachable",
			func(s *Scenario) string {
				if s.Retries == 0 {
					return ""
				}
				s.Retries = 1
				s.RetryInterval = max(s.RetryInterval, 10*time.Second)
				return fmt.Sprintf("retries: 1, retry-interval: %s", s.RetryInterval)
			}},
		{"circuit-breaker", "Circuit breaker on the backend",
			"rejects calls (503) for 30s after 10 failures in a minute",
			func(s *Scenario) string {
				if s.BreakerFailures > 0 {
					return ""
				}
				s.BreakerFailures, s.BreakerInterval, s.BreakerTrip = 10, time.Minute, 30*time.Second
				return "breaker-failures: 10"
			}},
		{"rate-limiting", "Rate limit to what the ports sustain",
			"callers over the limit get 429 and must retry later",
			func(s *Scenario) string {
				limit := math.Floor(0.95 * sustainableRate(s))
				if s.RateLimit > 0 && s.RateLimit <= limit || limit >= peakRate(s) || limit < 1 {
					return ""
				}
				s.RateLimit = limit
				return fmt.Sprintf("rate-limit: %g", limit)
			}},
		{"response-caching", "Cache responses (half the calls assumed cacheable)",
			"stale data for the cache duration; only GET responses",
			func(s *Scenario) string {
				if s.CacheHitRatio >= 0.5 {
					return ""
				}
				s.CacheHitRatio = 0.5
				return "cache-hit-ratio: 0.5"
			}},
		{"multiple-backend-ips", "Twice the backend IPs (each has its own port budget)",
			"more backend instances or addresses behind a pool",
			func(s *Scenario) string {
				s.BackendIPs *= 2
				return fmt.Sprintf("backend-ips: %d", s.BackendIPs)
			}},
		{"scale-units", "Twice the gateway units",
			"the price of the extra units",
			func(s *Scenario) string {
				s.Units *= 2
				return fmt.Sprintf("units: %d", s.Units)
			}},
		{"nat-gateway", "NAT gateway with one public IP (64,512 ports)",
			"a NAT gateway and public IP in the gateway's VNet",
			func(s *Scenario) string {
				if s.NATGatewayIPs > 0 {
					return ""
				}
				s.NATGatewayIPs = 1
				return "nat-gateway-ips: 1"
			}},
	}
}

// sustainableRate is the request rate the port budget (and, with pooling,
// max-conns) carries at steady state, over all units and destinations.
func sustainableRate(s *Scenario) float64 {
	g := geometryOf(s)
	hold := meanLatency(s).Seconds()
	conns := g.budget
	if s.Pooling {
		conns = math.Min(conns, g.maxConns)
	} else {
		hold += s.Reclaim.Seconds()
	}
	if hold <= 0 || s.CacheHitRatio >= 1 {
		return math.Inf(1)
	}
	return conns * g.lanes / hold / (1 - s.CacheHitRatio)
}

// peakRate is the highest mean arrival rate of the scenario.
func peakRate(s *Scenario) float64 {
	switch s.Arrivals {
	case ArrivalsBursts:
		return max(s.Rate, s.BurstRate)
	case ArrivalsLog:
		return math.Inf(1)
	default:
		return s.Rate
	}
}

// Compare runs the scenario as given and under each mitigation that is
// not already in place, in parallel, and ranks the mitigations by failed
// requests avoided.
func Compare(s Scenario) (*Comparison, error) {
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	type job struct {
		m      mitigation
		s      Scenario
		change string
		res    *Result
		err    error
	}
	jobs := []*job{{s: s}}
	for _, m := range mitigations() {
		v := s
		if change := m.apply(&v); change != "" {
			jobs = append(jobs, &job{m: m, s: v, change: change})
		}
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, max(1, runtime.GOMAXPROCS(0)))
	for _, j := range jobs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			j.res, j.err = Run(j.s)
		}()
	}
	wg.Wait()
	for _, j := range jobs {
		if j.err != nil {
			return nil, fmt.Errorf("compare %s: %w", j.m.id, j.err)
		}
	}
	base := jobs[0].res
	c := &Comparison{Baseline: base}
	for _, j := range jobs[1:] {
		c.Outcomes = append(c.Outcomes, Outcome{
			ID: j.m.id, Title: j.m.title, Change: j.change, Cost: j.m.cost,
			FailuresAvoided: base.Summary.Failed - j.res.Summary.Failed,
			Summary:         j.res.Summary,
		})
	}
	slices.SortStableFunc(c.Outcomes, func(a, b Outcome) int {
		switch {
		case a.FailuresAvoided > b.FailuresAvoided:
			return -1
		case a.FailuresAvoided < b.FailuresAvoided:
			return 1
		}
		return 0
	})
	for i := range c.Outcomes {
		c.Outcomes[i].Rank = i + 1
	}
	return c, nil
}
