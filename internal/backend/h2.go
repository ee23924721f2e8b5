package backend

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"sync"
	"sync/atomic"
)

// h2State is the HTTP/2 side of a pool: a net/http Transport restricted to
// HTTP/2 (over TLS with ALPN, or cleartext with prior knowledge) whose
// dialer always connects to the pool's destination and goes through its
// port ledger. HTTP/2 multiplexes many requests over one connection, so the
// pool's own queue is not used.
type h2State struct {
	mu     sync.Mutex
	t      *http.Transport
	closed bool
	open   atomic.Int64
	// ready is set once a request has got a connection from the
	// transport, which is when the connection sits in the transport's
	// pool; it is cleared when the last connection closes. (open counts
	// from the TCP dial on, too early to send a burst at the transport.)
	ready atomic.Bool
	// first serialises requests until then, so a burst of concurrent
	// first requests shares one connection instead of dialling one each.
	first sync.Mutex
}

func (h *h2State) transport(p *pool) (*http.Transport, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, errManagerClosed
	}
	if h.t != nil {
		return h.t, nil
	}
	cfg := p.cfg.Load()
	protos := new(http.Protocols)
	// h2 towards an http:// URL can only be cleartext: treat it as h2c.
	if cfg.protocol == ProtocolH2C || cfg.tls == nil {
		protos.SetUnencryptedHTTP2(true)
	} else {
		protos.SetHTTP2(true)
	}
	t := &http.Transport{
		DialContext:         p.dialH2,
		TLSClientConfig:     cfg.tls,
		ForceAttemptHTTP2:   true,
		Protocols:           protos,
		MaxConnsPerHost:     cfg.maxConns,
		MaxIdleConnsPerHost: cfg.maxIdle,
		IdleConnTimeout:     cfg.idleTimeout,
		DisableCompression:  true,
	}
	if cfg.tls != nil {
		t.TLSClientConfig = cfg.tls.Clone()
		t.TLSClientConfig.NextProtos = nil // the transport sets h2
	}
	h.t = t
	return t, nil
}

// reset drops the transport so the next request builds one from the
// current config; the old one's idle connections are closed and its busy
// ones finish their requests.
func (h *h2State) reset() {
	h.mu.Lock()
	old := h.t
	h.t = nil
	h.ready.Store(false) // the new transport's pool starts empty
	h.mu.Unlock()
	if old != nil {
		old.CloseIdleConnections()
	}
}

func (h *h2State) shutdown() {
	h.mu.Lock()
	h.closed = true
	old := h.t
	h.t = nil
	h.ready.Store(false) // the new transport's pool starts empty
	h.mu.Unlock()
	if old != nil {
		old.CloseIdleConnections()
	}
}

// dialH2 connects to the pool's destination, whatever address the
// transport asks for, and accounts the connection in the port ledger.
func (p *pool) dialH2(ctx context.Context, _, _ string) (net.Conn, error) {
	if !p.ledger.acquire() {
		p.log.exhausted(p, p.ledger.Snapshot())
		return nil, &Error{Reason: ReasonBackendConnectionFailure, Message: MsgUnableToConnect,
			Err: fmt.Errorf("connect %s: %w: %w", p.addr, errConnect, errPortExhausted)}
	}
	dctx, cancel := context.WithTimeout(ctx, p.cfg.Load().connectTimeout)
	defer cancel()
	c, err := p.dialer.DialContext(dctx, "tcp", p.addr)
	if err != nil {
		p.ledger.abandon()
		p.markDown()
		return nil, &Error{Reason: ReasonBackendConnectionFailure, Message: MsgUnableToConnect,
			Err: fmt.Errorf("connect %s: %w: %w", p.addr, errConnect, err)}
	}
	p.opened.Add(1)
	p.h2.open.Add(1)
	return &h2conn{Conn: c, p: p}, nil
}

// h2conn releases its port into the reclaim window when closed.
type h2conn struct {
	net.Conn
	p      *pool
	closed atomic.Bool
}

// Close implements net.Conn.
func (c *h2conn) Close() error {
	err := c.Conn.Close()
	if !c.closed.Swap(true) {
		c.p.ledger.release()
		c.p.closedN.Add(1)
		if c.p.h2.open.Add(-1) == 0 {
			c.p.h2.ready.Store(false)
		}
	}
	return err
}

// roundTripH2 sends req over the pool's HTTP/2 transport.
func (p *pool) roundTripH2(ctx context.Context, req *http.Request) (*http.Response, error) {
	t, err := p.h2.transport(p)
	if err != nil {
		return nil, newError(ctx, MsgUnableToConnect, err)
	}
	p.active.Add(1)
	var resp *http.Response
	if !p.h2.ready.Load() {
		resp, err = p.h2.firstRoundTrip(t, req)
	} else {
		resp, err = t.RoundTrip(req)
	}
	if err != nil {
		p.active.Add(-1)
		if errors.Is(err, errConnect) {
			return nil, newError(ctx, MsgUnableToConnect, err)
		}
		return nil, newError(ctx, MsgClosedUnexpected, fmt.Errorf("%s %s via %s: %w", req.Method, safeURL(req.URL), p.addr, err))
	}
	resp.Body = &h2body{rc: resp.Body, p: p, ctx: ctx}
	return resp, nil
}

// h2body ends the request's share of the pool when the body is done.
type h2body struct {
	rc   io.ReadCloser
	p    *pool
	ctx  context.Context
	once sync.Once
}

// Read implements io.Reader.
func (b *h2body) Read(buf []byte) (int, error) {
	n, err := b.rc.Read(buf)
	if err != nil {
		b.done()
		if err != io.EOF {
			err = newError(b.ctx, MsgClosedOnReceive, fmt.Errorf("read response body from %s: %w", b.p.addr, err))
		}
	}
	return n, err
}

// Close implements io.Closer.
func (b *h2body) Close() error {
	err := b.rc.Close()
	b.done()
	return err
}

func (b *h2body) done() { b.once.Do(func() { b.p.active.Add(-1) }) }

// firstRoundTrip sends a request while no connection is open, one at a
// time until a connection exists, so that a burst of first requests shares
// it instead of dialling one each. The next request may go as soon as this
// one has its connection, not when its response arrives.
func (h *h2State) firstRoundTrip(t *http.Transport, req *http.Request) (*http.Response, error) {
	h.first.Lock()
	if h.ready.Load() {
		h.first.Unlock()
		return t.RoundTrip(req)
	}
	var once sync.Once
	unlock := func() { once.Do(h.first.Unlock) }
	defer unlock()
	trace := &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { h.ready.Store(true); unlock() }}
	return t.RoundTrip(req.WithContext(httptrace.WithClientTrace(req.Context(), trace)))
}
