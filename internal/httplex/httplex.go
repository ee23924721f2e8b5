// Package httplex holds the HTTP/1.1 lexical rules (RFC 9110, RFC 9112)
// that the gateway's server (internal/httpserver) and backend client
// (internal/backend) both parse and write by.
package httplex

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"

	"github.com/apimgw/apimgw/internal/swar"
)

// tchar per RFC 9110 §5.6.2: 1 for a token byte, 0 for any other (for
// AllIn).
var isTchar = func() (t [256]uint8) {
	for c := '0'; c <= '9'; c++ {
		t[c] = 1
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = 1
		t[c-'a'+'A'] = 1
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = 1
	}
	return t
}()

// IsTokenByte reports whether b may appear in a token.
func IsTokenByte(b byte) bool { return isTchar[b] != 0 }

// ValidToken reports whether s is a non-empty token (a method, a header
// field name).
func ValidToken(s string) bool { return s != "" && AllIn(s, &isTchar) }

// ByteTable is the table for AllIn of the bytes in accepts.
func ByteTable(in func(byte) bool) (t [256]uint8) {
	for c := range t {
		if in(byte(c)) {
			t[c] = 1
		}
	}
	return t
}

// PlainPath reports whether net/url leaves every byte of path p as it is
// (url.URL.EscapedPath): no percent-encoding, nothing it would escape.
func PlainPath(p string) bool { return AllIn(p, &plainPathByte) }

// plainPathByte is asked of net/url itself, so that the two cannot
// disagree.
var plainPathByte = ByteTable(func(c byte) bool {
	p := string([]byte{'/', c}) // not "*" alone, which EscapedPath keeps as a special case
	return (&url.URL{Path: p}).EscapedPath() == p
})

// AllIn reports whether t[c] is 1 for every byte c of s, for a table of
// 0s and 1s. Eight (or four) bytes at a time, their entries ANDed
// together: one branch per group instead of one per byte. The last group
// overlaps the one before it rather than leaving a tail.
func AllIn(s string, t *[256]uint8) bool {
	switch n := len(s); {
	case n >= 8:
		for i := 0; i < n-8; i += 8 {
			if !all8(s[i:], t) {
				return false
			}
		}
		return all8(s[n-8:], t)
	case n >= 4:
		return all4(s, t) && all4(s[n-4:], t)
	}
	for i := 0; i < len(s); i++ {
		if t[s[i]] == 0 {
			return false
		}
	}
	return true
}

func all8(s string, t *[256]uint8) bool {
	_ = s[7]
	return t[s[0]]&t[s[1]]&t[s[2]]&t[s[3]]&t[s[4]]&t[s[5]]&t[s[6]]&t[s[7]] != 0
}

func all4(s string, t *[256]uint8) bool {
	_ = s[3]
	return t[s[0]]&t[s[1]]&t[s[2]]&t[s[3]] != 0
}

// ctlOrDel reports whether a byte of x is a control character (below
// 0x20, tab included) or DEL (0x7f): the "has a byte less than n" and "has
// a zero byte" tests of Bit Twiddling Hacks, which are exact as to whether
// there is one. The bytes of x above its low n (4 or 8) must be zero, and
// are not looked at.
func ctlOrDel(x uint64, n uint) bool {
	return ctlBits(x)&(swar.MSB>>(64-8*n)) != 0
}

// ctlBits is ctlOrDel's test for eight bytes, as bits to OR with
// another's.
func ctlBits(x uint64) uint64 {
	y := x ^ 0x7f*swar.LSB
	return ((x-0x20*swar.LSB)&^x | (y-swar.LSB)&^y) & swar.MSB
}

// ValidFieldValue reports whether v may be a header field value: no
// control characters other than horizontal tab, so no CR, LF or NUL that
// would let a value inject header lines.
func ValidFieldValue(v string) bool {
	// Eight (or four) bytes at a time, as ValidToken; a group with a
	// control character (a tab, usually) is looked at byte by byte.
	switch n := len(v); {
	case n >= 8:
		i := 0
		for ; i < n-16; i += 16 { // two words per test in long values (tokens, cookies)
			if ctlBits(swar.Load64(v[i:]))|ctlBits(swar.Load64(v[i+8:])) != 0 && !validFieldBytes(v[i:i+16]) {
				return false
			}
		}
		for ; i < n-8; i += 8 {
			if ctlOrDel(swar.Load64(v[i:]), 8) && !validFieldBytes(v[i:i+8]) {
				return false
			}
		}
		return !ctlOrDel(swar.Load64(v[n-8:]), 8) || validFieldBytes(v[n-8:])
	case n >= 4:
		return !ctlOrDel(swar.Load32(v), 4) && !ctlOrDel(swar.Load32(v[n-4:]), 4) || validFieldBytes(v)
	}
	return validFieldBytes(v)
}

// validFieldBytes is ValidFieldValue a byte at a time.
func validFieldBytes(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// HasCRLF reports whether s contains a CR or an LF, in one pass (two
// strings.IndexByte calls cost more for the short values of a head).
func HasCRLF(s string) bool {
	// A group of eight (or four) bytes with a byte below 0x0e may hold
	// one: only then are its bytes looked at.
	switch n := len(s); {
	case n >= 8:
		for i := 0; i < n-8; i += 8 {
			if below(swar.Load64(s[i:]), 0x0e, 8) && hasCRLFBytes(s[i:i+8]) {
				return true
			}
		}
		return below(swar.Load64(s[n-8:]), 0x0e, 8) && hasCRLFBytes(s[n-8:])
	case n >= 4:
		return (below(swar.Load32(s), 0x0e, 4) || below(swar.Load32(s[n-4:]), 0x0e, 4)) && hasCRLFBytes(s)
	}
	return hasCRLFBytes(s)
}

// below reports whether one of the low n bytes of x is below c (c <= 0x80),
// as ctlOrDel.
func below(x uint64, c byte, n uint) bool {
	return (x-uint64(c)*swar.LSB)&^x&(swar.MSB>>(64-8*n)) != 0
}

func hasCRLFBytes(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '\r' || s[i] == '\n' {
			return true
		}
	}
	return false
}

// TrimOWS trims optional whitespace (spaces and tabs) from both ends.
func TrimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// TrimSpace is strings.TrimSpace, answering at once for the usual value
// that starts and ends with a printable ASCII byte (no space, ASCII or
// Unicode, can be at either end then).
func TrimSpace(s string) string {
	if n := len(s); n > 0 && s[0]-0x21 < 0x5e && s[n-1]-0x21 < 0x5e {
		return s
	}
	return strings.TrimSpace(s)
}

// HasToken reports whether the comma-separated values of a header
// (Connection, for one) contain token, case-insensitively.
func HasToken(values []string, token string) bool {
	for _, v := range values {
		for v != "" {
			var t string
			t, v, _ = strings.Cut(v, ",")
			if strings.EqualFold(TrimOWS(t), token) {
				return true
			}
		}
	}
	return false
}

// ParseContentLength accepts 1 to 18 decimal digits, nothing else (no
// sign, no spaces, no list).
func ParseContentLength(s string) (int64, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		if !IsDigit(s[i]) {
			return 0, false
		}
		n = n*10 + int64(s[i]-'0')
	}
	return n, true
}

// IsDigit reports whether b is an ASCII digit.
func IsDigit(b byte) bool { return '0' <= b && b <= '9' }

// NextLine splits off the first line of s, without its line ending (LF or
// CRLF).
func NextLine(s string) (line, rest string) {
	i := strings.IndexByte(s, '\n')
	if i < 0 {
		return s, ""
	}
	line, rest = s[:i], s[i+1:]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, rest
}

// IsEmptyLine reports whether line (with its line ending) is the empty
// line that ends a head or a trailer section.
func IsEmptyLine(line []byte) bool {
	return len(line) == 1 || len(line) == 2 && line[0] == '\r'
}

// HeaderStore keeps a header map and its value storage from one parsed
// message to the next, so that a connection's messages do not each
// allocate them. The zero value is ready to use.
type HeaderStore struct {
	h    http.Header
	vals []string
}

// maxStoredHeaders bounds what a HeaderStore keeps: clearing a map costs as
// much as its largest size, so an unusually large one is let go.
const maxStoredHeaders = 32

// SameMap reports whether a and b are the same map (not only equal ones).
func SameMap(a, b http.Header) bool {
	return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}

// Map returns the header map Take returned last (nil before).
func (s *HeaderStore) Map() http.Header { return s.h }

// Take returns an empty header map and room for n values (for AddValue).
// Whatever Take returned before is the new message's from now on: the
// previous message, its map and its value slices must no longer be used.
func (s *HeaderStore) Take(n int) (http.Header, []string) {
	if s.h == nil || len(s.h) > maxStoredHeaders {
		s.h = make(http.Header, n)
	} else {
		clear(s.h)
	}
	if cap(s.vals) < n || cap(s.vals) > maxStoredHeaders {
		s.vals = make([]string, n)
		return s.h, s.vals
	}
	vals := s.vals[:n]
	clear(vals)
	return s.h, vals
}

// AddValue appends value to h[key]. A key's first value takes its slice
// from vals (one backing array for a whole parsed head, sized beforehand)
// and AddValue returns what is left of vals.
func AddValue(h http.Header, key, value string, vals []string) []string {
	if vv := h[key]; vv != nil {
		h[key] = append(vv, value)
		return vals
	}
	if len(vals) == 0 {
		h[key] = []string{value}
		return vals
	}
	vv := vals[:1:1]
	vv[0] = value
	h[key] = vv
	return vals[1:]
}

// Filler fills an empty header map with a head's fields, one after the
// other, as AddValue does. It keeps a small summary of the names added so
// far (one bit of 64 per name, from its length and end bytes), so that a
// name whose bit is not set yet, certainly new (nearly every one), is
// stored without first being looked up in the map, which costs a hash.
// The zero Filler is not ready: use NewFiller.
type Filler struct {
	h    http.Header
	vals []string
	seen uint64
}

// NewFiller returns a Filler of h, which must be empty, with room for
// values vals (as AddValue's).
func NewFiller(h http.Header, vals []string) Filler {
	return Filler{h: h, vals: vals}
}

// Add appends value to the map's field key.
func (f *Filler) Add(key, value string) {
	if len(key) == 0 {
		f.vals = AddValue(f.h, key, value, f.vals)
		return
	}
	bit := uint64(1) << ((uint(len(key))*5 + uint(key[0])*3 + uint(key[len(key)-1])) & 63)
	if f.seen&bit != 0 || len(f.vals) == 0 {
		f.seen |= bit
		f.vals = AddValue(f.h, key, value, f.vals) // maybe there already
		return
	}
	f.seen |= bit
	vv := f.vals[:1:1]
	vv[0] = value
	f.h[key] = vv
	f.vals = f.vals[1:]
}

// ErrHeadTooLarge is ReadHead's error for a head over its limit.
var ErrHeadTooLarge = errors.New("http: message head too large")

// ErrTrailerTooLarge is ReadTrailer's error for a trailer section over its
// limit.
var ErrTrailerTooLarge = errors.New("http: chunked trailer too large")

// ReadHead reads a message head — the start line and the header fields, up
// to and including the empty line that ends them — from br, appending it
// to buf. Up to skipBlank empty lines before the start line are dropped
// (RFC 9112 §2.2); an empty line after them is returned as an (empty)
// head. limit > 0 bounds the head (ErrHeadTooLarge). A reader that ends
// before the first byte gives io.EOF, one that ends inside the head
// io.ErrUnexpectedEOF.
func ReadHead(br *bufio.Reader, buf []byte, limit, skipBlank int) ([]byte, error) {
	return ReadHeadLines(br, buf, limit, skipBlank, nil)
}

// ReadHeadLines is ReadHead recording in lines (when not nil) the lengths
// of the head's lines as it finds them, for a Cursor, so that the parser
// need not look for the line ends again.
func ReadHeadLines(br *bufio.Reader, buf []byte, limit, skipBlank int, lines *Lines) ([]byte, error) {
	if lines != nil {
		lines.n = 0
	}
	if br.Buffered() == 0 {
		// Wait for the first bytes: a head usually arrives whole.
		if _, err := br.Peek(1); err != nil {
			return buf, err
		}
	}
	if n := headEnd(br, limit, lines); n > 0 {
		// The whole head is buffered already (the usual case): one scan
		// and one copy instead of a read and an append per line.
		p, _ := br.Peek(n)
		buf = append(buf, p...)
		br.Discard(n)
		return buf, nil
	}
	if lines != nil {
		lines.n = 0
	}
	return readHeadLines(br, buf, limit, skipBlank)
}

// maxLines is how many lines a Lines records; a head with more is parsed
// by looking for its line ends again.
const maxLines = 32

// Lines holds the lengths (line ending included) of the lines of the head
// ReadHeadLines last read, when it found the head whole in the buffer and
// with at most maxLines lines; n is 0 otherwise.
type Lines struct {
	n    int
	lens [maxLines]uint16
}

// record notes the next line's length, or that the head has too many
// lines (or too long a line) to record.
func (l *Lines) record(n int) {
	switch {
	case l.n > maxLines:
	case l.n == maxLines || n > 0xffff:
		l.n = maxLines + 1
	default:
		l.lens[l.n] = uint16(n)
		l.n++
	}
}

// Cursor yields the lines of a head one at a time, as NextLine does, by
// the lengths ReadHeadLines recorded when there are.
type Cursor struct {
	rest  string
	i     int   // the next line's index in lines
	lines Lines // a copy, not a pointer: Next's stores through c would move a Lines to the heap
}

// NewCursor returns a Cursor over head, with the line lengths in lines
// (nil, or those recorded when head was read).
func NewCursor(head string, lines *Lines) Cursor {
	c := Cursor{rest: head}
	if lines != nil && lines.n <= maxLines {
		c.lines = *lines
	}
	return c
}

// More reports whether there is a line left.
func (c *Cursor) More() bool { return c.rest != "" }

// Next returns the next line, without its line ending (LF or CRLF).
func (c *Cursor) Next() (line string) {
	if c.i >= c.lines.n {
		line, c.rest = NextLine(c.rest)
		return line
	}
	n := int(c.lines.lens[c.i])
	c.i++
	line, c.rest = c.rest[:n-1], c.rest[n:]
	if k := len(line); k > 0 && line[k-1] == '\r' {
		line = line[:k-1]
	}
	return line
}

// Count returns the number of LFs left (the lines left, each ended).
func (c *Cursor) Count() int {
	if c.i < c.lines.n {
		return c.lines.n - c.i
	}
	return strings.Count(c.rest, "\n")
}

// headEnd returns the length of the head at the start of br's buffered
// bytes, up to and including its empty line, or 0 when the buffer does not
// hold a whole head within limit (or starts with blank lines to skip),
// for readHeadLines to deal with.
func headEnd(br *bufio.Reader, limit int, lines *Lines) int {
	p, _ := br.Peek(br.Buffered())
	if len(p) == 0 || p[0] == '\r' || p[0] == '\n' {
		return 0
	}
	return headLen(p, limit, lines)
}

// headLen is the length of the head at the start of p: up to the first
// LF that an LF or a CRLF follows (the empty line), or 0 when there is
// none within limit (limit > 0). One IndexByte per line, stopping at the
// head's end: not two searches for "\n\n" and "\n\r\n" that go on
// through the body the buffer also holds. lines (when not nil) gets the
// lines' lengths.
func headLen(p []byte, limit int, lines *Lines) int {
	for i := 0; ; {
		j := bytes.IndexByte(p[i:], '\n')
		if j < 0 {
			return 0
		}
		if lines != nil {
			lines.record(j + 1)
		}
		i += j + 1 // the start of the next line
		end := 0
		if i < len(p) && p[i] == '\n' {
			end = i + 1
		} else if i+1 < len(p) && p[i] == '\r' && p[i+1] == '\n' {
			end = i + 2
		}
		if end > 0 {
			if limit > 0 && end > limit {
				return 0
			}
			if lines != nil {
				lines.record(end - i) // the empty line
			}
			return end
		}
		if limit > 0 && i >= limit {
			return 0 // any end is past limit
		}
	}
}

// readHeadLines is ReadHead line by line, reading from the connection as
// needed.
func readHeadLines(br *bufio.Reader, buf []byte, limit, skipBlank int) ([]byte, error) {
	start := len(buf)
	lineStart := start
	for {
		frag, err := br.ReadSlice('\n')
		if limit > 0 && len(buf)-start+len(frag) > limit {
			return buf, ErrHeadTooLarge
		}
		buf = append(buf, frag...)
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			if err == io.EOF && len(buf) > start {
				return buf, io.ErrUnexpectedEOF
			}
			return buf, err
		}
		if IsEmptyLine(buf[lineStart:]) {
			if lineStart > start || skipBlank == 0 {
				return buf, nil
			}
			skipBlank--
			buf = buf[:start]
			continue
		}
		lineStart = len(buf)
	}
}

// ReadTrailer reads the trailer section that follows the last chunk of a
// chunked body, up to and including its empty line, at most limit bytes.
// field, when not nil, gets each trailer field (name as sent, value
// trimmed); with nil the section is consumed and dropped.
func ReadTrailer(br *bufio.Reader, limit int, field func(name, value string) error) error {
	total := 0
	for {
		line, err := br.ReadSlice('\n')
		total += len(line)
		if err == bufio.ErrBufferFull || total > limit {
			return ErrTrailerTooLarge
		}
		if err != nil {
			if err == io.EOF {
				return io.ErrUnexpectedEOF
			}
			return err
		}
		if IsEmptyLine(line) {
			return nil
		}
		if field != nil {
			s := strings.TrimRight(string(line), "\r\n")
			k, v, ok := strings.Cut(s, ":")
			if !ok || !ValidToken(k) {
				return errors.New("malformed trailer line " + strconv.Quote(s))
			}
			if err := field(k, TrimOWS(v)); err != nil {
				return err
			}
		}
	}
}

// Fields is a set of the header fields that framing and hop-by-hop
// handling look for, noted by a parser as it fills a header map, so that
// their lookups can be skipped for fields the map does not have. It
// describes the map only as the parser left it: whoever changes the map
// after must not rely on it.
type Fields uint16

const (
	FieldConnection Fields = 1 << iota
	FieldContentLength
	FieldTransferEncoding
	FieldTrailer
	FieldExpect
	FieldUpgrade
	FieldKeepAlive
	// FieldOtherHop is one of the other hop-by-hop fields:
	// Proxy-Connection, Proxy-Authenticate, Proxy-Authorization, Te.
	FieldOtherHop

	// FieldsHop are the hop-by-hop fields (RFC 9110 §7.6.1), of which a
	// message that has none needs no removal when it crosses a proxy.
	FieldsHop = FieldConnection | FieldTransferEncoding | FieldTrailer | FieldUpgrade | FieldKeepAlive | FieldOtherHop

	// FieldsAll is the set to use for a map whose fields are not known:
	// every lookup is made.
	FieldsAll Fields = 1<<16 - 1
)

// DropConnectionOnly removes from h, a header map whose fields
// are those in fields, its hop-by-hop fields when they concern only the
// connection the message came on: Connection naming nothing but
// keep-alive or close (in any case), and Keep-Alive (and a field named
// Close with a close option, as a removal of the fields Connection names
// would). That is what most
// servers and many clients send on every kept-alive exchange (nginx,
// Node.js, Apache, Python's requests, Java's HttpURLConnection), and
// what RemoveHopHeaders-style removal would take out anyway, only after
// walking the whole map. It returns the hop-by-hop fields h still has:
// none (0) once it has removed these, and otherwise fields&FieldsHop,
// with h unchanged, for the general removal to deal with. Connection's
// values must have been read (for framing and keep-alive) before.
func DropConnectionOnly(h map[string][]string, fields Fields) Fields {
	hop := fields & FieldsHop
	if hop == 0 || hop&^(FieldConnection|FieldKeepAlive) != 0 {
		return hop
	}
	if hop&FieldConnection != 0 {
		closed := false
		for _, v := range h["Connection"] {
			for v != "" {
				var t string
				t, v, _ = strings.Cut(v, ",")
				t = TrimOWS(t)
				switch {
				case t == "" || t == "keep-alive" || len(t) == 10 && strings.EqualFold(t, "keep-alive"):
				case t == "close" || len(t) == 5 && strings.EqualFold(t, "close"):
					closed = true
				default:
					return hop
				}
			}
		}
		delete(h, "Connection")
		if closed {
			delete(h, "Close")
		}
	}
	if hop&FieldKeepAlive != 0 {
		delete(h, "Keep-Alive")
	}
	return 0
}

// FieldOf returns the bit of the canonical header name key in Fields, or 0.
func FieldOf(key string) Fields {
	switch len(key) {
	case 2:
		if key == "Te" {
			return FieldOtherHop
		}
	case 6:
		if key == "Expect" {
			return FieldExpect
		}
	case 7:
		switch key {
		case "Upgrade":
			return FieldUpgrade
		case "Trailer":
			return FieldTrailer
		}
	case 10:
		switch key {
		case "Connection":
			return FieldConnection
		case "Keep-Alive":
			return FieldKeepAlive
		}
	case 14:
		if key == "Content-Length" {
			return FieldContentLength
		}
	case 16:
		if key == "Proxy-Connection" {
			return FieldOtherHop
		}
	case 17:
		if key == "Transfer-Encoding" {
			return FieldTransferEncoding
		}
	case 18:
		if key == "Proxy-Authenticate" {
			return FieldOtherHop
		}
	case 19:
		if key == "Proxy-Authorization" {
			return FieldOtherHop
		}
	}
	return 0
}
