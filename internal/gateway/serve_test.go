package gateway

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apimgw/apimgw/internal/testcerts"
)

// serveConfig starts Serve on the configuration text and returns the data
// address; the server stops when the test ends.
func serveConfig(t *testing.T, dir, yaml string) string {
	t.Helper()
	path := filepath.Join(dir, "gateway.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, ServeOptions{ConfigPath: path, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
			Ready: func(data, _ net.Addr) { ready <- data.String() }})
	}()
	select {
	case addr := <-ready:
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Serve: %v", err)
			}
		})
		return addr
	case err := <-done:
		cancel()
		t.Fatalf("Serve: %v", err)
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("Serve did not start")
	}
	return ""
}

const serveAPIs = `
apis:
  - id: hello
    path: hello
    subscriptionRequired: false
    policy: hello.xml
    operations: [{id: get, method: GET, urlTemplate: "/"}]
`

const helloPolicy = `<policies><inbound><return-response><set-status code="200" reason="OK"/><set-body>hi</set-body></return-response></inbound><backend/><outbound/><on-error/></policies>`

// TestServeCleartextAndTLS: the cleartext listener (httpserver) and the TLS
// listener (HTTP/2 by ALPN: net/http) serve the same gateway, and a
// cancelled context stops both.
func TestServeCleartextAndTLS(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "hello.xml"), []byte(helloPolicy), 0o644)
	plain := serveConfig(t, dir, "listen: 127.0.0.1:0\nadmin: 127.0.0.1:0\nlogs: {path: "+filepath.Join(dir, "plain.log")+"}\n"+serveAPIs)
	resp, err := http.Get("http://" + plain + "/hello/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "hi" || resp.Proto != "HTTP/1.1" {
		t.Fatalf("cleartext: %d %q %s", resp.StatusCode, b, resp.Proto)
	}
	// The cleartext server refuses ambiguous framing before any policy.
	c, err := net.Dial("tcp", plain)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "POST /hello/ HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, _ := io.ReadAll(io.LimitReader(c, 12))
	if string(line) != "HTTP/1.1 400" {
		t.Fatalf("smuggling attempt answered %q", line)
	}

	tdir := t.TempDir()
	os.WriteFile(filepath.Join(tdir, "hello.xml"), []byte(helloPolicy), 0o644)
	pool := writeCert(t, tdir)
	secure := serveConfig(t, tdir, "listen: 127.0.0.1:0\nadmin: 127.0.0.1:0\ntls: {cert: cert.pem, key: key.pem}\nlogs: {path: "+filepath.Join(tdir, "tls.log")+"}\n"+serveAPIs)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
	defer client.CloseIdleConnections()
	resp, err = client.Get("https://" + strings.Replace(secure, "127.0.0.1", "localhost", 1) + "/hello/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "hi" || resp.Proto != "HTTP/2.0" {
		t.Fatalf("TLS: %d %q %s", resp.StatusCode, b, resp.Proto)
	}
}

// writeCert writes a certificate for localhost (cert.pem, key.pem) into
// dir and returns a pool that trusts it.
func writeCert(t *testing.T, dir string) *x509.CertPool {
	t.Helper()
	ca := testcerts.NewCA(t, "test server CA")
	certPEM, keyPEM := testcerts.PEM(t, ca.Server(t, "localhost"))
	if err := os.WriteFile(filepath.Join(dir, "cert.pem"), certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "key.pem"), keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return ca.Pool
}

// TestServeTLSHTTP1OnHTTPServer: on the TLS listener an HTTP/1.1 client is
// served by httpserver (observable: it refuses a request with both
// Content-Length and Transfer-Encoding, which net/http's server accepts),
// an h2 client by net/http, and a client's second connection resumes its
// TLS session.
func TestServeTLSHTTP1OnHTTPServer(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "hello.xml"), []byte(helloPolicy), 0o644)
	pool := writeCert(t, dir)
	addr := serveConfig(t, dir, "listen: 127.0.0.1:0\nadmin: 127.0.0.1:0\ntls: {cert: cert.pem, key: key.pem}\nlogs: {path: "+filepath.Join(dir, "tls.log")+"}\n"+serveAPIs)
	cfg := &tls.Config{RootCAs: pool, ServerName: "localhost", NextProtos: []string{"http/1.1"}, ClientSessionCache: tls.NewLRUClientSessionCache(4)}
	for i := range 2 {
		c, err := tls.Dial("tcp", addr, cfg)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		br := bufio.NewReader(c)
		io.WriteString(c, "GET /hello/ HTTP/1.1\r\nHost: localhost\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || string(b) != "hi" {
			t.Fatalf("connection %d: %d %q", i, resp.StatusCode, b)
		}
		if st := c.ConnectionState(); st.DidResume != (i == 1) || st.NegotiatedProtocol != "http/1.1" {
			t.Fatalf("connection %d: resumed %v, protocol %q", i, st.DidResume, st.NegotiatedProtocol)
		}
		io.WriteString(c, "POST /hello/ HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
		line, _ := io.ReadAll(io.LimitReader(br, 12))
		c.Close()
		if string(line) != "HTTP/1.1 400" {
			t.Fatalf("ambiguous framing over TLS answered %q: not httpserver", line)
		}
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}, Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	resp, err := client.Get("https://" + strings.Replace(addr, "127.0.0.1", "localhost", 1) + "/hello/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "hi" || resp.Proto != "HTTP/2.0" {
		t.Fatalf("h2: %d %q %s", resp.StatusCode, b, resp.Proto)
	}
}
