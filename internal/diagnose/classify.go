package diagnose

import (
	"fmt"
	"math"
	"slices"
)

// window is one analysis window (Thresholds.WindowMinutes of minute bins).
type window struct {
	start   int64
	end     int64
	sum     bin
	minutes []*bin
	cause   string // "" when healthy
	kind    outcome
	dest    int32 // destination the cause concentrates on, or -1
	share   float64
}

// causeOrder breaks ties between outcomes, most specific first.
var causeOrder = []outcome{outConnFailure, outCircuitOpen, outTimeout, outBackendError, outThrottled, outClientDisc}

func causeOf(o outcome) string {
	switch o {
	case outConnFailure:
		return CauseSNATExhaustion // refined by snatOrDown
	case outCircuitOpen:
		return CauseCircuitOpen
	case outTimeout:
		return CauseBackendTimeouts
	case outBackendError:
		return CauseBackendErrors
	case outThrottled:
		return CauseThrottling
	case outClientDisc:
		return CauseClientDisconnects
	}
	return CauseHealthy
}

// events counts a window's (or destination's) requests of outcome o; other
// server failures are grouped with backend errors.
func events(d *destStats, o outcome) int64 {
	if o == outBackendError {
		return d.out[outBackendError] + d.out[outOtherFailure]
	}
	return d.out[o]
}

// classifier turns minute bins into incidents.
type classifier struct {
	th      Thresholds
	minutes []*bin
	dests   []string
	windows []*window
	corr    map[int32]float64
	// baselines from healthy windows
	baseReqPerMin  float64
	baseBackendMs  float64
	baseDestPerMin map[int32]float64
	// first and last record times (Unix ms): incidents are clipped to them.
	minT, maxT int64
}

func newClassifier(th Thresholds, minutes []*bin, dests []string) *classifier {
	c := &classifier{th: th, minutes: minutes, dests: dests, corr: map[int32]float64{}, baseDestPerMin: map[int32]float64{}}
	width := int64(th.WindowMinutes) * binWidthMs
	for _, m := range minutes {
		start := floorDiv(m.start, width) * width
		if n := len(c.windows); n == 0 || c.windows[n-1].start != start {
			c.windows = append(c.windows, &window{start: start, end: start + width, dest: -1})
		}
		w := c.windows[len(c.windows)-1]
		w.minutes = append(w.minutes, m)
		w.sum.merge(m)
	}
	return c
}

// flag marks the windows whose dominant failure passes the thresholds.
func (c *classifier) flag() {
	for _, w := range c.windows {
		var best outcome
		var bestN int64
		for _, o := range causeOrder {
			if n := events(&w.sum.all, o); n > bestN {
				best, bestN = o, n
			}
		}
		if bestN < c.th.MinEvents || w.sum.all.requests == 0 ||
			float64(bestN)/float64(w.sum.all.requests) < c.th.MinRatio {
			continue
		}
		w.kind, w.cause = best, causeOf(best)
		// Destination the failures concentrate on.
		var top int32 = -1
		var topN int64
		for i := range w.sum.dests {
			if n := events(&w.sum.dests[i], best); n > topN {
				top, topN = int32(i), n
			}
		}
		if top >= 0 {
			w.share = float64(topN) / float64(bestN)
			if w.share >= 0.5 {
				w.dest = top
			}
		}
	}
	c.baselines()
	for _, w := range c.windows {
		if w.kind == outConnFailure && !c.isSNAT(w) {
			w.cause = CauseBackendErrors
		}
	}
}

// baselines computes the medians of healthy windows.
func (c *classifier) baselines() {
	var reqs, bts []float64
	perDest := map[int32][]float64{}
	for _, w := range c.windows {
		if w.cause != "" || w.sum.all.requests == 0 {
			continue
		}
		mins := float64(len(w.minutes))
		reqs = append(reqs, float64(w.sum.all.requests)/mins)
		if w.sum.all.btN > 0 {
			bts = append(bts, float64(w.sum.all.btSum)/float64(w.sum.all.btN))
		}
		for i := range w.sum.dests {
			perDest[int32(i)] = append(perDest[int32(i)], float64(w.sum.dests[i].attempts)/mins)
		}
	}
	c.baseReqPerMin, c.baseBackendMs = median(reqs), median(bts)
	for d, v := range perDest {
		c.baseDestPerMin[d] = median(v)
	}
}

// isSNAT applies the SNAT-exhaustion rules (docs/diagnose.md) to a window
// whose dominant failure is BackendConnectionFailure.
func (c *classifier) isSNAT(w *window) bool {
	conn := w.sum.all.out[outConnFailure]
	if conn == 0 || w.dest < 0 {
		return false
	}
	if 2*w.sum.all.connSNAT >= conn {
		// apimgw's own log says its SNAT budget refused these connections
		// (snat.enforce): no need to infer it from load.
		return true
	}
	if float64(w.sum.all.connNoCode)/float64(conn) < c.th.SNATNoCodeShare {
		return false
	}
	if w.share < c.th.SNATDestinationShare {
		return false
	}
	if float64(w.sum.all.connRefused)/float64(conn) > c.th.SNATMaxRefusedShare {
		return false
	}
	return c.loadLinked(w)
}

// loadLinked reports whether a window's connection failures look like a
// shortage of ports rather than an unreachable backend: calls to the same
// destination still succeed meanwhile, or load is above the healthy
// baseline, or failures follow volume minute by minute.
func (c *classifier) loadLinked(w *window) bool {
	d := &w.sum.dests[w.dest]
	if d.attempts > 0 && float64(d.out[outConnFailure])/float64(d.attempts) < c.th.SNATMaxFailRatio {
		return true
	}
	if base := c.baseDestPerMin[w.dest]; base > 0 &&
		float64(d.attempts)/float64(len(w.minutes)) >= c.th.SNATLoadFactor*base {
		return true
	}
	return c.correlation(w.dest) >= c.th.SNATCorrelation
}

// correlation is Pearson's r between a destination's attempts and its
// connection failures per minute over the whole log.
func (c *classifier) correlation(dest int32) float64 {
	if r, ok := c.corr[dest]; ok {
		return r
	}
	var xs, ys []float64
	for _, m := range c.minutes {
		if int(dest) < len(m.dests) {
			xs = append(xs, float64(m.dests[dest].attempts))
			ys = append(ys, float64(m.dests[dest].out[outConnFailure]))
		} else {
			xs, ys = append(xs, 0), append(ys, 0)
		}
	}
	r := pearson(xs, ys)
	c.corr[dest] = r
	return r
}

// incidents merges flagged windows — same cause and destination, at most
// one healthy window apart — into incidents.
func (c *classifier) incidents() []Incident {
	var out []Incident
	var group []*window
	flush := func() {
		if len(group) > 0 {
			out = append(out, c.incident(group))
			group = group[:0]
		}
	}
	width := int64(c.th.WindowMinutes) * binWidthMs
	for _, w := range c.windows {
		if w.cause == "" {
			continue
		}
		if n := len(group); n > 0 {
			last := group[n-1]
			if last.cause != w.cause || last.dest != w.dest || w.start-last.end > width {
				flush()
			}
		}
		group = append(group, w)
	}
	flush()
	return out
}

// incident builds one incident with its metrics and evidence.
func (c *classifier) incident(ws []*window) Incident {
	first, last := ws[0], ws[len(ws)-1]
	// Windows are aligned to whole minutes; the incident spans only the
	// part of them the log covers.
	start, end := first.start, last.end
	start = max(start, c.minT)
	end = max(start, min(end, c.maxT))
	inc := Incident{
		Start: msTime(start),
		End:   msTime(end),
		Cause: first.cause,
	}
	var sum bin
	var minutes []*bin
	for _, w := range ws {
		sum.merge(&w.sum)
		minutes = append(minutes, w.minutes...)
	}
	kind := first.kind
	dest := first.dest
	scope := &sum.all
	if dest >= 0 {
		inc.BackendURL = c.dests[dest]
		scope = &sum.dests[dest]
	}
	cause := events(&sum.all, kind)
	inc.FailedRequests = cause
	inc.Requests = sum.all.requests
	m := &inc.Metrics
	m.FailureRatio = ratio(events(scope, kind), scope.requests)
	m.DestinationShare = ratio(events(scope, kind), cause)
	if conn := sum.all.out[outConnFailure]; conn > 0 {
		m.NoBackendCodeShare = ratio(sum.all.connNoCode, conn)
		m.RefusedShare = ratio(sum.all.connRefused, conn)
		m.GatewaySNATShare = ratio(sum.all.connSNAT, conn)
	}
	m.AvgBackendTime = round1(ratioF(float64(scope.btSum), float64(scope.btN)))
	m.P95BackendTime = sum.hist.quantile(0.95, sum.all.btN)
	reclaim := float64(c.th.PortReclaimSeconds)
	for _, mb := range minutes {
		st := &mb.all
		if dest >= 0 {
			if int(dest) >= len(mb.dests) {
				continue
			}
			st = &mb.dests[dest]
		}
		m.PeakRequestsPerMinute = max(m.PeakRequestsPerMinute, st.requests)
		m.PeakConcurrency = max(m.PeakConcurrency, round1(concurrency(st)))
		m.PeakPortsWithoutReuse = max(m.PeakPortsWithoutReuse, math.Round(portsWithoutReuse(st, reclaim)))
	}
	m.BaselineRequestsPerMinute = round1(c.baseReqPerMin)
	if dest >= 0 {
		if b, ok := c.baseDestPerMin[dest]; ok {
			m.BaselineRequestsPerMinute = round1(b)
		}
	}
	m.BaselineAvgBackendTime = round1(c.baseBackendMs)
	if kind == outConnFailure && dest >= 0 {
		m.LoadCorrelation = round2(c.correlation(dest))
	}
	inc.Evidence = c.evidence(&inc, kind, scope)
	return inc
}

// concurrency is Little's law for one minute: the rate of attempts times
// the time the backend takes to answer (failed connects take none, so the
// answered calls' average stands for all of them: it is what the calls
// would take if they could all connect).
func concurrency(d *destStats) float64 { return concurrencyIn(d, binWidthMs) }

// concurrencyIn is concurrency for a bin widthMs wide.
func concurrencyIn(d *destStats, widthMs int64) float64 {
	if d.btN == 0 {
		return float64(d.busyMs) / float64(widthMs)
	}
	return float64(d.attempts) * (float64(d.btSum) / float64(d.btN)) / float64(widthMs)
}

// portsWithoutReuse: SNAT ports held if every attempt opened a new
// connection, each kept for its backend time plus the reclaim delay.
func portsWithoutReuse(d *destStats, reclaimSeconds float64) float64 {
	return portsWithoutReuseIn(d, reclaimSeconds, binWidthMs)
}

// portsWithoutReuseIn is portsWithoutReuse for a bin widthMs wide.
func portsWithoutReuseIn(d *destStats, reclaimSeconds float64, widthMs int64) float64 {
	if d.attempts == 0 {
		return 0
	}
	rate := float64(d.attempts) / (float64(widthMs) / 1000)
	life := concurrencyIn(d, widthMs)/rate + reclaimSeconds
	return rate * life
}

func (c *classifier) evidence(inc *Incident, kind outcome, scope *destStats) []string {
	m := inc.Metrics
	target := "all calls"
	if inc.BackendURL != "" {
		target = "calls to " + inc.BackendURL
	}
	var ev []string
	label := map[outcome]string{
		outConnFailure:  "BackendConnectionFailure",
		outBackendError: "backend 5xx responses",
		outTimeout:      "backend timeouts",
		outClientDisc:   "ClientConnectionFailure",
		outThrottled:    "gateway throttling (429/403 rate limit or quota)",
		outCircuitOpen:  "503 from an open circuit breaker",
	}[kind]
	ev = append(ev, fmt.Sprintf("%s on %s of %s (%s of %s)", label, pct(m.FailureRatio), target,
		num(events(scope, kind)), num(scope.requests)))
	if inc.BackendURL != "" && m.DestinationShare < 1 {
		ev = append(ev, fmt.Sprintf("%s of these failures went to %s", pct(m.DestinationShare), inc.BackendURL))
	} else if inc.BackendURL != "" {
		ev = append(ev, fmt.Sprintf("all of these failures went to %s", inc.BackendURL))
	}
	load := fmt.Sprintf("peak %s requests/min vs %s/min baseline; avg backend time %s ms (p95 %s ms) vs %s ms baseline",
		num(m.PeakRequestsPerMinute), fnum(m.BaselineRequestsPerMinute), fnum(m.AvgBackendTime), fnum(m.P95BackendTime), fnum(m.BaselineAvgBackendTime))
	if m.BaselineRequestsPerMinute == 0 {
		load = fmt.Sprintf("peak %s requests/min, avg backend time %s ms (p95 %s ms); no healthy window in the log to compare with",
			num(m.PeakRequestsPerMinute), fnum(m.AvgBackendTime), fnum(m.P95BackendTime))
	}
	took := ""
	if n := events(scope, kind); n > 0 {
		ms := float64(scope.totalMs[kind]) / float64(n)
		if kind == outBackendError {
			ms = float64(scope.totalMs[outBackendError]+scope.totalMs[outOtherFailure]) / float64(n)
		}
		took = fnum(round1(ms)) + " ms"
	}
	switch inc.Cause {
	case CauseSNATExhaustion:
		if m.GatewaySNATShare > 0 {
			ev = append(ev, fmt.Sprintf("%s of the connection failures were refused by apimgw's own SNAT port budget (snat.enforce; LastErrorDetail \"snat port budget exhausted\")", pct(m.GatewaySNATShare)))
		}
		ev = append(ev,
			fmt.Sprintf("%s of the connection failures got no backend response code: the connection was never made (failed calls took %s on average)", pct(m.NoBackendCodeShare), took),
			load)
		if m.FailureRatio < c.th.SNATMaxFailRatio {
			ev = append(ev, "other calls to the same destination succeeded in the same minutes: the backend is up, source ports ran out intermittently")
		}
		if m.LoadCorrelation != 0 {
			ev = append(ev, fmt.Sprintf("connection failures per minute follow request volume: Pearson r = %.2f", m.LoadCorrelation))
		}
		ev = append(ev, fmt.Sprintf("with a new connection per request this load holds ≈ %s SNAT ports (budget %s per instance and destination); with keep-alive ≈ %s concurrent connections (Little's law)",
			fnum(m.PeakPortsWithoutReuse), num(int64(c.th.PortsPerInstance)), fnum(math.Max(1, math.Ceil(m.PeakConcurrency)))))
	case CauseBackendErrors:
		if kind == outConnFailure {
			ev = append(ev, fmt.Sprintf("connection failures with %s of calls failing, %s refused/unresolvable and no rise with load: the backend is unreachable, not short of ports",
				pct(m.FailureRatio), pct(m.RefusedShare)))
		} else {
			ev = append(ev, "the backend answered these calls with a 5xx status code")
		}
		ev = append(ev, load)
	case CauseBackendTimeouts:
		ev = append(ev, fmt.Sprintf("the backend did not answer within the forward-request timeout: timed-out calls took %s on average", took), load)
	case CauseClientDisconnects:
		ev = append(ev, fmt.Sprintf("clients closed the connection before the response was sent, after %s on average", took), load)
	case CauseThrottling:
		ev = append(ev, "the gateway's rate-limit/quota policies rejected these calls without calling the backend")
	case CauseCircuitOpen:
		ev = append(ev, "the gateway answered 503 without calling the backend while its circuit breaker was open")
	}
	return ev
}

// verdict is the cause with the most failed requests over all incidents.
func verdict(incs []Incident) string {
	if len(incs) == 0 {
		return CauseHealthy
	}
	totals := map[string]int64{}
	for _, in := range incs {
		totals[in.Cause] += in.FailedRequests
	}
	best, bestN := CauseHealthy, int64(-1)
	for _, cause := range []string{CauseSNATExhaustion, CauseCircuitOpen, CauseBackendTimeouts,
		CauseBackendErrors, CauseThrottling, CauseClientDisconnects} {
		if n, ok := totals[cause]; ok && n > bestN {
			best, bestN = cause, n
		}
	}
	return best
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func pearson(xs, ys []float64) float64 {
	n := float64(len(xs))
	if n < 3 {
		return 0
	}
	var sx, sy float64
	for i := range xs {
		sx += xs[i]
		sy += ys[i]
	}
	mx, my := sx/n, sy/n
	var cov, vx, vy float64
	for i := range xs {
		dx, dy := xs[i]-mx, ys[i]-my
		cov += dx * dy
		vx += dx * dx
		vy += dy * dy
	}
	if vx == 0 || vy == 0 {
		return 0
	}
	return cov / math.Sqrt(vx*vy)
}

func ratio(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return round3(float64(a) / float64(b))
}

func ratioF(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func round1(x float64) float64 { return math.Round(x*10) / 10 }
func round2(x float64) float64 { return math.Round(x*100) / 100 }
func round3(x float64) float64 { return math.Round(x*1000) / 1000 }

// num formats an integer with thousands separators.
func num(n int64) string {
	s := fmt.Sprint(n)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	var out []byte
	for i := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

// fnum formats a float: integers with separators, else one decimal.
func fnum(x float64) string {
	if x == math.Trunc(x) || math.Abs(x) >= 100 {
		return num(int64(math.Round(x)))
	}
	return fmt.Sprintf("%.1f", x)
}

func pct(x float64) string {
	switch {
	case x >= 0.995 && x < 1:
		return ">99%"
	case x > 0 && x < 0.01:
		return "<1%"
	}
	return fmt.Sprintf("%.0f%%", x*100)
}
