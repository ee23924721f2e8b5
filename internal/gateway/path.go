package gateway

import (
	"net/url"
	"strings"

	"github.com/apimgw/apimgw/internal/policy"
)

// The request path is made safe once, before routing, so that the API and
// operation are chosen on the path the backend will see, and so that no
// path reaches a backend outside the API's serviceUrl base.
//
// As nginx does, the path is percent-decoded first (so "%2e%2e" is "..",
// and "%2F" separates segments, as it already did when the decoded path
// was forwarded) and then its dot-segments are resolved (RFC 3986 §5.2.4).
// A ".." that would climb above the root is refused with 400, as nginx
// refuses it, rather than clamped: such a path is an attack or a broken
// client, never a resource. A backslash is a separator to Windows servers
// (IIS, and many frameworks on it); a segment with a "." or ".." between
// backslashes is refused too, since the gateway cannot know how the backend
// reads it. A "#fragment" is never part of a request target (RFC 9112
// §3.2); a client that sends one anyway has it cut off, as nginx does,
// instead of it reaching the backend as "%23...".

// cleanRequestURL rewrites u's path and query for routing and forwarding.
// It returns false when the path must be refused (400).
func cleanRequestURL(u *url.URL) bool {
	if u.RawPath != "" {
		if i := strings.IndexByte(u.RawPath, '#'); i >= 0 {
			// A literal '#' in the target: the rest, query included, is a
			// fragment. (An encoded "%23" is data and stays.)
			p, err := url.PathUnescape(u.RawPath[:i])
			if err != nil {
				return false
			}
			u.Path, u.RawPath, u.RawQuery, u.ForceQuery = p, "", "", false
		}
	}
	if i := strings.IndexByte(u.RawQuery, '#'); i >= 0 {
		u.RawQuery = u.RawQuery[:i]
	}
	p, ok := policy.ResolveDotSegments(u.Path, false)
	if !ok {
		return false
	}
	if p != u.Path {
		u.Path, u.RawPath = p, ""
	}
	return true
}
