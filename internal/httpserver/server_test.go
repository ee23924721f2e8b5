package httpserver

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// start serves h on a loopback port; the server is closed when the test
// ends.
func start(t *testing.T, h http.Handler, configure ...func(*Server)) (string, *Server) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Handler: h}
	for _, f := range configure {
		f(s)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return ln.Addr().String(), s
}

// openConns counts s's connections.
func openConns(s *Server) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// waitConns waits up to limit for s to have n connections and reports how
// long that took; it fails the test past the limit.
func waitConns(t *testing.T, s *Server, n int, limit time.Duration) time.Duration {
	t.Helper()
	t0 := time.Now()
	for openConns(s) != n {
		if time.Since(t0) > limit {
			t.Fatalf("%d connections after %v, want %d", openConns(s), limit, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(t0)
}

// rawConn is a client connection that writes bytes as given and reads
// responses with net/http's parser.
type rawConn struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dial(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, c: c, br: bufio.NewReader(c)}
}

func (r *rawConn) send(s string) {
	r.t.Helper()
	if _, err := io.WriteString(r.c, s); err != nil {
		r.t.Fatal(err)
	}
}

// response reads one response (for a request with method) and its body.
func (r *rawConn) response(method string) (*http.Response, string) {
	r.t.Helper()
	resp, err := http.ReadResponse(r.br, &http.Request{Method: method})
	if err != nil {
		r.t.Fatalf("reading response: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		r.t.Fatalf("reading body: %v", err)
	}
	return resp, string(b)
}

// closed reports whether the server closed the connection (EOF within a
// second, nothing else pending).
func (r *rawConn) closed() bool {
	r.c.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, err := r.br.ReadByte()
	return err == io.EOF || errors.Is(err, net.ErrClosed) || isReset(err)
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

// echo answers with the method, path, selected headers and the body.
var echo = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	fmt.Fprintf(w, "%s %s host=%s cl=%d te=%v body=%s", r.Method, r.URL.RequestURI(), r.Host, r.ContentLength, r.TransferEncoding, b)
})

func TestKeepAliveWithNetHTTPClient(t *testing.T) {
	addr, _ := start(t, echo)
	var dials atomic.Int32
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
		dials.Add(1)
		return (&net.Dialer{}).DialContext(ctx, network, a)
	}}}
	defer client.CloseIdleConnections()
	for i := 0; i < 20; i++ {
		resp, err := client.Post("http://"+addr+"/p?q=1", "text/plain", strings.NewReader(fmt.Sprint("n", i)))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := fmt.Sprintf("POST /p?q=1 host=%s cl=%d te=[] body=n%d", addr, len(fmt.Sprint("n", i)), i)
		if string(b) != want || resp.StatusCode != 200 {
			t.Fatalf("got %d %q, want %q", resp.StatusCode, b, want)
		}
		if resp.ContentLength != int64(len(want)) {
			t.Fatalf("Content-Length %d, want %d (short responses get a length)", resp.ContentLength, len(want))
		}
		if resp.Header.Get("Date") == "" {
			t.Fatal("no Date header")
		}
	}
	if n := dials.Load(); n != 1 {
		t.Fatalf("%d connections for 20 sequential requests, want 1", n)
	}
}

func TestPipelinedRequestsAnsweredInOrder(t *testing.T) {
	addr, _ := start(t, echo)
	c := dial(t, addr)
	c.send("GET /1 HTTP/1.1\r\nHost: a\r\n\r\nPOST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET /3 HTTP/1.1\r\nHost: a\r\n\r\n")
	for i, want := range []string{"GET /1 host=a cl=0 te=[] body=", "POST /2 host=a cl=3 te=[] body=abc", "GET /3 host=a cl=0 te=[] body="} {
		_, body := c.response("GET")
		if body != want {
			t.Fatalf("response %d: %q, want %q", i+1, body, want)
		}
	}
}

func TestChunkedRequestBodyAndTrailer(t *testing.T) {
	addr, _ := start(t, echo)
	c := dial(t, addr)
	c.send("POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: t\r\n\r\n" +
		"GET /next HTTP/1.1\r\nHost: a\r\n\r\n")
	if _, body := c.response("POST"); body != "POST /c host=a cl=-1 te=[chunked] body=abcde" {
		t.Fatalf("chunked body: %q", body)
	}
	if _, body := c.response("GET"); body != "GET /next host=a cl=0 te=[] body=" {
		t.Fatalf("request after the trailer: %q", body)
	}
}

// TestRefusesAmbiguousRequests: the framing ambiguities behind request
// smuggling, and malformed heads, are refused and the connection closed.
func TestRefusesAmbiguousRequests(t *testing.T) {
	var reached atomic.Int32
	addr, _ := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached.Add(1) }), func(s *Server) { s.MaxHeaderBytes = 4096 })
	cases := []struct {
		name, req string
		status    int
	}{
		{"CL and TE", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"TE not chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501},
		{"two TE headers", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 501},
		{"differing CL", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400},
		{"signed CL", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\nabc", 400},
		{"CL list", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\nabc", 400},
		{"space before colon", "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n", 400},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n 2\r\n\r\n", 400},
		{"NUL in value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\x002\r\n\r\n", 400},
		{"bare CR in value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r2\r\n\r\n", 400},
		{"no Host", "GET / HTTP/1.1\r\n\r\n", 400},
		{"two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
		{"bad Host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400},
		{"HTTP/2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505},
		{"bad version", "GET / HTTP/1.10\r\nHost: a\r\n\r\n", 400},
		{"bad request line", "GET /\r\nHost: a\r\n\r\n", 400},
		{"bad method", "G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"TE in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"unknown Expect", "GET / HTTP/1.1\r\nHost: a\r\nExpect: magic\r\n\r\n", 417},
		{"header too large", "GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + strings.Repeat("x", 5000) + "\r\n\r\n", 431},
		{"no colon", "GET / HTTP/1.1\r\nHost: a\r\nnocolon\r\n\r\n", 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, addr)
			c.send(tc.req)
			resp, _ := c.response("GET")
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if !resp.Close {
				t.Fatal("no Connection: close")
			}
			if !c.closed() {
				t.Fatal("connection left open")
			}
		})
	}
	if n := reached.Load(); n != 0 {
		t.Fatalf("handler reached %d times", n)
	}
}

func TestHeadAndBodylessStatuses(t *testing.T) {
	addr, _ := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/204":
			w.WriteHeader(204)
			if _, err := w.Write([]byte("x")); err != http.ErrBodyNotAllowed {
				t.Errorf("write on 204: %v", err)
			}
		case "/304":
			w.Header().Set("Content-Length", "10")
			w.WriteHeader(304)
		default:
			io.WriteString(w, "hello")
		}
	}))
	c := dial(t, addr)
	c.send("HEAD /h HTTP/1.1\r\nHost: a\r\n\r\nGET /204 HTTP/1.1\r\nHost: a\r\n\r\nGET /304 HTTP/1.1\r\nHost: a\r\n\r\nGET /after HTTP/1.1\r\nHost: a\r\n\r\n")
	resp, body := c.response("HEAD")
	if resp.ContentLength != 5 || body != "" {
		t.Fatalf("HEAD: length %d body %q, want 5 and none", resp.ContentLength, body)
	}
	if resp, _ = c.response("GET"); resp.StatusCode != 204 || resp.Header.Get("Content-Length") != "" {
		t.Fatalf("204: %d, Content-Length %q", resp.StatusCode, resp.Header.Get("Content-Length"))
	}
	if resp, _ = c.response("GET"); resp.StatusCode != 304 || resp.Header.Get("Content-Length") != "10" {
		t.Fatalf("304: %d, Content-Length %q", resp.StatusCode, resp.Header.Get("Content-Length"))
	}
	if _, body = c.response("GET"); body != "hello" {
		t.Fatalf("after bodyless responses: %q", body)
	}
}

func TestLongResponsesAreChunkedOrCloseDelimited(t *testing.T) {
	big := strings.Repeat("0123456789", 1000)
	addr, _ := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i < len(big); i += 1000 {
			io.WriteString(w, big[i:i+1000])
		}
	}))
	c := dial(t, addr)
	c.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	resp, body := c.response("GET")
	if body != big || len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked" {
		t.Fatalf("HTTP/1.1: %d bytes, transfer encoding %v", len(body), resp.TransferEncoding)
	}
	c.send("GET / HTTP/1.0\r\n\r\n")
	resp, body = c.response("GET")
	if body != big || !resp.Close || resp.ContentLength != -1 {
		t.Fatalf("HTTP/1.0: %d bytes, close %v, length %d", len(body), resp.Close, resp.ContentLength)
	}
	if !c.closed() {
		t.Fatal("HTTP/1.0 close-delimited response without the close")
	}
}

func TestFlushSendsHeadAndChunksAtOnce(t *testing.T) {
	release := make(chan struct{})
	addr, _ := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "first")
		w.(http.Flusher).Flush()
		<-release
		io.WriteString(w, "second")
	}))
	c := dial(t, addr)
	c.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != "first" {
		t.Fatalf("flushed part: %q %v", buf, err)
	}
	close(release)
	rest, _ := io.ReadAll(resp.Body)
	if string(rest) != "second" {
		t.Fatalf("rest %q", rest)
	}
}

func TestExpectContinue(t *testing.T) {
	addr, _ := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/reject" {
			w.WriteHeader(413)
			return
		}
		echo(w, r)
	}))
	c := dial(t, addr)
	c.send("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil || resp.StatusCode != 100 {
		t.Fatalf("interim response: %v %v", resp, err)
	}
	c.send("abc")
	if _, body := c.response("POST"); body != "POST /x host=a cl=3 te=[] body=abc" {
		t.Fatalf("body after 100-continue: %q", body)
	}
	// A handler that never reads the body: no 100, and the connection
	// closes because the body may never come.
	c.send("POST /reject HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
	if resp, _ := c.response("POST"); resp.StatusCode != 413 || !resp.Close {
		t.Fatalf("rejected expectation: %d close=%v", resp.StatusCode, resp.Close)
	}
	if !c.closed() {
		t.Fatal("connection kept without the body")
	}
}

func TestUnreadBodyIsDrainedOrConnectionClosed(t *testing.T) {
	addr, _ := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.URL.Path) }))
	c := dial(t, addr)
	c.send("POST /small HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET /next HTTP/1.1\r\nHost: a\r\n\r\n")
	c.response("POST")
	if _, body := c.response("GET"); body != "/next" {
		t.Fatalf("after a drained body: %q", body)
	}
	c.send(fmt.Sprintf("POST /big HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n", maxPostHandlerReadBytes+1))
	if resp, body := c.response("POST"); body != "/big" || !resp.Close {
		t.Fatalf("big unread body: %q close=%v", body, resp.Close)
	}
}

func TestConnectionCloseAndHTTP10KeepAlive(t *testing.T) {
	addr, _ := start(t, echo)
	c := dial(t, addr)
	c.send("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
	if resp, _ := c.response("GET"); !resp.Close {
		t.Fatal("no Connection: close in the answer")
	}
	if !c.closed() {
		t.Fatal("connection kept after Connection: close")
	}

	c = dial(t, addr)
	c.send("GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
	resp, _ := c.response("GET")
	if resp.Close || resp.Header.Get("Connection") != "keep-alive" {
		t.Fatalf("HTTP/1.0 keep-alive: close=%v Connection=%q", resp.Close, resp.Header.Get("Connection"))
	}
	c.send("GET /b HTTP/1.0\r\n\r\n")
	if resp, body := c.response("GET"); !resp.Close || body != "GET /b host= cl=0 te=[] body=" {
		t.Fatalf("HTTP/1.0 without keep-alive: close=%v %q", resp.Close, body)
	}
	if !c.closed() {
		t.Fatal("HTTP/1.0 connection kept without keep-alive")
	}
}

func TestResponseHeadersCannotSplitTheResponse(t *testing.T) {
	addr, _ := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["X-Evil"] = []string{"a\r\nSet-Cookie: stolen=1"}
		w.Header()["Bad Name"] = []string{"x"}
		w.Header()["Date"] = nil // suppressed, as in net/http
	}))
	c := dial(t, addr)
	c.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	resp, _ := c.response("GET")
	if resp.Header.Get("Set-Cookie") != "" || resp.Header.Get("X-Evil") != "a  Set-Cookie: stolen=1" {
		t.Fatalf("headers: %v", resp.Header)
	}
	if _, ok := resp.Header["Date"]; ok {
		t.Fatal("Date not suppressed")
	}
	if len(resp.Header) != 2 { // X-Evil and Content-Length
		t.Fatalf("headers: %v", resp.Header)
	}
}

func TestTruncatedResponseClosesConnection(t *testing.T) {
	addr, _ := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "10")
		io.WriteString(w, "short")
	}))
	c := dial(t, addr)
	c.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(resp.Body); err != io.ErrUnexpectedEOF {
		t.Fatalf("reading a truncated body: %v, want unexpected EOF", err)
	}
}

func TestClientGoneCancelsContext(t *testing.T) {
	canceled := make(chan time.Duration, 2)
	addr, _ := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/late" {
			// The watch comes due while the body is unread: it starts
			// once the body has been read.
			time.Sleep(4 * watchDelay)
		}
		io.ReadAll(r.Body)
		t0 := time.Now()
		select {
		case <-r.Context().Done():
			canceled <- time.Since(t0)
		case <-time.After(5 * time.Second):
			canceled <- -1
		}
	}))
	for _, req := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nbody",
		"POST /late HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nbody\r\n0\r\n\r\n",
	} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, req)
		time.Sleep(50 * time.Millisecond)
		c.Close()
		if d := <-canceled; d < 0 {
			t.Fatalf("%q: context not cancelled when the client left", req)
		}
	}
}

func TestHandlerPanicClosesOnlyThatConnection(t *testing.T) {
	addr, _ := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/panic" {
			panic(http.ErrAbortHandler)
		}
		io.WriteString(w, "ok")
	}))
	c := dial(t, addr)
	c.send("GET /panic HTTP/1.1\r\nHost: a\r\n\r\n")
	if !c.closed() {
		t.Fatal("connection kept after a panic")
	}
	c = dial(t, addr)
	c.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	if _, body := c.response("GET"); body != "ok" {
		t.Fatalf("after a panic: %q", body)
	}
}

func TestIdleAndHeaderTimeouts(t *testing.T) {
	addr, _ := start(t, echo, func(s *Server) {
		s.IdleTimeout = 200 * time.Millisecond
		s.ReadHeaderTimeout = 200 * time.Millisecond
	})
	c := dial(t, addr)
	c.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	c.response("GET")
	t0 := time.Now()
	if !c.closed() || time.Since(t0) > 1500*time.Millisecond {
		t.Fatal("idle connection not closed after the idle timeout")
	}
	// A slow client sending its head a byte at a time is cut off.
	c = dial(t, addr)
	t0 = time.Now()
	var werr error
	for i := 0; i < 30 && werr == nil; i++ {
		_, werr = c.c.Write([]byte("G"))
		time.Sleep(50 * time.Millisecond)
	}
	if werr == nil && !c.closed() || time.Since(t0) > 2*time.Second {
		t.Fatal("slow head not cut off by the header timeout")
	}
}

func TestShutdownDrainsBusyAndClosesIdle(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	addr, s := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(entered)
			<-release
		}
		io.WriteString(w, "done")
	}))
	idle := dial(t, addr)
	idle.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	idle.response("GET")
	busy := dial(t, addr)
	busy.send("GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
	<-entered
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	if !idle.closed() {
		t.Fatal("idle connection not closed by Shutdown")
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v with a request in flight", err)
	case <-time.After(100 * time.Millisecond):
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Fatal("still accepting after Shutdown")
	}
	close(release)
	resp, body := busy.response("GET")
	if body != "done" || !resp.Close {
		t.Fatalf("in-flight request: %q close=%v", body, resp.Close)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

func TestShutdownTimesOut(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	entered := make(chan struct{})
	addr, s := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
	}))
	c := dial(t, addr)
	c.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown with a stuck handler: %v", err)
	}
}

func TestNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		s := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			time.Sleep(time.Duration(len(r.URL.Path)) * time.Millisecond) // some requests outlive watchDelay
			io.WriteString(w, "ok")
		})}
		go s.Serve(ln)
		client := &http.Client{Transport: &http.Transport{}}
		var wg sync.WaitGroup
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 30; i++ {
					path := "/" + strings.Repeat("x", i%12)
					resp, err := client.Post("http://"+ln.Addr().String()+path, "text/plain", strings.NewReader("body"))
					if err != nil {
						t.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}()
		}
		wg.Wait()
		client.CloseIdleConnections()
		if err := s.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
	}()
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Fatalf("%d goroutines before, %d after:\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}

// BenchmarkServer compares this server with net/http's on the same
// handler: parallel keep-alive clients on loopback, each sending a GET and
// reading the 64-byte answer (allocations include the clients').
//
//	go test -run XXX -bench Server -benchmem ./internal/httpserver
func BenchmarkServer(b *testing.B) {
	body := strings.Repeat("x", 64)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = []string{"text/plain"}
		w.Header()["Content-Length"] = []string{"64"}
		io.WriteString(w, body)
	})
	servers := map[string]func(net.Listener) (stop func()){
		"httpserver": func(ln net.Listener) func() {
			s := &Server{Handler: h}
			go s.Serve(ln)
			return func() { s.Close() }
		},
		"net-http": func(ln net.Listener) func() {
			s := &http.Server{Handler: h}
			go s.Serve(ln)
			return func() { s.Close() }
		},
	}
	for _, name := range []string{"httpserver", "net-http"} {
		b.Run(name, func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer servers[name](ln)()
			req := []byte("GET /bench HTTP/1.1\r\nHost: bench\r\n\r\n")
			b.ReportAllocs()
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				c, err := net.Dial("tcp", ln.Addr().String())
				if err != nil {
					b.Error(err)
					return
				}
				defer c.Close()
				br := bufio.NewReader(c)
				for pb.Next() {
					if _, err := c.Write(req); err != nil {
						b.Error(err)
						return
					}
					resp, err := http.ReadResponse(br, nil)
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			})
		})
	}
}

func TestStalledClientIsCutOff(t *testing.T) {
	result := make(chan error, 1)
	addr, _ := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := make([]byte, 64<<10)
		for i := 0; i < 4096; i++ { // up to 256 MiB: far more than socket buffers hold
			if _, err := w.Write(chunk); err != nil {
				result <- err
				return
			}
		}
		result <- nil
	}), func(s *Server) { s.WriteStallTimeout = 300 * time.Millisecond })
	c := dial(t, addr)
	c.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n") // and never read
	select {
	case err := <-result:
		if err == nil {
			t.Fatal("256 MiB written to a client that reads nothing")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("handler still blocked on a client that stopped reading")
	}
}

// A handler can take the connection over (http.Hijacker): the server
// neither answers nor closes it, its idle sweeper and Close leave it alone,
// and bytes the client sent after the request reach the handler.
func TestHijack(t *testing.T) {
	done := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/upgrade" {
			io.WriteString(w, "plain")
			return
		}
		w.Header().Set("Upgrade", "echo")
		w.Header().Set("Connection", "Upgrade")
		w.WriteHeader(http.StatusSwitchingProtocols)
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("Hijack: %v", err)
			return
		}
		if _, _, err := http.NewResponseController(w).Hijack(); !errors.Is(err, http.ErrHijacked) {
			t.Errorf("second Hijack: %v", err)
		}
		go func() {
			defer close(done)
			defer conn.Close()
			// Echo lines, upper-cased, until the client closes.
			for {
				line, err := rw.ReadString('\n')
				if err != nil {
					return
				}
				rw.WriteString(strings.ToUpper(line))
				rw.Flush()
			}
		}()
	})
	addr, srv := start(t, h, func(s *Server) { s.IdleTimeout = 50 * time.Millisecond })
	c := dial(t, addr)
	// The first line after the request is already in the server's buffer
	// when the handler hijacks.
	c.send("GET /upgrade HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\nfirst\n")
	resp, err := http.ReadResponse(c.br, &http.Request{Method: "GET"})
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Upgrade") != "echo" {
		t.Fatalf("handshake: %v %v", resp, err)
	}
	if line, err := c.br.ReadString('\n'); err != nil || line != "FIRST\n" {
		t.Fatalf("got %q %v", line, err)
	}
	time.Sleep(200 * time.Millisecond) // four idle timeouts: the sweeper must not close it
	c.send("second\n")
	if line, err := c.br.ReadString('\n'); err != nil || line != "SECOND\n" {
		t.Fatalf("after idle timeouts: got %q %v", line, err)
	}
	// Other connections are served as usual.
	c2 := dial(t, addr)
	c2.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if _, body := c2.response("GET"); body != "plain" {
		t.Fatalf("other connection: %q", body)
	}
	srv.Close()
	c.send("third\n")
	if line, err := c.br.ReadString('\n'); err != nil || line != "THIRD\n" {
		t.Fatalf("after Close: got %q %v", line, err)
	}
	c.c.Close()
	<-done
}

// Fields set with http.TrailerPrefix after the body go out as the trailer
// of a chunked response, as with net/http.
func TestTrailers(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, strings.Repeat("x", 10<<10)) // more than is held back: chunked
		w.Header()[http.TrailerPrefix+"grpc-status"] = []string{"0"}
		w.Header()[http.TrailerPrefix+"Bad\r\nName"] = []string{"1"}
		w.Header()[http.TrailerPrefix+"X-Split"] = []string{"a\r\nInjected: 1"}
	})
	addr, _ := start(t, h)
	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if len(b) != 10<<10 || resp.Trailer.Get("Grpc-Status") != "0" || resp.Trailer.Get("Injected") != "" || len(resp.Trailer) != 1 {
		t.Fatalf("body %d bytes, trailer %v", len(b), resp.Trailer)
	}
}

// A chunked request's trailer reaches the handler in r.Trailer, as with
// net/http: the announced names at once, their values (and any unannounced
// field) once the body has been read; framing fields are dropped, and
// announcing one is a bad request.
func TestRequestTrailers(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		before := fmt.Sprint(r.Trailer)
		b, err := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s|%v|%s|%s|%s|%q", before, err, b, r.Trailer.Get("X-Sum"), r.Trailer.Get("X-Extra"), r.Trailer.Values("Content-Length"))
	})
	addr, _ := start(t, h)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTrailer: x-sum\r\n\r\n"+
		"5\r\nhello\r\n0\r\nX-Sum: abc\r\nX-Extra: 1\r\nContent-Length: 5\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	if want := `map[X-Sum:[]]|<nil>|hello|abc|1|[]`; string(got) != want {
		t.Fatalf("handler saw %q, want %q", got, want)
	}
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTrailer: Content-Length\r\n\r\n0\r\n\r\n")
	if resp, err = http.ReadResponse(br, nil); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("announcing Content-Length as a trailer: %d, want 400", resp.StatusCode)
	}
}

// A connection's requests reuse one context, renewed for each: every
// request's is live while its handler runs and cancelled after it (its
// AfterFunc runs), and a context a handler handed on
// (context.WithoutCancel, as apimgw's fire-and-forget calls do) keeps
// answering Value and Deadline while later requests run — without a data
// race.
func TestReusedRequestContext(t *testing.T) {
	var kept sync.WaitGroup
	stop := make(chan struct{})
	cancelled := make(chan string, 64)
	addr, _ := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if err := ctx.Err(); err != nil {
			t.Errorf("%s: context already ended in the handler: %v", r.URL.Path, err)
		}
		path := r.URL.Path
		context.AfterFunc(ctx, func() { cancelled <- path })
		if path == "/keep" {
			later := context.WithoutCancel(ctx)
			kept.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					if later.Value(http.LocalAddrContextKey) == nil {
						t.Error("a kept context lost its value")
						return
					}
					later.Deadline()
				}
			})
		}
		io.WriteString(w, "ok")
	}))
	c := dial(t, addr)
	for i := range 50 {
		path := fmt.Sprintf("/%d", i)
		if i == 0 {
			path = "/keep"
		}
		c.send("GET " + path + " HTTP/1.1\r\nHost: a\r\n\r\n")
		if _, body := c.response("GET"); body != "ok" {
			t.Fatalf("request %d: %q", i, body)
		}
		select {
		case got := <-cancelled:
			if got != path {
				t.Fatalf("request %s: the context of %s was cancelled", path, got)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("request %s: context not cancelled after its response", path)
		}
	}
	close(stop)
	kept.Wait()
}

// TestSweeperSleepsWithoutConnections: with no connection the sweeper
// stops ticking, and with it the server's clock; the first connection
// wakes it with the clock set. A connection made after the server sat
// idle longer than the idle timeout is not taken to have been idle that
// long (closed at once), and is closed after its idle timeout as before;
// once it is gone the sweeper sleeps again.
func TestSweeperSleepsWithoutConnections(t *testing.T) {
	const idle = 300 * time.Millisecond
	addr, s := start(t, echo, func(s *Server) { s.IdleTimeout = idle })
	asleep := func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.sweepAsleep
	}
	waitAsleep := func(when string) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); !asleep(); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: the sweeper is still ticking", when)
			}
		}
	}
	waitAsleep("no connection yet")
	clock := s.clock.Load()
	time.Sleep(2 * idle)
	if s.clock.Load() != clock {
		t.Errorf("the clock moved while no connection was open: the sweeper ticked")
	}
	c := dial(t, addr)
	c.send("GET /a HTTP/1.1\r\nHost: a\r\n\r\n")
	if _, body := c.response("GET"); !strings.HasPrefix(body, "GET /a ") {
		t.Fatalf("response %q", body)
	}
	answered := time.Now()
	if asleep() {
		t.Errorf("the sweeper is asleep with a connection open")
	}
	// Open for half the idle timeout at least (a stale clock would have it
	// idle for seconds already), closed within a few sweeps after it.
	c.c.SetReadDeadline(answered.Add(idle / 2))
	if _, err := c.br.ReadByte(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("idle connection %v after %v, want it open for %v", err, time.Since(answered), idle/2)
	}
	if !c.closed() {
		t.Fatalf("the idle connection was not closed %v after its response (idle timeout %v)", time.Since(answered), idle)
	}
	waitAsleep("after the connection closed")
}
