package gateway

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"

	"github.com/apimgw/apimgw/internal/httplex"
	"github.com/apimgw/apimgw/internal/policy"
)

// isUpgrade reports whether a request asks to switch protocols (a
// WebSocket opening handshake), and to what.
func isUpgrade(h http.Header) (string, bool) {
	up := httplex.First(h, "Upgrade")
	if up == "" || !httplex.HasToken(h["Connection"], "upgrade") {
		return "", false
	}
	return up, true
}

// sessions are the WebSocket connections being relayed, closed when the
// gateway closes: the data-plane server no longer owns them.
type sessions struct {
	mu     sync.Mutex
	conns  map[io.Closer]struct{}
	closed bool
}

func (s *sessions) add(c io.Closer) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	if s.conns == nil {
		s.conns = map[io.Closer]struct{}{}
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *sessions) remove(c io.Closer) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

func (s *sessions) closeAll() {
	s.mu.Lock()
	s.closed = true
	cs := s.conns
	s.conns = nil
	s.mu.Unlock()
	for c := range cs {
		c.Close()
	}
}

// relay answers the client's handshake with the backend's 101 and copies
// bytes both ways until either side closes, then closes the other, as
// APIM's WebSocket passthrough does. It returns the bytes sent to the
// client and from it.
func (g *Gateway) relay(w http.ResponseWriter, st *policy.State, up io.ReadWriteCloser) (toClient, fromClient int64, err error) {
	defer up.Close()
	h := w.Header()
	for k, v := range st.X.Response.Headers {
		h[k] = v
	}
	for k, v := range st.ExtraHeaders {
		h[k] = append(h[k], v...)
	}
	h.Set("Connection", "Upgrade")
	h.Set("Upgrade", st.UpgradeProtocol)
	delete(h, "Content-Length")
	w.WriteHeader(http.StatusSwitchingProtocols)
	conn, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return 0, 0, err
	}
	defer conn.Close()
	if !g.sessions.add(conn) {
		return 0, 0, net.ErrClosed
	}
	defer g.sessions.remove(conn)
	done := make(chan struct{})
	go func() {
		defer close(done)
		fromClient, _ = io.Copy(up, rw)
		// The client closed (or broke): end the backend side too.
		up.Close()
	}()
	toClient, err = io.Copy(conn, up)
	conn.Close() // the backend closed: end the client side, which ends the copy above
	<-done
	if err != nil && isClosedErr(err) {
		err = nil
	}
	return toClient, fromClient, err
}

// isClosedErr reports whether a relay copy ended because one side closed
// or reset its connection: the normal end of a session.
func isClosedErr(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		strings.Contains(err.Error(), "read on closed response body")
}
