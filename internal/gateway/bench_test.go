package gateway

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apimgw/apimgw/internal/config"
	"github.com/apimgw/apimgw/internal/logs"
)

// BenchmarkPassThrough measures client → apimgw → backend on loopback with
// keep-alive on both sides, request logging on (to a discarded writer) and
// the default global pipeline (forward-request only).
func BenchmarkPassThrough(b *testing.B) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "hello from the backend")
	}))
	defer backend.Close()
	dir := b.TempDir()
	os.WriteFile(filepath.Join(dir, "gateway.yaml"), []byte(`
apis:
  - id: bench
    path: ""
    serviceUrl: `+backend.URL+`
    subscriptionRequired: false
    operations: [{id: all, method: GET, urlTemplate: "/*"}]
`), 0o644)
	cfg, err := config.Load(filepath.Join(dir, "gateway.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	g, err := New(cfg, Options{Logs: logs.NewWriter(io.Discard, nil, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer g.Close()
	srv := httptest.NewServer(g)
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64}}
	url := srv.URL + "/items/1"
	b.ReportAllocs()
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Get(url)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}

// cannedTransport answers every backend call from memory, so
// BenchmarkServeHTTP measures the gateway's own request path.
type cannedTransport struct{}

func (cannedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: 200, Status: "200 OK", Header: http.Header{"Content-Type": {"text/plain"}},
		Body: io.NopCloser(strings.NewReader("hello")), ContentLength: 5, Request: r}, nil
}

// BenchmarkServeHTTP is the gateway's request path without sockets:
// routing, subscription check, a small policy (header, variable, choose),
// forward-request to an in-memory transport, the response and the log line.
func BenchmarkServeHTTP(b *testing.B) {
	dir := b.TempDir()
	os.WriteFile(filepath.Join(dir, "gateway.yaml"), []byte(`
subscriptions: [{id: s, primaryKey: key-1, allApis: true}]
apis:
  - id: bench
    path: api
    serviceUrl: http://backend.invalid
    policy: api.xml
    operations: [{id: get, method: GET, urlTemplate: "/items/{id}"}]
`), 0o644)
	os.WriteFile(filepath.Join(dir, "api.xml"), []byte(`<policies><inbound><base/>
<set-header name="X-Tier" exists-action="override"><value>@(context.Request.Headers.GetValueOrDefault("x-tier", "bronze"))</value></set-header>
<choose><when condition="@(context.Request.MatchedParameters["id"] == "0")"><return-response><set-status code="404"/></return-response></when></choose>
</inbound><backend><base/></backend><outbound><base/></outbound></policies>`), 0o644)
	cfg, err := config.Load(filepath.Join(dir, "gateway.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	g, err := New(cfg, Options{Logs: logs.NewWriter(io.Discard, nil, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer g.Close()
	g.plan.Load().env.Transport = cannedTransport{}
	req := httptest.NewRequest("GET", "http://gw/api/items/42", nil)
	req.RemoteAddr = "127.0.0.1:5000"
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := req.Clone(req.Context())
		r.Header.Set("Ocp-Apim-Subscription-Key", "key-1")
		w := httptest.NewRecorder()
		g.ServeHTTP(w, r)
		if w.Code != 200 {
			b.Fatalf("status %d", w.Code)
		}
	}
}
