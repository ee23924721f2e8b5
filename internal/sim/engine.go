package sim

import (
	"fmt"
	"math"
	"time"
)

// maxSteps bounds the number of time steps of one run.
const maxSteps = 2_000_000

// maxRingSlots bounds the memory of each delay ring (slots × width).
const maxRingSlots = 4_000_000

// eps is the amount of requests below which a fluid quantity counts as none.
const eps = 1e-9

// Failure reasons of one attempt.
const (
	reasonConn = iota
	reasonTimeout
)

// chooseStep picks the time step: a tenth of the mean latency (so a call's
// duration is resolved), between 1 ms and 1 s, but coarse enough to keep the
// run within maxSteps and every delay ring within maxRingSlots. It is
// snapped to a round value that divides the series interval, so the
// series' points fall on round times.
func chooseStep(s *Scenario) time.Duration {
	if s.Step > 0 {
		return s.Step
	}
	want := min(max(meanLatency(s)/10, time.Millisecond), time.Second)
	floor := stepFloor(s)
	target := max(want, floor)
	var best time.Duration
	for _, ms := range [...]time.Duration{1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000} {
		v := ms * time.Millisecond
		switch {
		case v < floor:
		case v <= target:
			best = v // the largest round step not above the target
		case best == 0:
			return v // the smallest round step above the floor
		}
	}
	if best == 0 {
		return target
	}
	return best
}

// stepFloor is the smallest step that keeps the run within maxSteps and
// every delay ring within maxRingSlots.
func stepFloor(s *Scenario) time.Duration {
	classes := time.Duration(s.Retries + 1)
	bounds := []time.Duration{
		s.Duration / maxSteps,
		(s.Timeout + s.Reclaim) / maxRingSlots,
		s.Timeout * classes / maxRingSlots,
	}
	if s.Retries > 0 {
		bounds = append(bounds, s.RetryInterval*classes/maxRingSlots)
	}
	if s.BreakerFailures > 0 {
		bounds = append(bounds, s.BreakerInterval/maxRingSlots)
	}
	if s.Pooling {
		bounds = append(bounds, s.IdleTimeout/maxRingSlots)
	}
	floor := time.Duration(0)
	for _, f := range bounds {
		floor = max(floor, f+1)
	}
	return floor
}

// geometry says how the traffic splits into lanes: a lane is one
// destination IP:port as seen by one port budget. Lanes are identical (the
// traffic is spread evenly), so the engine simulates one and scales.
type geometry struct {
	lanes    float64 // lanes in total
	perDest  float64 // lanes per destination IP:port
	budget   float64 // ports per lane
	maxConns float64 // connections per lane (pooling), +Inf when unbounded
	// breakerScale turns a lane's failures into one unit's breaker's.
	breakerScale float64
}

func geometryOf(s *Scenario) geometry {
	g := geometry{maxConns: math.Inf(1)}
	if s.NATGatewayIPs > 0 {
		// One NAT gateway serves every unit: one budget per destination.
		g.perDest = 1
		g.budget = float64(NATGatewayPortsPerIP * s.NATGatewayIPs)
		if s.MaxConns > 0 {
			g.maxConns = float64(s.MaxConns * s.Units)
		}
	} else {
		g.perDest = float64(s.Units)
		g.budget = float64(s.PortsPerUnit)
		if s.MaxConns > 0 {
			g.maxConns = float64(s.MaxConns)
		}
	}
	g.lanes = g.perDest * float64(s.BackendIPs)
	g.breakerScale = g.lanes / float64(s.Units)
	return g
}

// Run simulates the scenario. It fails only when the scenario is invalid.
func Run(s Scenario) (*Result, error) {
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	e := newEngine(&s)
	e.run()
	return e.result(), nil
}

// engine is the state of one lane during a run. Quantities are expected
// counts (floats): arrivals are the only random part.
type engine struct {
	s       *Scenario
	g       geometry
	dt      float64
	step    time.Duration
	steps   int
	classes int // attempt numbers: 0 = first call, c = c-th retry
	k       callKernels
	arr     *arrivals

	// Port and connection state.
	held  float64 // ports held (open connections + reclaiming)
	conns float64 // open connections
	busy  float64 // pooled connections serving a call

	release ring   // ports freed (no pooling: close + reclaim; pooling: reclaim)
	closes  ring   // connections closing (no pooling)
	done    ring   // pooled calls answered
	timeout []ring // calls cut by the timeout, per attempt class
	retry   []ring // retries due, per attempt class

	// Pooled wait queue, one slot per arrival step, per attempt class.
	queue      []float64
	queueSlots int
	queueHead  int
	queued     float64
	idleMax    slidingMax

	// Rate limit: accepted requests over the last second.
	limitWin   ring
	limitSteps int
	limitSum   float64

	// Breaker: failed attempts over its interval.
	brkWin      ring
	brkSteps    int
	brkSum      float64
	brkOpenTill int

	demand []float64 // per class, this step
	moved  []float64 // scratch per class

	// Totals (lane units).
	requests, cacheHits, throttled, circuitOpen float64
	connFailed, timedOut, attempts, retries     float64
	firstExhaustion                             int
	peakHeld, peakConns, peakQueued             float64
	steadySum                                   float64
	steadyN                                     int

	// Series accumulation.
	perPoint                    int
	series                      []Point
	ptHeld, ptMax, ptConns, ptQ float64
	ptReq, ptFailed             float64
	ptN                         int
	failedNow                   float64
}

func newEngine(s *Scenario) *engine {
	step := chooseStep(s)
	dt := step.Seconds()
	steps := int(math.Ceil(s.Duration.Seconds() / dt))
	e := &engine{
		s: s, g: geometryOf(s), dt: dt, step: step, steps: steps,
		classes:         s.Retries + 1,
		k:               buildKernels(s, dt),
		firstExhaustion: -1,
		brkOpenTill:     -1,
	}
	e.arr = newArrivals(s, dt, steps)
	e.release = newRing(max(e.k.release.maxOffset(), e.k.reclaim.maxOffset()))
	e.closes = newRing(e.k.close.maxOffset())
	e.done = newRing(e.k.ok.maxOffset())
	e.timeout = make([]ring, e.classes)
	e.retry = make([]ring, e.classes)
	retrySteps := e.retrySteps()
	for c := range e.classes {
		e.timeout[c] = newRing(e.k.timeout.maxOffset())
		if c > 0 {
			e.retry[c] = newRing(retrySteps)
		}
	}
	if s.Pooling {
		e.queueSlots = e.timeoutSteps() + 1
		e.queue = make([]float64, e.queueSlots*e.classes)
		idle := s.IdleTimeout
		if s.NATGatewayIPs > 0 && s.NATIdleTimeout > 0 {
			idle = min(idle, s.NATIdleTimeout)
		}
		e.idleMax = newSlidingMax(max(1, int(math.Round(idle.Seconds()/dt))))
	}
	if s.RateLimit > 0 {
		e.limitSteps = max(1, int(math.Round(1/dt)))
		e.limitWin = newRing(e.limitSteps)
	}
	if s.BreakerFailures > 0 {
		e.brkSteps = max(1, int(math.Round(s.BreakerInterval.Seconds()/dt)))
		e.brkWin = newRing(e.brkSteps)
	}
	e.demand = make([]float64, e.classes)
	e.moved = make([]float64, e.classes)
	e.perPoint = max(1, int(math.Round(seriesInterval(s.Duration).Seconds()/dt)))
	e.series = make([]Point, 0, steps/e.perPoint+1)
	return e
}

func (e *engine) retrySteps() int {
	return max(1, int(math.Round(e.s.RetryInterval.Seconds()/e.dt)))
}

func (e *engine) timeoutSteps() int {
	return max(1, int(math.Ceil(e.s.Timeout.Seconds()/e.dt-1e-9)))
}

func (e *engine) run() {
	retrySteps := e.retrySteps()
	for i := range e.steps {
		e.failedNow = 0
		failedAttempts := 0.0

		// Ports and connections freed, calls answered.
		e.held -= e.release.take(i)
		if e.s.Pooling {
			e.busy -= e.done.take(i)
		} else {
			e.conns -= e.closes.take(i)
		}
		// Calls cut by the timeout: the connection is closed.
		for c := range e.classes {
			to := e.timeout[c].take(i)
			if to == 0 {
				continue
			}
			if e.s.Pooling {
				e.busy -= to
				e.conns -= to
				e.held -= e.release.spread(i, to, e.k.reclaim)
			}
			failedAttempts += to
			e.fail(i, c, to, reasonTimeout, retrySteps)
		}

		// Demand of this step: retries due, then new requests.
		for c := 1; c < e.classes; c++ {
			e.demand[c] = e.retry[c].take(i)
		}
		n := e.arr.next(i) / e.g.lanes
		e.requests += n
		e.ptReq += n
		hits := n * e.s.CacheHitRatio
		e.cacheHits += hits
		n -= hits
		if e.s.RateLimit > 0 {
			n = e.rateLimit(i, n)
		}
		e.demand[0] = n

		if i < e.brkOpenTill {
			for c := range e.classes {
				e.circuitOpen += e.demand[c]
				e.failedNow += e.demand[c]
				e.demand[c] = 0
			}
		}
		for c := range e.classes {
			e.attempts += e.demand[c]
			if c > 0 {
				e.retries += e.demand[c]
			}
		}

		if e.s.Pooling {
			failedAttempts += e.stepPooled(i, retrySteps)
		} else {
			failedAttempts += e.stepDirect(i, retrySteps)
		}
		if e.brkSteps > 0 {
			e.breaker(i, failedAttempts)
		}
		e.sample(i)
	}
	e.flushPoint()
}

// stepDirect admits this step's demand without pooling: each attempt opens
// a connection, which holds a port until it closes plus the reclaim delay.
// It returns the attempts that failed.
func (e *engine) stepDirect(i, retrySteps int) float64 {
	total := 0.0
	for _, d := range e.demand {
		total += d
	}
	if total <= 0 {
		return 0
	}
	free := math.Max(0, e.g.budget-e.held)
	admitted := math.Min(total, free)
	share := admitted / total
	e.held += admitted
	e.conns += admitted
	e.held -= e.release.spread(i, admitted, e.k.release)
	e.conns -= e.closes.spread(i, admitted, e.k.close)
	failed := total - admitted
	for c, d := range e.demand {
		if d == 0 {
			continue
		}
		a := d * share
		if now := e.timeout[c].spread(i, a, e.k.timeout); now > 0 {
			e.timeout[c].addAt(i, 1, now)
		}
		if failed > 0 {
			e.fail(i, c, d-a, reasonConn, retrySteps)
		}
		e.demand[c] = 0
	}
	if failed > eps {
		e.exhausted(i)
	}
	return failed
}

// stepPooled serves the queue in arrival order: from idle connections, then
// by opening connections while max-conns and ports allow. An open that
// finds no port fails at once; beyond max-conns requests wait, up to the
// timeout. It returns the attempts that failed.
func (e *engine) stepPooled(i, retrySteps int) float64 {
	failed := 0.0
	q := e.queueSlots
	// Requests that waited a whole timeout give up.
	if old := i - e.timeoutSteps(); old >= e.queueHead && old >= 0 {
		slot := (old % q) * e.classes
		for c := range e.classes {
			if v := e.queue[slot+c]; v != 0 {
				e.queue[slot+c] = 0
				e.queued -= v
				failed += v
				e.fail(i, c, v, reasonTimeout, retrySteps)
			}
		}
		e.queueHead = old + 1
	}
	slot := (i % q) * e.classes
	for c, d := range e.demand {
		e.queue[slot+c] += d
		e.queued += d
		e.demand[c] = 0
	}
	if e.queued < eps {
		e.queued = 0
	} else {
		fromIdle := math.Min(e.queued, math.Max(0, e.conns-e.busy))
		rest := e.queued - fromIdle
		tryOpen := math.Min(rest, math.Max(0, e.g.maxConns-e.conns))
		opened := math.Min(tryOpen, math.Max(0, e.g.budget-e.held))
		refused := tryOpen - opened
		served := fromIdle + opened
		e.conns += opened
		e.held += opened
		e.busy += served
		if served > 0 {
			e.dequeue(i, served)
			for c, v := range e.moved {
				if v == 0 {
					continue
				}
				if now := e.timeout[c].spread(i, v, e.k.timeout); now > 0 {
					e.timeout[c].addAt(i, 1, now)
				}
			}
			e.busy -= e.done.spread(i, served, e.k.ok)
		}
		if refused > eps {
			e.dequeue(i, refused)
			for c, v := range e.moved {
				if v > 0 {
					e.fail(i, c, v, reasonConn, retrySteps)
				}
			}
			failed += refused
			e.exhausted(i)
		}
	}
	// Connections idle for the whole idle timeout close (reuse is
	// most-recently-used first, so the pool keeps the window's peak).
	keep := e.idleMax.push(i, e.busy)
	if e.conns > keep {
		closed := e.conns - keep
		e.conns = keep
		e.held -= e.release.spread(i, closed, e.k.reclaim)
	}
	return failed
}

// dequeue takes amount requests from the oldest queue slots into e.moved.
func (e *engine) dequeue(i int, amount float64) {
	clear(e.moved)
	e.queued -= amount
	if e.queued < eps {
		e.queued = 0
	}
	for j := e.queueHead; j <= i && amount > eps; j++ {
		slot := (j % e.queueSlots) * e.classes
		t := 0.0
		for c := range e.classes {
			t += e.queue[slot+c]
		}
		if t <= amount+eps {
			for c := range e.classes {
				e.moved[c] += e.queue[slot+c]
				e.queue[slot+c] = 0
			}
			amount -= t
			e.queueHead = j + 1
			continue
		}
		f := amount / t
		for c := range e.classes {
			v := e.queue[slot+c] * f
			e.moved[c] += v
			e.queue[slot+c] -= v
		}
		return
	}
}

// fail records failed attempts of class c: retried after the retry
// interval while retries are left, else the request fails.
func (e *engine) fail(i, c int, v float64, reason, retrySteps int) {
	if c+1 < e.classes {
		e.retry[c+1].addAt(i, retrySteps, v)
		return
	}
	e.failedNow += v
	if reason == reasonConn {
		e.connFailed += v
	} else {
		e.timedOut += v
	}
}

func (e *engine) exhausted(i int) {
	if e.firstExhaustion < 0 {
		e.firstExhaustion = i
	}
}

// rateLimit passes at most RateLimit requests per sliding second.
func (e *engine) rateLimit(i int, n float64) float64 {
	e.limitSum -= e.limitWin.take(i - e.limitSteps + len(e.limitWin.buf))
	limit := e.s.RateLimit / e.g.lanes
	allowed := math.Max(0, limit-e.limitSum)
	accepted := math.Min(n, allowed)
	e.limitSum += accepted
	e.limitWin.addAt(i, 0, accepted)
	e.throttled += n - accepted
	e.failedNow += n - accepted
	return accepted
}

// breaker trips when the failed attempts of one unit within the interval
// reach BreakerFailures, and then rejects calls for BreakerTrip.
func (e *engine) breaker(i int, failed float64) {
	e.brkSum -= e.brkWin.take(i - e.brkSteps + len(e.brkWin.buf))
	e.brkSum += failed
	e.brkWin.addAt(i, 0, failed)
	if i >= e.brkOpenTill && e.brkSum*e.g.breakerScale >= float64(e.s.BreakerFailures)-eps {
		e.brkOpenTill = i + 1 + max(1, int(math.Round(e.s.BreakerTrip.Seconds()/e.dt)))
		e.brkSum = 0
		clear(e.brkWin.buf)
	}
}

// sample accumulates the state at the end of step i.
func (e *engine) sample(i int) {
	if e.held < eps {
		e.held = 0
	}
	if e.conns < eps {
		e.conns = 0
	}
	e.peakHeld = math.Max(e.peakHeld, e.held)
	e.peakConns = math.Max(e.peakConns, e.conns)
	e.peakQueued = math.Max(e.peakQueued, e.queued)
	if i >= e.steps-max(1, e.steps/4) {
		e.steadySum += e.held
		e.steadyN++
	}
	e.ptHeld += e.held
	e.ptMax = math.Max(e.ptMax, e.held)
	e.ptConns += e.conns
	e.ptQ += e.queued
	e.ptFailed += e.failedNow
	e.ptN++
	if e.ptN == e.perPoint {
		e.flushPoint()
	}
}

func (e *engine) flushPoint() {
	if e.ptN == 0 {
		return
	}
	n := float64(e.ptN)
	d := e.g.perDest
	e.series = append(e.series, Point{
		T:             round3(float64(len(e.series)*e.perPoint) * e.dt),
		PortsInUse:    round1(e.ptHeld / n * d),
		MaxPortsInUse: round1(e.ptMax * d),
		Connections:   round1(e.ptConns / n * d),
		Queued:        round1(e.ptQ / n * e.g.lanes),
		Requests:      count(e.ptReq * e.g.lanes),
		Failed:        count(e.ptFailed * e.g.lanes),
	})
	e.ptHeld, e.ptMax, e.ptConns, e.ptQ, e.ptReq, e.ptFailed, e.ptN = 0, 0, 0, 0, 0, 0, 0
}

func (e *engine) result() *Result {
	l, d := e.g.lanes, e.g.perDest
	sum := Summary{
		Requests:           count(e.requests * l),
		ConnectionFailures: count(e.connFailed * l),
		Timeouts:           count(e.timedOut * l),
		CircuitOpen:        count(e.circuitOpen * l),
		Throttled:          count(e.throttled * l),
		CacheHits:          count(e.cacheHits * l),
		Attempts:           count(e.attempts * l),
		Retries:            count(e.retries * l),
		PortBudget:         int(e.g.budget * d),
		Destinations:       e.s.BackendIPs,
		PeakPortsInUse:     round1(e.peakHeld * d),
		PeakConnections:    round1(e.peakConns * d),
		PeakQueued:         round1(e.peakQueued * l),
	}
	if e.steadyN > 0 {
		sum.SteadyPortsInUse = round1(e.steadySum / float64(e.steadyN) * d)
	}
	sum.Failed = sum.ConnectionFailures + sum.Timeouts + sum.CircuitOpen + sum.Throttled
	sum.Succeeded = max(0, sum.Requests-sum.Failed)
	if r := sustainableRate(e.s); !math.IsInf(r, 0) && !math.IsNaN(r) {
		r = round1(r)
		sum.SustainableRate = &r
	}
	if e.firstExhaustion >= 0 {
		t := round3(float64(e.firstExhaustion) * e.dt)
		sum.FirstExhaustionSeconds = &t
	}
	return &Result{
		Scenario: *e.s,
		Step:     e.step,
		Interval: time.Duration(e.perPoint) * e.step,
		Summary:  sum,
		Series:   e.series,
	}
}

func count(v float64) int64    { return int64(math.Round(v)) }
func round1(v float64) float64 { return math.Round(v*10) / 10 }
func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

// seriesInterval picks a round interval giving at most about 500 points.
func seriesInterval(d time.Duration) time.Duration {
	for _, iv := range []time.Duration{
		100 * time.Millisecond, time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second,
		15 * time.Second, 30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute,
		10 * time.Minute, 15 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour,
	} {
		if d/iv <= 500 {
			return iv
		}
	}
	return 6 * time.Hour
}

// slidingMax is the maximum of the values pushed over the last w steps.
type slidingMax struct {
	w     int
	steps []int
	vals  []float64
	head  int
	n     int
}

func newSlidingMax(w int) slidingMax {
	return slidingMax{w: w, steps: make([]int, w+1), vals: make([]float64, w+1)}
}

// push adds the value of step i and returns the maximum over steps
// (i-w, i].
func (m *slidingMax) push(i int, v float64) float64 {
	size := len(m.vals)
	for m.n > 0 && m.steps[m.head] <= i-m.w {
		m.head = (m.head + 1) % size
		m.n--
	}
	for m.n > 0 {
		last := (m.head + m.n - 1) % size
		if m.vals[last] > v {
			break
		}
		m.n--
	}
	tail := (m.head + m.n) % size
	m.steps[tail], m.vals[tail] = i, v
	m.n++
	return m.vals[m.head]
}
