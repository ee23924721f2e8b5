package diagnose

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"time"
)

// Input is one log stream to analyse.
type Input struct {
	// Name identifies the input in errors and bad-line reports.
	Name string
	// R is the content: JSON lines, CSV or JSON export, optionally gzip.
	R io.Reader
	// Size is the size of R in bytes, for the progress bar; 0 if unknown.
	Size int64
}

// Options tune an analysis. The zero value is valid.
type Options struct {
	// Thresholds override DefaultThresholds; zero or negative fields keep
	// their default.
	Thresholds *Thresholds
	// Progress, when non-nil, receives a one-line progress bar that is
	// redrawn with "\r" (Main passes stderr when it is a terminal).
	Progress io.Writer
	// MaxBadLineSamples is how many bad lines are listed (default 10).
	MaxBadLineSamples int
}

// ErrNoRecords is returned when no input held a readable record.
var ErrNoRecords = errors.New("no log records found")

// AnalyzeFiles opens the named files and analyses them together. An
// error names the file that could not be opened or read.
func AnalyzeFiles(paths []string, opts Options) (*Report, error) {
	files := make([]*os.File, 0, len(paths))
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	inputs := make([]Input, 0, len(paths))
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return nil, fmt.Errorf("open log file: %w", err)
		}
		files = append(files, f)
		st, err := f.Stat()
		if err != nil {
			return nil, fmt.Errorf("stat log file: %w", err)
		}
		if st.IsDir() {
			return nil, fmt.Errorf("%s: is a directory, not a log file", p)
		}
		var size int64
		if st.Mode().IsRegular() {
			size = st.Size()
		}
		inputs = append(inputs, Input{Name: p, R: f, Size: size})
	}
	return Analyze(opts, inputs...)
}

// Analyze reads every input, merged by time, and builds the report. Bad
// lines are counted and sampled; an error is returned only when an input
// cannot be read at all (the error names it) or holds no record.
func Analyze(opts Options, inputs ...Input) (*Report, error) {
	th := DefaultThresholds()
	if opts.Thresholds != nil {
		th = opts.Thresholds.withDefaults()
	}
	maxBad := opts.MaxBadLineSamples
	if maxBad <= 0 {
		maxBad = defaultBadSamples
	}
	dests := newDestTable()
	bad := &badLog{max: maxBad}
	agg := newAggregator()

	var read, total int64
	heads := make([]*mergeHead, 0, len(inputs))
	summaries := make([]InputSummary, len(inputs))
	for i, in := range inputs {
		total += in.Size
		src, format, err := openSource(in.Name, countingReader{r: in.R, n: &read}, dests, bad)
		if err != nil {
			return nil, err
		}
		summaries[i] = InputSummary{Name: in.Name, Format: format}
		h := &mergeHead{src: src, idx: i}
		if err := h.advance(); err != nil {
			return nil, err
		}
		if h.ok {
			heads = append(heads, h)
		}
	}
	prog := newProgress(opts.Progress, total)
	mh := mergeHeap(heads)
	mh.init()
	for len(mh) > 0 {
		h := mh[0]
		agg.add(&h.e)
		if h.e.bid >= 0 {
			dests.noteID(h.e.dest, h.e.bid)
		}
		summaries[h.idx].Records++
		if err := h.advance(); err != nil {
			return nil, err
		}
		if !h.ok {
			mh.pop()
		} else {
			mh.fix()
		}
		if agg.records&0xffff == 0 {
			prog.update(read)
		}
	}
	prog.done(read)
	countBadPerInput(summaries, bad)
	if agg.records == 0 {
		names := make([]string, len(inputs))
		for i, in := range inputs {
			names[i] = in.Name
		}
		if bad.total > 0 {
			return nil, fmt.Errorf("%w in %s: %d unreadable lines, first: %s", ErrNoRecords, strings.Join(names, ", "),
				bad.total, bad.samples[0])
		}
		return nil, fmt.Errorf("%w in %s", ErrNoRecords, strings.Join(names, ", "))
	}
	if agg.snatBudget > 0 && (opts.Thresholds == nil || opts.Thresholds.PortsPerInstance <= 0) {
		// apimgw's own log names the budget its snat.enforce applied:
		// the port figures and mitigations use it unless one was given.
		th.PortsPerInstance = int(agg.snatBudget)
	}
	return buildReport(agg, dests, bad, summaries, th), nil
}

// countBadPerInput needs per-file bad counts; the badLog keeps them by name.
func countBadPerInput(s []InputSummary, bad *badLog) {
	for i := range s {
		s[i].BadLines = bad.perFile[s[i].Name]
	}
}

// mergeHead is the next record of one input.
type mergeHead struct {
	src source
	e   entry
	ok  bool
	idx int
}

func (h *mergeHead) advance() error {
	ok, err := h.src.next(&h.e)
	h.ok = ok
	return err
}

// mergeHeap is a binary min-heap of inputs by their next record's time.
type mergeHeap []*mergeHead

func (m mergeHeap) less(i, j int) bool { return m[i].e.t < m[j].e.t }

func (m mergeHeap) init() {
	for i := len(m)/2 - 1; i >= 0; i-- {
		m.down(i)
	}
}

func (m mergeHeap) down(i int) {
	for {
		l := 2*i + 1
		if l >= len(m) {
			return
		}
		j := l
		if r := l + 1; r < len(m) && m.less(r, l) {
			j = r
		}
		if !m.less(j, i) {
			return
		}
		m[i], m[j] = m[j], m[i]
		i = j
	}
}

// fix restores the heap after the top's time grew.
func (m mergeHeap) fix() {
	if len(m) > 1 {
		m.down(0)
	}
}

func (m *mergeHeap) pop() {
	old := *m
	n := len(old) - 1
	old[0] = old[n]
	old[n] = nil
	*m = old[:n]
	m.fix()
}

// progress draws "diagnose: 45% 1.2 GB/2.6 GB 180 MB/s" at most every 200 ms.
type progress struct {
	w     io.Writer
	total int64
	start time.Time
	last  time.Time
	drawn bool
}

func newProgress(w io.Writer, total int64) *progress {
	now := time.Now()
	return &progress{w: w, total: total, start: now, last: now}
}

func (p *progress) update(read int64) {
	if p.w == nil {
		return
	}
	now := time.Now()
	if now.Sub(p.last) < 200*time.Millisecond {
		return
	}
	p.last = now
	p.draw(read, now)
}

func (p *progress) draw(read int64, now time.Time) {
	rate := float64(read) / math.Max(now.Sub(p.start).Seconds(), 1e-3)
	if p.total > 0 {
		frac := math.Min(1, float64(read)/float64(p.total))
		const width = 30
		n := int(frac * width)
		bar := make([]byte, width)
		for i := range bar {
			bar[i] = ' '
			if i < n {
				bar[i] = '#'
			}
		}
		fmt.Fprintf(p.w, "\rdiagnose [%s] %3.0f%% %s/%s %s/s ", bar, frac*100, bytesStr(float64(read)), bytesStr(float64(p.total)), bytesStr(rate))
	} else {
		fmt.Fprintf(p.w, "\rdiagnose %s %s/s ", bytesStr(float64(read)), bytesStr(rate))
	}
	p.drawn = true
}

func (p *progress) done(read int64) {
	if p.w == nil || !p.drawn {
		return
	}
	p.draw(read, time.Now())
	fmt.Fprintln(p.w)
}

func bytesStr(b float64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.1f GB", b/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MB", b/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.1f kB", b/(1<<10))
	}
	return fmt.Sprintf("%.0f B", b)
}

// point is the chart point of bin b, widthMs wide.
func (b *bin) point(widthMs int64, reclaimSeconds float64) Point {
	return Point{
		T:                         msTime(b.start),
		Requests:                  b.all.requests,
		Failed:                    b.failed,
		AvgBackendTime:            round1(ratioF(float64(b.all.btSum), float64(b.all.btN))),
		P95BackendTime:            b.hist.quantile(0.95, b.all.btN),
		BackendConnectionFailures: b.all.out[outConnFailure],
		Throttled:                 b.all.out[outThrottled],
		Concurrency:               round1(concurrencyIn(&b.all, widthMs)),
		PortsWithoutReuse:         math.Round(portsWithoutReuseIn(&b.all, reclaimSeconds, widthMs)),
	}
}

// buildReport turns the aggregated bins into the report.
func buildReport(agg *aggregator, dests *destTable, bad *badLog, inputs []InputSummary, th Thresholds) *Report {
	minutes := agg.sorted()
	r := &Report{
		Window: Window{
			Start: msTime(minutes[0].start),
			End:   msTime(minutes[len(minutes)-1].start + binWidthMs),
		},
		Inputs:     inputs,
		BadLines:   bad.samples,
		Thresholds: th,
	}
	if r.BadLines == nil {
		r.BadLines = []BadLine{}
	}
	var all bin
	reclaim := float64(th.PortReclaimSeconds)
	r.Series.OneMinute = make([]Point, 0, len(minutes))
	for _, m := range minutes {
		all.all.add(&m.all)
		all.failed += m.failed
		r.Series.OneMinute = append(r.Series.OneMinute, m.point(binWidthMs, reclaim))
	}
	if fine, width := agg.fineBins(); fine != nil {
		r.Series.FineBinMs = width
		r.Series.Fine = make([]Point, 0, len(fine))
		for _, m := range fine {
			r.Series.Fine = append(r.Series.Fine, m.point(width, reclaim))
		}
	}
	r.Totals = Totals{
		Requests:                  all.all.requests,
		Failed:                    all.failed,
		BackendConnectionFailures: all.all.out[outConnFailure],
		BadLines:                  bad.total,
		BackendErrors:             all.all.out[outBackendError] + all.all.out[outOtherFailure],
		Timeouts:                  all.all.out[outTimeout],
		ClientDisconnects:         all.all.out[outClientDisc],
		Throttled:                 all.all.out[outThrottled],
		CircuitOpen:               all.all.out[outCircuitOpen],
	}

	// Seed query 1: connection failures per 5 minutes by destination, and
	// per-destination totals.
	const fiveMin = 5 * binWidthMs
	destTotals := make([]destStats, len(dests.names))
	r.Series.ConnectionFailures5m = []DestinationBin{}
	var cur int64 = math.MinInt64
	var five []destStats
	flush := func() {
		for i := range five {
			if five[i].out[outConnFailure] > 0 {
				r.Series.ConnectionFailures5m = append(r.Series.ConnectionFailures5m, DestinationBin{
					T: msTime(cur), BackendURL: dests.names[i], Requests: five[i].requests,
					BackendConnectionFailures: five[i].out[outConnFailure],
				})
			}
		}
		clear(five)
	}
	for _, m := range minutes {
		if s := floorDiv(m.start, fiveMin) * fiveMin; s != cur {
			flush()
			cur = s
		}
		for i := range m.dests {
			destTotals[i].add(&m.dests[i])
			if len(five) <= i {
				five = append(five, make([]destStats, i+1-len(five))...)
			}
			five[i].add(&m.dests[i])
		}
	}
	flush()
	r.Destinations = make([]Destination, 0, len(destTotals))
	for i, d := range destTotals {
		r.Destinations = append(r.Destinations, Destination{
			BackendURL:                dests.names[i],
			BackendID:                 dests.backendID(int32(i)),
			Requests:                  d.requests,
			BackendConnectionFailures: d.out[outConnFailure],
			BackendErrors:             d.out[outBackendError] + d.out[outOtherFailure],
			Timeouts:                  d.out[outTimeout],
			AvgBackendTime:            round1(ratioF(float64(d.btSum), float64(d.btN))),
		})
	}
	slices.SortStableFunc(r.Destinations, func(a, b Destination) int { return cmpInt64(b.Requests, a.Requests) })

	c := newClassifier(th, minutes, dests.names)
	c.minT, c.maxT = agg.minT, agg.maxT
	c.flag()
	r.Incidents = c.incidents()
	if r.Incidents == nil {
		r.Incidents = []Incident{}
	}
	for i := range r.Incidents {
		if d, ok := dests.index[r.Incidents[i].BackendURL]; ok && r.Incidents[i].BackendURL != "" {
			r.Incidents[i].BackendID = dests.backendID(d)
		}
	}
	r.Verdict = verdict(r.Incidents)
	r.Mitigations = mitigations(r.Incidents, th)
	return r
}
