package gateway

import (
	"bufio"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apimgw/apimgw/internal/httpserver"
	"github.com/apimgw/apimgw/internal/testproxy"
)

// wsBackend completes WebSocket opening handshakes (RFC 6455 §4.2) and then
// echoes each line upper-cased; it counts the connections it accepts and
// the sessions it holds open.
func wsBackend(t *testing.T) (*httptest.Server, *atomic.Int64, *atomic.Int64) {
	t.Helper()
	var accepted, open atomic.Int64
	be := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("Sec-WebSocket-Key")
		if r.Header.Get("Upgrade") != "websocket" || !strings.EqualFold(r.Header.Get("Connection"), "upgrade") || key == "" {
			http.Error(w, "not a WebSocket handshake", http.StatusBadRequest)
			return
		}
		w.Header().Set("Upgrade", "websocket")
		w.Header().Set("Connection", "Upgrade")
		w.Header().Set("Sec-WebSocket-Accept", wsAccept(key))
		w.WriteHeader(http.StatusSwitchingProtocols)
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		open.Add(1)
		defer open.Add(-1)
		defer conn.Close()
		for {
			line, err := rw.ReadString('\n')
			if err != nil {
				return
			}
			if line == "bye\n" {
				return // the backend ends the session
			}
			rw.WriteString(strings.ToUpper(line))
			rw.Flush()
		}
	}))
	be.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			accepted.Add(1)
		}
	}
	be.Start()
	t.Cleanup(be.Close)
	return be, &accepted, &open
}

func wsAccept(key string) string {
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// wsDial sends an opening handshake to addr and returns the connection and
// the response.
func wsDial(t *testing.T, addr, path string, header string) (net.Conn, *bufio.Reader, *http.Response) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: gw.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"+header+"\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: "GET"})
	if err != nil {
		t.Fatalf("handshake response: %v", err)
	}
	return c, br, resp
}

// TestWebSocketPassthrough: a WebSocket API runs its onHandshake policies,
// forwards the handshake, and relays both ways over one backend
// connection until either side closes; the backend connection counts as
// open while the session lasts; a policy can refuse the handshake.
func TestWebSocketPassthrough(t *testing.T) {
	be, accepted, open := wsBackend(t)
	h := start(t, map[string]string{
		"gateway.yaml": `
apis:
  - id: chat
    type: websocket
    path: chat
    serviceUrl: ` + strings.Replace(be.URL, "http://", "ws://", 1) + `/socket
    subscriptionRequired: false
    policy: chat.xml
  - id: timed
    type: websocket
    path: timed
    serviceUrl: ` + strings.Replace(be.URL, "http://", "ws://", 1) + `/socket
    subscriptionRequired: false
    policy: timed.xml
`,
		"timed.xml": `<policies><inbound><base/></inbound><backend><forward-request timeout="1" /></backend><outbound><base/></outbound><on-error><base/></on-error></policies>`,
		"chat.xml":  inbound(`<check-header name="x-token" failed-check-httpcode="401" failed-check-error-message="token required" ignore-case="false" />`),
	})
	plain := listen(t)
	srv := &httpserver.Server{Handler: h.gw}
	go srv.Serve(plain)
	t.Cleanup(func() { srv.Close() })

	for name, addr := range map[string]string{"net/http": strings.TrimPrefix(h.srv.URL, "http://"), "httpserver": plain.Addr().String()} {
		t.Run(name, func(t *testing.T) {
			before := accepted.Load()
			c, br, resp := wsDial(t, addr, "/chat", "x-token: t\r\n")
			if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Upgrade") != "websocket" ||
				resp.Header.Get("Sec-WebSocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
				t.Fatalf("handshake: %d %v", resp.StatusCode, resp.Header)
			}
			for _, msg := range []string{"hello\n", "again\n"} {
				io.WriteString(c, msg)
				if got, err := br.ReadString('\n'); err != nil || got != strings.ToUpper(msg) {
					t.Fatalf("echo of %q: %q %v", msg, got, err)
				}
			}
			if n := accepted.Load() - before; n != 1 {
				t.Errorf("backend accepted %d connections, want 1", n)
			}
			if v := gatherValue(t, h, "apimgw_backend_connections", "state", "in_use"); v != 1 {
				t.Errorf("backend connections in use during the session: %v, want 1", v)
			}
			// The client closes: the gateway closes the backend side.
			c.Close()
			waitUntil(t, func() bool { return open.Load() == 0 })
			waitUntil(t, func() bool { return gatherValue(t, h, "apimgw_backend_connections", "state", "open") == 0 })

			// The backend ends a session: the client sees the end.
			c, br, _ = wsDial(t, addr, "/chat", "x-token: t\r\n")
			io.WriteString(c, "bye\n")
			if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
				t.Errorf("after the backend closed: %v, want EOF", err)
			}
			// The client can see the end before the gateway has given the
			// backend connection back: the next session counts from zero.
			waitUntil(t, func() bool { return gatherValue(t, h, "apimgw_backend_connections", "state", "in_use") == 0 })
		})
	}

	// The onHandshake policy refuses a handshake without the token; the
	// backend is never called.
	before := accepted.Load()
	_, _, resp := wsDial(t, strings.TrimPrefix(h.srv.URL, "http://"), "/chat", "")
	if resp.StatusCode != http.StatusUnauthorized || accepted.Load() != before {
		t.Fatalf("no token: %d, backend connections %d", resp.StatusCode, accepted.Load()-before)
	}
	waitUntil(t, func() bool {
		for _, r := range h.records() {
			if r.ResponseCode == 101 && r.ApiId == "chat" && r.OperationId == "onHandshake" && r.BackendResponseCode == 101 && r.ResponseSize > 0 {
				return true
			}
		}
		return false
	})

	// forward-request's timeout bounds the handshake, not the session.
	c, br, resp := wsDial(t, plain.Addr().String(), "/timed", "")
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("timed handshake: %d", resp.StatusCode)
	}
	time.Sleep(1300 * time.Millisecond)
	io.WriteString(c, "late\n")
	if got, err := br.ReadString('\n'); err != nil || got != "LATE\n" {
		t.Fatalf("after the forward-request timeout: %q %v", got, err)
	}
	c.Close()

	// Closing the gateway ends the sessions it relays.
	c, br, _ = wsDial(t, plain.Addr().String(), "/chat", "x-token: t\r\n")
	io.WriteString(c, "x\n")
	br.ReadString('\n')
	h.gw.Close()
	if _, err := br.ReadByte(); err == nil {
		t.Error("session still open after the gateway closed")
	}
}

func gatherValue(t *testing.T, h *harness, name, label, value string) float64 {
	t.Helper()
	mfs, err := h.gw.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					sum += m.GetGauge().GetValue() + m.GetCounter().GetValue()
				}
			}
		}
	}
	return sum
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A backend that switches protocols unasked (a plain API, or a client that
// did not ask) gets a 502: there is nobody to relay to.
func TestUnsolicitedSwitchingProtocols(t *testing.T) {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Upgrade", "websocket")
		w.Header().Set("Connection", "Upgrade")
		w.WriteHeader(http.StatusSwitchingProtocols)
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			conn.Close()
		}
	}))
	defer be.Close()
	h := start(t, map[string]string{"gateway.yaml": `
apis:
  - {id: plain, path: plain, serviceUrl: "` + be.URL + `", subscriptionRequired: false, operations: [{id: get, method: GET, urlTemplate: "/"}]}
  - {id: ws, type: websocket, path: ws, serviceUrl: "` + strings.Replace(be.URL, "http", "ws", 1) + `", subscriptionRequired: false}
`})
	resp, body := h.do("GET", "/plain/", nil, nil)
	wantAPIMError(t, resp, body, http.StatusBadGateway, "Bad Gateway")
	resp, body = h.do("GET", "/ws/", nil, nil) // a WebSocket API, but no handshake
	wantAPIMError(t, resp, body, http.StatusBadGateway, "Bad Gateway")
	for _, r := range h.records() {
		if r.LastErrorReason != "BackendConnectionFailure" || r.ResponseCode != 502 {
			t.Errorf("log line %+v", r)
		}
	}
}

// Many sessions at once over the cleartext server: each has its own
// backend connection, messages do not cross, and once the clients have
// gone no backend connection, session or goroutine is left.
func TestWebSocketSessionsConcurrentAndNoLeak(t *testing.T) {
	be, accepted, open := wsBackend(t)
	h := start(t, map[string]string{"gateway.yaml": `
apis:
  - {id: chat, type: websocket, path: chat, serviceUrl: "` + strings.Replace(be.URL, "http://", "ws://", 1) + `", subscriptionRequired: false}
`})
	ln := listen(t)
	srv := &httpserver.Server{Handler: h.gw}
	go srv.Serve(ln)
	defer srv.Close()
	time.Sleep(20 * time.Millisecond)
	before := runtime.NumGoroutine()

	const sessions, messages = 16, 20
	var wg sync.WaitGroup
	for i := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, br, resp := wsDial(t, ln.Addr().String(), "/chat", "")
			defer c.Close()
			if resp.StatusCode != http.StatusSwitchingProtocols {
				t.Errorf("session %d: %d", i, resp.StatusCode)
				return
			}
			for j := range messages {
				msg := fmt.Sprintf("s%d-m%d\n", i, j)
				io.WriteString(c, msg)
				if got, err := br.ReadString('\n'); err != nil || got != strings.ToUpper(msg) {
					t.Errorf("session %d: %q %v, want %q", i, got, err, strings.ToUpper(msg))
					return
				}
			}
		}()
	}
	wg.Wait()
	if accepted.Load() != sessions {
		t.Errorf("backend accepted %d connections, want %d", accepted.Load(), sessions)
	}
	waitUntil(t, func() bool { return open.Load() == 0 })
	waitUntil(t, func() bool { return gatherValue(t, h, "apimgw_backend_connections", "state", "open") == 0 })
	waitUntil(t, func() bool { return runtime.NumGoroutine() <= before })
}

// The TLS listener (net/http, HTTP/2 by ALPN) relays a WebSocket too: the
// client's handshake is HTTP/1.1, as WebSocket clients negotiate it.
func TestWebSocketOverTLSListener(t *testing.T) {
	be, _, _ := wsBackend(t)
	dir := t.TempDir()
	pool := writeCert(t, dir)
	addr := serveConfig(t, dir, `listen: 127.0.0.1:0
admin: 127.0.0.1:0
logs: {path: `+filepath.Join(dir, "gw.log")+`}
tls: {cert: cert.pem, key: key.pem}
apis:
  - {id: chat, type: websocket, path: chat, serviceUrl: "`+strings.Replace(be.URL, "http://", "ws://", 1)+`", subscriptionRequired: false}
`)
	raw, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: "localhost", NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(raw, "GET /chat HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	br := bufio.NewReader(raw)
	resp, err := http.ReadResponse(br, &http.Request{Method: "GET"})
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Sec-WebSocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("handshake over TLS: %v %v", resp, err)
	}
	io.WriteString(raw, "secure\n")
	if got, err := br.ReadString('\n'); err != nil || got != "SECURE\n" {
		t.Fatalf("echo over TLS: %q %v", got, err)
	}
}

// A session holds its backend connection: with the backend's own
// maxConnsPerHost of 1, a second handshake waits for it and times out.
func TestWebSocketSessionsCountAgainstMaxConns(t *testing.T) {
	be, _, _ := wsBackend(t)
	h := start(t, map[string]string{
		"gateway.yaml": `
backends:
  ws: {url: "` + strings.Replace(be.URL, "http://", "ws://", 1) + `", maxConnsPerHost: 1}
apis:
  - {id: chat, type: websocket, path: chat, backendId: ws, subscriptionRequired: false, policy: chat.xml}
`,
		"chat.xml": `<policies><inbound><base/></inbound><backend><forward-request timeout="1" /></backend><outbound><base/></outbound><on-error><base/></on-error></policies>`,
	})
	addr := strings.TrimPrefix(h.srv.URL, "http://")
	c, _, resp := wsDial(t, addr, "/chat", "")
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("first session: %d", resp.StatusCode)
	}
	_, _, resp = wsDial(t, addr, "/chat", "")
	if resp.StatusCode != http.StatusGatewayTimeout {
		t.Fatalf("second session while the first holds the only connection: %d, want 504", resp.StatusCode)
	}
	c.Close()
	waitUntil(t, func() bool { return gatherValue(t, h, "apimgw_backend_connections", "state", "open") == 0 })
	if _, _, resp = wsDial(t, addr, "/chat", ""); resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("after the first session ended: %d", resp.StatusCode)
	}
}

// A WebSocket backend behind an HTTP proxy is reached through a CONNECT
// tunnel (forward proxies relay upgrades only that way), while its plain
// requests still go in absolute form.
func TestWebSocketThroughProxy(t *testing.T) {
	be, _, _ := wsBackend(t)
	px := testproxy.New(t, "gw", "pw")
	h := start(t, map[string]string{"gateway.yaml": `
backends:
  chat:
    url: "` + strings.Replace(be.URL, "http://", "ws://", 1) + `"
    proxy: {url: "` + px.URL + `", username: gw, password: pw}
apis:
  - {id: chat, type: websocket, path: chat, backendId: chat, subscriptionRequired: false}
`})
	c, br, resp := wsDial(t, strings.TrimPrefix(h.srv.URL, "http://"), "/chat", "")
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake through the proxy: %d", resp.StatusCode)
	}
	io.WriteString(c, "via proxy\n")
	if got, err := br.ReadString('\n'); err != nil || got != "VIA PROXY\n" {
		t.Fatalf("echo: %q %v", got, err)
	}
	if px.Tunnels.Load() != 1 || px.Forwarded.Load() != 0 {
		t.Errorf("proxy: %d tunnels, %d forwarded; want the handshake in 1 tunnel", px.Tunnels.Load(), px.Forwarded.Load())
	}
}
