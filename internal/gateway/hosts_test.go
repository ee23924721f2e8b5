package gateway

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/apimgw/apimgw/internal/config"
	"github.com/apimgw/apimgw/internal/policy"
)

// TestBackendsShareHostSettings: two backends on one host:port share its
// connection settings. The second one, which gives no addresses, used to
// replace the first one's settings whole, so neither could reach the host
// any more (its name does not resolve); now the addresses apply to both,
// and connections go to both addresses.
func TestBackendsShareHostSettings(t *testing.T) {
	ln2, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("127.0.0.2 is not usable here: %v", err)
	}
	_, port, _ := net.SplitHostPort(ln2.Addr().String())
	ln3, err := net.Listen("tcp", "127.0.0.3:"+port)
	if err != nil {
		ln2.Close()
		t.Skipf("127.0.0.3:%s is not usable here: %v", port, err)
	}
	var accepted [2]atomic.Int64
	for i, ln := range []net.Listener{ln2, ln3} {
		s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "%s %s", r.Host, r.URL.Path)
		}))
		s.Listener.Close()
		s.Listener = ln
		s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				accepted[i].Add(1)
			}
		}
		s.Start()
		t.Cleanup(s.Close)
	}
	host := "orders.backend.test:" + port
	h := start(t, map[string]string{"gateway.yaml": `
outbound: {maxConnsPerHost: 2}
backends:
  primary:
    url: http://` + host + `/v1
    addresses: ["127.0.0.2:` + port + `", "127.0.0.3:` + port + `"]
  canary:
    url: http://` + host + `/v2
    circuitBreaker: {rules: [{failureCondition: {count: 1, interval: 1m}, tripDuration: 1s}]}
apis:
  - {id: p, path: p, backendId: primary, subscriptionRequired: false, operations: [{id: all, method: GET, urlTemplate: "/*"}]}
  - {id: c, path: c, backendId: canary, subscriptionRequired: false, operations: [{id: all, method: GET, urlTemplate: "/*"}]}
`})
	for i := range 20 {
		for _, api := range []string{"p", "c"} {
			resp, body := h.do("GET", "/"+api+"/x", nil, nil)
			want := map[string]string{"p": "/v1/x", "c": "/v2/x"}[api]
			if resp.StatusCode != 200 || !strings.HasSuffix(body, want) || !strings.HasPrefix(body, host) {
				t.Fatalf("request %d to %s: %d %q, want 200 %q", i, api, resp.StatusCode, body, host+" "+want)
			}
		}
	}
	if accepted[0].Load() == 0 || accepted[1].Load() == 0 {
		t.Fatalf("connections: 127.0.0.2 got %d, 127.0.0.3 got %d; want both > 0", accepted[0].Load(), accepted[1].Load())
	}
}

// TestSideBySideUnderTwoNames: the way to compare connection settings on one
// server (the validation error says so): two names for it. A naive backend
// (keepAlive: false) opens a connection per request while the pooled one
// reuses one, and both count against the same IP:port's port ledger.
func TestSideBySideUnderTwoNames(t *testing.T) {
	var accepted atomic.Int64
	be := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") }))
	be.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			accepted.Add(1)
		}
	}
	be.Start()
	defer be.Close()
	_, port, _ := net.SplitHostPort(be.Listener.Addr().String())
	h := start(t, map[string]string{"gateway.yaml": `
backends:
  naive: {url: "http://localhost:` + port + `", addresses: ["127.0.0.1:` + port + `"], keepAlive: false}
  pooled: {url: "http://127.0.0.1:` + port + `", keepAlive: true}
apis:
  - {id: n, path: n, backendId: naive, subscriptionRequired: false, operations: [{id: all, method: GET, urlTemplate: "/*"}]}
  - {id: p, path: p, backendId: pooled, subscriptionRequired: false, operations: [{id: all, method: GET, urlTemplate: "/*"}]}
`})
	count := func(api string) int64 {
		before := accepted.Load()
		for range 10 {
			if resp, body := h.do("GET", "/"+api+"/x", nil, nil); resp.StatusCode != 200 || body != "ok" {
				t.Fatalf("%s: %d %q", api, resp.StatusCode, body)
			}
		}
		return accepted.Load() - before
	}
	if n := count("n"); n != 10 {
		t.Errorf("naive backend: %d connections for 10 requests, want 10", n)
	}
	if n := count("p"); n != 1 {
		t.Errorf("pooled backend: %d connections for 10 requests, want 1", n)
	}
	for _, s := range h.gw.Backends().Stats() {
		if s.Destination != "127.0.0.1:"+port {
			t.Errorf("destination %s, want 127.0.0.1:%s", s.Destination, port)
		}
		if s.Ports.Held < 11 {
			t.Errorf("%s: ledger holds %d ports, want the 11 of both backends", s.Host, s.Ports.Held)
		}
	}
}

// The listener's certificate and key are checked when the configuration
// is built, so validate reports a broken pair with its position instead of
// serve failing at start.
func TestBuildChecksListenerCertificate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gateway.yaml")
	os.WriteFile(path, []byte("listen: 127.0.0.1:0\nadmin: 127.0.0.1:0\ntls: {cert: missing.pem, key: missing.key}\n"), 0o644)
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Build(cfg, &policy.Env{}, nil)
	if err == nil || !strings.Contains(err.Error(), "gateway.yaml:3:6: tls: open") {
		t.Fatalf("Build: %v, want the tls error at 3:6", err)
	}
	writeCert(t, dir)
	os.WriteFile(path, []byte("listen: 127.0.0.1:0\nadmin: 127.0.0.1:0\ntls: {cert: cert.pem, key: key.pem}\n"), 0o644)
	if cfg, err = config.Load(path); err != nil {
		t.Fatal(err)
	}
	p, err := Build(cfg, &policy.Env{}, nil)
	if err != nil {
		t.Fatalf("Build with a good pair: %v", err)
	}
	p.Close()
}
