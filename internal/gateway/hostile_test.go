package gateway

// The hostile-client suite, gateway side: requests and backends that
// behave as an attacker (or a broken peer) would, over raw sockets on
// loopback, checked by status, by what the backend saw and by log fields.

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// rawExchange sends req (raw bytes) to addr on a new connection and reads
// one response. The response body is read whole.
func rawExchange(t *testing.T, addr, req string) (*http.Response, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("%q: %v", req, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// hostileServers serves h's gateway on apimgw's own server and on
// net/http's, and returns their addresses (host:port) by name.
func hostileServers(h *harness) map[string]string {
	out := map[string]string{}
	for name, base := range h.servers() {
		out[name] = strings.TrimPrefix(base, "http://")
	}
	return out
}

// TestPathTraversalStaysInBase: dot-segments, encoded or not, resolve
// before routing; one that would climb above the root is a 400 that
// reaches no backend; a backslash-hidden one too; a fragment is cut off.
// The path forwarded always lies under the serviceUrl's base.
func TestPathTraversalStaysInBase(t *testing.T) {
	be, seenBy := echoBackend(t)
	h := start(t, map[string]string{
		"gateway.yaml": `
apis:
  - id: a
    path: a
    serviceUrl: ` + be.URL + `/base
    subscriptionRequired: false
    operations:
      - {id: rw, method: GET, urlTemplate: "/rw", policy: rw.xml}
      - {id: all, method: GET, urlTemplate: "/*"}
`,
		"rw.xml": inbound(`<rewrite-uri template="@(&quot;/../../&quot; + context.Request.Url.Query.GetValueOrDefault(&quot;p&quot;, &quot;&quot;))" />`),
	})
	cases := []struct {
		target string
		status int
		path   string // the backend's path, "" when it must not be called
		query  string
	}{
		{"/a/..%2f..%2fadmin", 400, "", ""},
		{"/a/..%2F..%2Fadmin", 400, "", ""},
		{"/a/%2e%2e/%2e%2e/admin", 400, "", ""},
		{"/a/%2E%2E/%2E%2E/admin", 400, "", ""},
		{"/a/../../admin", 400, "", ""},
		{"/a/x/..%2f..%2f..%2fadmin", 400, "", ""},
		{"/a/..%5c..%5cadmin", 400, "", ""},
		{"/a/x/.%5cadmin", 400, "", ""},
		{"/a/..", 404, "", ""}, // resolves to "/", which is no API
		{"/a/x/../y", 200, "/base/y", ""},
		{"/a/x/%2e%2e/y", 200, "/base/y", ""},
		{"/a/x/./y/.", 200, "/base/x/y/", ""},
		{"/a/b/..%2fc", 200, "/base/c", ""},
		{"/a/x#frag", 200, "/base/x", ""},
		{"/a/x?q=1#frag", 200, "/base/x", "q=1"},
		{"/a/x%23y", 200, "/base/x#y", ""}, // an encoded '#' is data
		{"/a/rw?p=admin", 200, "/base/admin", "p=admin"},
	}
	for name, addr := range hostileServers(h) {
		for _, c := range cases {
			before := len(seenBy())
			resp, body := rawExchange(t, addr, "GET "+c.target+" HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n")
			if resp.StatusCode != c.status {
				t.Errorf("%s: GET %s: status %d, want %d (%s)", name, c.target, resp.StatusCode, c.status, body)
				continue
			}
			got := seenBy()[before:]
			if c.path == "" {
				if len(got) != 0 {
					t.Errorf("%s: GET %s reached the backend as %q", name, c.target, got[0].Path)
				}
				if c.status == 400 {
					wantAPIMError(t, resp, body, 400, msgBadPath)
				}
				continue
			}
			if len(got) != 1 || got[0].Path != c.path || got[0].Query != c.query {
				t.Errorf("%s: GET %s: backend saw %+v, want path %q query %q", name, c.target, got, c.path, c.query)
			}
		}
	}
	for _, r := range h.records() {
		if r.ResponseCode == 400 && (r.ApiId != "" || r.BackendUrl != "" || r.IsRequestSuccess) {
			t.Errorf("log of a refused path: %+v", r)
		}
	}
}
