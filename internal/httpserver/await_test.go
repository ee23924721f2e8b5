//go:build unix

package httpserver

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apimgw/apimgw/internal/testnet"
)

// awaitModes runs f over a cleartext and a TLS server, with a raw client
// for each (start and dial's, or their TLS counterparts).
func awaitModes(t *testing.T, f func(t *testing.T, serve func(http.Handler, ...func(*Server)) func() *rawConn)) {
	t.Run("cleartext", func(t *testing.T) {
		f(t, func(h http.Handler, configure ...func(*Server)) func() *rawConn {
			addr, _ := start(t, h, configure...)
			return func() *rawConn { return dial(t, addr) }
		})
	})
	t.Run("tls", func(t *testing.T) {
		ts := newTLSSetup(t)
		f(t, func(h http.Handler, configure ...func(*Server)) func() *rawConn {
			addr, _ := start(t, h, append([]func(*Server){func(s *Server) {
				s.TLSConfig = ts.http1Server()
			}}, configure...)...)
			return func() *rawConn {
				nc, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				c := ts.http1Client(t, nc)
				t.Cleanup(func() { c.Close() })
				return &rawConn{t: t, c: c, br: bufio.NewReader(c)}
			}
		})
	})
}

// A request the client sends before the response to the one before it
// (pipelining), which reaches the socket while the handler still runs, is
// answered: the write-then-wait that would not see it is ended by the
// sweeper, and the connection stops waiting that way. The idle timeout is
// long, so a wait that nothing ended would fail the test at the client's
// deadline.
func TestPipelinedRequestArrivingDuringTheHandler(t *testing.T) {
	awaitModes(t, func(t *testing.T, serve func(http.Handler, ...func(*Server)) func() *rawConn) {
		entered, release := make(chan struct{}), make(chan struct{})
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/1" {
				entered <- struct{}{}
				<-release
			}
			w.Write([]byte("answer " + r.URL.Path))
		})
		c := serve(h, func(s *Server) { s.IdleTimeout = time.Minute })()
		for round := 0; round < 3; round++ {
			c.send("GET /1 HTTP/1.1\r\nHost: a\r\n\r\n")
			<-entered // /1 was read alone
			c.send("GET /2 HTTP/1.1\r\nHost: a\r\n\r\n")
			// /2 reaches the socket, and the runtime's poller notes it,
			// while the handler runs: well within watchDelay, so that no
			// watch reads a byte of it.
			time.Sleep(5 * time.Millisecond)
			release <- struct{}{}
			c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
			for _, want := range []string{"answer /1", "answer /2"} {
				if _, body := c.response("GET"); body != want {
					t.Fatalf("round %d: %q, want %q", round, body, want)
				}
			}
		}
	})
}

// A connection that waits for its next request longer than a sweeper tick
// (the sweeper ends the write-then-wait) serves it as usual, and so do
// those after it.
func TestIdleClientAfterWriteThenWait(t *testing.T) {
	awaitModes(t, func(t *testing.T, serve func(http.Handler, ...func(*Server)) func() *rawConn) {
		c := serve(echo)()
		for i := 0; i < 4; i++ {
			c.send("GET /" + strconv.Itoa(i) + " HTTP/1.1\r\nHost: a\r\n\r\n")
			if _, body := c.response("GET"); !strings.HasPrefix(body, "GET /"+strconv.Itoa(i)+" ") {
				t.Fatalf("request %d: %q", i, body)
			}
			if i%2 == 0 {
				time.Sleep(60 * time.Millisecond) // several sweeper ticks
			}
		}
	})
}

// A keep-alive request without a body costs the server one read of the
// socket, the request's, and no read that fails with EAGAIN (counted
// with /proc/self/io's syscr, the process's read system calls). The raw
// client here is in the same process, and its reads are counted too: one
// for the response, one before it that fails (it reads first, as Go's
// net.Conn does). 3 in all; 4 when the server reads first as well. The
// 3,000-byte answer takes several TLS records on a new connection (Go
// sizes its first records to one TCP segment), all of which must go out
// before the wait.
func TestKeepAliveRequestReadsOnce(t *testing.T) {
	for _, tc := range []struct {
		size int
		req  string
	}{
		{2, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"},
		{3000, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"},
		// A body the handler reads to its end leaves nothing to drain.
		{2, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"},
	} {
		size := tc.size
		answer := strings.Repeat("k", size)
		awaitModes(t, func(t *testing.T, serve func(http.Handler, ...func(*Server)) func() *rawConn) {
			c := serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if b, err := io.ReadAll(r.Body); err != nil || r.Method == http.MethodPost && string(b) != "abc" {
					t.Errorf("request body %q, %v", b, err)
				}
				w.Write([]byte(answer))
			}))()
			get := func() {
				c.send(tc.req)
				if _, body := c.response("GET"); body != answer {
					t.Fatalf("body of %d bytes, want %d", len(body), size)
				}
			}
			perRequest := testnet.ReadsPerCall(t, 400, get)
			t.Logf("%s, %d-byte answers: %.2f read system calls per request (client and server)", tc.req[:4], size, perRequest)
			if perRequest > 3.5 {
				t.Fatalf("%.2f reads per request; want about 3", perRequest)
			}
		})
	}
}

// The sweeper ends a wait only when a second tick finds the same wait on:
// the first tick after a stall of the whole process finds every wait a
// tick old with a request arrived meanwhile, which the poller is about
// to deliver, and kicking them would end write-then-wait on every
// connection for good. A new wait between the ticks starts over.
func TestKickAwaitNeedsTwoTicks(t *testing.T) {
	c, _ := testnet.TCPPair(t)
	cn := &conn{rwc: c}
	wait := func() { cn.awaitSeq.Add(1); cn.awaiting.Store(true) }
	tick := func(wantKicked bool, why string) {
		t.Helper()
		cn.kickAwait()
		if cn.kicked != wantKicked {
			t.Fatal(why)
		}
	}
	wait()
	tick(false, "the first tick ended the wait")
	tick(true, "the second tick did not end the wait")
	cn.kicked = false
	cn.awaiting.Store(false)
	c.SetReadDeadline(time.Time{})
	wait()
	tick(false, "the first tick ended the wait")
	cn.awaiting.Store(false) // the wait ended (readable); the next begins
	wait()
	tick(false, "a wait seen once was ended: the tick saw an earlier one")
	tick(true, "the second tick on the new wait did not end it")
}
