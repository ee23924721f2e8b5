package backend

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/apimgw/apimgw/internal/testproxy"
)

// Requests go through the proxy: plain HTTP in absolute form over pooled
// connections to the proxy, HTTPS (and HTTP/2) through CONNECT tunnels; the
// proxy is the destination whose pool and port ledger count them; wrong
// credentials fail as BackendConnectionFailure.
func TestProxy(t *testing.T) {
	plain := newTestBackend(t, "", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "plain "+r.Host+" "+r.URL.RequestURI())
	}), nil)
	secure := newTLSBackend(t)
	fp := testproxy.New(t, "user", "pass")
	proxyAddr := strings.TrimPrefix(fp.URL, "http://")
	px, err := NewProxy(fp.URL, "user", "pass")
	if err != nil {
		t.Fatal(err)
	}
	secureHost := strings.TrimPrefix(secure.URL, "https://")
	for _, proto := range []string{ProtocolHTTP1, ProtocolH2} {
		t.Run(proto, func(t *testing.T) {
			fp.Forwarded.Store(0)
			fp.Tunnels.Store(0)
			fp.Accepted.Store(0)
			m, reg := newTestManager(t, Options{Hosts: map[string]HostOptions{secureHost: {Protocol: proto, TLSInsecureSkipVerify: true}}})
			ctx := WithProxy(t.Context(), px)
			for range 5 {
				if code, body, err := get(ctx, m, plain.URL+"/p?q=1"); err != nil || code != 200 || body != "plain "+hostPort(plain.URL)+" /p?q=1" {
					t.Fatalf("plain through the proxy: %d %q %v", code, body, err)
				}
				if code, body, err := get(ctx, m, secure.URL); err != nil || code != 200 || body != wantProto(proto) {
					t.Fatalf("https through the proxy: %d %q %v", code, body, err)
				}
			}
			if fp.Forwarded.Load() != 5 || fp.Tunnels.Load() != 1 || fp.Accepted.Load() != 2 {
				t.Errorf("proxy: %d forwarded, %d tunnels, %d connections; want 5, 1 and 2 (one pooled connection each)",
					fp.Forwarded.Load(), fp.Tunnels.Load(), fp.Accepted.Load())
			}
			if plain.accepted.Load() == 0 {
				t.Error("the plain backend was never reached")
			}
			for _, s := range m.Stats() {
				if s.Destination != proxyAddr {
					t.Errorf("pool %+v: want the proxy %s as destination", s, proxyAddr)
				}
			}
			if v := metricValue(t, reg, "apimgw_snat_ports_in_use", map[string]string{"destination": proxyAddr}); v != 2 {
				t.Errorf("ports in use towards the proxy: %v, want 2", v)
			}
			bad, _ := NewProxy(fp.URL, "user", "wrong")
			for _, u := range []string{plain.URL, secure.URL} {
				code, _, err := get(WithProxy(t.Context(), bad), m, u)
				if u == plain.URL {
					// A forward proxy answers 407 itself: that is the response.
					if err != nil || code != http.StatusProxyAuthRequired {
						t.Errorf("plain, wrong credentials: %d %v, want the proxy's 407", code, err)
					}
					continue
				}
				if be := asError(t, err); be.Reason != ReasonBackendConnectionFailure || !strings.Contains(err.Error(), "407") {
					t.Errorf("https, wrong credentials: %v, want BackendConnectionFailure naming 407", err)
				}
			}
		})
	}
	if _, err := NewProxy("https://proxy:443", "", ""); err == nil {
		t.Error("an https:// proxy URL was accepted")
	}
}

func wantProto(proto string) string {
	if proto == ProtocolH2 {
		return "HTTP/2.0"
	}
	return "HTTP/1.1"
}

// newTLSBackend is a TLS backend (HTTP/1.1 and h2) answering with the
// protocol it was reached over.
func newTLSBackend(t *testing.T) *httptest.Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := newTLSServer(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.Proto) }))
	t.Cleanup(s.Close)
	return s
}
