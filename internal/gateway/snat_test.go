package gateway

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/apimgw/apimgw/internal/config"
	"github.com/apimgw/apimgw/internal/logs"
)

func snatConfig(backendURL string, keepAlive bool) string {
	ka := "true"
	if !keepAlive {
		ka = "false"
	}
	return `
outbound:
  snat: {ports: 20, reclaim: 30s, enforce: true}
backends:
  b:
    url: ` + backendURL + `
    keepAlive: ` + ka + `
apis:
  - id: a
    path: a
    backendId: b
    subscriptionRequired: false
    operations: [{id: all, method: GET, urlTemplate: "/*"}]
`
}

// TestSNATExhaustionWithoutKeepAlive reproduces Azure's incident: a new
// connection per request, 20 ports, 30 s reclaim: the 21st request in the
// window fails with BackendConnectionFailure in the response, the log line
// and the metrics.
func TestSNATExhaustionWithoutKeepAlive(t *testing.T) {
	be, calls, _ := countingBackend(t, "b", func(int) int { return 200 })
	h := start(t, map[string]string{"gateway.yaml": snatConfig(be.URL, false)})
	for i := 1; i <= 20; i++ {
		if resp, _ := h.do("GET", "/a/x", nil, nil); resp.StatusCode != 200 {
			t.Fatalf("request %d: status %d", i, resp.StatusCode)
		}
	}
	resp, body := h.do("GET", "/a/x", nil, nil)
	wantAPIMError(t, resp, body, 502, "Bad Gateway")
	if calls.Load() != 20 {
		t.Fatalf("backend calls %d, want 20", calls.Load())
	}
	recs := h.records()
	last := recs[len(recs)-1]
	if last.LastErrorReason != "BackendConnectionFailure" || last.LastErrorMessage != "Unable to connect to the remote server" ||
		last.BackendResponseCode != 0 || last.ResponseCode != 502 || last.BackendId != "b" ||
		!strings.Contains(last.LastErrorDetail, "snat port budget exhausted") {
		t.Fatalf("log line: %+v", last)
	}
	metrics, _ := h.gw.Registry().Gather()
	var exhausted float64
	for _, mf := range metrics {
		if mf.GetName() == "apimgw_snat_port_exhaustion_total" {
			for _, m := range mf.GetMetric() {
				exhausted += m.GetCounter().GetValue()
			}
		}
	}
	if exhausted < 1 {
		t.Fatalf("apimgw_snat_port_exhaustion_total = %v", exhausted)
	}
	if v := gatherValue(t, h, "apimgw_backend_failures_total", "backend", "b"); v != 1 {
		t.Fatalf("apimgw_backend_failures_total{backend=\"b\"} = %v, want 1", v)
	}
}

// TestSNATBudgetHoldsWithKeepAlive: the same budget carries 10,000
// requests from 16 concurrent clients when connections are reused.
func TestSNATBudgetHoldsWithKeepAlive(t *testing.T) {
	var accepted atomic.Int64
	be := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "b")
	}))
	be.Config.ConnState = func(c net.Conn, s http.ConnState) {
		if s == http.StateNew {
			accepted.Add(1)
		}
	}
	be.Start()
	defer be.Close()
	h := start(t, map[string]string{"gateway.yaml": snatConfig(be.URL, true)})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	defer client.CloseIdleConnections()
	const total, workers = 10000, 16
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= total {
				resp, err := client.Get(h.srv.URL + "/a/x")
				if err != nil {
					failed.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d of %d requests failed under a 20-port budget with keep-alive", failed.Load(), total)
	}
	if n := accepted.Load(); n > 20 {
		t.Fatalf("backend accepted %d connections, more than the 20-port budget", n)
	}
	recs := h.records() // waits for the log lines still being written
	if len(recs) != total {
		t.Fatalf("%d log lines, want %d", len(recs), total)
	}
	for _, r := range recs {
		if r.LastErrorReason != "" {
			t.Fatalf("a request was logged with %s: %s", r.LastErrorReason, r.LastErrorMessage)
		}
	}
}

// TestH2CBackendKeepsToOneConnection: a backend declared `protocol: h2c`
// that allows one stream at a time, with `maxConnsPerHost: 1`, serves 8
// concurrent clients over one connection; the requests queue for the
// stream and every one succeeds.
func TestH2CBackendKeepsToOneConnection(t *testing.T) {
	var accepted, inFlight, peak atomic.Int64
	be := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		io.WriteString(w, r.Proto)
	}))
	be.Config.Protocols = new(http.Protocols)
	be.Config.Protocols.SetUnencryptedHTTP2(true)
	be.Config.HTTP2 = &http.HTTP2Config{MaxConcurrentStreams: 1}
	be.Config.ConnState = func(c net.Conn, s http.ConnState) {
		if s == http.StateNew {
			accepted.Add(1)
		}
	}
	be.Start()
	defer be.Close()
	h := start(t, map[string]string{"gateway.yaml": `
outbound:
  maxConnsPerHost: 1
backends:
  b:
    url: ` + be.URL + `
    protocol: h2c
apis:
  - id: a
    path: a
    backendId: b
    subscriptionRequired: false
    operations: [{id: all, method: GET, urlTemplate: "/*"}]
`})
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range 8 {
		wg.Go(func() {
			for range 10 {
				resp, body := h.do("GET", "/a/x", nil, nil)
				if resp.StatusCode != 200 || body != "HTTP/2.0" {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d of 80 requests failed", failed.Load())
	}
	if accepted.Load() != 1 || peak.Load() != 1 {
		t.Fatalf("backend accepted %d connections and saw %d requests at once, want 1 and 1", accepted.Load(), peak.Load())
	}
}

// With snat.enforce, a connection bound above the port budget is warned
// about at load: a burst would use up the ports instead of queueing. A
// naive backend (keepAlive: false) is meant to, and is not warned about.
func TestPortBudgetWarning(t *testing.T) {
	for _, tc := range []struct {
		name, outbound, backend string
		want                    []string
	}{
		{"global bound above budget", "maxConnsPerHost: 256", "", []string{"outbound.maxConnsPerHost is above snat.ports"}},
		{"bounds under budget", "maxConnsPerHost: 16", "maxConnsPerHost: 8", nil},
		{"backend bound above budget", "maxConnsPerHost: 16", "maxConnsPerHost: 64", []string{"a backend's maxConnsPerHost is above snat.ports", "b.test:80"}},
		{"naive backend", "maxConnsPerHost: 16", "{maxConnsPerHost: 64, keepAlive: false}", nil},
		{"global bound, naive backend only", "maxConnsPerHost: 256", "{keepAlive: false}", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			backend := ""
			if tc.backend != "" {
				backend = strings.TrimSuffix(strings.TrimPrefix(tc.backend, "{"), "}")
				backend = ", " + backend
			}
			dir := t.TempDir()
			path := filepath.Join(dir, "gateway.yaml")
			os.WriteFile(path, []byte(`
outbound: {`+tc.outbound+`, snat: {ports: 20, reclaim: 30s, enforce: true}}
backends:
  b: {url: "http://b.test"`+backend+`}
`), 0o644)
			cfg, err := config.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			g, err := New(cfg, Options{Logs: logs.NewWriter(io.Discard, nil, 1), Log: slog.New(slog.NewTextHandler(&buf, nil))})
			if err != nil {
				t.Fatal(err)
			}
			g.Close()
			out := buf.String()
			if tc.want == nil && strings.Contains(out, "above snat.ports") {
				t.Errorf("unexpected warning: %s", out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("log %q lacks %q", out, w)
				}
			}
		})
	}
}
