package backend

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// forwardProxy is a real HTTP forward proxy on loopback: absolute-form
// requests are forwarded, CONNECT opens a tunnel; both need Basic
// credentials user:pass. It counts what it served and the connections
// clients opened to it.
type forwardProxy struct {
	*httptest.Server
	forwarded, tunnels, refused, accepted atomic.Int64
}

func newForwardProxy(t *testing.T) *forwardProxy {
	t.Helper()
	fp := &forwardProxy{}
	fp.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Proxy-Authorization") != "Basic dXNlcjpwYXNz" { // user:pass
			fp.refused.Add(1)
			w.Header().Set("Proxy-Authenticate", `Basic realm="test"`)
			w.WriteHeader(http.StatusProxyAuthRequired)
			return
		}
		if r.Method == http.MethodConnect {
			fp.tunnels.Add(1)
			up, err := net.Dial("tcp", r.Host)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			w.WriteHeader(http.StatusOK)
			c, rw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				up.Close()
				return
			}
			go func() { io.Copy(up, rw); up.Close() }()
			io.Copy(c, up)
			c.Close()
			return
		}
		if !r.URL.IsAbs() {
			http.Error(w, "not a proxy request", http.StatusBadRequest)
			return
		}
		fp.forwarded.Add(1)
		out := r.Clone(r.Context())
		out.RequestURI = ""
		out.Header.Del("Proxy-Authorization")
		resp, err := http.DefaultTransport.RoundTrip(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	}))
	fp.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			fp.accepted.Add(1)
		}
	}
	fp.Start()
	t.Cleanup(fp.Close)
	return fp
}

// Requests go through the proxy: plain HTTP in absolute form over pooled
// connections to the proxy, HTTPS (and HTTP/2) through CONNECT tunnels; the
// proxy is the destination whose pool and port ledger count them; wrong
// credentials fail as BackendConnectionFailure.
func TestProxy(t *testing.T) {
	plain := newTestBackend(t, "", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "plain "+r.Host+" "+r.URL.RequestURI())
	}), nil)
	secure := newTLSBackend(t)
	fp := newForwardProxy(t)
	proxyAddr := strings.TrimPrefix(fp.URL, "http://")
	px, err := NewProxy(fp.URL, "user", "pass")
	if err != nil {
		t.Fatal(err)
	}
	secureHost := strings.TrimPrefix(secure.URL, "https://")
	for _, proto := range []string{ProtocolHTTP1, ProtocolH2} {
		t.Run(proto, func(t *testing.T) {
			fp.forwarded.Store(0)
			fp.tunnels.Store(0)
			fp.accepted.Store(0)
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
			if fp.forwarded.Load() != 5 || fp.tunnels.Load() != 1 || fp.accepted.Load() != 2 {
				t.Errorf("proxy: %d forwarded, %d tunnels, %d connections; want 5, 1 and 2 (one pooled connection each)",
					fp.forwarded.Load(), fp.tunnels.Load(), fp.accepted.Load())
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
