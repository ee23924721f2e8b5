package backend

import (
	"net"
	"net/http"
	"net/http/httptest"
)

func newTLSServer(ln net.Listener, h http.Handler) *httptest.Server {
	s := httptest.NewUnstartedServer(h)
	s.Listener.Close()
	s.Listener = ln
	s.EnableHTTP2 = true
	s.StartTLS()
	return s
}
