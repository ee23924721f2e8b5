package policyxml

import (
	"bytes"
	"strconv"
	"strings"
	"unicode/utf8"
)

// decodeError is an invalid entity or character reference at byte offset off
// of the decoded input.
type decodeError struct {
	off int
	msg string
}

// decodeEntities returns s with XML entity and character references
// (&lt; &gt; &amp; &quot; &apos; &#NN; &#xNN;) replaced. Any other use of '&'
// is an error.
func decodeEntities(s []byte) (string, *decodeError) {
	amp := bytes.IndexByte(s, '&')
	if amp < 0 {
		return string(s), nil
	}
	var b strings.Builder
	b.Grow(len(s))
	base := 0
	for amp >= 0 {
		b.Write(s[:amp])
		r, n, err := decodeRef(s[amp:])
		if err != "" {
			return "", &decodeError{off: base + amp, msg: err}
		}
		b.WriteRune(r)
		base += amp + n
		s = s[amp+n:]
		amp = bytes.IndexByte(s, '&')
	}
	b.Write(s)
	return b.String(), nil
}

// decodeValidRefs replaces the valid entity and character references in s
// and leaves every other '&' as it is. Raw expressions use it: files that
// mix the two forms write some characters raw and others as references
// (`@(a &amp;&amp; b == "x")`), and the XML parser APIM runs after
// delimiting expressions decodes those references.
func decodeValidRefs(s []byte) string {
	amp := bytes.IndexByte(s, '&')
	if amp < 0 {
		return string(s)
	}
	var b strings.Builder
	b.Grow(len(s))
	for amp >= 0 {
		b.Write(s[:amp])
		r, n, err := decodeRef(s[amp:])
		if err != "" {
			b.WriteByte('&')
			n = 1
		} else {
			b.WriteRune(r)
		}
		s = s[amp+n:]
		amp = bytes.IndexByte(s, '&')
	}
	b.Write(s)
	return b.String()
}

// wellFormedRefs reports whether every '&' in s starts a valid reference.
func wellFormedRefs(s []byte) bool {
	for {
		amp := bytes.IndexByte(s, '&')
		if amp < 0 {
			return true
		}
		_, n, err := decodeRef(s[amp:])
		if err != "" {
			return false
		}
		s = s[amp+n:]
	}
}

// decodeRef decodes the reference at the start of s (s[0] == '&') and returns
// the character, the length of the reference, or an error message.
func decodeRef(s []byte) (rune, int, string) {
	semi := bytes.IndexByte(s, ';')
	if semi < 0 || semi > 12 {
		return 0, 0, "'&' must start an entity reference such as &amp; (write & as &amp; outside expressions)"
	}
	name := string(s[1:semi])
	switch name {
	case "lt":
		return '<', semi + 1, ""
	case "gt":
		return '>', semi + 1, ""
	case "amp":
		return '&', semi + 1, ""
	case "quot":
		return '"', semi + 1, ""
	case "apos":
		return '\'', semi + 1, ""
	}
	if len(name) >= 2 && name[0] == '#' {
		var v uint64
		var err error
		if name[1] == 'x' {
			if len(name) == 2 || !isHex(name[2:]) {
				return 0, 0, "invalid character reference &" + name + ";"
			}
			v, err = strconv.ParseUint(name[2:], 16, 32)
		} else {
			if !isDigits(name[1:]) {
				return 0, 0, "invalid character reference &" + name + ";"
			}
			v, err = strconv.ParseUint(name[1:], 10, 32)
		}
		if err != nil || !isXMLChar(rune(v)) {
			return 0, 0, "character reference &" + name + "; is not a valid XML character"
		}
		return rune(v), semi + 1, ""
	}
	return 0, 0, "unknown entity &" + name + "; (only &lt; &gt; &amp; &quot; &apos; and character references are defined)"
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return len(s) > 0
}

// isXMLChar reports whether r is allowed in an XML 1.0 document.
func isXMLChar(r rune) bool {
	switch {
	case r == '\t' || r == '\n' || r == '\r':
		return true
	case r < 0x20:
		return false
	case r >= 0xD800 && r <= 0xDFFF, r == 0xFFFE, r == 0xFFFF:
		return false
	}
	return r <= utf8.MaxRune
}
