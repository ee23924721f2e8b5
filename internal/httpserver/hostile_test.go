package httpserver

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The hostile-client suite: raw requests an attacker would send, checked
// against RFC 9112/9110 and nginx's behaviour. Two rules hold throughout:
// a request whose framing is in doubt is refused and its connection closed
// (so no byte after it can be read as a request of its own), and each
// resource limit answers with its own status code.

// smuggleHandler counts the requests it sees by path and answers with the
// body it read (400 when reading failed).
type smuggleHandler struct{ smuggled, seen atomic.Int32 }

func (h *smuggleHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.seen.Add(1)
	if strings.HasPrefix(r.URL.Path, "/smuggled") {
		h.smuggled.Add(1)
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	fmt.Fprintf(w, "%s body=%s", r.URL.Path, b)
}

// TestSmugglingAndDesync sends a request with doubtful framing followed
// by a second request ("GET /smuggled") in the same write: the first must
// be refused or its body read as exactly what it declares, and the second
// must never be served as a request of its own when the first was refused.
func TestSmugglingAndDesync(t *testing.T) {
	h := &smuggleHandler{}
	addr, _ := start(t, h)
	const smuggled = "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"
	cases := []struct {
		name, req string
		status    int
	}{
		// CL/TE conflicts and obfuscations (RFC 9112 §6.1, §6.3).
		{"CL.TE", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nX", 400},
		{"TE.CL", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n", 400},
		{"TE.TE obfuscated value", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n0\r\n\r\n", 501},
		{"TE chunked, identity", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", 501},
		{"TE xchunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\nContent-Length: 3\r\n\r\nabc", 501},
		{"TE quoted", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \"chunked\"\r\n\r\n0\r\n\r\n", 501},
		{"TE space before colon", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\nContent-Length: 3\r\n\r\nabc", 400},
		{"TE folded", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n", 400},
		{"TE leading fold", "POST / HTTP/1.1\r\n Transfer-Encoding: chunked\r\nHost: a\r\n\r\n0\r\n\r\n", 400},
		{"TE vertical tab", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\x0bchunked\r\n\r\n0\r\n\r\n", 400},
		{"TE in HTTP/1.0", "POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"CL twice differing", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nContent-Length: 40\r\n\r\n", 400},
		{"CL list", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0, 40\r\n\r\n", 400},
		{"CL signed", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400},
		{"CL hex", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n", 400},
		{"CL exponent", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1e2\r\n\r\n", 400},
		{"CL huge", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n", 400},
		{"CL space inside", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 0\r\n\r\n", 400},
		// Bare CR and LF (RFC 9112 §2.2): a bare CR is invalid anywhere.
		{"bare CR ends the request line", "GET / HTTP/1.1\rHost: a\r\n\r\n", 400},
		{"bare CR in a header line", "GET / HTTP/1.1\r\nHost: a\r\nX: 1\rTransfer-Encoding: chunked\r\n\r\n", 400},
		{"bare CR in a name", "GET / HTTP/1.1\r\nHost: a\r\nX\r: 1\r\n\r\n", 400},
		{"NUL in a name", "GET / HTTP/1.1\r\nHost: a\r\nX\x00Y: 1\r\n\r\n", 400},
		{"space in a name", "GET / HTTP/1.1\r\nHost: a\r\nX Y: 1\r\n\r\n", 400},
		{"empty name", "GET / HTTP/1.1\r\nHost: a\r\n: 1\r\n\r\n", 400},
		{"control in target", "GET /a\x01b HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"two spaces in the request line", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"trailing space after the version", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400},
		{"lower-case version", "GET / http/1.1\r\nHost: a\r\n\r\n", 400},
		{"Host twice", "GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", 400},
		{"Host with a path", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400},
		// Chunk-size edge cases (RFC 9112 §7.1).
		{"chunk size hex prefix", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n", 400},
		{"chunk size negative", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n", 400},
		{"chunk size overflow", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000005\r\nhello\r\n0\r\n\r\n", 400},
		{"chunk size leading space", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n 5\r\nhello\r\n0\r\n\r\n", 400},
		{"chunk size ends with bare LF", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n", 400},
		{"chunk extension with bare LF", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;x\nhello\r\n0\r\n\r\n", 400},
		{"chunk extension with bare CR", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;x\rhello\r\n0\r\n\r\n", 400},
		{"chunk data longer than its size", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n", 400},
		{"chunk data without CRLF", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello0\r\n\r\n", 400},
		{"last chunk with bare LF", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\n\r\n", 400},
		{"folded trailer", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: 1\r\n Y\r\n\r\n", 400},
		// Expectations.
		{"Expect other than 100-continue", "POST / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\nContent-Length: 0\r\n\r\n", 417},
		{"Expect in HTTP/1.0", "POST / HTTP/1.0\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n", 417},
		{"Version HTTP/0.9", "GET / HTTP/0.9\r\nHost: a\r\n\r\n", 505},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := h.smuggled.Load()
			c := dial(t, addr)
			c.send(tc.req + smuggled)
			resp, _ := c.response("POST")
			if resp.StatusCode != tc.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if !resp.Close {
				t.Error("no Connection: close")
			}
			if !c.closed() {
				t.Error("connection left open after a refused request")
			}
			if n := h.smuggled.Load() - before; n != 0 {
				t.Errorf("the request after it was served %d times", n)
			}
		})
	}
}

// TestFramingAccepted: what RFC 9112 lets a recipient accept is accepted
// with exactly the declared body, and the next request on the connection
// is read right after it (no desync either way).
func TestFramingAccepted(t *testing.T) {
	h := &smuggleHandler{}
	addr, _ := start(t, h)
	cases := []struct{ name, req, body string }{
		{"bare LF line endings in the head", "POST /a HTTP/1.1\nHost: a\nContent-Length: 3\n\nabc", "abc"},
		{"CL repeated with the same value", "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", "abc"},
		{"TE case-insensitive", "POST /a HTTP/1.1\r\nHost: a\r\ntransfer-encoding: CHUNKED\r\n\r\n3\r\nabc\r\n0\r\n\r\n", "abc"},
		{"TE with tab OWS", "POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\tchunked\t\r\n\r\n3\r\nabc\r\n0\r\n\r\n", "abc"},
		{"chunk extensions", "POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;n=v;q=\"a;b\"\r\nabc\r\n0;end\r\n\r\n", "abc"},
		{"chunk size with leading zeros", "POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0003\r\nabc\r\n0\r\n\r\n", "abc"},
		{"trailer with framing fields", "POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nContent-Length: 50\r\nTransfer-Encoding: gzip\r\n\r\n", "abc"},
		{"empty lines before the request", "\r\n\r\nPOST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc", "abc"},
		{"body that looks like a request", "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 35\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n", "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"},
		{"Expect 100-continue with the body already sent", "POST /a HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc", "abc"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := h.smuggled.Load()
			c := dial(t, addr)
			c.send(tc.req + "GET /next HTTP/1.1\r\nHost: a\r\n\r\n")
			resp, body := c.response("POST")
			if resp.StatusCode == http.StatusContinue {
				resp, body = c.response("POST")
			}
			if resp.StatusCode != 200 || body != "/a body="+tc.body {
				t.Fatalf("%d %q, want 200 %q", resp.StatusCode, body, "/a body="+tc.body)
			}
			if _, body := c.response("GET"); body != "/next body=" {
				t.Fatalf("next request: %q", body)
			}
			if n := h.smuggled.Load() - before; n != 0 {
				t.Fatalf("a body was served as a request %d times", n)
			}
		})
	}
}

// TestPipelinedRequestsWithBodies: a burst of pipelined requests with
// fixed-length and chunked bodies is answered in order, each with its own
// body.
func TestPipelinedRequestsWithBodies(t *testing.T) {
	addr, _ := start(t, &smuggleHandler{})
	c := dial(t, addr)
	var b strings.Builder
	for i := range 20 {
		if i%2 == 0 {
			fmt.Fprintf(&b, "POST /%d HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n%s", i, len(fmt.Sprint(i)), fmt.Sprint(i))
		} else {
			fmt.Fprintf(&b, "POST /%d HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%d\r\n0\r\n\r\n", i, len(fmt.Sprint(i)), i)
		}
	}
	c.send(b.String())
	for i := range 20 {
		if _, body := c.response("POST"); body != fmt.Sprintf("/%d body=%d", i, i) {
			t.Fatalf("response %d: %q", i, body)
		}
	}
}

// TestResourceLimits: each limit answers with its status code (RFC 9110
// §15.5.15 414, RFC 6585 §5 431) before the handler runs, and closes the
// connection; just within each limit is served.
func TestResourceLimits(t *testing.T) {
	h := &smuggleHandler{}
	addr, _ := start(t, h) // the defaults: URL 16 KiB, line 32 KiB, 100 fields, head 64 KiB
	get := func(target string, headers ...string) string {
		return "GET " + target + " HTTP/1.1\r\nHost: a\r\n" + strings.Join(headers, "") + "\r\n"
	}
	fields := func(n int) []string {
		var h []string
		for i := range n {
			h = append(h, fmt.Sprintf("X-F%d: v\r\n", i))
		}
		return h
	}
	line := func(n int) string { return "X-Big: " + strings.Repeat("b", n-len("X-Big: ")) + "\r\n" }
	cases := []struct {
		name, req string
		status    int
	}{
		{"URL at the limit", get("/" + strings.Repeat("u", 16<<10-1)), 200},
		{"URL over the limit", get("/" + strings.Repeat("u", 16<<10)), 414},
		{"URL over the head limit", get("/" + strings.Repeat("u", 1<<20)), 414},
		{"header line at the limit", get("/", line(32<<10)), 200},
		{"header line over the limit", get("/", line(32<<10+1)), 431},
		{"100 fields", get("/", fields(99)...), 200},
		{"101 fields", get("/", fields(100)...), 431},
		{"head over the limit", get("/", line(30<<10), line(30<<10), line(5<<10)), 431},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			seen := h.seen.Load()
			c := dial(t, addr)
			c.send(tc.req)
			resp, body := c.response("GET")
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d (%q), want %d", resp.StatusCode, body, tc.status)
			}
			if tc.status != 200 {
				if !resp.Close || !c.closed() {
					t.Error("connection not closed")
				}
				if h.seen.Load() != seen {
					t.Error("the handler saw the request")
				}
				if want := fmt.Sprintf("%d %s", tc.status, http.StatusText(tc.status)); !strings.HasPrefix(body, want) {
					t.Errorf("body %q, want it to start %q", body, want)
				}
			}
		})
	}
}

// TestResourceLimitsConfigured: the limits follow the server's settings.
func TestResourceLimitsConfigured(t *testing.T) {
	addr, _ := start(t, &smuggleHandler{}, func(s *Server) {
		s.MaxURLBytes, s.MaxHeaderLineBytes, s.MaxHeaders, s.MaxHeaderBytes = 100, 200, 3, 1000
	})
	for req, want := range map[string]int{
		"GET /" + strings.Repeat("u", 99) + " HTTP/1.1\r\nHost: a\r\n\r\n":         200,
		"GET /" + strings.Repeat("u", 100) + " HTTP/1.1\r\nHost: a\r\n\r\n":        414,
		"GET / HTTP/1.1\r\nHost: a\r\nX: " + strings.Repeat("x", 198) + "\r\n\r\n": 431,
		"GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n":                        200,
		"GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n":                431,
		"GET / HTTP/1.1\r\nHost: a\r\nA: " + strings.Repeat("x", 190) + "\r\nB: " + strings.Repeat("x", 190) + "\r\nC: " + strings.Repeat("x", 190) + "\r\nD: " + strings.Repeat("x", 190) + "\r\nE: " + strings.Repeat("x", 190) + "\r\n\r\n": 431,
	} {
		c := dial(t, addr)
		c.send(req)
		if resp, _ := c.response("GET"); resp.StatusCode != want {
			t.Errorf("%.60q: %d, want %d", req, resp.StatusCode, want)
		}
	}
}

// TestUnderscoreHeadersDropped: header names with '_' do not reach the
// handler (nginx's underscores_in_headers off), so X_Forwarded_For cannot
// pose as X-Forwarded-For at a backend that maps '_' to '-', nor
// Transfer_Encoding frame anything; AllowUnderscoreHeaders keeps them.
func TestUnderscoreHeadersDropped(t *testing.T) {
	show := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "xff=%q te=%q x=%q body=%s", r.Header["X_forwarded_for"], r.Header["Transfer_encoding"], r.Header.Get("X-Ok"), b)
	})
	req := "POST / HTTP/1.1\r\nHost: a\r\nX_Forwarded_For: 10.0.0.1\r\nTransfer_Encoding: chunked\r\nX-Ok: 1\r\nContent-Length: 3\r\n\r\nabc"
	addr, _ := start(t, show)
	c := dial(t, addr)
	c.send(req)
	if _, body := c.response("POST"); body != `xff=[] te=[] x="1" body=abc` {
		t.Errorf("default: %s", body)
	}
	addr, _ = start(t, show, func(s *Server) { s.AllowUnderscoreHeaders = true })
	c = dial(t, addr)
	c.send(req)
	if _, body := c.response("POST"); body != `xff=["10.0.0.1"] te=["chunked"] x="1" body=abc` {
		t.Errorf("allowed: %s", body)
	}
}

// TestSlowBodyCutWith408: a body trickling in slower than BodyMinRate after
// BodyGrace is answered 408 and its connection closed; the handler's read
// fails with ErrBodyReadTimeout. (Apache's mod_reqtimeout body=20,
// MinRate=500 are the defaults; the test scales the grace down.)
func TestSlowBodyCutWith408(t *testing.T) {
	readErr := make(chan error, 1)
	addr, _ := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		readErr <- err
		http.Error(w, "handler's own answer", http.StatusBadGateway)
	}), func(s *Server) { s.BodyGrace, s.BodyMinRate = 500*time.Millisecond, 500 })
	c := dial(t, addr)
	c.send("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n")
	stop := make(chan struct{})
	defer close(stop)
	go func() { // a byte every 100 ms: 10 B/s
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
				if _, err := c.c.Write([]byte("x")); err != nil {
					return
				}
			}
		}
	}()
	t0 := time.Now()
	resp, body := c.response("POST")
	if resp.StatusCode != http.StatusRequestTimeout || !resp.Close {
		t.Fatalf("%d %q close=%v, want 408 and close", resp.StatusCode, body, resp.Close)
	}
	if d := time.Since(t0); d > 5*time.Second {
		t.Errorf("cut after %v", d)
	}
	if err := <-readErr; !errors.Is(err, ErrBodyReadTimeout) {
		t.Errorf("handler's read error %v", err)
	}
	if !c.closed() {
		t.Error("connection left open")
	}
}

// TestBodyRateCountsOnlyWaitingForTheClient: a body sent at a fair rate is
// served, and so is one the handler reads late (a slow backend): only time
// spent waiting for the client counts against the rate.
func TestBodyRateCountsOnlyWaitingForTheClient(t *testing.T) {
	addr, _ := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/late" {
			time.Sleep(time.Second)
		}
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		fmt.Fprintf(w, "%d", len(b))
	}), func(s *Server) { s.BodyGrace, s.BodyMinRate = 300*time.Millisecond, 500 })
	c := dial(t, addr)
	c.send("POST /fair HTTP/1.1\r\nHost: a\r\nContent-Length: 1200\r\n\r\n")
	for range 6 { // 200 bytes every 100 ms: 2000 B/s
		time.Sleep(100 * time.Millisecond)
		c.send(strings.Repeat("y", 200))
	}
	if resp, body := c.response("POST"); resp.StatusCode != 200 || body != "1200" {
		t.Fatalf("fair body: %d %q", resp.StatusCode, body)
	}
	c.send("POST /late HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc")
	if resp, body := c.response("POST"); resp.StatusCode != 200 || body != "3" {
		t.Fatalf("late read: %d %q", resp.StatusCode, body)
	}
}

// TestMaxConns: at the cap, the longest-idle connection is closed to let a
// new one in; with every connection busy, a new one waits (in the listen
// backlog) until one ends, and is then served.
func TestMaxConns(t *testing.T) {
	release := make(chan struct{})
	addr, _ := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/block" {
			<-release
		}
		io.WriteString(w, "ok")
	}), func(s *Server) { s.MaxConns = 2 })
	a, b := dial(t, addr), dial(t, addr)
	for _, c := range []*rawConn{a, b} {
		c.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
		c.response("GET")
		time.Sleep(20 * time.Millisecond) // a is idle longer than b
	}
	n := dial(t, addr)
	n.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	if _, body := n.response("GET"); body != "ok" {
		t.Fatalf("third connection: %q", body)
	}
	if !a.closed() {
		t.Fatal("the longest-idle connection was not closed for the new one")
	}
	// Two busy connections: a third waits.
	b.send("GET /block HTTP/1.1\r\nHost: a\r\n\r\n")
	n.send("GET /block HTTP/1.1\r\nHost: a\r\n\r\n")
	time.Sleep(50 * time.Millisecond)
	w := dial(t, addr)
	w.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	w.c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := w.br.ReadByte(); err == nil {
		t.Fatal("a connection over the cap was served while all were busy")
	}
	close(release)
	b.response("GET")
	n.response("GET")
	w.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, body := w.response("GET"); body != "ok" {
		t.Fatalf("waiting connection: %q", body)
	}
}

// slotHandler is answer behind a use of the connection's ConnValue slot:
// a request that finds the slot empty counts in made and fills it.
func slotHandler(made *atomic.Int32, answer http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		slot := w.(interface{ ConnValue() *any }).ConnValue()
		if *slot == nil {
			made.Add(1)
			*slot = new(int)
		}
		answer(w, r)
	})
}

// TestClosedConnectionsGiveBack: connections that end one after another,
// one request each (Connection: close, or the client gone), hand their
// read and write buffers and their ConnValue storage to the next: the
// free lists hold one of each after each, and the handler makes its
// storage once for the five connections.
func TestClosedConnectionsGiveBack(t *testing.T) {
	var made atomic.Int32
	addr, s := start(t, slotHandler(&made, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	for i := 0; i < 5; i++ {
		c := dial(t, addr)
		if i%2 == 0 {
			c.send("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
			if _, body := c.response("GET"); body != "ok" {
				t.Fatalf("connection %d: %q", i, body)
			}
			if !c.closed() {
				t.Fatalf("connection %d not closed after Connection: close", i)
			}
		} else {
			c.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
			if _, body := c.response("GET"); body != "ok" {
				t.Fatalf("connection %d: %q", i, body)
			}
			c.c.Close() // the client goes; the server's next read ends it
		}
		deadline := time.Now().Add(5 * time.Second)
		for s.readers.len() != 1 || s.writers.len() != 1 || s.values.len() != 1 {
			if time.Now().After(deadline) {
				t.Fatalf("after connection %d the free lists hold %d readers, %d writers, %d values, want 1 each", i, s.readers.len(), s.writers.len(), s.values.len())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	if n := made.Load(); n != 1 {
		t.Errorf("the handler made its connection storage %d times for 5 connections one after another, want 1", n)
	}
}

// TestIdleConnectionParked: a keep-alive connection idle for parkDelay
// gives back its buffers and storage, and serves its next request as
// before, the handler's ConnValue slot included (from the pool).
func TestIdleConnectionParked(t *testing.T) {
	var made atomic.Int32
	addr, s := start(t, slotHandler(&made, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok "+r.URL.Path) }))
	c := dial(t, addr)
	c.send("GET /1 HTTP/1.1\r\nHost: a\r\n\r\n")
	c.response("GET")
	deadline := time.Now().Add(parkDelay + 2*time.Second)
	for !allParked(s) {
		if time.Now().After(deadline) {
			t.Fatal("idle connection not parked")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, n := range []int{s.readers.len(), s.writers.len(), s.values.len()} {
		if n != 1 {
			t.Errorf("free lists hold %d, %d, %d, want the parked connection's buffers and value", s.readers.len(), s.writers.len(), s.values.len())
			break
		}
	}
	if runtime.GOOS == "linux" {
		s.mu.Lock()
		for cn := range s.conns {
			if !cn.polled.Load() {
				t.Error("a parked connection is not on the poller")
			}
		}
		s.mu.Unlock()
	}
	for i := 2; i < 5; i++ {
		c.send(fmt.Sprintf("GET /%d HTTP/1.1\r\nHost: a\r\n\r\n", i))
		if _, body := c.response("GET"); body != fmt.Sprintf("ok /%d", i) {
			t.Fatalf("after parking: %q", body)
		}
	}
	if n := made.Load(); n < 1 || n > 2 { // 2: the race detector's sync.Pool drops some
		t.Errorf("ConnValue made %d times", n)
	}
	// A parked connection still times out, and Shutdown closes it.
	c.send("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
	c.response("GET")
}

func allParked(s *Server) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if st, _ := c.getState(); st != stateParked {
			return false
		}
	}
	return len(s.conns) > 0
}

// TestParkedConnectionTimesOutAndShutsDown: parking keeps the idle timeout
// and Shutdown's closing of idle connections.
func TestParkedConnectionTimesOutAndShutsDown(t *testing.T) {
	addr, s := start(t, echo, func(s *Server) { s.IdleTimeout = parkDelay + 500*time.Millisecond })
	c := dial(t, addr)
	c.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	c.response("GET")
	t0 := time.Now()
	if !c.closed() {
		c.c.SetReadDeadline(time.Now().Add(3 * time.Second))
		if _, err := c.br.ReadByte(); err != io.EOF && !isReset(err) {
			t.Fatalf("parked connection not closed at the idle timeout: %v after %v", err, time.Since(t0))
		}
	}
	c = dial(t, addr)
	c.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	c.response("GET")
	for !allParked(s) {
		time.Sleep(20 * time.Millisecond)
	}
	done := make(chan error)
	go func() { done <- s.Shutdown(t.Context()) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown did not close a parked connection")
	}
	var ne net.Error
	c.c.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := c.br.ReadByte(); errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("parked connection open after Shutdown")
	}
}

// TestDefaultBodyRateCutsTrickle: with the default settings, a body
// trickling one byte every 2 s is answered 408 within 60 s (after the
// 20 s grace).
func TestDefaultBodyRateCutsTrickle(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 20 s")
	}
	t.Parallel()
	addr, _ := start(t, &smuggleHandler{})
	c := dial(t, addr)
	c.c.SetDeadline(time.Now().Add(70 * time.Second))
	c.send("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n")
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Second):
				if _, err := c.c.Write([]byte("x")); err != nil {
					return
				}
			}
		}
	}()
	t0 := time.Now()
	resp, _ := c.response("POST")
	if d := time.Since(t0); resp.StatusCode != http.StatusRequestTimeout || d > 60*time.Second || d < DefaultBodyGrace {
		t.Fatalf("%d after %v, want 408 between %v and 60s", resp.StatusCode, d, DefaultBodyGrace)
	}
}

// TestParkAndWakeUnderLoad: connections whose requests come around the
// moment they are parked (parking after 20 ms here) are all served: a
// request racing the park, or a park racing the wake-up, loses nothing.
func TestParkAndWakeUnderLoad(t *testing.T) {
	for _, poll := range []bool{true, false} {
		t.Run(fmt.Sprintf("poller=%v", poll), func(t *testing.T) { parkAndWake(t, poll) })
	}
}

func parkAndWake(t *testing.T, poll bool) {
	addr, _ := start(t, &smuggleHandler{}, func(s *Server) { s.parkAfter, s.noPoll = 20*time.Millisecond, !poll })
	const conns, requests = 16, 40
	errs := make(chan error, conns)
	for i := range conns {
		go func() {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(30 * time.Second))
			rc := &rawConn{t: t, c: c, br: bufio.NewReader(c)}
			for j := range requests {
				time.Sleep(time.Duration((i*7+j*13)%50) * time.Millisecond)
				if _, err := fmt.Fprintf(c, "POST /%d/%d HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nok", i, j); err != nil {
					errs <- err
					return
				}
				resp, err := http.ReadResponse(rc.br, nil)
				if err != nil {
					errs <- fmt.Errorf("conn %d request %d: %w", i, j, err)
					return
				}
				b, _ := io.ReadAll(resp.Body)
				if want := fmt.Sprintf("/%d/%d body=ok", i, j); string(b) != want {
					errs <- fmt.Errorf("conn %d request %d: %q", i, j, b)
					return
				}
			}
			errs <- nil
		}()
	}
	for range conns {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
