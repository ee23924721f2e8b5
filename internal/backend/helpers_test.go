package backend

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// testBackend is a real HTTP server on a loopback address that counts the
// TCP connections it accepts and holds open.
type testBackend struct {
	*httptest.Server
	accepted atomic.Int64
	open     atomic.Int64
}

func newTestBackend(t *testing.T, addr string, h http.Handler, tune func(*http.Server)) *testBackend {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	b := &testBackend{Server: httptest.NewUnstartedServer(h)}
	b.Listener.Close()
	b.Listener = ln
	b.countConnections()
	if tune != nil {
		tune(b.Config)
	}
	b.Start()
	t.Cleanup(b.Close)
	return b
}

// countConnections makes the server count the connections it accepts and
// holds open.
func (b *testBackend) countConnections() {
	b.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			b.accepted.Add(1)
			b.open.Add(1)
		case http.StateClosed, http.StateHijacked:
			b.open.Add(-1)
		}
	}
}

// http1AndH2C makes a test backend speak HTTP/1.1 and cleartext HTTP/2.
func http1AndH2C(s *http.Server) {
	s.Protocols = new(http.Protocols)
	s.Protocols.SetHTTP1(true)
	s.Protocols.SetUnencryptedHTTP2(true)
}

// okHandler answers every request with a small fixed body.
var okHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	_, _ = io.WriteString(w, "hello from "+r.Host)
})

func newTestManager(t *testing.T, o Options) (*Manager, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := NewManager(o, reg, nil)
	if err != nil {
		t.Fatalf("NewManager: %v", err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m, reg
}

// get sends one GET through m and reads the whole body.
func get(ctx context.Context, m *Manager, url string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := m.RoundTrip(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// load sends n GETs from c concurrent clients, bounded by the test's time.
func load(t *testing.T, m *Manager, url string, n, c int) (errs int, firstErr error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var next atomic.Int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) && ctx.Err() == nil {
				code, _, err := get(ctx, m, url)
				if err == nil && code != http.StatusOK {
					err = fmt.Errorf("status %d", code)
				}
				if err != nil {
					mu.Lock()
					errs++
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return errs, firstErr
}

// metricValue returns the value of the metric name with the given labels.
func metricValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue next
				}
			}
			return value(m)
		}
	}
	t.Fatalf("metric %s%v not found", name, labels)
	return 0
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	return 0
}

// checkNoLeaks waits for the goroutine count to return to base and for
// every backend to have no connection open.
func checkNoLeaks(t *testing.T, base int, backends ...*testBackend) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := runtime.NumGoroutine()
		open := int64(0)
		for _, b := range backends {
			open += b.open.Load()
		}
		if n <= base && open == 0 {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("leak: %d goroutines (baseline %d), %d backend connections open\n%s", n, base, open, buf)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func asError(t *testing.T, err error) *Error {
	t.Helper()
	var be *Error
	if !errors.As(err, &be) {
		t.Fatalf("error %v (%T) is not a *backend.Error", err, err)
	}
	return be
}

func hostPort(u string) string { return strings.TrimPrefix(u, "http://") }

// benchServer is a loopback HTTP server for benchmarks.
type benchServer struct{}

func (benchServer) start(b *testing.B, h http.Handler, h2c bool) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	s := httptest.NewUnstartedServer(h)
	s.Listener.Close()
	s.Listener = ln
	if h2c {
		s.Config.Protocols = new(http.Protocols)
		s.Config.Protocols.SetUnencryptedHTTP2(true)
	}
	s.Start()
	b.Cleanup(s.Close)
	return s.URL
}

// newBackendPair starts the same handler on 127.0.0.2 and 127.0.0.3 with
// one port number, retrying when the port is taken on the second address.
func newBackendPair(t *testing.T, h http.Handler) (b2, b3 *testBackend, port string) {
	t.Helper()
	for range 10 {
		ln2, err := net.Listen("tcp", "127.0.0.2:0")
		if err != nil {
			t.Fatalf("listen 127.0.0.2: %v", err)
		}
		_, port, _ = net.SplitHostPort(ln2.Addr().String())
		ln3, err := net.Listen("tcp", "127.0.0.3:"+port)
		if err != nil {
			ln2.Close()
			continue
		}
		ln2.Close()
		ln3.Close()
		return newTestBackend(t, "127.0.0.2:"+port, h, nil), newTestBackend(t, "127.0.0.3:"+port, h, nil), port
	}
	t.Fatal("no port free on both 127.0.0.2 and 127.0.0.3")
	return nil, nil, ""
}

// fastBackend is a minimal keep-alive HTTP/1.1 responder for load tests:
// it answers every request head with a fixed small response, which under
// the race detector costs far less than a net/http server.
type fastBackend struct {
	url      string
	accepted atomic.Int64
	open     atomic.Int64
}

func newFastBackend(t *testing.T) *fastBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fb := &fastBackend{url: "http://" + ln.Addr().String()}
	const resp = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			fb.accepted.Add(1)
			fb.open.Add(1)
			mu.Lock()
			conns[c] = true
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer fb.open.Add(-1)
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					// Requests without bodies: a head ends at an empty line.
					for {
						line, err := br.ReadSlice('\n')
						if err != nil {
							return
						}
						if len(line) <= 2 {
							break
						}
					}
					if _, err := io.WriteString(c, resp); err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return fb
}
