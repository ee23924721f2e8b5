package sim

import (
	"math"
	"slices"
	"time"
)

// kernel spreads a cohort of requests started in one step over the later
// steps in which something happens to them (a connection closes, a port is
// released). An event at a fractional position p steps after the cohort's
// step is split between offsets floor(p) and floor(p)+1 in proportion, so
// the mean delay is kept exactly: a quantity added at step i and removed
// through the kernel is held for p steps on average, whatever the step.
type kernel struct {
	off []int
	w   []float64
}

// kernelBuilder accumulates weights by offset.
type kernelBuilder map[int]float64

// add puts weight w at fractional position pos (in steps, >= 0).
func (b kernelBuilder) add(pos, w float64) {
	if w == 0 {
		return
	}
	k := math.Floor(pos)
	f := pos - k
	b[int(k)] += w * (1 - f)
	if f > 0 {
		b[int(k)+1] += w * f
	}
}

func (b kernelBuilder) build() kernel {
	var k kernel
	offs := make([]int, 0, len(b))
	for o, w := range b {
		if w > 0 {
			offs = append(offs, o)
		}
	}
	slices.Sort(offs)
	for _, o := range offs {
		k.off = append(k.off, o)
		k.w = append(k.w, b[o])
	}
	return k
}

// maxOffset is the largest offset with weight (0 for an empty kernel).
func (k kernel) maxOffset() int {
	if len(k.off) == 0 {
		return 0
	}
	return k.off[len(k.off)-1]
}

// latencyPoint is one point of a discretised latency distribution.
type latencyPoint struct {
	d time.Duration
	w float64
}

// quantilePoints is how finely continuous and replayed latency
// distributions are discretised.
const quantilePoints = 256

// latencyPoints discretises the scenario's latency distribution into
// weighted points whose weighted mean equals the distribution's mean.
func latencyPoints(s *Scenario) []latencyPoint {
	switch s.LatencyDist {
	case LatencyLogNormal:
		if s.LatencySigma == 0 || s.Latency == 0 {
			return []latencyPoint{{s.Latency, 1}}
		}
		sigma := s.LatencySigma
		mean := s.Latency.Seconds()
		mu := math.Log(mean) - sigma*sigma/2
		pts := make([]float64, quantilePoints)
		sum := 0.0
		for j := range pts {
			p := (float64(j) + 0.5) / quantilePoints
			z := math.Sqrt2 * math.Erfinv(2*p-1)
			pts[j] = math.Exp(mu + sigma*z)
			sum += pts[j]
		}
		// The truncated quantiles miss the far tail: rescale so the mean is
		// the scenario's, which is what Little's law needs.
		scale := mean * quantilePoints / sum
		out := make([]latencyPoint, quantilePoints)
		for j, v := range pts {
			out[j] = latencyPoint{secondsToDuration(v * scale), 1.0 / quantilePoints}
		}
		return out
	case LatencyLog:
		lat := slices.Clone(s.Trace.Latencies)
		slices.Sort(lat)
		n := len(lat)
		groups := min(n, quantilePoints)
		out := make([]latencyPoint, 0, groups)
		// Equal-count groups represented by their mean keep the overall mean.
		for g := range groups {
			lo, hi := g*n/groups, (g+1)*n/groups
			if hi <= lo {
				continue
			}
			var sum time.Duration
			for _, d := range lat[lo:hi] {
				sum += d
			}
			out = append(out, latencyPoint{sum / time.Duration(hi-lo), float64(hi-lo) / float64(n)})
		}
		return out
	default:
		return []latencyPoint{{s.Latency, 1}}
	}
}

// meanLatency is the mean of the scenario's latency distribution.
func meanLatency(s *Scenario) time.Duration {
	if s.LatencyDist != LatencyLog {
		return s.Latency
	}
	m := 0.0
	for _, p := range latencyPoints(s) {
		m += p.d.Seconds() * p.w
	}
	return secondsToDuration(m)
}

func secondsToDuration(s float64) time.Duration {
	return time.Duration(math.Round(s * float64(time.Second)))
}

// callKernels holds, for one attempt started in a step, when it ends.
type callKernels struct {
	ok      kernel  // answered before the timeout (weights sum to 1-pTimeout)
	timeout kernel  // cut by the timeout (weights sum to pTimeout)
	close   kernel  // either (connection closes)
	release kernel  // connection close + reclaim (port freed), no pooling
	reclaim kernel  // a close now frees its port after the reclaim delay
	pTO     float64 // share of attempts that time out
}

func buildKernels(s *Scenario, dt float64) callKernels {
	timeout := s.Timeout.Seconds()
	reclaim := s.Reclaim.Seconds()
	ok, to, cl, rel, rc := kernelBuilder{}, kernelBuilder{}, kernelBuilder{}, kernelBuilder{}, kernelBuilder{}
	pTO := 0.0
	for _, p := range latencyPoints(s) {
		d := p.d.Seconds()
		if d >= timeout {
			d = timeout
			to.add(d/dt, p.w)
			pTO += p.w
		} else {
			ok.add(d/dt, p.w)
		}
		cl.add(d/dt, p.w)
		rel.add((d+reclaim)/dt, p.w)
	}
	rc.add(reclaim/dt, 1)
	return callKernels{ok: ok.build(), timeout: to.build(), close: cl.build(), release: rel.build(), reclaim: rc.build(), pTO: pTO}
}

// ring is a circular buffer of amounts due at future steps.
type ring struct {
	buf []float64
}

func newRing(maxOffset int) ring { return ring{buf: make([]float64, maxOffset+1)} }

// spread adds amount×kernel to the steps after step i and returns the
// part due at offset 0, which the caller applies at once.
func (r *ring) spread(i int, amount float64, k kernel) (now float64) {
	if amount == 0 {
		return 0
	}
	n := len(r.buf)
	for j, o := range k.off {
		v := amount * k.w[j]
		if o == 0 {
			now += v
			continue
		}
		r.buf[(i+o)%n] += v
	}
	return now
}

// addAt adds amount at step i+off (off must be below the ring's size).
func (r *ring) addAt(i, off int, amount float64) {
	r.buf[(i+off)%len(r.buf)] += amount
}

// take returns and clears the amount due at step i.
func (r *ring) take(i int) float64 {
	j := i % len(r.buf)
	v := r.buf[j]
	r.buf[j] = 0
	return v
}
