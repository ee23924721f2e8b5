package diagnose

import (
	"math/bits"
	"slices"
)

// outcome is what happened to one request, as far as diagnosis cares.
type outcome uint8

const (
	outOK           outcome = iota
	outConnFailure          // BackendConnectionFailure
	outBackendError         // the backend answered 5xx
	outTimeout              // Timeout, or a 504 without a backend answer
	outClientDisc           // ClientConnectionFailure
	outThrottled            // the gateway's own 429/403 (rate limit, quota, concurrency)
	outCircuitOpen          // the gateway's 503 while a circuit breaker is open
	outOtherFailure         // any other 5xx / no response code
	outClientError          // other 4xx: the client's mistake, not an incident
	numOutcomes
)

// classifyEntry decides the outcome of one request. The order matters: the
// error reason the gateway recorded wins over status codes.
func classifyEntry(e *entry) outcome {
	switch e.reason {
	case reasonClientConnection:
		return outClientDisc
	case reasonBackendConnection:
		return outConnFailure
	case reasonTimeout:
		return outTimeout
	case reasonCircuit:
		return outCircuitOpen
	case reasonRateLimit, reasonQuota, reasonConcurrency:
		return outThrottled
	}
	switch {
	case e.code == 503 && e.backendCode == 0 && e.flags&flagCircuit != 0:
		return outCircuitOpen
	case e.code == 504 && e.backendCode == 0:
		return outTimeout
	case (e.code == 429 || e.code == 403) && e.backendCode == 0 && e.reason == reasonNone:
		if e.code == 429 {
			return outThrottled
		}
		return outClientError
	case e.backendCode >= 500:
		return outBackendError
	case e.code == 503 && e.backendCode == 0 && e.reason == reasonNone:
		// A 503 the gateway produced itself without calling the backend
		// and without another error: what an open circuit breaker answers.
		return outCircuitOpen
	case e.code >= 500 || e.code <= 0:
		return outOtherFailure
	case e.code >= 400:
		return outClientError
	}
	return outOK
}

// failed reports whether an outcome counts as a failed request: the
// gateway could not serve it (5xx, or the connection to the client broke).
// Throttling and client errors are the system working as configured.
func (o outcome) failed() bool {
	switch o {
	case outConnFailure, outBackendError, outTimeout, outClientDisc, outCircuitOpen, outOtherFailure:
		return true
	}
	return false
}

// Histogram geometry: values below histLinear are exact; above, each power
// of two is split into histSub buckets (≈6 % relative error).
const (
	histLinear  = 32
	histSubBits = 4
	histSub     = 1 << histSubBits
	histMaxExp  = 31 // ≈ 25 days in ms; larger values land in the last bucket
	histBuckets = histLinear + (histMaxExp-5+1)*histSub
)

// histogram is a fixed-size log-linear histogram of milliseconds.
type histogram [histBuckets]uint32

func histIndex(v int64) int {
	if v < histLinear {
		if v < 0 {
			return 0
		}
		return int(v)
	}
	e := bits.Len64(uint64(v)) - 1
	if e > histMaxExp {
		return histBuckets - 1
	}
	sub := int(v>>(e-histSubBits)) & (histSub - 1)
	return histLinear + (e-5)*histSub + sub
}

// histMid returns the middle of bucket i.
func histMid(i int) float64 {
	if i < histLinear {
		return float64(i)
	}
	e := (i-histLinear)/histSub + 5
	sub := (i - histLinear) % histSub
	lo := float64(int64(histSub+sub) << (e - histSubBits))
	width := float64(int64(1) << (e - histSubBits))
	return lo + width/2
}

func (h *histogram) add(v int64) { h[histIndex(v)]++ }

func (h *histogram) merge(o *histogram) {
	for i, c := range o {
		h[i] += c
	}
}

// quantile returns the q-quantile (0<q≤1) of n recorded values (0 for a
// nil histogram).
func (h *histogram) quantile(q float64, n int64) float64 {
	if h == nil || n <= 0 {
		return 0
	}
	rank := int64(q*float64(n) + 0.999999)
	if rank < 1 {
		rank = 1
	}
	var cum int64
	for i, c := range h {
		cum += int64(c)
		if cum >= rank {
			return histMid(i)
		}
	}
	return histMid(histBuckets - 1)
}

// destStats counts one destination's requests inside one bin.
type destStats struct {
	requests    int64
	out         [numOutcomes]int64
	connNoCode  int64 // connection failures without a backend response code
	connRefused int64 // connection failures whose message says refused / unresolvable
	connSNAT    int64 // connection failures apimgw's own SNAT budget refused (LastErrorDetail)
	btSum       int64 // backend time of requests the backend answered
	btN         int64
	busyMs      int64              // backend time of every attempt: connection occupancy
	attempts    int64              // requests that tried to reach the backend
	totalMs     [numOutcomes]int64 // TotalTime summed by outcome
}

func (d *destStats) add(o *destStats) {
	d.requests += o.requests
	for i := range d.out {
		d.out[i] += o.out[i]
	}
	d.connNoCode += o.connNoCode
	d.connRefused += o.connRefused
	d.connSNAT += o.connSNAT
	d.btSum += o.btSum
	d.btN += o.btN
	d.busyMs += o.busyMs
	d.attempts += o.attempts
	for i := range d.totalMs {
		d.totalMs[i] += o.totalMs[i]
	}
}

// bin aggregates every request of one time interval.
type bin struct {
	start  int64 // Unix ms
	all    destStats
	failed int64
	ttSum  int64
	hist   *histogram  // backend times; nil until the backend answers once
	dests  []destStats // by destination index
}

func (b *bin) dest(i int32) *destStats {
	if int(i) >= len(b.dests) {
		b.dests = slices.Grow(b.dests, int(i)+1-len(b.dests))[:i+1]
	}
	return &b.dests[i]
}

func (b *bin) record(e *entry, o outcome) {
	b.all.requests++
	b.all.out[o]++
	b.all.totalMs[o] += e.totalTime
	if o.failed() {
		b.failed++
	}
	b.ttSum += e.totalTime
	answered := e.backendCode > 0
	if answered {
		b.all.btSum += e.backendTime
		b.all.btN++
		if b.hist == nil {
			b.hist = new(histogram)
		}
		b.hist.add(e.backendTime)
	}
	attempt := e.dest >= 0 && o != outThrottled && o != outCircuitOpen
	if attempt {
		b.all.attempts++
		b.all.busyMs += e.backendTime
	}
	noCode := o == outConnFailure && !answered
	refused := o == outConnFailure && e.flags&flagRefused != 0
	snat := o == outConnFailure && e.flags&flagSNAT != 0
	if noCode {
		b.all.connNoCode++
	}
	if refused {
		b.all.connRefused++
	}
	if snat {
		b.all.connSNAT++
	}
	if e.dest >= 0 {
		d := b.dest(e.dest)
		d.requests++
		d.out[o]++
		d.totalMs[o] += e.totalTime
		if attempt {
			d.attempts++
			d.busyMs += e.backendTime
		}
		if answered {
			d.btSum += e.backendTime
			d.btN++
		}
		if noCode {
			d.connNoCode++
		}
		if refused {
			d.connRefused++
		}
		if snat {
			d.connSNAT++
		}
	}
}

// merge adds o into b (the histogram included).
func (b *bin) merge(o *bin) {
	b.all.add(&o.all)
	b.failed += o.failed
	b.ttSum += o.ttSum
	if o.hist != nil {
		if b.hist == nil {
			b.hist = new(histogram)
		}
		b.hist.merge(o.hist)
	}
	for i := range o.dests {
		b.dest(int32(i)).add(&o.dests[i])
	}
}

// binWidthMs is the base bin: one minute, as in the seed's queries.
const binWidthMs = 60_000

// aggregator folds entries into one-minute bins. Memory grows with the
// time span and the number of destinations, never with the number of
// records.
type aggregator struct {
	bins    map[int64]*bin
	last    *bin
	records int64
	// snatBudget is the largest port budget apimgw's own log lines named
	// (LastErrorDetail of an enforced budget), 0 when none did.
	snatBudget int32
	minT       int64
	maxT       int64
	// fine holds 100 ms bins while the records span at most 30 s, then
	// one-second bins while they span less than fineMaxSpanMs, for the
	// charts of short logs (one-minute bins would leave them a single
	// column); fineOff once the span is longer.
	fine     map[int64]*bin
	fineW    int64
	lastFine *bin
	fineOff  bool
}

// Fine bins: 100 ms wide while the log spans up to fineCoarsenMs, then one
// second, kept while the log spans less than the charts' limit
// (fineChartSpanMs): at most ~300 bins either way.
const (
	fineWidthMs   = 100
	fineCoarsenMs = 30_000
	fineMaxSpanMs = fineChartSpanMs
)

func newAggregator() *aggregator {
	return &aggregator{bins: make(map[int64]*bin), fine: make(map[int64]*bin), fineW: fineWidthMs}
}

// addFine records e into its fine bin, coarsens the bins to one second
// once the log spans more than fineCoarsenMs, and drops them once it
// spans fineMaxSpanMs.
func (a *aggregator) addFine(e *entry, o outcome) {
	span := a.maxT - a.minT
	if span >= fineMaxSpanMs {
		a.fineOff, a.fine, a.lastFine = true, nil, nil
		return
	}
	if a.fineW == fineWidthMs && span > fineCoarsenMs {
		coarse := make(map[int64]*bin, len(a.fine)/10+1)
		for _, fb := range a.fine {
			s := floorDiv(fb.start, 1000) * 1000
			cb := coarse[s]
			if cb == nil {
				cb = &bin{start: s}
				coarse[s] = cb
			}
			cb.merge(fb)
		}
		a.fine, a.fineW, a.lastFine = coarse, 1000, nil
	}
	start := floorDiv(e.t, a.fineW) * a.fineW
	b := a.lastFine
	if b == nil || b.start != start {
		b = a.fine[start]
		if b == nil {
			b = &bin{start: start}
			a.fine[start] = b
		}
		a.lastFine = b
	}
	b.record(e, o)
}

func (a *aggregator) add(e *entry) {
	start := floorDiv(e.t, binWidthMs) * binWidthMs
	b := a.last
	if b == nil || b.start != start {
		b = a.bins[start]
		if b == nil {
			b = &bin{start: start}
			a.bins[start] = b
		}
		a.last = b
	}
	o := classifyEntry(e)
	b.record(e, o)
	a.snatBudget = max(a.snatBudget, e.snatBudget)
	if a.records == 0 || e.t < a.minT {
		a.minT = e.t
	}
	if a.records == 0 || e.t > a.maxT {
		a.maxT = e.t
	}
	a.records++
	if !a.fineOff {
		a.addFine(e, o)
	}
}

// fineWidths are the bin widths a short log's chart may use.
var fineWidths = []int64{100, 250, 500, 1000, 2000, 5000, 10_000, 15_000, 30_000}

// fineBins returns the bins of a log shorter than fineChartSpanMs at the
// finest width that gives at most maxFinePoints bins, empty bins
// included, and that width; nil for longer logs.
func (a *aggregator) fineBins() ([]*bin, int64) {
	if a.fineOff || a.records == 0 || a.maxT-a.minT >= fineChartSpanMs {
		return nil, 0
	}
	span := a.maxT - a.minT
	width := fineWidths[len(fineWidths)-1]
	for _, w := range fineWidths {
		if w >= a.fineW && w%a.fineW == 0 && span/w < maxFinePoints {
			width = w
			break
		}
	}
	first := floorDiv(a.minT, width) * width
	last := floorDiv(a.maxT, width) * width
	out := make([]*bin, 0, (last-first)/width+1)
	for t := first; t <= last; t += width {
		out = append(out, &bin{start: t})
	}
	for _, fb := range a.fine {
		out[(floorDiv(fb.start, width)*width-first)/width].merge(fb)
	}
	return out, width
}

// A log spanning less than fineChartSpanMs is charted in fine bins, at most
// maxFinePoints of them.
const (
	fineChartSpanMs = 5 * 60_000
	maxFinePoints   = 60
)

// sorted returns every minute from the first to the last record, empty
// minutes included, so that series have no holes.
func (a *aggregator) sorted() []*bin {
	if a.records == 0 {
		return nil
	}
	first := floorDiv(a.minT, binWidthMs) * binWidthMs
	last := floorDiv(a.maxT, binWidthMs) * binWidthMs
	if (last-first)/binWidthMs > maxFilledBins {
		// A stray timestamp years away must not allocate millions of
		// empty minutes: keep only the minutes that have records.
		out := make([]*bin, 0, len(a.bins))
		for _, b := range a.bins {
			out = append(out, b)
		}
		slices.SortFunc(out, func(x, y *bin) int { return cmpInt64(x.start, y.start) })
		return out
	}
	out := make([]*bin, 0, (last-first)/binWidthMs+1)
	for t := first; t <= last; t += binWidthMs {
		b := a.bins[t]
		if b == nil {
			b = &bin{start: t}
		}
		out = append(out, b)
	}
	return out
}

// maxFilledBins bounds the gap filling of sorted (about 70 days).
const maxFilledBins = 100_000

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}
