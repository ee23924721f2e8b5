package httpserver

import (
	"crypto/tls"
	"sync"
)

// TLS on the server's own connection loop.
//
// With Server.TLSConfig set, every accepted connection is wrapped in a
// crypto/tls server connection. The handshake runs on the connection's
// goroutine before its first request, in the reading state: the
// ReadHeaderTimeout bounds it, and MaxConns counts the connection from its
// accept. ALPN: a client that negotiates "http/1.1" (or nothing) is served
// here; one that negotiates another protocol (h2) is handed, with its
// handshake done, to Server.TLSHandOff (net/http's HTTP/2 server, say),
// and counted against MaxConns until it ends (HandedConn.Done).
//
// Session resumption: the server uses TLSConfig as given (it is not
// cloned per connection), so crypto/tls's session ticket keys, made once
// for the config and rotated by crypto/tls itself, stay the same for the
// server's life and a client's ticket resumes on a later connection.
//
// Parking: an idle TLS connection parks like a cleartext one (its read and
// write buffers and handler storage go back to the server's free lists),
// but it waits for its next request on a goroutine of its own, never on the
// poller: a readable socket is not a readable request once records are
// encrypted (crypto/tls may also hold bytes already read), so the wait is a
// one-byte Read through the tls.Conn, which keeps the connection's TLS
// state (keys, sequence numbers, buffered records) intact.
//
// The sweeper and Close close the TCP socket under the TLS connection,
// not the tls.Conn: a tls.Conn's Close writes a close_notify alert, which
// may block on a client that does not read. A connection ending the
// ordinary way (the client closed, Connection: close) is closed through
// crypto/tls, close_notify included: conn.end arms the socket under it, so
// that the last response's records and the alert go out in one write
// (under the write-stall check), and then closes the socket itself.

// HandedConn is a TLS connection the server handed to TLSHandOff. It stays
// counted against MaxConns until Done; while SetIdle(true) it is, like an
// idle HTTP/1.1 connection, one the server may close to make room for a
// new one, and it is closed at IdleTimeout and by Shutdown.
type HandedConn struct {
	c    *conn
	once sync.Once
}

// SetIdle records whether the handed-off connection has no request in
// progress.
func (h *HandedConn) SetIdle(idle bool) {
	st := stateHandedOff
	if idle {
		st = stateHandedOffIdle
	}
	h.c.setState(st)
}

// Done tells the server that the handed-off connection has ended (its new
// owner closed it). Later calls do nothing.
func (h *HandedConn) Done() {
	h.once.Do(func() { h.c.srv.trackConn(h.c, false) })
}

// tlsConfig is the configuration connections are served with.
func (s *Server) tlsConfig() *tls.Config { return s.TLSConfig }

// handshake runs a TLS connection's handshake before its first request and
// reports whether the connection is to be served here; when it is not,
// the connection was either handed off (c.handedOff) or failed.
func (c *conn) handshake() bool {
	tc := c.rwc.(*tls.Conn)
	c.setState(stateReading) // the header timeout bounds the handshake
	if err := tc.HandshakeContext(c.baseCtx); err != nil {
		c.srv.log().Debug("http: TLS handshake error", "remote", c.remoteAddr, "err", err)
		return false
	}
	st := tc.ConnectionState()
	c.tlsState = &st
	c.handshook = true
	switch p := st.NegotiatedProtocol; p {
	case "", "http/1.1":
		return true
	default:
		if c.srv.TLSHandOff == nil {
			return false
		}
		h := &HandedConn{c: c}
		c.handedOff = true
		c.setState(stateHandedOff)
		c.srv.TLSHandOff(tc, h)
		return false
	}
}
