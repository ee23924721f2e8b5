package gateway

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

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
backends:
  viaproxy:
    url: ` + be.URL + `
    proxy: {url: "` + px.URL + `", username: gw, password: s3cret}
    healthProbe: {path: /health, interval: 100ms, timeout: 100ms, healthyThreshold: 1, unhealthyThreshold: 1000}  # a slow probe under load must not take it out
apis:
  - id: a
    path: a
    serviceUrl: ` + be.URL + `
    subscriptionRequired: false
    operations:
      - {id: fwd, method: GET, urlTemplate: /fwd, policy: fwd.xml}
      - {id: call, method: GET, urlTemplate: /call, policy: call.xml}
      - {id: bad, method: GET, urlTemplate: /bad, policy: bad.xml}
      - {id: entity, method: GET, urlTemplate: /entity, policy: entity.xml}
`,
		"fwd.xml": inbound(`<proxy url="` + px.URL + `" username="gw" password="{{proxy-password}}" />`),
		"call.xml": inbound(`<send-request mode="new" response-variable-name="r" timeout="10">
  <set-url>` + be.URL + `/inner</set-url>
  <proxy url="` + px.URL + `" username="gw" password="s3cret" />
</send-request>
<return-response><set-status code="200" /><set-body>@(((IResponse)context.Variables["r"]).Body.As&lt;string&gt;())</set-body></return-response>`),
		"entity.xml": inbound(`<set-backend-service backend-id="viaproxy" />`),
		"bad.xml":    inbound(`<proxy url="` + px.URL + `" username="gw" password="wrong" />`),
	})
	for range 3 {
		if resp, body := h.do("GET", "/a/fwd", nil, nil); resp.StatusCode != 200 || body != "backend /fwd" {
			t.Fatalf("through the proxy: %d %q", resp.StatusCode, body)
		}
	}
	if resp, body := h.do("GET", "/a/call", nil, nil); resp.StatusCode != 200 || body != "backend /inner" {
		t.Fatalf("send-request through the proxy: %d %q", resp.StatusCode, body)
	}
	if px.Forwarded.Load() < 4 {
		t.Errorf("proxy forwarded %d requests, want 4 or more", px.Forwarded.Load())
	}
	// A backend with its own proxy: its calls and its health probes go
	// through it, and the probes keep it in rotation.
	before := px.Forwarded.Load()
	time.Sleep(350 * time.Millisecond)
	if resp, body := h.do("GET", "/a/entity", nil, nil); resp.StatusCode != 200 || body != "backend /entity" {
		t.Fatalf("backend proxy: %d %q", resp.StatusCode, body)
	}
	if n := px.Forwarded.Load() - before; n < 3 {
		t.Errorf("%d requests through the proxy for the backend call and its probes, want 3 or more", n)
	}
	if resp, _ := h.do("GET", "/a/bad", nil, nil); resp.StatusCode != http.StatusProxyAuthRequired {
		t.Errorf("wrong proxy credentials: %d, want the proxy's 407", resp.StatusCode)
	}
	if v := gatherValue(t, h, "apimgw_backend_connections_opened_total", "destination", proxyAddr); v < 1 {
		t.Errorf("no connection counted towards the proxy %s", proxyAddr)
	}
}
