package sim

import (
	"math"
	"testing"
	"time"
)

func scenario(mod func(*Scenario)) Scenario {
	s := DefaultScenario()
	mod(&s)
	return s
}

func run(t *testing.T, s Scenario) *Result {
	t.Helper()
	r, err := Run(s)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return r
}

func within(got, want, tol float64) bool {
	return math.Abs(got-want) <= tol*math.Abs(want)
}

// TestClosedForms checks steady-state port usage against Little's law:
// without pooling a request holds a port for latency + reclaim; with
// pooling, ports equal concurrent requests.
func TestClosedForms(t *testing.T) {
	tests := []struct {
		name string
		s    Scenario
		want float64 // steady ports per destination
	}{
		{"direct-fixed", scenario(func(s *Scenario) {
			s.Rate, s.Latency, s.Duration = 2, 200*time.Millisecond, 20*time.Minute
		}), 2 * (0.2 + 240)},
		{"direct-short-reclaim", scenario(func(s *Scenario) {
			s.Rate, s.Latency, s.Reclaim, s.Duration = 50, 350*time.Millisecond, 10*time.Second, 2*time.Minute
		}), 50 * 10.35},
		{"direct-lognormal", scenario(func(s *Scenario) {
			s.Rate, s.Latency, s.Reclaim, s.Duration = 30, 500*time.Millisecond, 20*time.Second, 3*time.Minute
			s.LatencyDist, s.LatencySigma = LatencyLogNormal, 0.8
		}), 30 * 20.5},
		{"direct-poisson", scenario(func(s *Scenario) {
			s.Rate, s.Latency, s.Duration, s.PortsPerUnit = 100, 100*time.Millisecond, 20*time.Minute, 65535
			s.Arrivals = ArrivalsPoisson
		}), 100 * 240.1},
		{"direct-units-split", scenario(func(s *Scenario) {
			s.Rate, s.Latency, s.Duration, s.Units, s.BackendIPs = 8, time.Second, 20*time.Minute, 4, 2
		}), 8.0 / 2 * 241},
		{"pooled-fixed", scenario(func(s *Scenario) {
			s.Rate, s.Latency, s.Duration, s.Pooling = 500, 300*time.Millisecond, 5*time.Minute, true
		}), 500 * 0.3},
		{"pooled-lognormal-mean", scenario(func(s *Scenario) {
			s.Rate, s.Latency, s.Duration, s.Pooling = 2000, 80*time.Millisecond, 5*time.Minute, true
			s.LatencyDist, s.LatencySigma = LatencyLogNormal, 0.3
		}), 2000 * 0.08},
		{"pooled-nat", scenario(func(s *Scenario) {
			s.Rate, s.Latency, s.Duration, s.Pooling, s.NATGatewayIPs, s.Units = 1000, 2*time.Second, 5*time.Minute, true, 1, 3
		}), 1000 * 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, tt.s)
			if got := r.Summary.SteadyPortsInUse; !within(got, tt.want, 0.02) {
				t.Errorf("steadyPortsInUse = %v, want %v ±2%%", got, tt.want)
			}
			if r.Summary.Failed != 0 || r.Summary.FirstExhaustionSeconds != nil {
				t.Errorf("failed = %d, firstExhaustion = %v; want none under the budget", r.Summary.Failed, r.Summary.FirstExhaustionSeconds)
			}
		})
	}
}

// TestExhaustionOnset checks that exhaustion starts when the closed form
// exceeds the budget, and when: at budget/rate seconds without pooling.
func TestExhaustionOnset(t *testing.T) {
	tests := []struct {
		name      string
		s         Scenario
		exhausted bool
		at        float64 // first exhaustion, seconds (when exhausted)
	}{
		// SPEC §7's example: 10/s, 1,024 ports, 4-minute reclaim.
		{"spec-example", scenario(func(s *Scenario) { s.Rate = 10 }), true, 102.4},
		{"just-below", scenario(func(s *Scenario) {
			s.Rate, s.Latency = 4.2, 100*time.Millisecond // 4.2 × 240.1 = 1008 < 1024
		}), false, 0},
		{"just-above", scenario(func(s *Scenario) {
			s.Rate, s.Latency = 4.3, 100*time.Millisecond // 1032 > 1024
		}), true, 1024 / 4.3},
		{"two-units", scenario(func(s *Scenario) { s.Rate, s.Units = 10, 2 }), true, 204.8},
		{"two-units-enough", scenario(func(s *Scenario) { s.Rate, s.Units = 8, 2 }), false, 0},
		{"nat-gateway", scenario(func(s *Scenario) { s.Rate, s.NATGatewayIPs = 200, 1 }), false, 0},
		{"nat-gateway-too-small", scenario(func(s *Scenario) { s.Rate, s.NATGatewayIPs = 300, 1 }), true, 64512.0 / 300},
		{"pooling-fits", scenario(func(s *Scenario) { s.Rate, s.Pooling = 10000, true }), false, 0},
		{"pooling-exhausted", scenario(func(s *Scenario) {
			s.Rate, s.Pooling, s.Latency = 11000, true, 100*time.Millisecond // 1100 concurrent > 1024
		}), true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, tt.s)
			first := r.Summary.FirstExhaustionSeconds
			if (first != nil) != tt.exhausted {
				t.Fatalf("firstExhaustionSeconds = %v, want exhausted=%v (peak %v of %d)", first, tt.exhausted, r.Summary.PeakPortsInUse, r.Summary.PortBudget)
			}
			if !tt.exhausted {
				if r.Summary.Failed != 0 {
					t.Errorf("failed = %d, want 0", r.Summary.Failed)
				}
				return
			}
			if r.Summary.Failed == 0 || r.Summary.ConnectionFailures != r.Summary.Failed {
				t.Errorf("failed = %d, connectionFailures = %d; want equal and > 0", r.Summary.Failed, r.Summary.ConnectionFailures)
			}
			if tt.at > 0 && !within(*first, tt.at, 0.01) {
				t.Errorf("firstExhaustionSeconds = %v, want %v", *first, tt.at)
			}
			if got := r.Summary.PeakPortsInUse; got > float64(r.Summary.PortBudget)+0.5 {
				t.Errorf("peakPortsInUse %v above budget %d", got, r.Summary.PortBudget)
			}
		})
	}
}

// TestSpecExample runs SPEC §7's sample scenario. With evenly spaced
// arrivals the ports come back in the order they were taken, so the run
// alternates 102.4 s of successes with 137.7 s of failures: 3 windows of
// successes in 600 s (0–102.4, 240.1–342.5, 480.2–582.6).
func TestSpecExample(t *testing.T) {
	r := run(t, scenario(func(s *Scenario) { s.Rate = 10 }))
	sum := r.Summary
	if sum.Requests != 6000 || sum.PortBudget != 1024 || sum.PeakPortsInUse != 1024 || sum.SteadyPortsInUse != 1024 {
		t.Errorf("summary = %+v", sum)
	}
	if want := 6000 - 3*1024; !within(float64(sum.Failed), float64(want), 0.01) {
		t.Errorf("failed = %d, want ≈ %d", sum.Failed, want)
	}
}
