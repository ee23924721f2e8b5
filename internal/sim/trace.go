package sim

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
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

// traceBuilder collects arrivals and latencies, in any order.
type traceBuilder struct {
	times     []time.Time
	latencies []time.Duration
}

func (b *traceBuilder) add(at time.Time, backendCode int, backendMs float64) error {
	if len(b.times) >= maxTraceRecords {
		return fmt.Errorf("more than %d records; replay a shorter window", maxTraceRecords)
	}
	b.times = append(b.times, at)
	if backendCode > 0 && backendMs >= 0 && !math.IsNaN(backendMs) && backendMs < 1e9 {
		b.latencies = append(b.latencies, time.Duration(backendMs*float64(time.Millisecond)))
	}
	return nil
}

func (b *traceBuilder) build(name string) (*Trace, error) {
	if len(b.times) == 0 {
		return nil, fmt.Errorf("%s: no log records", name)
	}
	slices.SortFunc(b.times, func(x, y time.Time) int { return x.Compare(y) })
	tr := &Trace{Arrivals: make([]time.Duration, len(b.times)), Latencies: b.latencies}
	for i, t := range b.times {
		tr.Arrivals[i] = t.Sub(b.times[0])
	}
	return tr, nil
}

// ReadTrace reads a gateway log: this gateway's JSON lines (one
// logs.Record per line), or an export of Azure's ApiManagementGatewayLogs
// table as CSV (with a header row) or as Log Analytics JSON
// ({"tables":[{"columns":[...],"rows":[...]}]}). A request's arrival is its
// TimeGenerated; its latency is BackendTime (ms), for requests that got a
// backend response (BackendResponseCode > 0). name is used in error
// messages, which give the line (or row) of a bad record.
func ReadTrace(r io.Reader, name string) (*Trace, error) {
	br := bufio.NewReaderSize(r, 64*1024)
	head, _ := br.Peek(4096)
	head = bytes.TrimLeft(head, " \t\r\n\ufeff")
	switch {
	case len(head) == 0:
		return nil, fmt.Errorf("%s: no log records", name)
	case head[0] == '{' && bytes.HasPrefix(bytes.TrimLeft(head[1:], " \t\r\n"), []byte(`"tables"`)):
		return readAzureJSON(br, name)
	case head[0] == '{':
		return readJSONLines(br, name)
	default:
		return readCSV(br, name)
	}
}

func readJSONLines(r io.Reader, name string) (*Trace, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
	var b traceBuilder
	line := 0
	for sc.Scan() {
		line++
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		var rec logs.Record
		if err := json.Unmarshal(text, &rec); err != nil {
			return nil, fmt.Errorf("%s:%d: not a gateway log record: %w", name, line, err)
		}
		if rec.TimeGenerated.IsZero() {
			return nil, fmt.Errorf("%s:%d: record has no TimeGenerated", name, line)
		}
		if err := b.add(rec.TimeGenerated, rec.BackendResponseCode, float64(rec.BackendTime)); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: read: %w", name, line+1, err)
	}
	return b.build(name)
}

// traceColumns finds the columns a trace needs by their
// ApiManagementGatewayLogs names (Log Analytics adds " [UTC]" to times).
type traceColumns struct{ time, backendTime, backendCode int }

func findColumns(names []string) (traceColumns, error) {
	c := traceColumns{-1, -1, -1}
	for i, n := range names {
		n = strings.TrimSpace(strings.TrimPrefix(n, "\ufeff"))
		n = strings.TrimSpace(strings.TrimSuffix(n, "[UTC]"))
		switch strings.ToLower(n) {
		case "timegenerated":
			c.time = i
		case "backendtime":
			c.backendTime = i
		case "backendresponsecode":
			c.backendCode = i
		}
	}
	if c.time < 0 {
		return c, fmt.Errorf("no TimeGenerated column")
	}
	return c, nil
}

// parseExportTime parses the time formats of Azure exports: RFC 3339 (a
// zone-less time is UTC) and the portal's US format.
func parseExportTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, l := range [...]string{
		time.RFC3339Nano,
		"2006-01-02 15:04:05.999999999",
		"2006-01-02T15:04:05.999999999",
		"1/2/2006, 3:04:05.000 PM",
		"1/2/2006, 3:04:05 PM",
		"1/2/2006 3:04:05 PM",
	} {
		if t, err := time.Parse(l, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("TimeGenerated %q is not a time", s)
}

// parseNumber reads a number cell; an empty cell is 0.
func parseNumber(s string) (float64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	return strconv.ParseFloat(s, 64)
}

func (c traceColumns) add(b *traceBuilder, cell func(i int) string) error {
	at, err := parseExportTime(cell(c.time))
	if err != nil {
		return err
	}
	code, ms := 0.0, 0.0
	if c.backendCode >= 0 {
		if code, err = parseNumber(cell(c.backendCode)); err != nil {
			return fmt.Errorf("BackendResponseCode: %w", err)
		}
	}
	if c.backendTime >= 0 {
		if ms, err = parseNumber(cell(c.backendTime)); err != nil {
			return fmt.Errorf("BackendTime: %w", err)
		}
	}
	return b.add(at, int(code), ms)
}

func readCSV(r io.Reader, name string) (*Trace, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("%s:1: not a gateway log (JSON lines or CSV export): %w", name, err)
	}
	cols, err := findColumns(header)
	if err != nil {
		return nil, fmt.Errorf("%s:1: not an ApiManagementGatewayLogs export: %w", name, err)
	}
	var b traceBuilder
	for {
		row, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		line, _ := cr.FieldPos(0)
		cell := func(i int) string {
			if i < len(row) {
				return row[i]
			}
			return ""
		}
		if err := cols.add(&b, cell); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
	}
	return b.build(name)
}

// azureExport is Log Analytics' JSON result shape.
type azureExport struct {
	Tables []struct {
		Columns []struct {
			Name string `json:"name"`
		} `json:"columns"`
		Rows [][]any `json:"rows"`
	} `json:"tables"`
}

func readAzureJSON(r io.Reader, name string) (*Trace, error) {
	var exp azureExport
	if err := json.NewDecoder(r).Decode(&exp); err != nil {
		return nil, fmt.Errorf("%s: not a Log Analytics JSON export: %w", name, err)
	}
	if len(exp.Tables) == 0 {
		return nil, fmt.Errorf("%s: no tables", name)
	}
	t := exp.Tables[0]
	names := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		names[i] = c.Name
	}
	cols, err := findColumns(names)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var b traceBuilder
	for n, row := range t.Rows {
		cell := func(i int) string {
			if i >= len(row) || row[i] == nil {
				return ""
			}
			switch v := row[i].(type) {
			case string:
				return v
			case float64:
				return strconv.FormatFloat(v, 'f', -1, 64)
			default:
				return fmt.Sprint(v)
			}
		}
		if err := cols.add(&b, cell); err != nil {
			return nil, fmt.Errorf("%s: row %d: %w", name, n+1, err)
		}
	}
	return b.build(name)
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
