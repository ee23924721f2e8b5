package logs

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"time"
)

// Writer writes Records as JSON lines. It buffers and flushes at least every
// flushInterval, so a line reaches the file shortly after the request ends
// without a write system call per request. It is safe for concurrent use.
type Writer struct {
	mu       sync.Mutex
	buf      *bufio.Writer
	out      io.Writer
	closer   io.Closer
	sampling float64
	scratch  sync.Pool // of *lineBuf: lines are encoded outside the lock
	dirty    bool
	stop     chan struct{}
	done     chan struct{}
}

const flushInterval = 200 * time.Millisecond

// Open opens the request log at path ("-" for standard output) with the
// given sampling ratio for successful requests (failed requests are always
// written, like APIM's "always log errors").
func Open(path string, sampling float64) (*Writer, error) {
	var out io.Writer
	var closer io.Closer
	switch path {
	case "-", "":
		out = os.Stdout
	default:
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("open request log: %w", err)
		}
		out, closer = f, f
	}
	return NewWriter(out, closer, sampling), nil
}

// NewWriter writes to out; closer (may be nil) is closed by Close.
func NewWriter(out io.Writer, closer io.Closer, sampling float64) *Writer {
	w := &Writer{
		buf:      bufio.NewWriterSize(out, 64<<10),
		out:      out,
		closer:   closer,
		sampling: sampling,
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	go w.flusher()
	return w
}

func (w *Writer) flusher() {
	defer close(w.done)
	t := time.NewTicker(flushInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			w.Flush()
		case <-w.stop:
			return
		}
	}
}

// Write appends r as one JSON line (subject to sampling).
func (w *Writer) Write(r *Record) {
	if r.IsRequestSuccess && w.sampling < 1 && rand.Float64() >= w.sampling {
		return
	}
	lb, _ := w.scratch.Get().(*lineBuf)
	if lb == nil {
		lb = new(lineBuf)
	}
	line := append(r.appendJSON(lb.line[:0], &lb.stamp), '\n')
	w.mu.Lock()
	w.buf.Write(line)
	w.dirty = true
	w.mu.Unlock()
	if cap(line) <= maxScratch {
		lb.line = line
		w.scratch.Put(lb)
	}
}

// lineBuf is Write's scratch space for one line.
type lineBuf struct {
	line  []byte
	stamp stampCache
}

// maxScratch bounds the line buffers Write keeps for reuse.
const maxScratch = 16 << 10

// Flush writes buffered lines out.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.dirty {
		return nil
	}
	w.dirty = false
	return w.buf.Flush()
}

// Close flushes and closes the log; Write must not be called afterwards.
func (w *Writer) Close() error {
	close(w.stop)
	<-w.done
	err := w.Flush()
	if w.closer != nil {
		if cerr := w.closer.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// AppendJSON appends r as a JSON object (no newline). It writes the same
// document encoding/json would, without reflection.
func (r *Record) AppendJSON(b []byte) []byte {
	var c stampCache
	return r.appendJSON(b, &c)
}

// appendJSON is AppendJSON with c to remember the current second's
// timestamp text.
func (r *Record) appendJSON(b []byte, c *stampCache) []byte {
	b = append(b, `{"TimeGenerated":"`...)
	b = c.append(b, r.TimeGenerated)
	// Each key goes out with its punctuation in one append.
	b = appendStr(b, `","CorrelationId":`, r.CorrelationId)
	b = appendStr(b, `,"Method":`, r.Method)
	b = appendStr(b, `,"Url":`, r.Url)
	b = appendInt(b, `,"ResponseCode":`, int64(r.ResponseCode))
	b = appendInt(b, `,"ResponseSize":`, r.ResponseSize)
	b = appendStrOmit(b, `,"BackendMethod":`, r.BackendMethod)
	b = appendStrOmit(b, `,"BackendUrl":`, r.BackendUrl)
	b = appendInt(b, `,"BackendResponseCode":`, int64(r.BackendResponseCode))
	b = appendInt(b, `,"BackendTime":`, r.BackendTime)
	b = appendInt(b, `,"ClientTime":`, r.ClientTime)
	b = appendInt(b, `,"TotalTime":`, r.TotalTime)
	b = appendStr(b, `,"Cache":`, r.Cache)
	b = appendStr(b, `,"CallerIpAddress":`, r.CallerIpAddress)
	b = appendStrOmit(b, `,"ApiId":`, r.ApiId)
	b = appendStrOmit(b, `,"OperationId":`, r.OperationId)
	b = appendStrOmit(b, `,"ProductId":`, r.ProductId)
	b = appendStrOmit(b, `,"ApimSubscriptionId":`, r.ApimSubscriptionId)
	b = appendStrOmit(b, `,"BackendId":`, r.BackendId)
	if r.IsRequestSuccess {
		b = append(b, `,"IsRequestSuccess":true`...)
	} else {
		b = append(b, `,"IsRequestSuccess":false`...)
	}
	b = appendStrOmit(b, `,"LastErrorReason":`, r.LastErrorReason)
	b = appendStrOmit(b, `,"LastErrorMessage":`, r.LastErrorMessage)
	b = appendStrOmit(b, `,"LastErrorSource":`, r.LastErrorSource)
	b = appendStrOmit(b, `,"LastErrorSection":`, r.LastErrorSection)
	b = appendStrOmit(b, `,"LastErrorScope":`, r.LastErrorScope)
	b = appendStrOmit(b, `,"LastErrorDetail":`, r.LastErrorDetail)
	if len(r.Errors) > 0 {
		b = append(b, `,"Errors":[`...)
		for i, e := range r.Errors {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendStr(b, `{"Source":`, e.Source)
			b = appendStr(b, `,"Reason":`, e.Reason)
			b = appendStr(b, `,"Message":`, e.Message)
			b = appendStr(b, `,"Section":`, e.Section)
			b = appendInt(b, `,"Elapsed":`, e.Elapsed)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

// appendStr appends key, a member's name with its punctuation, and v.
func appendStr(b []byte, key, v string) []byte {
	return AppendJSONString(append(b, key...), v)
}

// appendStrOmit is appendStr for an omitempty member.
func appendStrOmit(b []byte, key, v string) []byte {
	if v == "" {
		return b
	}
	return AppendJSONString(append(b, key...), v)
}

// appendInt appends key, a member's name with its punctuation, and v. It
// inlines, so the constant key's copy does too.
func appendInt(b []byte, key string, v int64) []byte {
	return appendDecimal(append(b, key...), v)
}

// appendDecimal appends v in decimal, as strconv.AppendInt does.
func appendDecimal(b []byte, v int64) []byte {
	if uint64(v) < 1000 {
		// Status codes and most sizes and times.
		switch {
		case v < 10:
			return append(b, byte('0'+v))
		case v < 100:
			return append(b, digitPairs[2*v], digitPairs[2*v+1])
		}
		q, r := v/100, v%100
		return append(b, byte('0'+q), digitPairs[2*r], digitPairs[2*r+1])
	}
	return strconv.AppendInt(b, v, 10)
}

// digitPairs holds the two digits of 0-99 at twice the number.
const digitPairs = "00010203040506070809" +
	"10111213141516171819" +
	"20212223242526272829" +
	"30313233343536373839" +
	"40414243444546474849" +
	"50515253545556575859" +
	"60616263646566676869" +
	"70717273747576777879" +
	"80818283848586878889" +
	"90919293949596979899"

// timestampLayout is TimeGenerated's format: UTC, milliseconds.
const timestampLayout = "2006-01-02T15:04:05.000Z07:00"

// stampCache holds the text of a second in timestampLayout up to the
// milliseconds, which the log lines written in that second share.
type stampCache struct {
	unix   int64 // the second, when valid
	valid  bool
	prefix [len("2006-01-02T15:04:05.")]byte
}

// append appends t in timestampLayout, as appendTimestamp does.
func (c *stampCache) append(b []byte, t time.Time) []byte {
	unix := t.Unix()
	if !c.valid || unix != c.unix {
		n := len(b)
		b = appendTimestamp(b, t)
		// Years 0-9999 only, which appendTimestamp writes itself in
		// the layout's fixed width.
		if year := t.UTC().Year(); 0 <= year && year <= 9999 {
			c.unix, c.valid = unix, true
			copy(c.prefix[:], b[n:])
		}
		return b
	}
	ms := t.Nanosecond() / 1e6
	b = append(b, c.prefix[:]...)
	q, r := ms/100, ms%100
	return append(b, byte('0'+q), digitPairs[2*r], digitPairs[2*r+1], 'Z')
}

// appendTimestamp appends t in timestampLayout, as t.UTC().AppendFormat
// does but without interpreting the layout on every log line.
func appendTimestamp(b []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(b, timestampLayout)
	}
	hour, min, sec := t.Clock()
	ms := t.Nanosecond() / 1e6
	b = append(b, byte('0'+year/1000), byte('0'+year/100%10), byte('0'+year/10%10), byte('0'+year%10), '-',
		byte('0'+month/10), byte('0'+month%10), '-', byte('0'+day/10), byte('0'+day%10), 'T',
		byte('0'+hour/10), byte('0'+hour%10), ':', byte('0'+min/10), byte('0'+min%10), ':',
		byte('0'+sec/10), byte('0'+sec%10), '.', byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10), 'Z')
	return b
}
