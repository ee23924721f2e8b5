package httpserver

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apimgw/apimgw/internal/reqctx"
	"github.com/apimgw/apimgw/internal/testcerts"
)

// tlsSetup is a TLS server certificate for localhost, the pool that trusts
// it, and a client certificate from another authority.
type tlsSetup struct {
	server tls.Certificate
	pool   *x509.CertPool
	client tls.Certificate
}

func newTLSSetup(t *testing.T) tlsSetup {
	ca, clients := testcerts.NewCA(t, "server CA"), testcerts.NewCA(t, "client CA")
	return tlsSetup{server: ca.Server(t, "localhost"), pool: ca.Pool, client: clients.Client(t, "client-app")}
}

// http1Server is a server configuration with ts's certificate, HTTP/1.1
// by ALPN.
func (ts tlsSetup) http1Server() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{ts.server}, NextProtos: []string{"http/1.1"}}
}

// http1Client makes nc the client side of a TLS connection to an
// http1Server and completes its handshake, with a 10 s deadline.
func (ts tlsSetup) http1Client(t *testing.T, nc net.Conn) *tls.Conn {
	t.Helper()
	c := tls.Client(nc, &tls.Config{RootCAs: ts.pool, ServerName: "localhost", NextProtos: []string{"http/1.1"}})
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if err := c.Handshake(); err != nil {
		t.Fatal(err)
	}
	return c
}

// whoServes answers with the server that ran it (httpserver's requests
// carry its reqctx.Ctx), the protocol, and the request's TLS state.
func whoServes(by string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		by := by // handlers run concurrently: not the shared variable
		if _, ok := r.Context().(*reqctx.Ctx); ok {
			by = "httpserver"
		}
		cn := "-"
		if r.TLS == nil {
			cn = "no TLS"
		} else if len(r.TLS.PeerCertificates) > 0 {
			cn = r.TLS.PeerCertificates[0].Subject.CommonName
		}
		fmt.Fprintf(w, "%s %s %s", by, r.Proto, cn)
	})
}

// handOffToNetHTTP sends s's h2 connections to a net/http server (as the
// gateway does), tracking them with ConnState; it returns that server and
// a func that closes it and waits for its Serve to return.
func handOffToNetHTTP(t *testing.T, s *Server, h http.Handler) (*http.Server, func()) {
	ln := &chanListener{ch: make(chan net.Conn), done: make(chan struct{})}
	var conns sync.Map
	hs := &http.Server{Handler: h, ConnState: func(c net.Conn, st http.ConnState) {
		v, ok := conns.Load(c)
		if !ok {
			return
		}
		switch st {
		case http.StateIdle:
			v.(*HandedConn).SetIdle(true)
		case http.StateActive:
			v.(*HandedConn).SetIdle(false)
		case http.StateClosed, http.StateHijacked:
			conns.Delete(c)
			v.(*HandedConn).Done()
		}
	}}
	s.TLSHandOff = func(c *tls.Conn, h *HandedConn) {
		conns.Store(c, h)
		select {
		case ln.ch <- c:
		case <-ln.done:
			conns.Delete(c)
			c.Close()
			h.Done()
		}
	}
	done := make(chan struct{})
	go func() { hs.Serve(ln); close(done) }()
	var once sync.Once
	stop := func() { once.Do(func() { hs.Close(); <-done }) }
	t.Cleanup(stop)
	return hs, stop
}

type chanListener struct {
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error   { l.once.Do(func() { close(l.done) }); return nil }
func (l *chanListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

func startTLS(t *testing.T, ts tlsSetup, configure ...func(*Server)) (string, *Server) {
	t.Helper()
	return start(t, whoServes("?"), append([]func(*Server){func(s *Server) {
		s.TLSConfig = &tls.Config{
			Certificates: []tls.Certificate{ts.server},
			NextProtos:   []string{"h2", "http/1.1"},
			ClientAuth:   tls.RequestClientCert,
		}
		handOffToNetHTTP(t, s, whoServes("net/http"))
	}}, configure...)...)
}

func get(t *testing.T, client *http.Client, url string) string {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestTLSHTTP1OnServerAndH2HandedOff: over TLS, an HTTP/1.1 client (by
// ALPN or with no ALPN at all) is served by this server with the request's
// TLS state (the client certificate asked for); an HTTP/2 client is handed
// to net/http's server, its TLS state there too.
func TestTLSHTTP1OnServerAndH2HandedOff(t *testing.T) {
	ts := newTLSSetup(t)
	addr, _ := startTLS(t, ts)
	url := "https://" + strings.Replace(addr, "127.0.0.1", "localhost", 1) + "/"
	for _, tc := range []struct {
		name   string
		protos []string
		h2     bool
		want   string
	}{
		{"alpn http/1.1", []string{"http/1.1"}, false, "httpserver HTTP/1.1 client-app"},
		{"no alpn", nil, false, "httpserver HTTP/1.1 client-app"},
		{"alpn h2", nil, true, "net/http HTTP/2.0 client-app"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ts.pool, NextProtos: tc.protos, Certificates: []tls.Certificate{ts.client}}, ForceAttemptHTTP2: tc.h2}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			for range 3 { // keep-alive
				if got := get(t, client, url); got != tc.want {
					t.Fatalf("got %q, want %q", got, tc.want)
				}
			}
		})
	}
}

// TestTLSSessionResumption: a second connection of a client that kept the
// first one's session resumes it (TLS 1.3 and 1.2), on the server's own
// ticket keys.
func TestTLSSessionResumption(t *testing.T) {
	ts := newTLSSetup(t)
	addr, _ := startTLS(t, ts)
	for _, v := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
		t.Run(tls.VersionName(v), func(t *testing.T) {
			cfg := &tls.Config{RootCAs: ts.pool, ServerName: "localhost", MaxVersion: v,
				NextProtos: []string{"http/1.1"}, ClientSessionCache: tls.NewLRUClientSessionCache(4)}
			for i := range 3 {
				c, err := tls.Dial("tcp", addr, cfg)
				if err != nil {
					t.Fatal(err)
				}
				// A request, so that a TLS 1.3 ticket (sent after the
				// handshake) reaches the client.
				rc := &rawConn{t: t, c: c}
				rc.br = bufio.NewReader(c)
				rc.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
				if _, body := rc.response("GET"); body != "httpserver HTTP/1.1 -" {
					t.Fatalf("connection %d: %q", i, body)
				}
				st := c.ConnectionState()
				c.Close()
				if st.Version != v {
					t.Fatalf("version %x", st.Version)
				}
				if resumed := st.DidResume; resumed != (i > 0) {
					t.Fatalf("connection %d: DidResume %v", i, resumed)
				}
			}
		})
	}
}

// TestTLSParkedConnectionKeepsItsState: an idle TLS connection parks (its
// buffers back to the free lists, waiting on a goroutine rather than the
// poller, whose readable socket says nothing of a whole TLS record) and
// serves its next requests on the same TLS session.
func TestTLSParkedConnectionKeepsItsState(t *testing.T) {
	ts := newTLSSetup(t)
	addr, s := startTLS(t, ts, func(s *Server) { s.parkAfter = 50 * time.Millisecond })
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ts.pool, ServerName: "localhost", NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	rc := &rawConn{t: t, c: c, br: bufio.NewReader(c)}
	for i := range 3 {
		rc.send(fmt.Sprintf("GET /%d HTTP/1.1\r\nHost: a\r\n\r\n", i))
		if _, body := rc.response("GET"); body != "httpserver HTTP/1.1 -" {
			t.Fatalf("request %d: %q", i, body)
		}
		deadline := time.Now().Add(5 * time.Second)
		for !allParked(s) {
			if time.Now().After(deadline) {
				t.Fatal("idle TLS connection not parked")
			}
			time.Sleep(10 * time.Millisecond)
		}
		s.mu.Lock()
		for cn := range s.conns {
			if cn.polled.Load() {
				t.Error("a TLS connection parked on the poller")
			}
		}
		s.mu.Unlock()
		if s.readers.len() != 1 {
			t.Errorf("free list holds %d readers, want the parked connection's", s.readers.len())
		}
	}
}

// TestTLSHandshakeFailuresDoNotLeak: a client speaking cleartext, one that
// leaves mid-handshake and one that never finishes it (cut at the header
// timeout) leave no connection and no goroutine behind, nor does a
// handed-off h2 connection once net/http closed it.
func TestTLSHandshakeFailuresDoNotLeak(t *testing.T) {
	ts := newTLSSetup(t)
	before := runtime.NumGoroutine()
	func() {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		s := &Server{Handler: whoServes("?"), ReadHeaderTimeout: 200 * time.Millisecond,
			TLSConfig: &tls.Config{Certificates: []tls.Certificate{ts.server}, NextProtos: []string{"h2", "http/1.1"}}}
		hs, stopH2 := handOffToNetHTTP(t, s, whoServes("net/http"))
		served := make(chan struct{})
		go func() { s.Serve(ln); close(served) }()
		addr := ln.Addr().String()
		// Cleartext HTTP on the TLS port.
		c, _ := net.Dial("tcp", addr)
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		io.ReadAll(c)
		c.Close()
		// A client that leaves after its hello.
		c, _ = net.Dial("tcp", addr)
		tc := tls.Client(c, &tls.Config{ServerName: "localhost", RootCAs: x509.NewCertPool()})
		if err := tc.Handshake(); err == nil {
			t.Error("handshake with an untrusted server succeeded")
		}
		c.Close()
		// A client that says nothing: cut at the header timeout.
		idle, _ := net.Dial("tcp", addr)
		idle.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := idle.Read(make([]byte, 1)); err == nil || isTimeoutErr(err) {
			t.Errorf("silent client not cut: %v", err)
		}
		idle.Close()
		// An h2 client, served and gone.
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ts.pool}, ForceAttemptHTTP2: true}
		if got := get(t, &http.Client{Transport: tr}, "https://"+strings.Replace(addr, "127.0.0.1", "localhost", 1)+"/"); got != "net/http HTTP/2.0 -" {
			t.Errorf("h2: %q", got)
		}
		tr.CloseIdleConnections()
		waitConns(t, s, 0, 5*time.Second) // the failed handshakes' connections gone
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		hs.Shutdown(ctx)
		stopH2()
		if err := s.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		<-served
	}()
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Fatalf("%d goroutines before, %d after:\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}

func isTimeoutErr(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TestTLSMaxConnsCountsHandedOff: an h2 connection handed to net/http
// counts against MaxConns; idle, it is closed to make room for a new
// connection, as an idle HTTP/1.1 one is.
func TestTLSMaxConnsCountsHandedOff(t *testing.T) {
	ts := newTLSSetup(t)
	addr, s := startTLS(t, ts, func(s *Server) { s.MaxConns = 1 })
	url := "https://" + strings.Replace(addr, "127.0.0.1", "localhost", 1) + "/"
	var dials atomic.Int32
	h2 := &http.Transport{ForceAttemptHTTP2: true, DialTLSContext: func(ctx context.Context, network, a string) (net.Conn, error) {
		dials.Add(1)
		return (&tls.Dialer{Config: &tls.Config{RootCAs: ts.pool, ServerName: "localhost", NextProtos: []string{"h2"}}}).DialContext(ctx, network, a)
	}}
	defer h2.CloseIdleConnections()
	h2client := &http.Client{Transport: h2, Timeout: 10 * time.Second}
	for range 2 {
		if got := get(t, h2client, url); got != "net/http HTTP/2.0 -" {
			t.Fatalf("h2: %q", got)
		}
	}
	if n := openConns(s); n != 1 || dials.Load() != 1 {
		t.Fatalf("%d connections counted, %d dialled: want the one h2 connection", n, dials.Load())
	}
	h1 := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ts.pool}}
	defer h1.CloseIdleConnections()
	if got := get(t, &http.Client{Transport: h1, Timeout: 10 * time.Second}, url); got != "httpserver HTTP/1.1 -" {
		t.Fatalf("h1: %q", got)
	}
	// The h2 connection was closed to make room: the next h2 request
	// needs a new one (which the idle HTTP/1.1 connection makes room for).
	if got := get(t, h2client, url); got != "net/http HTTP/2.0 -" {
		t.Fatalf("h2 again: %q", got)
	}
	if d := dials.Load(); d != 2 {
		t.Fatalf("%d h2 connections dialled, want 2: the idle one was not closed for the HTTP/1.1 client", d)
	}
}
