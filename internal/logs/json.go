package logs

import (
	"math/bits"
	"unicode/utf8"

	"github.com/apimgw/apimgw/internal/swar"
)

const hexDigits = "0123456789abcdef"

// plainASCII marks the ASCII bytes a JSON string carries as they are (as
// encoding/json writes them: control characters, quotes, backslashes and
// HTML's <, > and & are escaped).
var plainASCII = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// plainBytes returns a word whose top bit is set in each byte of w up to
// the first that is not plainASCII, and clear in that byte. In a byte
// below 0x80, w^c + 0x7f has its top bit set unless the byte is c, and
// w + 0x60 unless the byte is below 0x20; these additions carry into the
// next byte only from a byte >= 0x80, which is not plain (&^ w) and
// comes first. '<' and '>' differ only in bit 1, '"' and '&' in bit 2, so
// each pair takes one test.
func plainBytes(w uint64) uint64 {
	t := (w ^ '\\'*swar.LSB) + 0x7f*swar.LSB
	t &= (w | 0x02*swar.LSB ^ '>'*swar.LSB) + 0x7f*swar.LSB
	t &= (w | 0x04*swar.LSB ^ '&'*swar.LSB) + 0x7f*swar.LSB
	t &= w + 0x60*swar.LSB
	return t &^ w
}

// plainRun returns the length of the longest prefix of s that is plain
// ASCII, looking at eight bytes at a time.
func plainRun(s string) int {
	n := len(s)
	if n < 8 {
		if n < 4 {
			for i := 0; i < n; i++ {
				if c := s[i]; c >= utf8.RuneSelf || !plainASCII[c] {
					return i
				}
			}
			return n
		}
		// s[0:4] and s[n-4:n], overlapping: one word.
		m := ^plainBytes(swar.Load32(s)|swar.Load32(s[n-4:])<<32) & swar.MSB
		if m == 0 {
			return n
		}
		if k := bits.TrailingZeros64(m) / 8; k < 4 {
			return k
		} else {
			return n - 8 + k
		}
	}
	i := 0
	for ; i < n-8; i += 8 {
		if m := ^plainBytes(swar.Load64(s[i:])) & swar.MSB; m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	// The last word, overlapping bytes already known to be plain.
	if m := ^plainBytes(swar.Load64(s[n-8:])) & swar.MSB; m != 0 {
		return n - 8 + bits.TrailingZeros64(m)/8
	}
	return n
}

// AppendJSONString appends s to dst as a JSON string literal, escaping what
// JSON requires and replacing invalid UTF-8 with U+FFFD.
func AppendJSONString(dst []byte, s string) []byte {
	i := plainRun(s)
	if i == len(s) {
		// Most strings need no escape.
		dst = append(dst, '"')
		dst = append(dst, s...)
		return append(dst, '"')
	}
	return appendJSONStringFrom(dst, s, i)
}

// appendJSONStringFrom is AppendJSONString for s whose first byte that is
// not plain ASCII is s[i].
func appendJSONStringFrom(dst []byte, s string, i int) []byte {
	dst = append(dst, '"')
	start := 0
	for {
		// Plain runs go out in one append.
		i += plainRun(s[i:])
		if i >= len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
