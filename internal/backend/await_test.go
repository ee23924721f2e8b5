//go:build unix

package backend

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/apimgw/apimgw/internal/testcerts"
	"github.com/apimgw/apimgw/internal/testnet"
)

func awaitWriter(t *testing.T, c *net.TCPConn) *countingWriter {
	t.Helper()
	raw, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	cw := &countingWriter{w: c, raw: raw, rest: c, await: true}
	cw.awaitFn = cw.awaitStep
	return cw
}

// writeAwait returns once the peer has answered, not before: the write is
// followed by a wait for readability, and the read after it finds bytes.
func TestWriteAwaitWaitsForTheAnswer(t *testing.T) {
	c, s := testnet.TCPPair(t)
	cw := awaitWriter(t, c)
	var answered atomic.Bool
	go func() {
		buf := make([]byte, 5)
		if _, err := io.ReadFull(s, buf); err != nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
		answered.Store(true)
		s.Write([]byte("answer"))
	}()
	n, err := cw.Write([]byte("hello"))
	if n != 5 || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if !answered.Load() {
		t.Fatal("writeAwait returned before the peer answered")
	}
	if cw.n != 5 || cw.await {
		t.Fatalf("counted %d bytes, await still %v", cw.n, cw.await)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 16)
	m, err := c.Read(buf)
	if string(buf[:m]) != "answer" || err != nil {
		t.Fatalf("read after the wait = %q, %v", buf[:m], err)
	}
	// Only the one Write waits: the next goes out as usual.
	if n, err := cw.Write([]byte("again")); n != 5 || err != nil {
		t.Fatalf("second Write = %d, %v", n, err)
	}
}

// What the socket cannot take at once goes out with a blocking write: all
// of it arrives, in order, once the peer reads.
func TestWriteAwaitFullSocketBuffer(t *testing.T) {
	c, s := testnet.TCPPair(t)
	cw := awaitWriter(t, c)
	p := bytes.Repeat([]byte("0123456789abcdef"), 1<<20) // 16 MiB: more than the socket buffers hold
	got := make(chan []byte, 1)
	go func() {
		time.Sleep(50 * time.Millisecond) // let the socket buffers fill first
		b := make([]byte, len(p))
		if _, err := io.ReadFull(s, b); err != nil {
			got <- nil
			return
		}
		got <- b
		s.Write([]byte("ok"))
	}()
	c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	n, err := cw.Write(p)
	if n != len(p) || err != nil {
		t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(p))
	}
	if b := <-got; !bytes.Equal(b, p) {
		t.Fatal("the peer did not get the bytes written, in order")
	}
	if cw.n != int64(len(p)) {
		t.Fatalf("counted %d bytes, want %d", cw.n, len(p))
	}
}

// A write to a connection the peer reset fails as a net.Error, which the
// exchange treats as a connection failure.
func TestWriteAwaitResetPeer(t *testing.T) {
	c, s := testnet.TCPPair(t)
	s.SetLinger(0)
	s.Close() // RST
	time.Sleep(20 * time.Millisecond)
	cw := awaitWriter(t, c)
	var err error
	for i := 0; i < 3 && err == nil; i++ { // the first write may be taken before the RST is seen
		cw.await = true
		_, err = cw.Write([]byte("GET / HTTP/1.1\r\n\r\n"))
	}
	if err == nil {
		t.Fatal("writes to a reset connection succeeded")
	}
	var ne net.Error
	if !errors.As(err, &ne) || !isConnError(err) {
		t.Fatalf("error %v (%T) is not a connection error", err, err)
	}
}

// An interrupted connection (the deadline in the past, as pconn.interrupt
// sets it) fails the write with a timeout and sends nothing.
func TestWriteAwaitInterrupted(t *testing.T) {
	c, s := testnet.TCPPair(t)
	c.SetDeadline(aLongTimeAgo)
	cw := awaitWriter(t, c)
	n, err := cw.Write([]byte("hello"))
	if n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Write = %d, %v; want 0 and a deadline error", n, err)
	}
	s.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if m, _ := s.Read(make([]byte, 8)); m != 0 {
		t.Fatalf("the peer got %d bytes", m)
	}
}

// A read deadline that passes during the wait ends it without an error:
// the write succeeded, and the read that follows reports the timeout.
func TestWriteAwaitDeadlineDuringWait(t *testing.T) {
	c, s := testnet.TCPPair(t)
	cw := awaitWriter(t, c)
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	n, err := cw.Write([]byte("hello"))
	if n != 5 || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if _, err := c.Read(make([]byte, 8)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read after the wait: %v, want a deadline error", err)
	}
	buf := make([]byte, 5)
	s.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(s, buf); err != nil || string(buf) != "hello" {
		t.Fatalf("the peer got %q, %v", buf, err)
	}
}

// Over a keep-alive connection, cleartext or TLS, a request without a
// body costs one read of the socket, the response's, and no read that
// fails with EAGAIN. Counted with /proc/self/io's syscr (the process's
// read system calls); the raw backend runs in this process, and its own
// two reads per request (the request's, then one that waits) are counted
// too: 3 in all, 4 without writeAwait. Under TLS a request head of 2,000
// bytes takes two records on a new connection (Go sizes its first records
// to one TCP segment), which must both go out before the wait.
func TestRequestWithoutBodyReadsOnce(t *testing.T) {
	ca := testcerts.NewCA(t, "backend CA")
	cert := ca.Server(t, "127.0.0.1")
	for _, mode := range []string{"cleartext", "tls"} {
		for _, head := range []int{0, 2000} {
			t.Run(mode+"/"+strconv.Itoa(head), func(t *testing.T) {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				defer ln.Close()
				if mode == "tls" {
					ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}})
				}
				go rawAnswerer(ln)
				dest := ln.Addr().String()
				m, _ := newTestManager(t, Options{Hosts: map[string]HostOptions{dest: {TLSInsecureSkipVerify: true}}})
				scheme := map[string]string{"cleartext": "http", "tls": "https"}[mode]
				get := func() {
					req, _ := http.NewRequest(http.MethodGet, scheme+"://"+dest+"/x", nil)
					if head > 0 {
						req.Header.Set("X-Padding", strings.Repeat("p", head))
					}
					resp, err := m.RoundTrip(req)
					if err != nil {
						t.Fatal(err)
					}
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if string(b) != "ok" {
						t.Fatalf("body %q", b)
					}
				}
				perRequest := testnet.ReadsPerCall(t, 400, get)
				t.Logf("%.2f read system calls per request (client and backend)", perRequest)
				if perRequest > 3.5 {
					t.Fatalf("%.2f reads per request; want about 3 (the backend's two, the response's one)", perRequest)
				}
			})
		}
	}
}

// rawAnswerer answers every request head on ln's first connection with a
// two-byte response.
func rawAnswerer(ln net.Listener) {
	c, err := ln.Accept()
	if err != nil {
		return
	}
	defer c.Close()
	const answer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	buf := make([]byte, 8192)
	var pending []byte
	for {
		n, err := c.Read(buf)
		if err != nil {
			return
		}
		pending = append(pending, buf[:n]...)
		for {
			i := bytes.Index(pending, []byte("\r\n\r\n"))
			if i < 0 {
				break
			}
			pending = pending[i+4:]
			if _, err := c.Write([]byte(answer)); err != nil {
				return
			}
		}
	}
}

// readPair is a connection's counting reader and writer over c, as
// newPconn links them, with the request's last bytes left for the read.
func readPair(t *testing.T, c *net.TCPConn) (*countingReader, *countingWriter) {
	cw := awaitWriter(t, c)
	cw.await, cw.toRead = false, true
	return &countingReader{r: c, w: cw}, cw
}

// With toRead, the request's last bytes wait for the response's first
// read, which sends them, waits for the answer and reads it; the bytes
// are counted once sent.
func TestReadAwaitSendsThenReads(t *testing.T) {
	c, s := testnet.TCPPair(t)
	cr, cw := readPair(t, c)
	if n, err := cw.Write([]byte("hello")); n != 5 || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if cw.n != 0 || cw.toRead {
		t.Fatalf("before the read: %d bytes counted, toRead %v", cw.n, cw.toRead)
	}
	s.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if n, err := s.Read(make([]byte, 5)); n != 0 || !os.IsTimeout(err) {
		t.Fatalf("the peer got %d bytes before the read: %v", n, err)
	}
	go func() {
		buf := make([]byte, 5)
		s.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(s, buf); err != nil || string(buf) != "hello" {
			return
		}
		time.Sleep(20 * time.Millisecond)
		s.Write([]byte("answer"))
		s.Close()
	}()
	buf := make([]byte, 16)
	n, err := cr.Read(buf)
	if string(buf[:n]) != "answer" || err != nil {
		t.Fatalf("Read = %q, %v", buf[:n], err)
	}
	if cw.n != 5 || cr.n != 6 || cw.pending != nil {
		t.Fatalf("counted %d written, %d read; pending %q", cw.n, cr.n, cw.pending)
	}
	// The next read is the usual one: the end of the stream.
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := cr.Read(buf); n != 0 || err != io.EOF {
		t.Fatalf("read at the end = %d, %v; want io.EOF", n, err)
	}
}

// A peer that closes without answering: the read after the send reports
// the end of the stream.
func TestReadAwaitEndOfStream(t *testing.T) {
	c, s := testnet.TCPPair(t)
	cr, cw := readPair(t, c)
	cw.Write([]byte("hello"))
	go func() {
		io.ReadFull(s, make([]byte, 5))
		s.Close()
	}()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := cr.Read(make([]byte, 16)); n != 0 || err != io.EOF {
		t.Fatalf("Read = %d, %v; want io.EOF", n, err)
	}
}

// A send that fails comes back from the read as a sendError (for
// roundTrip to report as a failed send), with nothing counted as written.
func TestReadAwaitSendFails(t *testing.T) {
	c, _ := testnet.TCPPair(t)
	cr, cw := readPair(t, c)
	cw.Write([]byte("hello"))
	c.CloseWrite() // the write fails: EPIPE
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := cr.Read(make([]byte, 16))
	var se *sendError
	if n != 0 || !errors.As(err, &se) || !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("Read = %d, %v; want a sendError for EPIPE", n, err)
	}
	if cw.n != 0 {
		t.Fatalf("%d bytes counted as written", cw.n)
	}
}

// Through the manager: a pooled connection that can no longer send (its
// writing side shut; the stale check or the failed send finds it,
// whichever comes first) costs the request nothing: it goes out on a new
// connection and succeeds.
func TestPooledConnectionSendFailsRetries(t *testing.T) {
	b := newTestBackend(t, "", okHandler, nil)
	m, _ := newTestManager(t, Options{})
	get := func() {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, b.URL, nil)
		resp, err := m.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	get()
	m.mu.Lock()
	var idle []*pconn
	for _, p := range m.pools {
		p.mu.Lock()
		idle = append(idle, p.idle...)
		p.mu.Unlock()
	}
	m.mu.Unlock()
	if len(idle) != 1 || idle[0].tcp == nil {
		t.Fatalf("%d idle connections, want 1 over TCP", len(idle))
	}
	idle[0].tcp.CloseWrite()
	get()
	if got := b.accepted.Load(); got != 2 {
		t.Errorf("accepted %d connections, want 2 (the retry's)", got)
	}
}
