package gateway

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
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
