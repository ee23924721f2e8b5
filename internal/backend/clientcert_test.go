package backend

import (
	"context"
	"crypto/tls"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/apimgw/apimgw/internal/testcerts"
)

// newMTLSBackend starts a TLS backend that requires a client certificate
// signed by ca and answers with the certificate's common name. proto "h2"
// lets it speak HTTP/2 too.
func newMTLSBackend(t *testing.T, ca *testcerts.CA) *testBackend {
	t.Helper()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.TLS.PeerCertificates[0].Subject.CommonName)
	})
	b := &testBackend{Server: httptest.NewUnstartedServer(h)}
	b.EnableHTTP2 = true
	b.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: ca.Pool}
	b.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected
	b.countConnections()
	b.StartTLS()
	t.Cleanup(b.Close)
	return b
}

func getWithCert(m *Manager, url string, c *ClientCert) (int, string, error) {
	ctx := context.Background()
	if c != nil {
		ctx = WithClientCert(ctx, c)
	}
	return get(ctx, m, url)
}

func mustClientCert(t *testing.T, id string, c tls.Certificate) *ClientCert {
	t.Helper()
	cc, err := NewClientCert(id, c)
	if err != nil {
		t.Fatalf("NewClientCert: %v", err)
	}
	return cc
}

// Requests present the certificate their context carries; each
// certificate has its own connections, and the destination's port ledger
// counts them all.
func TestClientCertPerRequest(t *testing.T) {
	ca := testcerts.NewCA(t, "test CA")
	alice := mustClientCert(t, "alice", ca.Client(t, "alice"))
	bob := mustClientCert(t, "bob", ca.Client(t, "bob"))
	for _, proto := range []string{ProtocolHTTP1, ProtocolH2} {
		t.Run(proto, func(t *testing.T) {
			b := newMTLSBackend(t, ca)
			base := runtime.NumGoroutine()
			dest := strings.TrimPrefix(b.URL, "https://")
			opts := Options{IdleConnTimeout: time.Second, Hosts: map[string]HostOptions{dest: {Protocol: proto, TLSInsecureSkipVerify: true}}}
			m, reg := newTestManager(t, opts)
			m.mu.Lock()
			m.pruneAfter = 100 * time.Millisecond
			m.mu.Unlock()

			for i := range 10 {
				c, want := alice, "alice"
				if i%2 == 1 {
					c, want = bob, "bob"
				}
				code, body, err := getWithCert(m, b.URL, c)
				if err != nil || code != 200 || body != want {
					t.Fatalf("request %d: got %d %q %v, want %s", i, code, body, err, want)
				}
			}
			if n := b.accepted.Load(); n != 2 {
				t.Errorf("backend accepted %d connections, want 2 (one per certificate)", n)
			}
			// A reload keeps the pools and their connections.
			if err := m.Update(opts); err != nil {
				t.Fatal(err)
			}
			if code, body, err := getWithCert(m, b.URL, bob); err != nil || code != 200 || body != "bob" {
				t.Fatalf("after a reload: got %d %q %v, want bob", code, body, err)
			}
			if n := b.accepted.Load(); n != 2 {
				t.Errorf("backend accepted %d connections after a reload, want still 2", n)
			}
			_, _, err := getWithCert(m, b.URL, nil)
			if be := asError(t, err); be.Reason != ReasonBackendConnectionFailure {
				t.Fatalf("no certificate: %v, want BackendConnectionFailure", err)
			}

			st := m.Stats()
			if len(st) != 3 {
				t.Fatalf("stats: %+v, want three pools (none, alice, bob)", st)
			}
			certs := map[string]DestinationStats{}
			for _, s := range st {
				certs[s.ClientCertificate] = s
			}
			for _, c := range []*ClientCert{alice, bob} {
				if s := certs[c.Thumbprint]; s.Opened != 1 || s.Open != 1 {
					t.Errorf("%s's pool: %+v, want one connection opened and open", c.ID, s)
				}
			}
			// One ledger for the destination: every connection opened,
			// with or without a certificate, holds a port (the refused
			// ones inside the reclaim window).
			var opened uint64
			for _, s := range st {
				opened += s.Opened
			}
			if held := st[0].Ports.Held; held != int(opened) || held < 3 {
				t.Errorf("ports held %d, want %d (every connection opened)", held, opened)
			}
			// The metrics sum the pools of a destination and host.
			if v := metricValue(t, reg, "apimgw_backend_connections", map[string]string{"destination": dest, "state": "open"}); v != 2 {
				t.Errorf("apimgw_backend_connections{state=open} = %v, want 2 (alice's and bob's)", v)
			}
			openedTotal := metricValue(t, reg, "apimgw_backend_connections_opened_total", map[string]string{"destination": dest})
			if openedTotal != float64(opened) {
				t.Errorf("opened_total %v, want %d", openedTotal, opened)
			}
			// alice's pool, unused since the reload, is dropped once idle;
			// the series' counter does not go back.
			waitFor(t, func() bool {
				for _, s := range m.Stats() {
					if s.ClientCertificate == alice.Thumbprint {
						return false
					}
				}
				return true
			})
			if v := metricValue(t, reg, "apimgw_backend_connections_opened_total", map[string]string{"destination": dest}); v < openedTotal {
				t.Errorf("opened_total went back from %v to %v when a pool was dropped", openedTotal, v)
			}
			_ = m.Close()
			checkNoLeaks(t, base, b)
		})
	}
}

// A certificate means nothing to an http:// backend: it is not an error.
func TestClientCertIgnoredOverHTTP(t *testing.T) {
	ca := testcerts.NewCA(t, "test CA")
	alice := mustClientCert(t, "alice", ca.Client(t, "alice"))
	b := newTestBackend(t, "", okHandler, nil)
	m, _ := newTestManager(t, Options{})
	for _, c := range []*ClientCert{nil, alice} {
		if code, _, err := getWithCert(m, b.URL, c); err != nil || code != 200 {
			t.Fatalf("got %d %v", code, err)
		}
	}
	if st := m.Stats(); len(st) != 1 || st[0].ClientCertificate != "" || b.accepted.Load() != 1 {
		t.Errorf("stats %+v, accepted %d: want one pool and one connection", st, b.accepted.Load())
	}
}

func TestParseClientCert(t *testing.T) {
	ca := testcerts.NewCA(t, "test CA")
	c := ca.Client(t, "alice")
	want := mustClientCert(t, "a", c)
	if len(want.Thumbprint) != 40 || strings.ToUpper(want.Thumbprint) != want.Thumbprint || want.Subject != "CN=alice" {
		t.Errorf("thumbprint %q subject %q", want.Thumbprint, want.Subject)
	}
	got, err := ParseClientCertPFX("a", testcerts.PFX(t, c, "s3cret"), "s3cret")
	if err != nil || got.Thumbprint != want.Thumbprint {
		t.Fatalf("PFX: %v, %v; want thumbprint %s", got, err, want.Thumbprint)
	}
	if _, err := ParseClientCertPFX("a", testcerts.PFX(t, c, "s3cret"), "wrong"); err == nil {
		t.Error("wrong password accepted")
	}
	other := ca.Client(t, "bob")
	if _, err := NewClientCert("x", tls.Certificate{Certificate: c.Certificate, PrivateKey: other.PrivateKey}); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("mismatched key: %v", err)
	}
	dir := t.TempDir()
	cf, kf := testcerts.WritePEM(t, dir, "alice", c)
	if p, err := LoadClientCertPEM("a", cf, kf); err != nil || p.Thumbprint != want.Thumbprint {
		t.Errorf("PEM: %v %v", p, err)
	}
	if NormalizeThumbprint(" ab:cd ef ") != "ABCDEF" {
		t.Error("NormalizeThumbprint")
	}
}
