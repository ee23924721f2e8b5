package backend

import (
	"net/url"

	"github.com/apimgw/apimgw/internal/httplex"
)

// The RFC 9110 rules the gateway's server shares (functions, not func
// variables, so that calls are direct).
func validToken(s string) bool      { return httplex.ValidToken(s) }
func validFieldValue(v string) bool { return httplex.ValidFieldValue(v) }

// validHost reports whether h may be sent as the Host header: non-empty
// and free of whitespace, control characters and characters that cannot
// appear in an authority.
func validHost(h string) bool { return h != "" && httplex.AllIn(h, &hostByte) }

// hostByte is 1 for the bytes validHost accepts.
var hostByte = func() (t [256]uint8) {
	for c := range t {
		if isHostByte(byte(c)) {
			t[c] = 1
		}
	}
	return t
}()

func isHostByte(c byte) bool {
	return !(c <= ' ' || c == 0x7f || c == '/' || c == '?' || c == '#' || c == '\\')
}

// plainPathByte[c] is 1 when net/url leaves c as it is in a path
// (url.URL.EscapedPath): asked of net/url itself, so the two cannot
// disagree.
var plainPathByte = func() (t [256]uint8) {
	for c := range t {
		p := string([]byte{'/', byte(c)}) // not "*" alone, which EscapedPath keeps as a special case
		if (&url.URL{Path: p}).EscapedPath() == p {
			t[c] = 1
		}
	}
	return t
}()

// requestURI is u.RequestURI(). The usual target, a path that needs no
// escaping and no query, is the path itself (no escaping pass), and then
// clean reports that it holds no space, CR or LF.
func requestURI(u *url.URL) (uri string, clean bool) {
	if u.Opaque != "" || u.RawPath != "" || u.RawQuery != "" || u.ForceQuery || u.Path == "" ||
		!httplex.AllIn(u.Path, &plainPathByte) {
		return u.RequestURI(), false
	}
	return u.Path, true
}
