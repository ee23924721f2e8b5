package diagnose

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// Input formats, as detected from content and reported in InputSummary.
const (
	FormatJSONLines   = "jsonl"
	FormatCSV         = "csv"
	FormatJSONArray   = "json-array"
	FormatJSONTables  = "json-tables"
	FormatJSONRecords = "json-records"
	FormatEmpty       = "empty"
	formatGzipPrefix  = "gzip+"
	readBufferSize    = 256 << 10
	maxLineBytes      = 16 << 20
	sniffBytes        = 4096
	defaultBadSamples = 10
)

// BadLine is one input line (or exported row) that could not be read.
type BadLine struct {
	File   string `json:"file"`
	Line   int64  `json:"line"`             // 1-based line; for JSON exports the row number
	Column int    `json:"column,omitempty"` // 1-based byte column where known
	Reason string `json:"reason"`
}

// String formats the bad line as "file:line[:column]: reason".
func (b BadLine) String() string {
	if b.Column > 0 {
		return fmt.Sprintf("%s:%d:%d: %s", b.File, b.Line, b.Column, b.Reason)
	}
	return fmt.Sprintf("%s:%d: %s", b.File, b.Line, b.Reason)
}

// badLog counts unreadable lines and keeps the first few.
type badLog struct {
	total   int64
	max     int
	samples []BadLine
	perFile map[string]int64
}

func (b *badLog) add(file string, line int64, err error) { b.addAt(file, line, 0, err) }

func (b *badLog) addAt(file string, line int64, col int, err error) {
	b.total++
	if b.perFile == nil {
		b.perFile = make(map[string]int64)
	}
	b.perFile[file]++
	if len(b.samples) < b.max {
		b.samples = append(b.samples, BadLine{File: file, Line: line, Column: col, Reason: err.Error()})
	}
}

// source yields the records of one input in file order.
type source interface {
	// next fills e with the next readable record. It returns false at the
	// end of the input, and an error only when the input itself cannot be
	// read any further (bad lines are reported to the badLog instead).
	next(e *entry) (bool, error)
}

// countingReader counts the bytes read from the underlying input, for the
// progress bar.
type countingReader struct {
	r io.Reader
	n *int64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	*c.n += int64(n)
	return n, err
}

// openSource detects the format of r and returns a source for it.
func openSource(name string, r io.Reader, dests *destTable, bad *badLog) (source, string, error) {
	br := bufio.NewReaderSize(r, readBufferSize)
	prefix := ""
	if head, _ := br.Peek(2); len(head) == 2 && head[0] == 0x1f && head[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, "", fmt.Errorf("%s: gzip: %w", name, err)
		}
		br = bufio.NewReaderSize(zr, readBufferSize)
		prefix = formatGzipPrefix
	}
	head, err := br.Peek(sniffBytes)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return nil, "", fmt.Errorf("%s: %w", name, err)
	}
	if bom := []byte("\xef\xbb\xbf"); bytes.HasPrefix(head, bom) {
		// Excel and PowerShell write a UTF-8 byte-order mark; no decoder wants it.
		if _, err := br.Discard(len(bom)); err != nil {
			return nil, "", fmt.Errorf("%s: %w", name, err)
		}
		head = head[len(bom):]
	}
	trimmed := bytes.TrimLeft(head, " \t\r\n")
	switch {
	case len(trimmed) == 0 && len(head) < sniffBytes:
		return emptySource{}, prefix + FormatEmpty, nil
	case len(trimmed) == 0:
		// Only blank space as far as we looked: read it as JSON lines,
		// which skip blank lines, and let the content decide.
		return &jsonlSource{name: name, r: br, sc: scanner{dests: dests}, bad: bad}, prefix + FormatJSONLines, nil
	case trimmed[0] == '[':
		return newJSONArraySource(name, br, dests, bad), prefix + FormatJSONArray, nil
	case trimmed[0] == '{' && bytes.HasPrefix(bytes.TrimLeft(trimmed[1:], " \t\r\n"), []byte(`"tables"`)):
		return newTablesSource(name, br, dests, bad), prefix + FormatJSONTables, nil
	case trimmed[0] == '{' && bytes.HasPrefix(bytes.TrimLeft(trimmed[1:], " \t\r\n"), []byte(`"records"`)):
		src := newJSONArraySource(name, br, dests, bad)
		src.wrapped = true
		return src, prefix + FormatJSONRecords, nil
	case trimmed[0] == '{':
		return &jsonlSource{name: name, r: br, sc: scanner{dests: dests}, bad: bad}, prefix + FormatJSONLines, nil
	}
	src, err := newCSVSource(name, br, sniffDelimiter(trimmed), dests, bad)
	if err != nil {
		return nil, "", err
	}
	return src, prefix + FormatCSV, nil
}

type emptySource struct{}

func (emptySource) next(*entry) (bool, error) { return false, nil }

// readErr turns a read error into a fatal one, except a truncated
// compressed stream, which is reported as a bad line so that the rest of
// the run goes on.
func readErr(name string, line int64, err error, bad *badLog) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, gzip.ErrChecksum) {
		bad.add(name, line, fmt.Errorf("input truncated: %v", err))
		return nil
	}
	return fmt.Errorf("%s: line %d: %w", name, line, err)
}

// jsonlSource reads one JSON object per line.
type jsonlSource struct {
	name string
	r    *bufio.Reader
	sc   scanner
	bad  *badLog
	line int64
	long []byte // a line longer than the read buffer
	done bool
}

func (s *jsonlSource) next(e *entry) (bool, error) {
	for !s.done {
		raw, err := s.r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			s.long = append(s.long[:0], raw...)
			for errors.Is(err, bufio.ErrBufferFull) && len(s.long) <= maxLineBytes {
				raw, err = s.r.ReadSlice('\n')
				s.long = append(s.long, raw...)
			}
			raw = s.long
			if len(s.long) > maxLineBytes {
				for errors.Is(err, bufio.ErrBufferFull) { // drop the rest of the line
					_, err = s.r.ReadSlice('\n')
				}
				s.line++
				s.bad.add(s.name, s.line, fmt.Errorf("line longer than %d bytes", maxLineBytes))
				if err != nil {
					s.done = true
					if !errors.Is(err, io.EOF) {
						return false, readErr(s.name, s.line, err, s.bad)
					}
				}
				continue
			}
		}
		if err != nil {
			s.done = true
			if !errors.Is(err, io.EOF) {
				if ferr := readErr(s.name, s.line+1, err, s.bad); ferr != nil {
					return false, ferr
				}
				return false, nil // the partial last line of a truncated stream is dropped
			}
			if len(raw) == 0 {
				return false, nil
			}
		}
		s.line++
		if len(bytes.TrimSpace(raw)) == 0 {
			continue
		}
		if perr := s.sc.scanObject(raw, e); perr != nil {
			s.bad.addAt(s.name, s.line, s.sc.pos+1, perr)
			continue
		}
		return true, nil
	}
	return false, nil
}

// columnMap maps the columns of a CSV header or a JSON export table to
// fields.
type columnMap struct {
	fields    []field
	offsetMin int // zone of times without one, from "TimeGenerated [UTC+02:00]"
	hasTime   bool
}

func newColumnMap(names []string) columnMap {
	m := columnMap{fields: make([]field, len(names))}
	for i, n := range names {
		n = strings.TrimPrefix(n, "\ufeff")
		f := fieldOf([]byte(n))
		if f == fieldTime {
			if m.hasTime {
				f = fieldNone // first time column wins
			} else {
				m.hasTime = true
				m.offsetMin = zoneOffset(n)
			}
		}
		m.fields[i] = f
	}
	return m
}

// zoneOffset reads "[UTC+hh:mm]" from a column name; "[UTC]", "[Local
// Time]" (unknowable) and no bracket give 0.
func zoneOffset(name string) int {
	i := strings.Index(strings.ToUpper(name), "[UTC")
	if i < 0 {
		return 0
	}
	rest := strings.TrimSuffix(strings.TrimSpace(name[i+4:]), "]")
	if len(rest) < 2 || (rest[0] != '+' && rest[0] != '-') {
		return 0
	}
	sign := 1
	if rest[0] == '-' {
		sign = -1
	}
	hh, mm, _ := strings.Cut(rest[1:], ":")
	h, err1 := strconv.Atoi(hh)
	m := 0
	var err2 error
	if mm != "" {
		m, err2 = strconv.Atoi(mm)
	}
	if err1 != nil || err2 != nil {
		return 0
	}
	return sign * (h*60 + m)
}

// setValue stores one exported cell (text form) into e.
func (m *columnMap) setValue(e *entry, f field, v string, dests *destTable) error {
	switch f {
	case fieldNone:
	case fieldTime:
		t, ok := parseTime([]byte(v), m.offsetMin)
		if !ok {
			return fmt.Errorf("bad time %q", truncate([]byte(v)))
		}
		e.t = t
	case fieldResponseCode, fieldBackendResponseCode, fieldBackendTime, fieldTotalTime:
		v = strings.TrimSpace(v)
		if v == "" || v == "null" {
			if f == fieldResponseCode {
				return errNoCode
			}
			setNumber(e, f, 0)
			return nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			x, ferr := strconv.ParseFloat(v, 64)
			if ferr != nil {
				return fmt.Errorf("bad number %q", truncate([]byte(v)))
			}
			n = int64(x)
		}
		setNumber(e, f, n)
	default:
		setString(e, f, []byte(v), dests)
	}
	return nil
}

// csvSource reads a Log Analytics CSV export: a header row of column
// names, then one row per record.
type csvSource struct {
	line  int // line of the current row
	name  string
	r     *csv.Reader
	cols  columnMap
	dests *destTable
	bad   *badLog
}

// sniffDelimiter picks the CSV delimiter from the header line: a comma,
// or the semicolon of European-locale spreadsheets, or the tab of
// tab-separated exports, whichever the header has most of.
func sniffDelimiter(head []byte) rune {
	if i := bytes.IndexByte(head, '\n'); i >= 0 {
		head = head[:i]
	}
	best, bestN := ',', bytes.Count(head, []byte{','})
	for _, d := range []rune{';', '\t'} {
		if n := bytes.Count(head, []byte{byte(d)}); n > bestN {
			best, bestN = d, n
		}
	}
	return best
}

func newCSVSource(name string, r io.Reader, delim rune, dests *destTable, bad *badLog) (*csvSource, error) {
	cr := csv.NewReader(r)
	cr.Comma = delim
	cr.FieldsPerRecord = -1
	cr.LazyQuotes = true
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("%s: read CSV header: %w", name, err)
	}
	cols := newColumnMap(header)
	if !cols.hasTime {
		return nil, fmt.Errorf("%s:1: not a gateway log: no JSON object and no TimeGenerated column in the CSV header", name)
	}
	if !slices.Contains(cols.fields, fieldResponseCode) {
		return nil, fmt.Errorf("%s:1: the CSV header has no ResponseCode column: export it with the gateway log columns", name)
	}
	return &csvSource{name: name, r: cr, cols: cols, dests: dests, bad: bad}, nil
}

func (s *csvSource) next(e *entry) (bool, error) {
	for {
		rec, err := s.r.Read()
		if errors.Is(err, io.EOF) {
			return false, nil
		}
		if err == nil && len(rec) > 0 {
			s.line, _ = s.r.FieldPos(0) // FieldPos panics on a field that does not exist
		}
		line := s.line
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				s.bad.addAt(s.name, int64(pe.Line), pe.Column, pe.Err)
				continue
			}
			if ferr := readErr(s.name, int64(line), err, s.bad); ferr != nil {
				return false, ferr
			}
			return false, nil
		}
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		if perr := s.fill(rec, e); perr != nil {
			s.bad.add(s.name, int64(line), perr)
			continue
		}
		return true, nil
	}
}

func (s *csvSource) fill(rec []string, e *entry) error {
	e.reset()
	haveTime := false
	for i, v := range rec {
		if i >= len(s.cols.fields) {
			break
		}
		f := s.cols.fields[i]
		if err := s.cols.setValue(e, f, v, s.dests); err != nil {
			return fmt.Errorf("column %d: %w", i+1, err)
		}
		if f == fieldTime {
			haveTime = true
		}
	}
	if !haveTime {
		return errors.New("row has no TimeGenerated value")
	}
	if e.flags&flagHasCode == 0 {
		return errNoCode
	}
	return nil
}

// cellString renders one decoded JSON cell as the text an export shows.
func cellString(v any) (string, bool) {
	switch x := v.(type) {
	case nil:
		return "", true
	case string:
		return x, true
	case json.Number:
		return x.String(), true
	case bool:
		return strconv.FormatBool(x), true
	}
	return "", false // objects and arrays (e.g. Errors) are not analysed
}

// jsonArraySource reads `[{"TimeGenerated": ..., ...}, ...]`, the shape
// of `az monitor log-analytics query` output and of most JSON exports, or
// (wrapped) `{"records": [...]}`, the shape Azure diagnostic settings send
// to an Event Hub, whose records nest columns in "properties".
type jsonArraySource struct {
	name    string
	dec     *json.Decoder
	dests   *destTable
	bad     *badLog
	row     int64
	started bool
	done    bool
	wrapped bool
	keys    map[string]field
}

func newJSONArraySource(name string, r io.Reader, dests *destTable, bad *badLog) *jsonArraySource {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	return &jsonArraySource{name: name, dec: dec, dests: dests, bad: bad, keys: make(map[string]field)}
}

func (s *jsonArraySource) next(e *entry) (bool, error) {
	if s.done {
		return false, nil
	}
	if !s.started {
		s.started = true
		if err := s.open(); err != nil {
			return s.stop(err)
		}
	}
	for s.dec.More() {
		s.row++
		var v any
		if err := s.dec.Decode(&v); err != nil {
			return s.stop(err)
		}
		obj, ok := v.(map[string]any)
		if !ok {
			s.bad.add(s.name, s.row, errors.New("array element is not an object"))
			continue
		}
		if err := s.fill(obj, e); err != nil {
			s.bad.add(s.name, s.row, err)
			continue
		}
		return true, nil
	}
	s.done = true
	return false, nil
}

// stop ends a JSON input at a syntax error: the decoder cannot resume
// after one, so the rest of this file is reported as one bad row.
func (s *jsonArraySource) stop(err error) (bool, error) {
	s.done = true
	var se *json.SyntaxError
	if errors.As(err, &se) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		s.bad.add(s.name, s.row, fmt.Errorf("invalid JSON, rest of file skipped: %v", err))
		return false, nil
	}
	return false, fmt.Errorf("%s: %w", s.name, err)
}

// open consumes everything up to the first element of the array.
func (s *jsonArraySource) open() error {
	t, err := s.dec.Token()
	if err != nil {
		return err
	}
	if s.wrapped {
		if t != json.Delim('{') {
			return fmt.Errorf("unexpected %v, want {", t)
		}
		for {
			t, err = s.dec.Token()
			if err != nil {
				return err
			}
			if t == "records" {
				break
			}
			var skip json.RawMessage
			if err := s.dec.Decode(&skip); err != nil {
				return err
			}
		}
		if t, err = s.dec.Token(); err != nil {
			return err
		}
	}
	if t != json.Delim('[') {
		return fmt.Errorf("unexpected %v, want [", t)
	}
	return nil
}

func (s *jsonArraySource) fill(obj map[string]any, e *entry) error {
	e.reset()
	haveTime := false
	if err := s.fillObject(obj, e, false, 0, &haveTime); err != nil {
		return err
	}
	if !haveTime {
		return errors.New("no TimeGenerated")
	}
	if e.flags&flagHasCode == 0 {
		return errNoCode
	}
	return nil
}

// fillObject stores the analysed members of obj, descending into
// "properties" and "lastError" as scanner.members does.
func (s *jsonArraySource) fillObject(obj map[string]any, e *entry, inLastError bool, depth int, haveTime *bool) error {
	cols := columnMap{}
	for k, v := range obj {
		var f field
		if inLastError {
			f = lastErrorField([]byte(k))
		} else {
			var ok bool
			if f, ok = s.keys[k]; !ok {
				f = fieldOf([]byte(k))
				if len(s.keys) < 1024 {
					s.keys[k] = f
				}
			}
		}
		switch f {
		case fieldNone:
			continue
		case fieldProperties, fieldLastError:
			if nested, ok := v.(map[string]any); ok && depth < 2 {
				if err := s.fillObject(nested, e, f == fieldLastError, depth+1, haveTime); err != nil {
					return err
				}
			}
			continue
		}
		str, ok := cellString(v)
		if !ok {
			continue
		}
		if err := cols.setValue(e, f, str, s.dests); err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
		if f == fieldTime {
			*haveTime = true
		}
	}
	return nil
}

// tablesSource reads the Log Analytics query API shape:
// {"tables":[{"name":..,"columns":[{"name":..,"type":..}],"rows":[[..],..]}]}.
// It streams the rows; columns must come before rows, as the API writes them.
type tablesSource struct {
	name  string
	dec   *json.Decoder
	dests *destTable
	bad   *badLog
	row   int64
	state int // 0 start, 1 inside tables array, 2 inside rows array, 3 done
	cols  columnMap
	have  bool // cols known for the current table
}

func newTablesSource(name string, r io.Reader, dests *destTable, bad *badLog) *tablesSource {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	return &tablesSource{name: name, dec: dec, dests: dests, bad: bad}
}

func (s *tablesSource) fail(err error) (bool, error) {
	s.state = 3
	var se *json.SyntaxError
	if errors.As(err, &se) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		s.bad.add(s.name, s.row, fmt.Errorf("invalid JSON, rest of file skipped: %v", err))
		return false, nil
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) || strings.HasPrefix(err.Error(), "unexpected") {
		s.bad.add(s.name, s.row, fmt.Errorf("unexpected JSON shape, rest of file skipped: %v", err))
		return false, nil
	}
	return false, fmt.Errorf("%s: %w", s.name, err)
}

func (s *tablesSource) delim(want json.Delim) error {
	t, err := s.dec.Token()
	if err != nil {
		return err
	}
	if d, ok := t.(json.Delim); !ok || d != want {
		return fmt.Errorf("unexpected %v, want %v", t, want)
	}
	return nil
}

func (s *tablesSource) key() (string, error) {
	t, err := s.dec.Token()
	if err != nil {
		return "", err
	}
	k, ok := t.(string)
	if !ok {
		return "", fmt.Errorf("unexpected %v, want a key", t)
	}
	return k, nil
}

func (s *tablesSource) next(e *entry) (bool, error) {
	for {
		switch s.state {
		case 0: // `{` ... `"tables": [`
			if err := s.delim('{'); err != nil {
				return s.fail(err)
			}
			for {
				k, err := s.key()
				if err != nil {
					return s.fail(err)
				}
				if k == "tables" {
					break
				}
				var skip json.RawMessage
				if err := s.dec.Decode(&skip); err != nil {
					return s.fail(err)
				}
			}
			if err := s.delim('['); err != nil {
				return s.fail(err)
			}
			s.state = 1
		case 1: // next table object, up to its rows array
			if !s.dec.More() {
				s.state = 3
				return false, nil
			}
			if err := s.delim('{'); err != nil {
				return s.fail(err)
			}
			s.have = false
			for {
				k, err := s.key()
				if err != nil {
					return s.fail(err)
				}
				if k == "columns" {
					var cols []struct {
						Name       string `json:"name"`
						ColumnName string `json:"ColumnName"`
					}
					if err := s.dec.Decode(&cols); err != nil {
						return s.fail(err)
					}
					names := make([]string, len(cols))
					for i, c := range cols {
						names[i] = c.Name
						if names[i] == "" {
							names[i] = c.ColumnName
						}
					}
					s.cols, s.have = newColumnMap(names), true
					continue
				}
				if k == "rows" {
					if !s.have {
						return s.fail(errors.New("unexpected rows before columns"))
					}
					if err := s.delim('['); err != nil {
						return s.fail(err)
					}
					s.state = 2
					break
				}
				var skip json.RawMessage
				if err := s.dec.Decode(&skip); err != nil {
					return s.fail(err)
				}
			}
		case 2: // rows
			for s.dec.More() {
				s.row++
				var row []any
				if err := s.dec.Decode(&row); err != nil {
					var te *json.UnmarshalTypeError
					if errors.As(err, &te) {
						s.bad.add(s.name, s.row, errors.New("row is not an array"))
						continue
					}
					return s.fail(err)
				}
				if err := s.fill(row, e); err != nil {
					s.bad.add(s.name, s.row, err)
					continue
				}
				return true, nil
			}
			// `]` of rows, then the rest of the table object.
			if err := s.delim(']'); err != nil {
				return s.fail(err)
			}
			for s.dec.More() {
				if _, err := s.key(); err != nil {
					return s.fail(err)
				}
				var skip json.RawMessage
				if err := s.dec.Decode(&skip); err != nil {
					return s.fail(err)
				}
			}
			if err := s.delim('}'); err != nil {
				return s.fail(err)
			}
			s.state = 1
		default:
			return false, nil
		}
	}
}

func (s *tablesSource) fill(row []any, e *entry) error {
	e.reset()
	if !s.cols.hasTime {
		return errors.New("table has no TimeGenerated column")
	}
	haveTime := false
	for i, v := range row {
		if i >= len(s.cols.fields) {
			break
		}
		f := s.cols.fields[i]
		if f == fieldNone {
			continue
		}
		str, ok := cellString(v)
		if !ok {
			continue
		}
		if err := s.cols.setValue(e, f, str, s.dests); err != nil {
			return fmt.Errorf("column %d: %w", i+1, err)
		}
		if f == fieldTime && str != "" {
			haveTime = true
		}
	}
	if !haveTime {
		return errors.New("row has no TimeGenerated value")
	}
	if e.flags&flagHasCode == 0 {
		return errNoCode
	}
	return nil
}
