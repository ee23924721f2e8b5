//go:build linux

package httpserver

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/apimgw/apimgw/internal/testnet"
)

// tapConn keeps what is read through it.
type tapConn struct {
	net.Conn
	got bytes.Buffer
}

func (c *tapConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.got.Write(p[:n])
	return n, err
}

// A TLS connection that ends after its response (the client asked for
// Connection: close) sends the response's records and its close_notify
// alert in one write system call, as nginx does in its one SSL_shutdown
// after the response, not two (counted with /proc/self/io's syscw: the
// client's request and the server's one write, the client only reading
// after its request). The alert is there: the last record the client
// reads is one of 19 bytes (TLS 1.3: a 2-byte alert, its content type and
// a 16-byte tag), the client's read ends at io.EOF, and the response is
// whole. With a response of several records (a new connection's first
// records are sized to one TCP segment) and one of one.
func TestTLSLastResponseAndAlertInOneWrite(t *testing.T) {
	if _, err := testnet.WriteSyscalls(); err != nil {
		t.Skip("no write system call count:", err)
	}
	ts := newTLSSetup(t)
	for _, size := range []int{2, 3000} {
		answer := strings.Repeat("z", size)
		addr, _ := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, answer)
		}), func(s *Server) {
			s.TLSConfig = ts.http1Server()
		})
		const conns = 20
		var writes int64
		for i := range conns {
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			tap := &tapConn{Conn: nc}
			c := ts.http1Client(t, tap)
			tap.got.Reset()
			before, _ := testnet.WriteSyscalls()
			if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(c) // to io.EOF
			after, _ := testnet.WriteSyscalls()
			c.Close()
			if err != nil {
				t.Fatalf("connection %d: %v", i, err)
			}
			if !strings.HasSuffix(string(got), "\r\n\r\n"+answer) || !strings.HasPrefix(string(got), "HTTP/1.1 200 OK\r\n") {
				t.Fatalf("connection %d: answer %q", i, got)
			}
			if last := lastRecordLen(tap.got.Bytes()); last != 19 {
				t.Fatalf("connection %d: last record of %d bytes, want the close_notify alert's 19", i, last)
			}
			writes += after - before
		}
		perConn := float64(writes) / conns
		t.Logf("%d-byte answers: %.2f write system calls per request and answer (client and server)", size, perConn)
		if perConn > 2.3 {
			t.Fatalf("%.2f writes per request and answer; want 2 (the request, then the answer and the alert together)", perConn)
		}
	}
}

// lastRecordLen returns the length of the last whole TLS record in b, -1
// if b does not end at a record's end.
func lastRecordLen(b []byte) int {
	last := -1
	for len(b) >= 5 {
		n := int(binary.BigEndian.Uint16(b[3:5]))
		if len(b) < 5+n {
			return -1
		}
		last, b = n, b[5+n:]
	}
	if len(b) != 0 {
		return -1
	}
	return last
}

// smallSendBuffers gives each accepted TCP connection a small send buffer,
// so that a client that reads nothing stalls the server's writes after a
// few kilobytes.
type smallSendBuffers struct{ net.Listener }

func (l smallSendBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetWriteBuffer(32 << 10)
	}
	return c, err
}

// The one write of a TLS connection's last records and its alert is under
// the write-stall bound, like the response writes before it: a client that
// asked for Connection: close and reads nothing has its connection closed
// once the write has blocked WriteStallTimeout, whether the write that
// blocks is the handler's or the one after it. The answers grow by 512
// bytes (the handler writes 512 at a time, the server's writes go out 4 KiB
// at a time) until the write that blocks is that last one: the handler
// returned, and the connection stayed until the sweeper closed it.
func TestTLSLastWriteStallIsCutOff(t *testing.T) {
	ts := newTLSSetup(t)
	handlerDone := make(chan time.Time, 1)
	var size int
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			piece := strings.Repeat("z", 512)
			for range size / 512 {
				if _, err := io.WriteString(w, piece); err != nil {
					break
				}
			}
			handlerDone <- time.Now()
		}),
		TLSConfig:         ts.http1Server(),
		WriteStallTimeout: 100 * time.Millisecond,
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(smallSendBuffers{ln}) }()
	defer func() {
		s.Close()
		<-done
	}()
	// try answers a client that reads nothing with size bytes and reports
	// how long the connection stayed open after the request was sent and
	// after the handler returned.
	try := func() (total, after time.Duration) {
		nc, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.(*net.TCPConn).SetReadBuffer(32 << 10)
		c := ts.http1Client(t, nc)
		sent := time.Now()
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for openConns(s) > 0 {
			if time.Now().After(deadline) {
				t.Fatalf("%d-byte answer to a client that reads nothing: the connection is still open after 5 s", size)
			}
			time.Sleep(2 * time.Millisecond)
		}
		return time.Since(sent), time.Since(<-handlerDone)
	}
	stalls := func() bool { total, _ := try(); return total >= 50*time.Millisecond }
	// 4 KiB steps to the first answer that stalls, then 512-byte steps
	// from the step before it.
	for size = 4096; size <= 1<<20 && !stalls(); size += 4096 {
	}
	for size -= 4096; size <= 1<<20; size += 512 {
		if _, after := try(); after >= 50*time.Millisecond {
			t.Logf("%d-byte answer: the handler returned, the last write blocked, and the connection was closed %v later", size, after.Round(time.Millisecond))
			return
		}
	}
	t.Fatal("no answer size left the last write blocked")
}
