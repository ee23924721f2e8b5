package sim

import (
	"testing"
	"time"
)

// benchScenarios are the target: 24 h at 10,000 requests/s must
// simulate in at most 5 s.
var benchScenarios = []struct {
	name string
	mod  func(*Scenario)
}{
	{"24h-10k-direct-poisson", func(s *Scenario) {
		s.Rate, s.Duration, s.Arrivals = 10000, 24*time.Hour, ArrivalsPoisson
	}},
	{"24h-10k-pooled-lognormal-daily", func(s *Scenario) {
		s.Rate, s.Duration, s.Arrivals, s.Pooling, s.MaxConns = 10000, 24*time.Hour, ArrivalsDaily, true, 256
		s.LatencyDist, s.LatencySigma, s.Units, s.Retries = LatencyLogNormal, 0.8, 4, 2
	}},
}

func BenchmarkRun(b *testing.B) {
	for _, bs := range benchScenarios {
		b.Run(bs.name, func(b *testing.B) {
			s := scenario(bs.mod)
			for b.Loop() {
				if _, err := Run(s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkCompare(b *testing.B) {
	s := scenario(benchScenarios[0].mod)
	for b.Loop() {
		if _, err := Compare(s); err != nil {
			b.Fatal(err)
		}
	}
}
