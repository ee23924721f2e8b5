// Package testproxy is an HTTP forward proxy for tests, on loopback:
// absolute-form requests are forwarded and CONNECT opens a tunnel, both
// only with the Basic credentials it was given.
package testproxy

import (
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// Proxy is a running forward proxy. It counts the requests it forwarded,
// the tunnels it opened, the requests it refused (407) and the
// connections clients opened to it.
type Proxy struct {
	*httptest.Server
	Forwarded, Tunnels, Refused, Accepted atomic.Int64
}

// New starts a proxy that requires username and password; it stops when
// the test ends.
func New(t testing.TB, username, password string) *Proxy {
	t.Helper()
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte(username+":"+password))
	p := &Proxy{}
	p.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Proxy-Authorization") != want {
			p.Refused.Add(1)
			w.Header().Set("Proxy-Authenticate", `Basic realm="test"`)
			w.WriteHeader(http.StatusProxyAuthRequired)
			return
		}
		if r.Method == http.MethodConnect {
			p.tunnel(w, r)
			return
		}
		if !r.URL.IsAbs() {
			http.Error(w, "not a proxy request", http.StatusBadRequest)
			return
		}
		p.Forwarded.Add(1)
		out := r.Clone(r.Context())
		out.RequestURI = ""
		out.Header.Del("Proxy-Authorization")
		resp, err := http.DefaultTransport.RoundTrip(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	}))
	p.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			p.Accepted.Add(1)
		}
	}
	p.Start()
	t.Cleanup(p.Close)
	return p
}

func (p *Proxy) tunnel(w http.ResponseWriter, r *http.Request) {
	p.Tunnels.Add(1)
	up, err := net.Dial("tcp", r.Host)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	w.WriteHeader(http.StatusOK)
	c, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		up.Close()
		return
	}
	go func() { io.Copy(up, rw); up.Close() }()
	io.Copy(c, up)
	c.Close()
}
