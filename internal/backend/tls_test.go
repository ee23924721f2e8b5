package backend

import (
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
)

func newTLSServer(ln net.Listener, h http.Handler) *httptest.Server {
	s := httptest.NewUnstartedServer(h)
	s.Listener.Close()
	s.Listener = ln
	s.EnableHTTP2 = true
	s.Config.ErrorLog = log.New(io.Discard, "", 0) // handshake failures are expected
	s.StartTLS()
	return s
}
