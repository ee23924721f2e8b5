package diagnose

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"
)

// WatchOptions tune Watch. The zero value is valid.
type WatchOptions struct {
	// Thresholds: MinEvents, MinRatio and SNATMaxRefusedShare decide when
	// the recent requests form an incident (the batch analysis's values).
	Thresholds *Thresholds
	// Window is how far back the recent requests reach (default 1m). An
	// incident ends when the window no longer passes the thresholds.
	Window time.Duration
	// Poll is how often the file is checked for new lines (default 250ms).
	Poll time.Duration
	// FromStart reads the file's existing lines too; by default only the
	// lines appended after Watch started count, as with tail -f.
	FromStart bool
	// Now is the clock (time.Now when nil): a line counts at the time it
	// was read, so that incidents end while the log is quiet.
	Now func() time.Time
	// Started, when set, is called once the file is open and positioned:
	// lines appended from then on are seen.
	Started func()
}

// Watch follows the apimgw JSON-lines log at path, as tail -F does: it
// reads lines as they are appended, starts over when the file is truncated,
// and moves to the new file when it is rotated (renamed or removed and
// created again). It writes one line to out when an incident starts and
// one when it ends, and returns when ctx is done (nil) or the file cannot
// be read (an error).
func Watch(ctx context.Context, path string, o WatchOptions, out io.Writer) error {
	th := DefaultThresholds()
	if o.Thresholds != nil {
		th = o.Thresholds.withDefaults()
	}
	if o.Window <= 0 {
		o.Window = time.Minute
	}
	if o.Poll <= 0 {
		o.Poll = 250 * time.Millisecond
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open log file: %w", err)
	}
	fl := &follower{path: path, f: f}
	defer func() { fl.f.Close() }()
	if !o.FromStart {
		if fl.off, err = f.Seek(0, io.SeekEnd); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	w := newWatcher(th, o.Window, out)
	if o.Started != nil {
		o.Started()
	}
	tick := time.NewTicker(o.Poll)
	defer tick.Stop()
	for {
		err := fl.poll(func(line []byte) { w.line(line, o.Now()) })
		if err != nil {
			return err
		}
		w.evaluate(o.Now())
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// follower reads the lines appended to a file, across truncation and
// rotation.
type follower struct {
	path    string
	f       *os.File
	off     int64
	partial []byte // an incomplete last line, waiting for its newline
	buf     [64 << 10]byte
}

// poll hands every complete new line to fn.
func (fl *follower) poll(fn func([]byte)) error {
	st, err := fl.f.Stat()
	if err != nil {
		return fmt.Errorf("%s: %w", fl.path, err)
	}
	if st.Size() < fl.off {
		// Truncated (copytruncate rotation, or rewritten): start over.
		fl.off, fl.partial = 0, fl.partial[:0]
	}
	if err := fl.drain(fn); err != nil {
		return err
	}
	// Rotated: the path names another file now. The old one has been read
	// to its end above; continue with the new one from its start.
	cur, err := os.Stat(fl.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // between the rename and the new file's creation
	}
	if err != nil {
		return fmt.Errorf("%s: %w", fl.path, err)
	}
	if !os.SameFile(st, cur) {
		nf, err := os.Open(fl.path)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return fmt.Errorf("open log file: %w", err)
		}
		if len(fl.partial) > 0 {
			fn(fl.partial) // the old file's last line had no newline
		}
		fl.f.Close()
		fl.f, fl.off, fl.partial = nf, 0, fl.partial[:0]
		return fl.drain(fn)
	}
	return nil
}

// drain reads from the offset to the end of the file.
func (fl *follower) drain(fn func([]byte)) error {
	for {
		n, err := fl.f.ReadAt(fl.buf[:], fl.off)
		fl.off += int64(n)
		chunk := fl.buf[:n]
		for len(chunk) > 0 {
			i := bytes.IndexByte(chunk, '\n')
			if i < 0 {
				if len(fl.partial)+len(chunk) <= maxLineBytes {
					fl.partial = append(fl.partial, chunk...)
				} else {
					fl.partial = fl.partial[:0] // an overlong line is dropped
				}
				break
			}
			line := chunk[:i]
			if len(fl.partial) > 0 {
				fl.partial = append(fl.partial, line...)
				line = fl.partial
			}
			fn(line)
			fl.partial = fl.partial[:0]
			chunk = chunk[i+1:]
		}
		if errors.Is(err, io.EOF) || n == 0 {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", fl.path, err)
		}
	}
}

// watcher keeps one-second bins of the recent requests and reports
// incidents as they start and end.
type watcher struct {
	th     Thresholds
	window time.Duration
	out    io.Writer
	dests  *destTable
	sc     scanner
	e      entry
	bins   map[int64]*bin // by Unix second of arrival
	cur    *watchIncident
	bad    int64
}

type watchIncident struct {
	cause  string
	kind   outcome
	dest   int32
	start  time.Time
	failed int64
}

func newWatcher(th Thresholds, window time.Duration, out io.Writer) *watcher {
	d := newDestTable()
	return &watcher{th: th, window: window, out: out, dests: d, sc: scanner{dests: d}, bins: map[int64]*bin{}}
}

// line records one log line read at now.
func (w *watcher) line(raw []byte, now time.Time) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return
	}
	if err := w.sc.scanObject(raw, &w.e); err != nil {
		w.bad++
		return
	}
	sec := now.Unix()
	b := w.bins[sec]
	if b == nil {
		b = &bin{start: sec * 1000}
		w.bins[sec] = b
	}
	o := classifyEntry(&w.e)
	b.record(&w.e, o)
	w.dests.noteID(w.e.dest, w.e.bid)
	if w.cur != nil && o == w.cur.kind {
		w.cur.failed++
	}
}

// evaluate sums the window ending at now and starts or ends incidents.
func (w *watcher) evaluate(now time.Time) {
	from := now.Add(-w.window).Unix()
	var sum bin
	for s, b := range w.bins {
		if s <= from {
			delete(w.bins, s)
			continue
		}
		sum.merge(b)
	}
	kind, cause, dest, n := w.classify(&sum)
	if w.cur != nil && (cause == "" || cause != w.cur.cause || dest != w.cur.dest) {
		c := w.cur
		fmt.Fprintf(w.out, "%s incident ended: %s%s after %s, %s failed requests\n",
			now.UTC().Format(time.RFC3339), c.cause, w.where(c.dest), now.Sub(c.start).Round(time.Second), num(c.failed))
		w.cur = nil
	}
	if w.cur == nil && cause != "" {
		w.cur = &watchIncident{cause: cause, kind: kind, dest: dest, start: now, failed: n}
		fmt.Fprintf(w.out, "%s incident started: %s%s: %s of %s requests in the last %s %s\n",
			now.UTC().Format(time.RFC3339), cause, w.where(dest), num(n), num(sum.all.requests), w.window, outcomeWords(kind))
	}
}

// classify picks the window's dominant failure as the batch analysis does
// for one window: at least MinEvents events and MinRatio of the requests.
func (w *watcher) classify(sum *bin) (outcome, string, int32, int64) {
	var best outcome
	var bestN int64
	for _, o := range causeOrder {
		if n := events(&sum.all, o); n > bestN {
			best, bestN = o, n
		}
	}
	if bestN < w.th.MinEvents || sum.all.requests == 0 || float64(bestN)/float64(sum.all.requests) < w.th.MinRatio {
		return outOK, "", -1, 0
	}
	cause := causeOf(best)
	if best == outConnFailure && sum.all.connSNAT == 0 && ratio(sum.all.connRefused, bestN) >= w.th.SNATMaxRefusedShare {
		cause = CauseBackendErrors // refused or unresolvable: the backend is down, not out of ports
	}
	var top int32 = -1
	var topN int64
	for i := range sum.dests {
		if n := events(&sum.dests[i], best); n > topN {
			top, topN = int32(i), n
		}
	}
	if float64(topN) < 0.5*float64(bestN) {
		top = -1
	}
	return best, cause, top, bestN
}

// where names a destination and the backend the log names for it.
func (w *watcher) where(dest int32) string {
	if dest < 0 || int(dest) >= len(w.dests.names) {
		return ""
	}
	s := " on " + w.dests.names[dest]
	if id := w.dests.backendID(dest); id != "" {
		s += " (backend " + id + ")"
	}
	return s
}

func outcomeWords(o outcome) string {
	switch o {
	case outConnFailure:
		return "failed with BackendConnectionFailure"
	case outCircuitOpen:
		return "were answered 503 by an open circuit breaker"
	case outTimeout:
		return "timed out"
	case outBackendError:
		return "failed with a backend 5xx"
	case outThrottled:
		return "were throttled"
	case outClientDisc:
		return "lost their client connection"
	}
	return "failed"
}
