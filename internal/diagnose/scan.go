package diagnose

import (
	"bytes"
	"errors"
	"fmt"
)

// errSyntax is the error of a line that is not one valid JSON object.
var errSyntax = errors.New("invalid JSON object")

// scanner extracts the analysed columns from one JSON object without
// building it: keys are matched with fieldOf and the values of other keys
// are skipped. It allocates only when it meets a destination for the first
// time. Strings are compared raw: none of the analysed values needs
// unescaping (a URL's host never contains an escape).
type scanner struct {
	dests    *destTable
	buf      []byte
	pos      int
	haveTime bool
}

// scanObject fills e from the JSON object in line.
func (s *scanner) scanObject(line []byte, e *entry) error {
	e.reset()
	s.buf, s.pos, s.haveTime = line, 0, false
	s.ws()
	if !s.eat('{') {
		return errSyntax
	}
	if err := s.members(e, false, 0); err != nil {
		return err
	}
	s.ws()
	if s.pos != len(s.buf) {
		return errors.New("trailing data after object")
	}
	if !s.haveTime {
		return errors.New("no TimeGenerated")
	}
	if e.flags&flagHasCode == 0 {
		return errNoCode
	}
	return nil
}

// members reads the members of an object up to its closing brace. Azure's
// diagnostic-settings format (storage account, Event Hub) nests the columns
// in "properties" and the last error in "lastError": both are descended
// into; inLastError maps that object's "reason", "message" and "source".
func (s *scanner) members(e *entry, inLastError bool, depth int) error {
	s.ws()
	if s.eat('}') {
		if depth == 0 {
			return errors.New("empty object")
		}
		return nil
	}
	for {
		s.ws()
		key, ok := s.str()
		if !ok {
			return errSyntax
		}
		s.ws()
		if !s.eat(':') {
			return errSyntax
		}
		s.ws()
		f := fieldOf(key)
		if inLastError {
			f = lastErrorField(key)
		}
		switch f {
		case fieldNone:
			if !s.skip(0) {
				return errSyntax
			}
		case fieldProperties, fieldLastError:
			if depth > 2 || !s.eat('{') {
				if !s.skip(0) {
					return errSyntax
				}
				break
			}
			if err := s.members(e, f == fieldLastError, depth+1); err != nil {
				return err
			}
		case fieldTime:
			v, ok := s.str()
			if !ok {
				return fmt.Errorf("%s: not a string", key)
			}
			t, ok := parseTime(v, 0)
			if !ok {
				return fmt.Errorf("%s: bad time %q", key, truncate(v))
			}
			e.t, s.haveTime = t, true
		case fieldResponseCode, fieldBackendResponseCode, fieldBackendTime, fieldTotalTime:
			if f == fieldResponseCode && s.peek() == 'n' {
				return fmt.Errorf("%s: null", key)
			}
			n, ok := s.number()
			if !ok {
				return fmt.Errorf("%s: not a number", key)
			}
			setNumber(e, f, n)
		default: // string columns
			if s.peek() == 'n' {
				if !s.skip(0) {
					return errSyntax
				}
				break
			}
			v, ok := s.str()
			if !ok {
				return fmt.Errorf("%s: not a string", key)
			}
			setString(e, f, v, s.dests)
		}
		s.ws()
		if s.eat(',') {
			continue
		}
		if s.eat('}') {
			return nil
		}
		return errSyntax
	}
}

// lastErrorField maps the members of Azure's nested "lastError" object.
func lastErrorField(key []byte) field {
	var buf [64]byte
	switch string(buf[:normalizeKey(&buf, key)]) {
	case "reason":
		return fieldReason
	case "message":
		return fieldMessage
	case "source":
		return fieldSource
	}
	return fieldNone
}

// setNumber stores a numeric column.
func setNumber(e *entry, f field, n int64) {
	switch f {
	case fieldResponseCode:
		e.code = clamp32(n)
		e.flags |= flagHasCode
	case fieldBackendResponseCode:
		e.backendCode = clamp32(n)
	case fieldBackendTime:
		e.backendTime = max(n, 0)
		e.flags |= flagHasBackendTime
	case fieldTotalTime:
		e.totalTime = max(n, 0)
	}
}

// setString stores a string column.
func setString(e *entry, f field, v []byte, dests *destTable) {
	switch f {
	case fieldBackendURL:
		e.dest = dests.intern(v)
	case fieldBackendID:
		e.bid = dests.internID(v)
	case fieldReason:
		e.reason = parseReason(v)
		if e.reason == reasonCircuit {
			e.flags |= flagCircuit
		}
	case fieldMessage, fieldSource:
		e.flags |= messageFlags(v)
	case fieldDetail:
		e.flags |= detailFlags(v)
		if e.flags&flagSNAT != 0 {
			e.snatBudget = detailBudget(v)
		}
	}
}

func clamp32(n int64) int32 {
	if n > 1<<31-1 {
		return 1<<31 - 1
	}
	if n < -1<<31 {
		return -1 << 31
	}
	return int32(n)
}

func truncate(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "…"
	}
	return string(b)
}

func (s *scanner) ws() {
	for s.pos < len(s.buf) {
		switch s.buf[s.pos] {
		case ' ', '\t', '\r', '\n':
			s.pos++
		default:
			return
		}
	}
}

func (s *scanner) peek() byte {
	if s.pos < len(s.buf) {
		return s.buf[s.pos]
	}
	return 0
}

func (s *scanner) eat(c byte) bool {
	if s.pos < len(s.buf) && s.buf[s.pos] == c {
		s.pos++
		return true
	}
	return false
}

// str reads a JSON string and returns its raw content (escapes kept). The
// closing quote is found with bytes.IndexByte (vectorised); a quote
// preceded by an odd number of backslashes is escaped and skipped.
func (s *scanner) str() ([]byte, bool) {
	if !s.eat('"') {
		return nil, false
	}
	start := s.pos
	for {
		i := bytes.IndexByte(s.buf[s.pos:], '"')
		if i < 0 {
			return nil, false
		}
		end := s.pos + i
		s.pos = end + 1
		bs := 0
		for j := end - 1; j >= start && s.buf[j] == '\\'; j-- {
			bs++
		}
		if bs%2 == 0 {
			return s.buf[start:end], true
		}
	}
}

// number reads an integer-valued JSON number (a fraction is truncated), a
// number in a string (Azure exports write some numbers as strings), or
// null/"" as 0.
func (s *scanner) number() (int64, bool) {
	if s.peek() == 'n' {
		return 0, s.skip(0)
	}
	quoted := s.eat('"')
	neg := s.eat('-')
	var n int64
	start := s.pos
	for s.pos < len(s.buf) && s.buf[s.pos] >= '0' && s.buf[s.pos] <= '9' {
		if n < 1<<58 {
			n = n*10 + int64(s.buf[s.pos]-'0')
		}
		s.pos++
	}
	digitsSeen := s.pos > start
	if s.eat('.') {
		for s.pos < len(s.buf) && s.buf[s.pos] >= '0' && s.buf[s.pos] <= '9' {
			s.pos++
		}
	}
	if c := s.peek(); c == 'e' || c == 'E' {
		return 0, false // exponents do not occur in these columns
	}
	if quoted {
		if !s.eat('"') {
			return 0, false
		}
		if !digitsSeen && !neg {
			return 0, true // ""
		}
	}
	if !digitsSeen {
		return 0, false
	}
	if neg {
		n = -n
	}
	return n, true
}

// skip skips one JSON value of any kind. depth bounds nesting.
func (s *scanner) skip(depth int) bool {
	if depth > 64 {
		return false
	}
	switch c := s.peek(); {
	case c == '"':
		_, ok := s.str()
		return ok
	case c == '{' || c == '[':
		closeCh := byte('}')
		if c == '[' {
			closeCh = ']'
		}
		s.pos++
		s.ws()
		if s.eat(closeCh) {
			return true
		}
		for {
			s.ws()
			if c == '{' {
				if _, ok := s.str(); !ok {
					return false
				}
				s.ws()
				if !s.eat(':') {
					return false
				}
				s.ws()
			}
			if !s.skip(depth + 1) {
				return false
			}
			s.ws()
			if s.eat(',') {
				continue
			}
			return s.eat(closeCh)
		}
	case c == '-' || (c >= '0' && c <= '9'):
		start := s.pos
		for s.pos < len(s.buf) {
			d := s.buf[s.pos]
			if (d >= '0' && d <= '9') || d == '.' || d == 'e' || d == 'E' || d == '+' || d == '-' {
				s.pos++
				continue
			}
			break
		}
		return s.pos > start
	case c == 't':
		return s.lit("true")
	case c == 'f':
		return s.lit("false")
	case c == 'n':
		return s.lit("null")
	}
	return false
}

func (s *scanner) lit(w string) bool {
	if len(s.buf)-s.pos >= len(w) && string(s.buf[s.pos:s.pos+len(w)]) == w {
		s.pos += len(w)
		return true
	}
	return false
}
