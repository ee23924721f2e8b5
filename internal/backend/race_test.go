package backend

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
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

// A request whose body fails to read (the client's upload broke) fails
// with BackendConnectionFailure on send and does not hang.
func TestBrokenRequestBody(t *testing.T) {
	b := newTestBackend(t, "", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	}), nil)
	m, _ := newTestManager(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	body := io.MultiReader(strings.NewReader("partial"), errReader{})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, b.URL, body)
	req.ContentLength = 100
	_, err := m.RoundTrip(req)
	be := asError(t, err)
	if be.Reason != ReasonBackendConnectionFailure || be.Message != MsgClosedOnSend {
		t.Fatalf("got %q / %q (%v)", be.Reason, be.Message, err)
	}
	if ctx.Err() != nil {
		t.Fatal("request hung until the deadline")
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("client upload broke") }

// Many clients on few connections, some giving up while queued or while
// reading: the limit holds, and afterwards the pool's books balance.
func TestQueueStress(t *testing.T) {
	b := newTestBackend(t, "", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Millisecond)
		_, _ = io.WriteString(w, strings.Repeat("y", 2048))
	}), nil)
	base := runtime.NumGoroutine()
	m, err := NewManager(Options{MaxConnsPerHost: 4}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	var next atomic.Int64
	for c := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= 2000 && ctx.Err() == nil; i = next.Add(1) {
				rctx, rcancel := context.WithCancel(ctx)
				if (int(i)+c)%7 == 0 {
					time.AfterFunc(time.Duration(i%3)*time.Millisecond, rcancel)
				}
				req, _ := http.NewRequestWithContext(rctx, http.MethodGet, b.URL, nil)
				resp, err := m.RoundTrip(req)
				if err == nil {
					if i%5 == 0 {
						_, _ = resp.Body.Read(make([]byte, 10)) // give up part way
					} else {
						_, _ = io.Copy(io.Discard, resp.Body)
					}
					resp.Body.Close()
				} else {
					asError(t, err)
				}
				rcancel()
			}
		}()
	}
	wg.Wait()
	st := m.Stats()[0]
	if st.InUse != 0 || st.WaitQueue != 0 || st.Open != st.Idle || st.Open > 4 || st.Ports.Open != st.Open || int(st.Opened-st.Closed) != st.Open {
		t.Errorf("books do not balance: %+v", st)
	}
	// (A dial cancelled after the backend accepted it counts on the
	// backend's side only, so compare with the backend's open count.)
	waitFor(t, func() bool { return b.open.Load() <= 4 })
	if m.Stats()[0].Waited == 0 {
		t.Error("no request ever waited: the test did not exercise the queue")
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	checkNoLeaks(t, base, b)
}

// Idle connections are closed after idleConnTimeout by the gateway (the
// backend sees them go), and their ports move into the reclaim window.
func TestIdleTimeoutClosesConnections(t *testing.T) {
	b := newTestBackend(t, "", okHandler, nil)
	m, _ := newTestManager(t, Options{IdleConnTimeout: 200 * time.Millisecond})
	errs, first := load(t, m, b.URL, 40, 4)
	if errs != 0 {
		t.Fatalf("%d errors, first: %v", errs, first)
	}
	waitFor(t, func() bool { return b.open.Load() == 0 })
	st := m.Stats()[0]
	if st.Open != 0 || st.Ports.Open != 0 || st.Ports.InReclaim != int(st.Opened) {
		t.Errorf("after idle timeout: %+v", st)
	}
}

// A reload that lowers maxConnsPerHost closes the surplus as it is released.
func TestUpdateLowersLimit(t *testing.T) {
	b := newTestBackend(t, "", okHandler, nil)
	m, _ := newTestManager(t, Options{MaxConnsPerHost: 8})
	if errs, first := load(t, m, b.URL, 200, 8); errs != 0 {
		t.Fatalf("%d errors, first: %v", errs, first)
	}
	if err := m.Update(Options{MaxConnsPerHost: 2}); err != nil {
		t.Fatal(err)
	}
	if errs, first := load(t, m, b.URL, 200, 8); errs != 0 {
		t.Fatalf("%d errors, first: %v", errs, first)
	}
	if st := m.Stats()[0]; st.Open > 2 {
		t.Errorf("%d connections open after lowering the limit to 2", st.Open)
	}
}

// A 101 Switching Protocols response hands over the connection: the body
// is readable and writable, as with net/http's Transport.
func TestUpgrade(t *testing.T) {
	addr := rawServer(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		_, _ = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		_, _ = io.Copy(c, br) // echo until the client closes
	})
	m, _ := newTestManager(t, Options{})
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/ws", nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "echo")
	resp, err := m.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	rw, ok := resp.Body.(io.ReadWriteCloser)
	if resp.StatusCode != http.StatusSwitchingProtocols || !ok {
		t.Fatalf("status %d, body %T", resp.StatusCode, resp.Body)
	}
	if _, err := io.WriteString(rw, "ping"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(rw, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo: %q %v", buf, err)
	}
	rw.Close()
	if st := m.Stats()[0]; st.Open != 0 || st.InUse != 0 {
		t.Errorf("after closing the upgraded connection: %+v", st)
	}
}
