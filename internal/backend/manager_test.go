package backend

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apimgw/apimgw/internal/testnet"
)

// 20,000 requests at 64 concurrent clients open at most 64+8 connections.
func TestPoolReusesConnections(t *testing.T) {
	b := newFastBackend(t)
	base := runtime.NumGoroutine()
	m, reg := newTestManager(t, Options{})
	errs, first := load(t, m, b.url+"/x", 20000, 64)
	if errs != 0 {
		t.Fatalf("%d errors, first: %v", errs, first)
	}
	if got := b.accepted.Load(); got > 64+8 {
		t.Fatalf("backend accepted %d connections for 64 clients, want <= 72", got)
	}
	dest := hostPort(b.url)
	if got := metricValue(t, reg, "apimgw_backend_connections_opened_total", map[string]string{"destination": dest}); got != float64(b.accepted.Load()) {
		t.Errorf("opened_total = %v, backend accepted %d", got, b.accepted.Load())
	}
	if got := metricValue(t, reg, "apimgw_backend_connections", map[string]string{"destination": dest, "state": "open"}); got != float64(m.Stats()[0].Open) {
		t.Errorf("connections{state=open} = %v, stats say %d", got, m.Stats()[0].Open)
	}
	st := m.Stats()
	if len(st) != 1 || st[0].InUse != 0 || st[0].Open != st[0].Idle || st[0].Ports.Held != st[0].Open {
		t.Errorf("stats after load = %+v", st)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return b.open.Load() == 0 })
	checkNoLeaks(t, base)
}

// A backend that closes idle connections after 1s, hit at intervals that
// cross it, gives no client-visible error for GET.
func TestKeepAliveRaceRetried(t *testing.T) {
	b := newTestBackend(t, "", okHandler, func(s *http.Server) { s.IdleTimeout = time.Second })
	m, _ := newTestManager(t, Options{IdleConnTimeout: time.Minute})
	ctx := context.Background()
	for round, gap := range []time.Duration{0, 1000 * time.Millisecond, 1020 * time.Millisecond, 980 * time.Millisecond, 1100 * time.Millisecond, 1000 * time.Millisecond} {
		time.Sleep(gap)
		var wg sync.WaitGroup
		errc := make(chan error, 8)
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, _, err := get(ctx, m, b.URL); err != nil {
					errc <- err
				}
			}()
		}
		wg.Wait()
		close(errc)
		for err := range errc {
			t.Errorf("round %d (gap %s): %v", round, gap, err)
		}
	}
	if b.accepted.Load() <= 8 {
		t.Errorf("backend accepted %d connections: its idle closes never happened, the test proves nothing", b.accepted.Load())
	}
}

// A backend announcing Keep-Alive: timeout=1 gets no request on a
// connection idle longer than that.
func TestKeepAliveHeaderHonoured(t *testing.T) {
	var reqs atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqs.Add(1)
		w.Header().Set("Keep-Alive", "timeout=1, max=100")
		_, _ = io.WriteString(w, "ok")
	})
	b := newTestBackend(t, "", h, nil)
	m, _ := newTestManager(t, Options{})
	ctx := context.Background()
	for i, gap := range []time.Duration{0, 100 * time.Millisecond, 900 * time.Millisecond, 100 * time.Millisecond} {
		time.Sleep(gap)
		if _, _, err := get(ctx, m, b.URL); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	// 0 and 100ms reuse; 900ms is past timeout=1 less the margin: a new one.
	if got := b.accepted.Load(); got != 2 {
		t.Errorf("backend accepted %d connections, want 2", got)
	}
}

// With keepAlive false and snat {ports: 20, reclaim: 30s, enforce: true}
// the 21st request fails like Azure's SNAT; with keep-alive on, 10,000
// requests pass under the same budget.
func TestSNATEnforce(t *testing.T) {
	b := newFastBackend(t)
	dest := hostPort(b.url)
	off := false
	snat := SNAT{Ports: 20, Reclaim: 30 * time.Second, Enforce: true}

	t.Run("keepAlive false exhausts", func(t *testing.T) {
		m, reg := newTestManager(t, Options{SNAT: snat, Hosts: map[string]HostOptions{dest: {KeepAlive: &off}}})
		ctx := context.Background()
		for i := 1; i <= 20; i++ {
			if _, _, err := get(ctx, m, b.url); err != nil {
				t.Fatalf("request %d: %v", i, err)
			}
		}
		_, _, err := get(ctx, m, b.url)
		if err == nil {
			t.Fatal("21st request succeeded, want BackendConnectionFailure")
		}
		be := asError(t, err)
		if be.Reason != ReasonBackendConnectionFailure || be.Message != "Unable to connect to the remote server" {
			t.Fatalf("error = %q / %q", be.Reason, be.Message)
		}
		if !errors.Is(err, errPortExhausted) {
			t.Errorf("cause %v is not port exhaustion", err)
		}
		for name, want := range map[string]float64{
			"apimgw_snat_port_exhaustion_total": 1,
			"apimgw_snat_ports_in_use":          20,
			"apimgw_snat_port_budget":           20,
		} {
			if got := metricValue(t, reg, name, map[string]string{"destination": dest}); got != want {
				t.Errorf("%s = %v, want %v", name, got, want)
			}
		}
		if got := metricValue(t, reg, "apimgw_backend_connections_closed_total", map[string]string{"destination": dest}); got != 20 {
			t.Errorf("closed_total = %v, want 20", got)
		}
		// A reload keeps the ports in reclaim counting.
		if err := m.Update(Options{SNAT: snat, Hosts: map[string]HostOptions{dest: {KeepAlive: &off}}}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := get(ctx, m, b.url); err == nil {
			t.Fatal("request after reload succeeded: the reload forgot the ports in reclaim")
		}
	})

	t.Run("keepAlive true stays within budget", func(t *testing.T) {
		m, reg := newTestManager(t, Options{SNAT: snat})
		errs, first := load(t, m, b.url, 10000, 16)
		if errs != 0 {
			t.Fatalf("%d errors, first: %v", errs, first)
		}
		if got := metricValue(t, reg, "apimgw_snat_port_exhaustion_total", map[string]string{"destination": dest}); got != 0 {
			t.Errorf("exhaustion_total = %v, want 0", got)
		}
	})
}

// A backend given as two loopback addresses gets connections on both.
func TestSeveralAddresses(t *testing.T) {
	b2, b3, port := newBackendPair(t, okHandler)
	host := "orders.backend.test:" + port
	m, reg := newTestManager(t, Options{Hosts: map[string]HostOptions{
		host: {Addresses: []string{"127.0.0.2:" + port, "127.0.0.3:" + port}},
	}})
	errs, first := load(t, m, "http://"+host+"/orders", 2000, 16)
	if errs != 0 {
		t.Fatalf("%d errors, first: %v", errs, first)
	}
	if b2.accepted.Load() == 0 || b3.accepted.Load() == 0 {
		t.Fatalf("connections: 127.0.0.2 got %d, 127.0.0.3 got %d; want both > 0", b2.accepted.Load(), b3.accepted.Load())
	}
	for _, ip := range []string{"127.0.0.2", "127.0.0.3"} {
		if got := metricValue(t, reg, "apimgw_snat_port_budget", map[string]string{"destination": ip + ":" + port}); got != DefaultSNATPorts {
			t.Errorf("budget for %s = %v", ip, got)
		}
	}
}

// A name resolving through DNS (localhost) spreads over what it resolves to.
func TestResolvesHostName(t *testing.T) {
	b := newTestBackend(t, "", okHandler, nil)
	_, port, _ := net.SplitHostPort(hostPort(b.URL))
	m, _ := newTestManager(t, Options{})
	code, body, err := get(context.Background(), m, "http://localhost:"+port+"/")
	if err != nil || code != http.StatusOK || body != "hello from localhost:"+port {
		t.Fatalf("got %d %q %v", code, body, err)
	}
	_, _, err = get(context.Background(), m, "http://no-such-host.invalid/")
	be := asError(t, err)
	if be.Reason != ReasonBackendConnectionFailure || !strings.Contains(be.Message, "could not be resolved") {
		t.Fatalf("unresolvable host: %q %q", be.Reason, be.Message)
	}
}

// maxConnsPerHost bounds connections; waiters queue FIFO and a waiter
// whose context ends leaves at once with Timeout.
func TestWaitQueue(t *testing.T) {
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-release
		}
		_, _ = io.WriteString(w, r.URL.Path)
	})
	b := newTestBackend(t, "", h, nil)
	m, reg := newTestManager(t, Options{MaxConnsPerHost: 2})
	dest := hostPort(b.URL)
	ctx := context.Background()

	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, _, err := get(ctx, m, b.URL+"/slow"); err != nil {
				t.Errorf("slow request: %v", err)
			}
		}()
	}
	waitFor(t, func() bool { s := m.Stats(); return len(s) == 1 && s[0].InUse == 2 })

	// A queued request times out with the request's own deadline.
	tctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	_, _, err := get(tctx, m, b.URL+"/fast")
	cancel()
	if be := asError(t, err); be.Reason != ReasonTimeout || be.Message != MsgTimeout {
		t.Fatalf("queued request: %q %q", be.Reason, be.Message)
	}
	// A cancelled one leaves the queue at once.
	cctx, ccancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { _, _, err := get(cctx, m, b.URL+"/fast"); done <- err }()
	waitFor(t, func() bool { return m.Stats()[0].WaitQueue == 1 })
	if got := metricValue(t, reg, "apimgw_backend_wait_queue_length", map[string]string{"destination": dest}); got != 1 {
		t.Errorf("wait_queue_length = %v, want 1", got)
	}
	ccancel()
	if be := asError(t, <-done); be.Reason != ReasonClientConnectionFailure {
		t.Fatalf("cancelled request: %q", be.Reason)
	}
	if q := m.Stats()[0].WaitQueue; q != 0 {
		t.Fatalf("queue length after cancel = %d", q)
	}

	// FIFO: queued requests are served in arrival order.
	var order []int
	var mu sync.Mutex
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, _, err := get(ctx, m, b.URL+"/fast"); err != nil {
				t.Errorf("queued %d: %v", i, err)
			}
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
		}()
		waitFor(t, func() bool { return m.Stats()[0].WaitQueue == i+1 })
	}
	close(release)
	wg.Wait()
	if b.accepted.Load() > 2 {
		t.Errorf("backend accepted %d connections, limit is 2", b.accepted.Load())
	}
	if st := m.Stats()[0]; st.Waited < 4 || st.WaitQueue != 0 {
		t.Errorf("stats = %+v", st)
	}
	if got := metricValue(t, reg, "apimgw_backend_wait_seconds", map[string]string{"destination": dest}); got < 6 {
		t.Errorf("wait histogram count = %v", got)
	}
	_ = order // completion order also depends on scheduling; arrival order is what the queue guarantees
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestErrors(t *testing.T) {
	slow := newTestBackend(t, "", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}), nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := ln.Addr().String()
	ln.Close()
	garbage := rawServer(t, func(c net.Conn) {
		buf := make([]byte, 4096)
		_, _ = c.Read(buf)
		_, _ = io.WriteString(c, "NOT HTTP AT ALL\r\n\r\n")
	})
	hangup := rawServer(t, func(c net.Conn) {
		buf := make([]byte, 4096)
		_, _ = c.Read(buf)
	})
	hugeHead := rawServer(t, func(c net.Conn) {
		buf := make([]byte, 4096)
		_, _ = c.Read(buf)
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nX-Big: ")
		chunk := strings.Repeat("a", 64<<10)
		for range 32 { // 2 MiB of one header line
			if _, err := io.WriteString(c, chunk); err != nil {
				return
			}
		}
	})
	m, _ := newTestManager(t, Options{ConnectTimeout: 2 * time.Second})
	tests := []struct {
		name    string
		url     string
		timeout time.Duration
		reason  string
		message string
	}{
		{"timeout", slow.URL, 150 * time.Millisecond, ReasonTimeout, MsgTimeout},
		{"refused", "http://" + closedAddr, time.Second, ReasonBackendConnectionFailure, MsgUnableToConnect},
		{"protocol violation", "http://" + garbage, time.Second, ReasonBackendConnectionFailure, MsgProtocolViolation},
		{"closed without answer", "http://" + hangup, time.Second, ReasonBackendConnectionFailure, MsgClosedUnexpected},
		{"bad scheme", "ftp://127.0.0.1:21/", time.Second, ReasonBackendConnectionFailure, MsgUnableToConnect},
		{"response head too large", "http://" + hugeHead, 3 * time.Second, ReasonBackendConnectionFailure, MsgProtocolViolation},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), tc.timeout)
			defer cancel()
			_, _, err := get(ctx, m, tc.url)
			be := asError(t, err)
			if be.Reason != tc.reason || be.Message != tc.message {
				t.Fatalf("got %q / %q (%v), want %q / %q", be.Reason, be.Message, be.Err, tc.reason, tc.message)
			}
		})
	}
}

// rawServer accepts TCP connections on loopback and hands each to serve.
func rawServer(t *testing.T, serve func(net.Conn)) string {
	t.Helper()
	return testnet.RawServer(t, 5*time.Second, serve)
}

// Request and response bodies stream through, with and without a known
// length, and a POST whose connection the backend closed is not replayed.
func TestBodies(t *testing.T) {
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Method", r.Method)
		w.Header().Set("X-Length", fmt.Sprint(r.ContentLength))
		w.Header().Set("X-TE", strings.Join(r.TransferEncoding, ","))
		// Read first: net/http's server closes a connection whose handler
		// answered before reading a large request body.
		body, _ := io.ReadAll(r.Body)
		_, _ = w.Write(body)
	})
	b := newTestBackend(t, "", echo, nil)
	m, _ := newTestManager(t, Options{})
	big := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	tests := []struct {
		name   string
		method string
		body   io.Reader
		length int64
		want   string
		te     string
	}{
		{"known length", http.MethodPost, bytes.NewReader(big), int64(len(big)), string(big), ""},
		{"chunked", http.MethodPut, io.MultiReader(strings.NewReader("abc"), strings.NewReader("def")), -1, "abcdef", "chunked"},
		{"empty post", http.MethodPost, nil, 0, "", ""},
		{"head", http.MethodHead, nil, 0, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, b.URL+"/echo", tc.body)
			if err != nil {
				t.Fatal(err)
			}
			req.ContentLength = tc.length
			if tc.length < 0 {
				req.GetBody = nil
			}
			resp, err := m.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("body: got %d bytes, want %d", len(got), len(tc.want))
			}
			if resp.Header.Get("X-Method") != tc.method || resp.Header.Get("X-TE") != tc.te {
				t.Errorf("backend saw method %q TE %q", resp.Header.Get("X-Method"), resp.Header.Get("X-TE"))
			}
		})
	}
	if got := b.accepted.Load(); got != 1 {
		t.Errorf("backend accepted %d connections for sequential requests, want 1", got)
	}
}

// Header values that would inject lines are refused, not sent.
func TestRejectsHeaderInjection(t *testing.T) {
	b := newTestBackend(t, "", okHandler, nil)
	m, _ := newTestManager(t, Options{})
	req, _ := http.NewRequest(http.MethodGet, b.URL, nil)
	req.Header.Set("X-Evil", "a\r\nX-Injected: 1")
	if _, err := m.RoundTrip(req); err == nil {
		t.Fatal("request with CRLF in a header value was sent")
	}
}

// h2c (HTTP/2 with prior knowledge) runs many requests over one connection.
func TestH2C(t *testing.T) {
	var proto atomic.Value
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proto.Store(r.Proto)
		_, _ = io.WriteString(w, "ok")
	})
	b := newTestBackend(t, "", h, http1AndH2C)
	dest := hostPort(b.URL)
	base := runtime.NumGoroutine()
	m, reg := newTestManager(t, Options{Hosts: map[string]HostOptions{dest: {Protocol: ProtocolH2C}}})
	errs, first := load(t, m, b.URL, 500, 32)
	if errs != 0 {
		t.Fatalf("%d errors, first: %v", errs, first)
	}
	if p := proto.Load(); p != "HTTP/2.0" {
		t.Fatalf("backend saw %v", p)
	}
	if got := b.accepted.Load(); got != 1 {
		t.Errorf("backend accepted %d connections, want 1", got)
	}
	if got := metricValue(t, reg, "apimgw_snat_ports_in_use", map[string]string{"destination": dest}); got != 1 {
		t.Errorf("ports in use = %v, want 1", got)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	checkNoLeaks(t, base, b)
}

// h2 over TLS, and HTTP/1.1 over TLS.
func TestTLS(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, r.Proto) })
	mk := func(t *testing.T) *testBackend {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		b := &testBackend{}
		b.Server = newTLSServer(ln, h)
		t.Cleanup(b.Close)
		return b
	}
	for _, tc := range []struct{ proto, want string }{{"", "HTTP/1.1"}, {ProtocolH2, "HTTP/2.0"}} {
		t.Run(tc.want, func(t *testing.T) {
			b := mk(t)
			dest := strings.TrimPrefix(b.URL, "https://")
			m, _ := newTestManager(t, Options{Hosts: map[string]HostOptions{dest: {Protocol: tc.proto, TLSInsecureSkipVerify: true}}})
			for range 3 {
				code, body, err := get(context.Background(), m, b.URL)
				if err != nil || code != 200 || body != tc.want {
					t.Fatalf("got %d %q %v", code, body, err)
				}
			}
			if st := m.Stats(); st[0].Opened != 1 {
				t.Errorf("opened %d connections, want 1", st[0].Opened)
			}
			// Verification stays on unless switched off.
			m2, _ := newTestManager(t, Options{Hosts: map[string]HostOptions{dest: {Protocol: tc.proto}}})
			_, _, err := get(context.Background(), m2, b.URL)
			if be := asError(t, err); be.Reason != ReasonBackendConnectionFailure {
				t.Fatalf("untrusted certificate: %v", err)
			}
		})
	}
}

var _ = tls.VersionTLS12

// A destination that refuses connections is passed over: requests go to
// the host's other address, and each address has its own port budget.
func TestFailoverBetweenAddresses(t *testing.T) {
	b3 := newTestBackend(t, "127.0.0.3:0", okHandler, nil)
	_, port, _ := net.SplitHostPort(hostPort(b3.URL))
	host := "pair.backend.test:" + port
	addrs := []string{"127.0.0.2:" + port, "127.0.0.3:" + port} // nothing listens on .2

	t.Run("refused address", func(t *testing.T) {
		m, _ := newTestManager(t, Options{Hosts: map[string]HostOptions{host: {Addresses: addrs}}})
		errs, first := load(t, m, "http://"+host+"/", 200, 4)
		if errs != 0 {
			t.Fatalf("%d errors, first: %v", errs, first)
		}
	})

	t.Run("budget per address", func(t *testing.T) {
		b2 := newTestBackend(t, "127.0.0.2:"+port, okHandler, nil)
		off := false
		m, reg := newTestManager(t, Options{
			SNAT:  SNAT{Ports: 5, Reclaim: time.Minute, Enforce: true},
			Hosts: map[string]HostOptions{host: {Addresses: addrs, KeepAlive: &off}},
		})
		ctx := context.Background()
		for i := 1; i <= 10; i++ {
			if _, _, err := get(ctx, m, "http://"+host+"/"); err != nil {
				t.Fatalf("request %d of 10 (two budgets of 5): %v", i, err)
			}
		}
		_, _, err := get(ctx, m, "http://"+host+"/")
		if be := asError(t, err); be.Message != MsgUnableToConnect || !errors.Is(err, errPortExhausted) {
			t.Fatalf("11th request: %v", err)
		}
		if b2.accepted.Load() != 5 || b3.accepted.Load() < 5 {
			t.Errorf("accepted: .2 %d, .3 %d", b2.accepted.Load(), b3.accepted.Load())
		}
		for _, a := range addrs {
			if got := metricValue(t, reg, "apimgw_snat_ports_in_use", map[string]string{"destination": a}); got != 5 {
				t.Errorf("ports in use at %s = %v, want 5", a, got)
			}
		}
	})
}

// A host name is resolved again after DNSRefresh; new addresses get the
// traffic, and a failed refresh keeps the previous ones.
func TestDNSRefresh(t *testing.T) {
	b2, b3, port := newBackendPair(t, okHandler)
	m, _ := newTestManager(t, Options{DNSRefresh: 100 * time.Millisecond, IdleConnTimeout: 300 * time.Millisecond})
	m.mu.Lock()
	m.pruneAfter = 100 * time.Millisecond
	m.mu.Unlock()
	var mu sync.Mutex
	answer, lookups := "127.0.0.2", 0
	m.lookup = func(_ context.Context, host string) ([]netip.Addr, time.Duration, error) {
		mu.Lock()
		defer mu.Unlock()
		lookups++
		if host != "dns.backend.test" {
			return nil, 0, fmt.Errorf("unexpected lookup of %q", host)
		}
		if answer == "" {
			return nil, 0, errors.New("SERVFAIL")
		}
		return []netip.Addr{netip.MustParseAddr(answer)}, 0, nil
	}
	url := "http://dns.backend.test:" + port + "/"
	ctx := context.Background()
	if _, _, err := get(ctx, m, url); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	answer = "127.0.0.3"
	mu.Unlock()
	time.Sleep(150 * time.Millisecond)
	for range 3 {
		if _, _, err := get(ctx, m, url); err != nil {
			t.Fatal(err)
		}
	}
	if b2.accepted.Load() != 1 || b3.accepted.Load() != 1 {
		t.Fatalf("accepted: .2 %d, .3 %d; want 1 and 1", b2.accepted.Load(), b3.accepted.Load())
	}
	mu.Lock()
	answer = ""
	mu.Unlock()
	time.Sleep(150 * time.Millisecond)
	if _, _, err := get(ctx, m, url); err != nil {
		t.Fatalf("after a failed refresh: %v", err)
	}
	mu.Lock()
	if lookups < 3 {
		t.Errorf("%d lookups, want >= 3", lookups)
	}
	mu.Unlock()
	// The pool of the address the name no longer resolves to is dropped
	// once its idle connection has timed out.
	waitFor(t, func() bool {
		st := m.Stats()
		return len(st) == 1 && st[0].Destination == "127.0.0.3:"+port
	})
}

// Credentials in the backend URL are sent as basic authentication, unless
// the request has its own Authorization header.
func TestURLCredentials(t *testing.T) {
	b := newTestBackend(t, "", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.Header.Get("Authorization"))
	}), nil)
	m, _ := newTestManager(t, Options{})
	u := strings.Replace(b.URL, "http://", "http://svc:s3cret@", 1)
	_, body, err := get(context.Background(), m, u)
	if err != nil || body != "Basic c3ZjOnMzY3JldA==" {
		t.Fatalf("got %q, %v", body, err)
	}
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Authorization", "Bearer t")
	resp, err := m.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(got) != "Bearer t" {
		t.Fatalf("got %q", got)
	}
}

// A host's own maxConnsPerHost overrides the Manager's: its requests wait
// for one of its two connections while other hosts keep the default.
func TestHostLimitsOverride(t *testing.T) {
	var inFlight, peak atomic.Int64
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		time.Sleep(2 * time.Millisecond)
		inFlight.Add(-1)
		io.WriteString(w, "ok")
	})
	b := newTestBackend(t, "", slow, nil)
	other := newTestBackend(t, "", okHandler, nil)
	m, _ := newTestManager(t, Options{MaxConnsPerHost: 256, Hosts: map[string]HostOptions{
		hostPort(b.URL): {MaxConnsPerHost: 2, MaxIdleConnsPerHost: 1, IdleConnTimeout: time.Minute},
	}})
	if errs, first := load(t, m, b.URL, 200, 8); errs != 0 {
		t.Fatalf("%d errors, first %v", errs, first)
	}
	if n := b.accepted.Load(); n > 2 {
		t.Errorf("backend accepted %d connections, want at most its own maxConnsPerHost 2", n)
	}
	if p := peak.Load(); p > 2 {
		t.Errorf("%d requests at the backend at once, want at most 2", p)
	}
	if errs, first := load(t, m, other.URL, 200, 8); errs != 0 {
		t.Fatalf("other host: %d errors, first %v", errs, first)
	}
	for _, s := range m.Stats() {
		if s.Host == hostPort(b.URL) && (s.Waited == 0 || s.Idle > 1) {
			t.Errorf("overridden host: %+v, want waits and at most 1 idle connection", s)
		}
	}
	if _, err := NewManager(Options{Hosts: map[string]HostOptions{"x:80": {MaxConnsPerHost: -1}}}, nil, nil); err == nil {
		t.Error("a negative host maxConnsPerHost was accepted")
	}
}

// An empty pool that no host uses any more (after a reload, before traffic
// returns) keeps its metric series for the prune delay, 10 minutes by
// default, not until the next reap.
func TestUnusedPoolKeptUntilPruneDelay(t *testing.T) {
	b := newTestBackend(t, "", okHandler, nil)
	opts := Options{IdleConnTimeout: 100 * time.Millisecond}
	m, _ := newTestManager(t, opts)
	if _, _, err := get(context.Background(), m, b.URL); err != nil {
		t.Fatal(err)
	}
	if err := m.Update(opts); err != nil { // a reload: no host entry uses the pool now
		t.Fatal(err)
	}
	// The idle connection is reaped: the pool is empty and unused...
	waitFor(t, func() bool { st := m.Stats(); return len(st) == 1 && st[0].Open == 0 })
	// ...and survives further reaps.
	time.Sleep(3 * reapInterval)
	if st := m.Stats(); len(st) != 1 || st[0].Opened != 1 {
		t.Fatalf("stats %+v: want the emptied pool still there", st)
	}
}

// Options.Validate refuses what NewManager would, without starting one.
func TestOptionsValidate(t *testing.T) {
	if err := (Options{}).Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
	bad := Options{Hosts: map[string]HostOptions{"x.test:80": {Addresses: []string{"host.example:80"}}}}
	err := bad.Validate()
	if err == nil || !strings.Contains(err.Error(), `address "host.example:80": want ip:port`) {
		t.Errorf("a host name as address: %v", err)
	}
	if _, nerr := NewManager(bad, nil, nil); nerr == nil || nerr.Error() != err.Error() {
		t.Errorf("NewManager: %v, want the same error as Validate", nerr)
	}
}

// RoundTripInto reads each response into the caller's buffer: the same
// header map serves response after response, and nothing of one response
// (headers, framing, body) shows in the next, whatever their shapes.
func TestRoundTripIntoReusesBuffer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := len(r.URL.Path) // /a: 2 headers more, /aaaaaaaaa...: many
		for i := range n {
			w.Header().Set(fmt.Sprintf("X-H%d", i), r.URL.Path)
		}
		if r.URL.Query().Get("chunked") != "" {
			w.(http.Flusher).Flush()
		}
		io.WriteString(w, r.URL.Path)
	}))
	t.Cleanup(srv.Close)
	m, _ := newTestManager(t, Options{})
	var rb ResponseBuffer
	var first http.Header
	for i, path := range []string{"/" + strings.Repeat("a", 40), "/b", "/cc?chunked=1", "/" + strings.Repeat("d", 20), "/e"} {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		resp, err := m.RoundTripInto(req, &rb)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		p, _, _ := strings.Cut(path, "?")
		if err != nil || string(body) != p {
			t.Fatalf("%s: body %q, %v", path, body, err)
		}
		xs := 0
		for k, v := range resp.Header {
			if strings.HasPrefix(k, "X-H") {
				xs++
				if len(v) != 1 || v[0] != p {
					t.Fatalf("%s: %s: %q left from another response", path, k, v)
				}
			}
		}
		if xs != len(p) {
			t.Fatalf("%s: %d X-H headers, want %d", path, xs, len(p))
		}
		// The first map, over httplex.HeaderStore's bound, is let go; the smaller
		// ones after it are one map, cleared for each response.
		switch {
		case i == 1:
			first = resp.Header
		case i > 1 && fmt.Sprintf("%p", resp.Header) != fmt.Sprintf("%p", first):
			t.Fatalf("%s: a new header map, want the buffer's", path)
		}
	}
}

// TestEntryLookup: the host entry a request gets is the one of its
// scheme, host, client certificate and proxy, whether it is found by the
// lookup for requests with neither (by host alone) or by the full key,
// and another spelling of an authority shares it, as before.
func TestEntryLookup(t *testing.T) {
	m, err := NewManager(Options{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	cc := &ClientCert{Thumbprint: "AB12"}
	cc0 := &ClientCert{} // no thumbprint: keyed as none, but not "plain"
	px, err := NewProxy("http://127.0.0.1:3128", "", "")
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		cert  *ClientCert
		proxy *Proxy
		auth  string
	}
	urls := []string{"http://127.0.0.1:9/a", "http://127.0.0.1:80/", "HTTP://127.0.0.1/", "https://127.0.0.1/", "https://127.0.0.1:443/", "http://127.0.0.1:9/b"}
	got := map[string]*hostEntry{}
	for round := range 3 {
		for _, raw := range urls {
			u, err := url.Parse(raw)
			if err != nil {
				t.Fatal(err)
			}
			u.Scheme = strings.ToLower(u.Scheme)
			for i, c := range []struct {
				cc *ClientCert
				px *Proxy
			}{{nil, nil}, {cc, nil}, {nil, px}, {cc, px}, {cc0, nil}} {
				if u.Scheme == "http" && c.cc != nil {
					continue // certificates are for https
				}
				e, err := m.entry(u, c.cc, c.px)
				if err != nil {
					t.Fatal(err)
				}
				if e.cert.thumbprint() != c.cc.thumbprint() || e.proxy.key() != c.px.key() || e.scheme != u.Scheme {
					t.Fatalf("%s with case %d: entry of %s cert %q proxy %q", raw, i, e.scheme, e.cert.thumbprint(), e.proxy.key())
				}
				port := map[string]string{"http": "80", "https": "443"}[u.Scheme]
				if u.Port() != "" {
					port = u.Port()
				}
				if e.authority != "127.0.0.1:"+port {
					t.Fatalf("%s: authority %s", raw, e.authority)
				}
				k := fmt.Sprint(u.Scheme, e.authority, c.cc.thumbprint(), c.px.key())
				if prev, ok := got[k]; ok && prev != e {
					t.Fatalf("round %d, %s with case %d: a second entry for one authority", round, raw, i)
				}
				got[k] = e
			}
		}
	}
}
