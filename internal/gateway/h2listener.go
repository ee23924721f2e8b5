package gateway

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"sync"

	"github.com/apimgw/apimgw/internal/httpserver"
)

// h2Server serves the TLS listener's HTTP/2 clients: httpserver does the
// handshake and hands over the connections whose ALPN chose h2, which
// net/http's server (its HTTP/2) serves from a listener fed with them.
// They stay counted against the limits' maxConnections by httpserver
// (HandedConn) until net/http closes them; idle ones may be closed to
// make room, as idle HTTP/1.1 connections are.
type h2Server struct {
	hs    *http.Server
	ln    *handOffListener
	conns sync.Map // net.Conn -> *httpserver.HandedConn
}

func newH2Server(g *Gateway, log *slog.Logger, h1 *httpserver.Server, addr net.Addr) *h2Server {
	s := &h2Server{
		hs: &http.Server{Handler: g, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)},
		ln: &handOffListener{ch: make(chan net.Conn), done: make(chan struct{}), addr: addr},
	}
	h1.ConfigureNetHTTP(s.hs)
	s.hs.ConnState = func(c net.Conn, st http.ConnState) {
		v, ok := s.conns.Load(c)
		if !ok {
			return
		}
		h := v.(*httpserver.HandedConn)
		switch st {
		case http.StateIdle:
			h.SetIdle(true)
		case http.StateActive:
			h.SetIdle(false)
		case http.StateClosed, http.StateHijacked:
			s.conns.Delete(c)
			h.Done()
		}
	}
	h1.TLSHandOff = s.handOff
	return s
}

func (s *h2Server) handOff(c *tls.Conn, h *httpserver.HandedConn) {
	s.conns.Store(c, h)
	select {
	case s.ln.ch <- c:
	case <-s.ln.done:
		s.conns.Delete(c)
		c.Close()
		h.Done()
	}
}

func (s *h2Server) serve() { s.hs.Serve(s.ln) }

// shutdownWith shuts the HTTP/2 server down (GOAWAY to its clients)
// beside the HTTP/1.1 server's shutdown, which waits for the handed-off
// connections too.
func (s *h2Server) shutdownWith(h1 func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error {
		errc := make(chan error, 1)
		go func() { errc <- s.hs.Shutdown(ctx) }()
		err := h1(ctx)
		if err2 := <-errc; err == nil {
			err = err2
		}
		return err
	}
}

// handOffListener is the listener net/http's server accepts the
// handed-off connections from.
type handOffListener struct {
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
	addr net.Addr
}

func (l *handOffListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *handOffListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *handOffListener) Addr() net.Addr { return l.addr }
