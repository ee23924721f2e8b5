package gateway

import (
	"fmt"
	"strings"
	"testing"

	"github.com/apimgw/apimgw/internal/testnet"
)

// TestPathNormalisationMatchesNginx: for the request targets where nginx
// and apimgw mean to agree, apimgw refuses what nginx refuses and forwards
// the same path, relative to the same base, as nginx's
// "location /a/ { proxy_pass http://backend/base/; }". Where apimgw is
// deliberately stricter (backslashes) or keeps what nginx changes (merged
// slashes), TestPathTraversalStaysInBase says what it does.
func TestPathNormalisationMatchesNginx(t *testing.T) {
	be, seenBy := echoBackend(t)
	ngx, _ := testnet.Nginx(t, "", "location /a/ { proxy_pass http://"+strings.TrimPrefix(be.URL, "http://")+"/base/; }")
	h := start(t, map[string]string{"gateway.yaml": `
apis:
  - {id: a, path: a, serviceUrl: "` + be.URL + `/base", subscriptionRequired: false, operations: [{id: all, method: GET, urlTemplate: "/*"}]}
`})
	gw := strings.TrimPrefix(h.srv.URL, "http://")
	// outcome is what a target came to: the status class refused (4xx)
	// or the path the backend saw.
	outcome := func(addr, target string) string {
		before := len(seenBy())
		resp, _ := rawExchange(t, addr, "GET "+target+" HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n")
		got := seenBy()[before:]
		switch {
		case len(got) == 1 && resp.StatusCode == 200:
			return "forwarded " + got[0].Path + "?" + got[0].Query
		case len(got) == 0 && resp.StatusCode >= 400 && resp.StatusCode < 500:
			return fmt.Sprintf("refused %d", resp.StatusCode)
		}
		return fmt.Sprintf("status %d after %d backend calls", resp.StatusCode, len(got))
	}
	for _, target := range []string{
		"/a/x",
		"/a/x/../y",
		"/a/x/%2e%2e/y",
		"/a/x/%2E%2E/y",
		"/a/x/./y/.",
		"/a/x/.%2e/y",
		"/a/b/..%2fc",
		"/a/b/c/..%2F..%2Fd",
		"/a/x%23y",
		"/a/x?q=1",
		"/a/..",
		"/a/../../admin",
		"/a/..%2f..%2fadmin",
		"/a/..%2F..%2Fadmin",
		"/a/%2e%2e/%2e%2e/admin",
		"/a/x/..%2f..%2f..%2fadmin",
		"/a/%2e%2e%2f%2e%2e%2fadmin",
		"/a/./../../admin",
		"/a/x#frag",
		"/a/x?q=1#frag",
	} {
		want, got := outcome(ngx, target), outcome(gw, target)
		// nginx answers 404 for "/" here (no location), apimgw too (no
		// API); both refuse a climb above the root with 400.
		if want != got {
			t.Errorf("GET %s: nginx %s, apimgw %s", target, want, got)
		}
	}
}
