package sim

import (
	"math"
	"math/rand/v2"
)

// arrivals yields the number of requests arriving (at the whole gateway)
// in each step.
type arrivals struct {
	s      *Scenario
	dt     float64
	rng    *rand.Rand
	replay []float64 // per-step counts for ArrivalsLog
}

func newArrivals(s *Scenario, dt float64, steps int) *arrivals {
	a := &arrivals{s: s, dt: dt, rng: rand.New(rand.NewPCG(s.Seed, 0x5eed5a11))}
	if s.Arrivals == ArrivalsLog {
		a.replay = replayCounts(s.Trace, dt, steps)
	}
	return a
}

// replayCounts bins the trace's arrivals into steps, repeating the trace
// when the run is longer than the log (one mean gap between repetitions);
// a log whose requests all share one instant is replayed once.
func replayCounts(t *Trace, dt float64, steps int) []float64 {
	counts := make([]float64, steps)
	n := len(t.Arrivals)
	span := t.Span().Seconds()
	end := float64(steps) * dt
	period := math.Inf(1)
	if span > 0 {
		period = math.Max(span+span/float64(n-1), dt)
	}
	for base := 0.0; base < end; base += period {
		for _, off := range t.Arrivals {
			at := base + off.Seconds()
			if at >= end {
				break
			}
			counts[int(at/dt)]++
		}
	}
	return counts
}

// rate is the mean request rate (requests/s) at time t seconds.
func (a *arrivals) rate(t float64) float64 {
	s := a.s
	switch s.Arrivals {
	case ArrivalsBursts:
		every := s.BurstEvery.Seconds()
		if t >= every && math.Mod(t, every) < s.BurstLength.Seconds() {
			return s.BurstRate
		}
		return s.Rate
	case ArrivalsDaily:
		hour := math.Mod(t/3600, 24)
		// Cosine from DailyMin×Rate at 04:00 up to Rate at 16:00.
		shape := (1 - math.Cos(2*math.Pi*(hour-4)/24)) / 2
		return s.Rate * (s.DailyMin + (1-s.DailyMin)*shape)
	default:
		return s.Rate
	}
}

// next returns the requests arriving in step i.
func (a *arrivals) next(i int) float64 {
	switch a.s.Arrivals {
	case ArrivalsLog:
		return a.replay[i]
	case ArrivalsConstant:
		return a.s.Rate * a.dt
	default:
		return a.poisson(a.rate((float64(i)+0.5)*a.dt) * a.dt)
	}
}

// poisson samples a Poisson count with mean m: exactly for small means,
// by the normal approximation for large ones.
func (a *arrivals) poisson(m float64) float64 {
	switch {
	case m <= 0:
		return 0
	case m < 30:
		l := math.Exp(-m)
		k, p := 0.0, a.rng.Float64()
		for p > l {
			k++
			p *= a.rng.Float64()
		}
		return k
	default:
		return math.Max(0, math.Round(m+math.Sqrt(m)*a.rng.NormFloat64()))
	}
}
