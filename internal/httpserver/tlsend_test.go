//go:build linux

package httpserver

import (
	"bytes"
	"crypto/tls"
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
			s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{ts.server}, NextProtos: []string{"http/1.1"}}
		})
		const conns = 20
		var writes int64
		for i := range conns {
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			tap := &tapConn{Conn: nc}
			c := tls.Client(tap, &tls.Config{RootCAs: ts.pool, ServerName: "localhost", NextProtos: []string{"http/1.1"}})
			c.SetDeadline(time.Now().Add(10 * time.Second))
			if err := c.Handshake(); err != nil {
				t.Fatal(err)
			}
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
