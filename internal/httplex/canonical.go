package httplex

import (
	"bufio"
	"net/http"

	"github.com/apimgw/apimgw/internal/swar"
)

// CanonicalKey returns the canonical form of a valid header field name
// (a token), as textproto.CanonicalMIMEHeaderKey does: name itself when it
// already is canonical, an interned string for the common names, else a
// new string. scratch is reused across calls (nil is fine); the result
// never refers to it.
func CanonicalKey(name string, scratch *[]byte) string {
	// Each byte's rule (upper case to start the name or after a '-',
	// else lower case) depends only on the byte before it, so groups of
	// eight (or four) bytes are checked at once, the last group
	// overlapping the one before it.
	switch n := len(name); {
	case n >= 8:
		for i := 0; i < n-8; i += 8 {
			if !canonical8(swar.Load64(name[i:]), i == 0 || name[i-1] == '-', 8) {
				return canonicalBytes(name, scratch)
			}
		}
		if canonical8(swar.Load64(name[n-8:]), n == 8 || name[n-9] == '-', 8) {
			return name
		}
	case n >= 4:
		if canonical8(swar.Load32(name), true, 4) && canonical8(swar.Load32(name[n-4:]), n == 4 || name[n-5] == '-', 4) {
			return name
		}
	}
	return canonicalBytes(name, scratch)
}

// canonical8 reports whether the low n (4 or 8) bytes of x are ASCII and
// in canonical form, the first starting a word when start is set. False
// may only mean "ask canonicalBytes" (a byte above 0x7f).
func canonical8(x uint64, start bool, n uint) bool {
	mask := uint64(swar.MSB) >> (64 - 8*n)
	if x&mask != 0 {
		return false // a byte above 0x7f: canonicalBytes decides
	}
	// For bytes below 0x80, adding 0x80-c sets a byte's top bit exactly
	// when the byte is at least c, without carrying into the next byte;
	// x|0x20 folds upper-case letters onto lower-case ones.
	y := x | 0x20*swar.LSB
	letter := (y + (0x80-'a')*swar.LSB) &^ (y + (0x80-'z'-1)*swar.LSB)
	lower := x << 2                               // a letter's lower-case bit (0x20), moved to the top bit
	dash := ^((x ^ '-'*swar.LSB) + 0x7f*swar.LSB) // top bit set where the byte is '-'
	starts := dash << 8
	if start {
		starts |= 0x80
	}
	// A letter is wrong when it is lower case where a word starts, or
	// upper case elsewhere.
	return letter&^(lower^starts)&mask == 0
}

// canonicalBytes is CanonicalKey a byte at a time.
func canonicalBytes(name string, scratch *[]byte) string {
	upper := true
	for i := 0; i < len(name); i++ {
		ch := name[i]
		if upper && 'a' <= ch && ch <= 'z' || !upper && 'A' <= ch && ch <= 'Z' {
			return canonicalSlow(name, scratch)
		}
		upper = ch == '-'
	}
	return name
}

func canonicalSlow(name string, scratch *[]byte) string {
	var buf []byte
	if scratch != nil {
		buf = (*scratch)[:0]
	}
	buf = append(buf, name...)
	upper := true
	for i, ch := range buf {
		if upper && 'a' <= ch && ch <= 'z' {
			buf[i] = ch - 'a' + 'A'
		} else if !upper && 'A' <= ch && ch <= 'Z' {
			buf[i] = ch - 'A' + 'a'
		}
		upper = ch == '-'
	}
	if scratch != nil {
		*scratch = buf
	}
	if s, ok := commonHeaders[string(buf)]; ok {
		return s
	}
	return string(buf)
}

var commonHeaders = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{
		"Accept", "Accept-Charset", "Accept-Encoding", "Accept-Language", "Accept-Ranges",
		"Authorization", "Cache-Control", "Connection", "Content-Encoding", "Content-Language",
		"Content-Length", "Content-Type", "Cookie", "Date", "Expect", "Forwarded", "From", "Host",
		"If-Match", "If-Modified-Since", "If-None-Match", "If-Range", "If-Unmodified-Since",
		"Keep-Alive", "Max-Forwards", "Origin", "Pragma", "Proxy-Authorization", "Range",
		"Referer", "Te", "Trailer", "Transfer-Encoding", "Upgrade", "User-Agent", "Via",
		"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Request-Id",
		"Server", "Set-Cookie", "Location", "Etag", "Last-Modified", "Expires", "Vary", "Age",
		"Retry-After", "Www-Authenticate", "Proxy-Authenticate", "Proxy-Connection", "Content-Range",
		"Content-Disposition", "Strict-Transport-Security", "Access-Control-Allow-Origin",
		"Ocp-Apim-Subscription-Key", "Ocp-Apim-Trace",
	} {
		m[k] = k
	}
	return m
}()

// First returns the first value of h[key] ("" when there is none), as
// h.Get(key) does, for a key that is already canonical: without
// canonicalising it again on every call.
func First(h http.Header, key string) string {
	if vv := h[key]; len(vv) > 0 {
		return vv[0]
	}
	return ""
}

// WriteField writes the header line "k: v\r\n" to bw: in one copy into
// bw's free space when the line fits there, else piece by piece.
func WriteField(bw *bufio.Writer, k, v string) {
	if bw.Available() < len(k)+len(v)+4 {
		bw.WriteString(k)
		bw.WriteString(": ")
		bw.WriteString(v)
		bw.WriteString("\r\n")
		return
	}
	b := bw.AvailableBuffer()
	b = append(b, k...)
	b = append(b, ':', ' ')
	b = append(b, v...)
	b = append(b, '\r', '\n')
	bw.Write(b)
}
