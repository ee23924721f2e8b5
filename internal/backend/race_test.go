package backend

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// raceServer answers the first request on each connection and closes the
// connection when the second one arrives, without answering it: the
// keep-alive race, made deterministic.
func raceServer(t *testing.T) string {
	return rawServer(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for i := 0; ; i++ {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, req.Body)
			if i == 1 {
				return
			}
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
}

func TestKeepAliveRaceRetryRules(t *testing.T) {
	tests := []struct {
		name      string
		method    string
		body      func() io.Reader // nil: no body
		getBody   bool
		wantRetry bool
	}{
		{"GET is retried", http.MethodGet, nil, false, true},
		{"HEAD is retried", http.MethodHead, nil, false, true},
		{"POST without body is not retried once written", http.MethodPost, nil, false, false},
		{"POST with a streaming body is not retried", http.MethodPost, func() io.Reader { return strings.NewReader("data") }, false, false},
		{"PUT with idempotency key and replayable body is retried", http.MethodPut, func() io.Reader { return strings.NewReader("data") }, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr := raceServer(t)
			m, _ := newTestManager(t, Options{})
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			send := func() (*http.Response, error) {
				var body io.Reader
				if tc.body != nil {
					body = tc.body()
				}
				req, err := http.NewRequestWithContext(ctx, tc.method, "http://"+addr+"/", body)
				if err != nil {
					t.Fatal(err)
				}
				if !tc.getBody {
					req.GetBody = nil
				} else {
					req.Header.Set("Idempotency-Key", "k1")
				}
				resp, err := m.RoundTrip(req)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				return resp, err
			}
			if _, err := send(); err != nil {
				t.Fatalf("first request: %v", err)
			}
			_, err := send()
			if tc.wantRetry && err != nil {
				t.Fatalf("second request was not retried: %v", err)
			}
			if !tc.wantRetry {
				be := asError(t, err)
				if be.Reason != ReasonBackendConnectionFailure || be.Message != MsgClosedUnexpected {
					t.Fatalf("got %q / %q", be.Reason, be.Message)
				}
			}
		})
	}
}

// An idle connection the backend has visibly closed is not used at all,
// so even a POST goes through.
func TestClosedIdleConnectionSkipped(t *testing.T) {
	addr := rawServer(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, req.Body)
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		// close right after the answer, without saying Connection: close
	})
	m, _ := newTestManager(t, Options{})
	for i := range 3 {
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/", strings.NewReader("x"))
		req.GetBody = nil
		resp, err := m.RoundTrip(req)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		time.Sleep(staleCheckAfter + 50*time.Millisecond)
	}
}

// Close fails queued requests, closes idle connections and makes later
// requests fail.
func TestCloseFailsWaitersAndLaterRequests(t *testing.T) {
	release := make(chan struct{})
	b := newTestBackend(t, "", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-release
		}
	}), nil)
	m, err := NewManager(Options{MaxConnsPerHost: 1}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	slow := make(chan error, 1)
	go func() { _, _, err := get(ctx, m, b.URL+"/slow"); slow <- err }()
	waitFor(t, func() bool { s := m.Stats(); return len(s) == 1 && s[0].InUse == 1 })
	queued := make(chan error, 1)
	go func() { _, _, err := get(ctx, m, b.URL+"/fast"); queued <- err }()
	waitFor(t, func() bool { return m.Stats()[0].WaitQueue == 1 })
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-queued; !errors.Is(err, errManagerClosed) {
		t.Fatalf("queued request: %v", err)
	}
	close(release)
	if err := <-slow; err != nil {
		t.Fatalf("in-flight request: %v", err)
	}
	if _, _, err := get(ctx, m, b.URL); err == nil {
		t.Fatal("request after Close succeeded")
	}
	waitFor(t, func() bool { return b.open.Load() == 0 })
	if err := m.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// Update applies new limits and protocols while keeping the pools.
func TestUpdate(t *testing.T) {
	b := newTestBackend(t, "", okHandler, nil)
	dest := hostPort(b.URL)
	m, _ := newTestManager(t, Options{})
	if _, _, err := get(context.Background(), m, b.URL); err != nil {
		t.Fatal(err)
	}
	off := false
	if err := m.Update(Options{Hosts: map[string]HostOptions{dest: {KeepAlive: &off}}}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, _, err := get(context.Background(), m, b.URL); err != nil {
			t.Fatal(err)
		}
	}
	// The idle connection from before serves one last request (sent with
	// Connection: close), then one new connection per request.
	if got := b.accepted.Load(); got != 3 {
		t.Errorf("accepted %d, want 3", got)
	}
	if st := m.Stats(); len(st) != 1 || st[0].Opened != 3 || st[0].Open != 0 || st[0].Ports.Held != 3 {
		t.Errorf("stats = %+v", st)
	}
	bad := []Options{
		{MaxConnsPerHost: -1},
		{Hosts: map[string]HostOptions{"nohostport": {}}},
		{Hosts: map[string]HostOptions{dest: {Protocol: "spdy"}}},
		{Hosts: map[string]HostOptions{dest: {Addresses: []string{"not-an-ip:1"}}}},
	}
	for _, o := range bad {
		if err := m.Update(o); err == nil {
			t.Errorf("Update(%+v) accepted", o)
		}
	}
}

// A body closed after reading exactly Content-Length bytes (EOF not yet
// seen) keeps its connection.
func TestCloseAfterExactReadKeepsConnection(t *testing.T) {
	b := newTestBackend(t, "", okHandler, nil)
	m, _ := newTestManager(t, Options{})
	for range 3 {
		req, _ := http.NewRequest(http.MethodGet, b.URL, nil)
		resp, err := m.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, resp.ContentLength)
		if _, err := io.ReadFull(resp.Body, buf); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if got := b.accepted.Load(); got != 1 {
		t.Errorf("accepted %d connections, want 1", got)
	}
}
