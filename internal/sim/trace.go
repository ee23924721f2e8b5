package sim

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/apimgw/apimgw/internal/logs"
)

// Trace is traffic taken from a gateway log: when requests arrived and how
// long the backend took to answer them.
type Trace struct {
	// Arrivals are the request times as offsets from the first request,
	// sorted.
	Arrivals []time.Duration
	// Latencies are the backend times of the requests the backend answered.
	Latencies []time.Duration
}

// Span is the time from the first to the last arrival.
func (t *Trace) Span() time.Duration {
	if t == nil || len(t.Arrivals) == 0 {
		return 0
	}
	return t.Arrivals[len(t.Arrivals)-1]
}

// maxTraceRecords bounds the memory a replayed log may take.
const maxTraceRecords = 50_000_000

// ReadTrace reads a gateway log in this gateway's JSON-lines format (one
// logs.Record per line, the ApiManagementGatewayLogs columns). A request's
// arrival is its TimeGenerated; its latency is BackendTime, for requests
// that got a backend response. name is used in error messages, which give
// the line of a bad record.
func ReadTrace(r io.Reader, name string) (*Trace, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
	var times []time.Time
	tr := &Trace{}
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var rec logs.Record
		if err := json.Unmarshal(b, &rec); err != nil {
			return nil, fmt.Errorf("%s:%d: not a gateway log record: %w", name, line, err)
		}
		if rec.TimeGenerated.IsZero() {
			return nil, fmt.Errorf("%s:%d: record has no TimeGenerated", name, line)
		}
		if len(times) >= maxTraceRecords {
			return nil, fmt.Errorf("%s:%d: more than %d records; replay a shorter window", name, line, maxTraceRecords)
		}
		times = append(times, rec.TimeGenerated)
		if rec.BackendResponseCode > 0 && rec.BackendTime >= 0 {
			tr.Latencies = append(tr.Latencies, time.Duration(rec.BackendTime)*time.Millisecond)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: read: %w", name, line+1, err)
	}
	if len(times) == 0 {
		return nil, fmt.Errorf("%s: no log records", name)
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	tr.Arrivals = make([]time.Duration, len(times))
	for i, t := range times {
		tr.Arrivals[i] = t.Sub(times[0])
	}
	return tr, nil
}

// LoadTrace reads the gateway log at path with ReadTrace.
func LoadTrace(path string) (*Trace, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open gateway log: %w", err)
	}
	defer f.Close()
	return ReadTrace(f, path)
}
