package sim

import (
	"errors"
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

// pointAt returns the series point covering time sec.
func pointAt(t *testing.T, r *Result, sec float64) Point {
	t.Helper()
	i := int(sec / r.Interval.Seconds())
	if i < 0 || i >= len(r.Series) {
		t.Fatalf("no point at %vs (interval %s, %d points)", sec, r.Interval, len(r.Series))
	}
	return r.Series[i]
}

func TestMitigationMechanics(t *testing.T) {
	tests := []struct {
		name  string
		s     Scenario
		check func(t *testing.T, r *Result)
	}{
		{"max-conns-queue-times-out", scenario(func(s *Scenario) {
			// 100 concurrent calls wanted, 50 connections allowed: 50/s wait
			// and give up after the 5 s timeout.
			s.Rate, s.Latency, s.Duration, s.Pooling, s.MaxConns, s.Timeout = 100, time.Second, time.Minute, true, 50, 5*time.Second
		}), func(t *testing.T, r *Result) {
			s := r.Summary
			if s.ConnectionFailures != 0 || s.Timeouts != s.Failed {
				t.Errorf("want only timeouts, got %+v", s)
			}
			if s.PeakConnections != 50 {
				t.Errorf("peakConnections = %v, want 50", s.PeakConnections)
			}
			// FIFO under overload: every request waits the whole 5 s, half
			// are then served (50/s) and half give up; the 5 s of arrivals
			// still queued at the end are neither.
			if want := 6000.0 - 3000 - 500; !within(float64(s.Timeouts), want, 0.02) {
				t.Errorf("timeouts = %d, want ≈ %v", s.Timeouts, want)
			}
			if !within(s.PeakQueued, 500, 0.02) {
				t.Errorf("peakQueued = %v, want ≈ 500", s.PeakQueued)
			}
		}},
		{"retries-amplify", scenario(func(s *Scenario) {
			s.Rate, s.Retries, s.RetryInterval = 50, 3, 2*time.Second
		}), func(t *testing.T, r *Result) {
			s := r.Summary
			if s.Retries == 0 || s.Attempts != s.Requests+s.Retries {
				t.Errorf("attempts %d = requests %d + retries %d?", s.Attempts, s.Requests, s.Retries)
			}
			if amp := float64(s.Attempts) / float64(s.Requests); amp < 3 || amp > 4 {
				t.Errorf("amplification %.2f, want between 3 and 4 when almost all attempts fail", amp)
			}
		}},
		{"breaker-rejects", scenario(func(s *Scenario) {
			s.Rate, s.BreakerFailures, s.BreakerInterval, s.BreakerTrip = 50, 10, time.Minute, 30*time.Second
		}), func(t *testing.T, r *Result) {
			s := r.Summary
			if s.CircuitOpen == 0 || s.Failed != s.CircuitOpen+s.ConnectionFailures {
				t.Errorf("want circuit-open rejections, got %+v", s)
			}
			if s.Attempts >= s.Requests {
				t.Errorf("attempts %d, want fewer than requests %d while the breaker is open", s.Attempts, s.Requests)
			}
		}},
		{"rate-limit", scenario(func(s *Scenario) {
			s.Rate, s.RateLimit, s.Pooling, s.Duration = 100, 60, true, time.Minute
		}), func(t *testing.T, r *Result) {
			if want := 40.0 * 60; !within(float64(r.Summary.Throttled), want, 0.02) {
				t.Errorf("throttled = %d, want ≈ %v", r.Summary.Throttled, want)
			}
			if r.Summary.Attempts > 60*60+60 {
				t.Errorf("attempts = %d, want at most the limit", r.Summary.Attempts)
			}
		}},
		{"cache-hits", scenario(func(s *Scenario) {
			s.Rate, s.CacheHitRatio, s.Duration = 4, 0.25, 20*time.Minute
		}), func(t *testing.T, r *Result) {
			if want := 0.25 * 4 * 1200; !within(float64(r.Summary.CacheHits), want, 0.01) {
				t.Errorf("cacheHits = %d, want %v", r.Summary.CacheHits, want)
			}
			if want := 0.75 * 4 * 240.1; !within(r.Summary.SteadyPortsInUse, want, 0.02) {
				t.Errorf("steadyPortsInUse = %v, want %v", r.Summary.SteadyPortsInUse, want)
			}
		}},
		{"bursts", scenario(func(s *Scenario) {
			// Each burst takes 500 ports for 4 minutes: the second, at
			// 120 s, runs out.
			s.Arrivals, s.Rate, s.BurstRate, s.BurstEvery, s.BurstLength = ArrivalsBursts, 0.5, 50, time.Minute, 10*time.Second
			s.Duration = 5 * time.Minute
		}), func(t *testing.T, r *Result) {
			f := r.Summary.FirstExhaustionSeconds
			if f == nil || *f < 120 || *f > 130 {
				t.Errorf("firstExhaustionSeconds = %v, want during the burst at 120–130 s", f)
			}
		}},
		{"daily-curve", scenario(func(s *Scenario) {
			s.Arrivals, s.Rate, s.DailyMin, s.Duration, s.Step = ArrivalsDaily, 1000, 0.2, 24*time.Hour, time.Second
		}), func(t *testing.T, r *Result) {
			iv := r.Interval.Seconds()
			for _, c := range []struct{ hour, rate float64 }{{16, 1000}, {4, 200}, {10, 600}} {
				// The point starting at the hour covers a little of the curve
				// after it: compare with the rate at its middle.
				p := pointAt(t, r, c.hour*3600)
				if !within(float64(p.Requests)/iv, c.rate, 0.02) {
					t.Errorf("rate at %v:00 = %v/s, want ≈ %v", c.hour, float64(p.Requests)/iv, c.rate)
				}
			}
		}},
		{"timeouts-cut-slow-calls", scenario(func(s *Scenario) {
			s.Rate, s.Latency, s.LatencyDist, s.LatencySigma, s.Timeout = 2, time.Second, LatencyLogNormal, 1, 2*time.Second
			s.Duration = 5 * time.Minute
		}), func(t *testing.T, r *Result) {
			// P(latency > 2 × mean) for sigma 1 is P(Z > (ln 2 + 0.5)) ≈ 11.6%.
			if got := float64(r.Summary.Timeouts) / float64(r.Summary.Requests); got < 0.10 || got > 0.13 {
				t.Errorf("timed-out share = %.3f, want ≈ 0.116", got)
			}
		}},
		{"idle-pool-closes-then-reclaims", scenario(func(s *Scenario) {
			// A 10 s burst at 600 s needs 100 connections; they idle out at
			// ≈ 660 s and their ports come back 4 minutes later.
			s.Arrivals, s.Rate, s.BurstRate, s.BurstEvery, s.BurstLength = ArrivalsBursts, 0, 1000, 10*time.Minute, 10*time.Second
			s.Pooling, s.Latency, s.IdleTimeout, s.Duration = true, 100*time.Millisecond, 50*time.Second, 20*time.Minute
		}), func(t *testing.T, r *Result) {
			// The pool keeps the burst's peak concurrency (≥ the mean of 100).
			burst, idle, reclaimed := pointAt(t, r, 640), pointAt(t, r, 800), pointAt(t, r, 950)
			if burst.Connections < 100 || burst.PortsInUse != burst.Connections {
				t.Errorf("at 640 s: %v connections, %v ports; want ≥ 100, equal", burst.Connections, burst.PortsInUse)
			}
			if idle.Connections != 0 || idle.PortsInUse != burst.PortsInUse {
				t.Errorf("at 800 s: %v connections, %v ports; want 0 and %v reclaiming", idle.Connections, idle.PortsInUse, burst.PortsInUse)
			}
			if reclaimed.PortsInUse != 0 {
				t.Errorf("at 950 s: %v ports, want 0 after the reclaim", reclaimed.PortsInUse)
			}
		}},
		{"nat-idle-timeout-drops-idle-connections", scenario(func(s *Scenario) {
			s.Arrivals, s.Rate, s.BurstRate, s.BurstEvery, s.BurstLength = ArrivalsBursts, 0, 1000, 10*time.Minute, 10*time.Second
			s.Pooling, s.Latency, s.IdleTimeout, s.Duration = true, 100*time.Millisecond, 30*time.Minute, 20*time.Minute
			s.NATGatewayIPs, s.NATIdleTimeout = 1, 4*time.Minute
		}), func(t *testing.T, r *Result) {
			if p := pointAt(t, r, 800); p.Connections < 100 {
				t.Errorf("at 800 s: %v connections, want ≥ 100 (idle < NAT idle timeout)", p.Connections)
			}
			if p := pointAt(t, r, 900); p.Connections != 0 {
				t.Errorf("at 900 s: %v connections, want 0 after the NAT idle timeout", p.Connections)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.check(t, run(t, tt.s))
		})
	}
}

func TestSeedReproducible(t *testing.T) {
	s := scenario(func(s *Scenario) { s.Rate, s.Arrivals, s.Duration = 20, ArrivalsPoisson, 5*time.Minute })
	a, b := run(t, s), run(t, s)
	if a.Summary != b.Summary && !(a.Summary.FirstExhaustionSeconds != nil && *a.Summary.FirstExhaustionSeconds == *b.Summary.FirstExhaustionSeconds) {
		t.Errorf("same seed, different summaries:\n%+v\n%+v", a.Summary, b.Summary)
	}
	if a.Summary.Requests != b.Summary.Requests || a.Summary.Failed != b.Summary.Failed {
		t.Errorf("same seed, different counts")
	}
	s.Seed = 2
	if c := run(t, s); c.Summary.Requests == a.Summary.Requests {
		t.Errorf("different seeds gave the same %d requests", c.Summary.Requests)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name  string
		mod   func(*Scenario)
		field string
	}{
		{"negative-rate", func(s *Scenario) { s.Rate = -1 }, "rate"},
		{"nan-rate", func(s *Scenario) { s.Rate = math.NaN() }, "rate"},
		{"zero-duration", func(s *Scenario) { s.Duration = 0 }, "duration"},
		{"zero-units", func(s *Scenario) { s.Units = 0 }, "units"},
		{"too-many-nat-ips", func(s *Scenario) { s.NATGatewayIPs = 17 }, "nat-gateway-ips"},
		{"cache-over-1", func(s *Scenario) { s.CacheHitRatio = 1.5 }, "cache-hit-ratio"},
		{"retries-over-50", func(s *Scenario) { s.Retries = 51 }, "retries"},
		{"unknown-arrivals", func(s *Scenario) { s.Arrivals = "steady" }, "arrivals"},
		{"burst-longer-than-period", func(s *Scenario) { s.Arrivals, s.BurstLength = ArrivalsBursts, time.Hour }, "burst-length"},
		{"log-without-trace", func(s *Scenario) { s.LatencyDist = LatencyLog }, "latency-dist"},
		{"tiny-step", func(s *Scenario) { s.Step, s.Duration = time.Microsecond, time.Hour }, "step"},
		{"zero-timeout", func(s *Scenario) { s.Timeout = 0 }, "timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := scenario(tt.mod)
			_, err := Run(s)
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field {
				t.Errorf("Run error = %v, want a FieldError on %q", err, tt.field)
			}
		})
	}
}

func TestSustainableRate(t *testing.T) {
	tests := []struct {
		name string
		s    Scenario
		want float64 // requests/s; 0 = unbounded (nil)
	}{
		{"one-unit", scenario(func(s *Scenario) { s.Latency = 100 * time.Millisecond }), 1024 / 240.1},
		{"units-and-ips", scenario(func(s *Scenario) { s.Units, s.BackendIPs = 3, 2 }), 6 * 1024 / 240.1},
		{"pooling", scenario(func(s *Scenario) { s.Pooling, s.Latency = true, 200*time.Millisecond }), 1024 / 0.2},
		{"pooling-max-conns", scenario(func(s *Scenario) { s.Pooling, s.MaxConns, s.Units = true, 50, 2 }), 2 * 50 / 0.1},
		{"nat-gateway", scenario(func(s *Scenario) { s.NATGatewayIPs, s.Units = 2, 4 }), 2 * 64512 / 240.1},
		{"half-cached", scenario(func(s *Scenario) { s.CacheHitRatio = 0.5 }), 2 * 1024 / 240.1},
		{"all-cached", scenario(func(s *Scenario) { s.CacheHitRatio = 1 }), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.s
			s.Duration = time.Second
			got := run(t, s).Summary.SustainableRate
			switch {
			case tt.want == 0 && got != nil:
				t.Errorf("sustainableRate = %v, want nil", *got)
			case tt.want != 0 && (got == nil || math.Abs(*got-tt.want) > 0.05):
				t.Errorf("sustainableRate = %v, want %.1f", got, tt.want)
			}
		})
	}
}
