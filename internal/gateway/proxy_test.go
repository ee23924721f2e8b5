package gateway

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/apimgw/apimgw/internal/testproxy"
)

// TestProxyPolicy: the proxy policy sends forward-request, and send-request
// with a proxy child, through an HTTP proxy with its credentials; the
// proxy is the destination the connection metrics show.
func TestProxyPolicy(t *testing.T) {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("backend " + r.URL.Path))
	}))
	defer be.Close()
	px := testproxy.New(t, "gw", "s3cret")
	proxyAddr := strings.TrimPrefix(px.URL, "http://")
	h := start(t, map[string]string{
		"gateway.yaml": `
namedValues: {proxy-password: s3cret}
apis:
  - id: a
    path: a
    serviceUrl: ` + be.URL + `
    subscriptionRequired: false
    operations:
      - {id: fwd, method: GET, urlTemplate: /fwd, policy: fwd.xml}
      - {id: call, method: GET, urlTemplate: /call, policy: call.xml}
      - {id: bad, method: GET, urlTemplate: /bad, policy: bad.xml}
`,
		"fwd.xml": inbound(`<proxy url="` + px.URL + `" username="gw" password="{{proxy-password}}" />`),
		"call.xml": inbound(`<send-request mode="new" response-variable-name="r" timeout="10">
  <set-url>` + be.URL + `/inner</set-url>
  <proxy url="` + px.URL + `" username="gw" password="s3cret" />
</send-request>
<return-response><set-status code="200" /><set-body>@(((IResponse)context.Variables["r"]).Body.As&lt;string&gt;())</set-body></return-response>`),
		"bad.xml": inbound(`<proxy url="` + px.URL + `" username="gw" password="wrong" />`),
	})
	for range 3 {
		if resp, body := h.do("GET", "/a/fwd", nil, nil); resp.StatusCode != 200 || body != "backend /fwd" {
			t.Fatalf("through the proxy: %d %q", resp.StatusCode, body)
		}
	}
	if resp, body := h.do("GET", "/a/call", nil, nil); resp.StatusCode != 200 || body != "backend /inner" {
		t.Fatalf("send-request through the proxy: %d %q", resp.StatusCode, body)
	}
	if px.Forwarded.Load() != 4 || px.Accepted.Load() != 1 {
		t.Errorf("proxy forwarded %d requests over %d connections, want 4 over 1", px.Forwarded.Load(), px.Accepted.Load())
	}
	if resp, _ := h.do("GET", "/a/bad", nil, nil); resp.StatusCode != http.StatusProxyAuthRequired {
		t.Errorf("wrong proxy credentials: %d, want the proxy's 407", resp.StatusCode)
	}
	if v := gatherValue(t, h, "apimgw_backend_connections_opened_total", "destination", proxyAddr); v < 1 {
		t.Errorf("no connection counted towards the proxy %s", proxyAddr)
	}
}
