package gateway

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/apimgw/apimgw/internal/config"
	"github.com/apimgw/apimgw/internal/logs"
)

// TestNoGoroutineLeakAfterClose: a gateway that served concurrent traffic,
// a reload and a health-probed backend leaves no goroutine behind once
// closed (net/http's own idle client and server goroutines excepted, which
// the test closes first).
func TestNoGoroutineLeakAfterClose(t *testing.T) {
	be, _, _ := countingBackend(t, "b", func(int) int { return 200 })
	dir := t.TempDir()
	cfgYAML := `
backends:
  b:
    url: ` + be.URL + `
    healthProbe: {path: /health, interval: 50ms, timeout: 40ms}
    circuitBreaker:
      rules: [{failureCondition: {count: 100, interval: 1m, statusCodeRanges: [{min: 500, max: 599}]}, tripDuration: 1s}]
apis:
  - id: a
    path: a
    backendId: b
    subscriptionRequired: false
    operations: [{id: all, method: GET, urlTemplate: "/*"}]
`
	os.WriteFile(filepath.Join(dir, "gateway.yaml"), []byte(cfgYAML), 0o644)
	time.Sleep(50 * time.Millisecond)
	before := runtime.NumGoroutine()

	cfg, err := config.Load(filepath.Join(dir, "gateway.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(cfg, Options{Logs: logs.NewWriter(io.Discard, nil, 1)})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: g}
	ln := listen(t)
	go srv.Serve(ln)
	client := &http.Client{Transport: &http.Transport{}}
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				resp, err := client.Get("http://" + ln.Addr().String() + "/a/x")
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	if err := g.ReloadFile(filepath.Join(dir, "gateway.yaml")); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	client.CloseIdleConnections()
	srv.Close()
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	be.CloseClientConnections()

	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Fatalf("%d goroutines after Close, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
}
