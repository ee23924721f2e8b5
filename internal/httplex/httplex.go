// Package httplex holds the HTTP/1.1 lexical rules (RFC 9110, RFC 9112)
// that the gateway's server (internal/httpserver) and backend client
// (internal/backend) both parse and write by.
package httplex

import (
	"net/http"
	"strings"
)

// tchar per RFC 9110 §5.6.2.
var isTchar = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// IsTokenByte reports whether b may appear in a token.
func IsTokenByte(b byte) bool { return isTchar[b] }

// ValidToken reports whether s is a non-empty token (a method, a header
// field name).
func ValidToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTchar[s[i]] {
			return false
		}
	}
	return true
}

// ValidFieldValue reports whether v may be a header field value: no
// control characters other than horizontal tab, so no CR, LF or NUL that
// would let a value inject header lines.
func ValidFieldValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
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
