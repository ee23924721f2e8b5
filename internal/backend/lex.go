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
var hostByte = httplex.ByteTable(isHostByte)

func isHostByte(c byte) bool {
	return !(c <= ' ' || c == 0x7f || c == '/' || c == '?' || c == '#' || c == '\\')
}

// requestURI is u.RequestURI(). The usual target, a path that needs no
// escaping and no query, is the path itself (no escaping pass), and then
// clean reports that it holds no space, CR or LF.
func requestURI(u *url.URL) (uri string, clean bool) {
	if u.Opaque != "" || u.RawPath != "" || u.RawQuery != "" || u.ForceQuery || u.Path == "" ||
		!httplex.PlainPath(u.Path) {
		return u.RequestURI(), false
	}
	return u.Path, true
}
