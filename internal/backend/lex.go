package backend

import "github.com/apimgw/apimgw/internal/httplex"

// The RFC 9110 rules the gateway's server shares (functions, not func
// variables, so that calls are direct).
func validToken(s string) bool      { return httplex.ValidToken(s) }
func validFieldValue(v string) bool { return httplex.ValidFieldValue(v) }

// validHost reports whether h may be sent as the Host header: non-empty
// and free of whitespace, control characters and characters that cannot
// appear in an authority.
func validHost(h string) bool {
	if h == "" {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if c <= ' ' || c == 0x7f || c == '/' || c == '?' || c == '#' || c == '\\' {
			return false
		}
	}
	return true
}
