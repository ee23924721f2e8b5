package backend

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/apimgw/apimgw/internal/logs"
	"github.com/apimgw/apimgw/internal/sockio"
)

// poolConfig is the part of the Options one pool runs with. A pool's
// config is replaced as a whole on reload; gen changes when existing
// connections can no longer be used (protocol or TLS settings changed).
type poolConfig struct {
	maxConns       int
	maxIdle        int
	idleTimeout    time.Duration
	connectTimeout time.Duration
	keepAlive      bool
	protocol       string
	tls            *tls.Config // nil for http://
	host           HostOptions
	authority      string
	serverName     string
	// cert is the client certificate presented over TLS (nil: none).
	cert *ClientCert
	gen  uint64
}

// pool holds the connections from the gateway to one destination IP:port
// for one backend authority: idle connections (most recently used first),
// the count of open ones, and the FIFO queue of requests waiting for one.
type pool struct {
	scheme string
	host   string // backend authority, "host:port"
	addr   string // destination, "ip:port"
	cert   *ClientCert
	proxy  *Proxy // requests go through it; addr is the proxy's
	ledger *PortLedger
	dialer *net.Dialer
	wait   prometheus.Observer
	log    logSink

	cfg atomic.Pointer[poolConfig]

	// active counts requests using or waiting for this pool; it drives
	// least-connections selection between a host's destinations.
	active atomic.Int64
	// downUntil (unix nanoseconds) is set when a connection attempt fails:
	// until then the host's other destinations are preferred.
	downUntil atomic.Int64
	// emptySince is when the reaper first saw the pool without
	// connections, requests or waiters; zero while it has any.
	emptySince time.Time

	opened    atomic.Uint64
	closedN   atomic.Uint64
	waited    atomic.Uint64
	waitNanos atomic.Int64

	mu     sync.Mutex
	idle   []*pconn
	open   int // connections open or being dialled
	inUse  int
	queue  []*waiter
	closed bool

	h2 h2State
}

// waiter is a request queued for a connection. It is handed either an
// idle connection, or leave to dial a new one, or an error.
type waiter struct {
	ch chan grant
}

type grant struct {
	pc  *pconn
	err error
	// For HTTP/2 (see h2State): h2 is a connection with a stream reserved
	// for the waiter; retry asks it to look again. A grant with neither,
	// nor pc or err, is leave to dial.
	h2    *h2Conn
	retry bool
}

// logSink is the slice of slog the pool needs; it keeps the pool
// testable without a logger.
type logSink interface {
	exhausted(p *pool, snap LedgerSnapshot)
	h2Stuck(p *pool, waiting uint64)
	h2Unresponsive(p *pool, timeout time.Duration)
}

// acquire returns a connection for one request: an idle one, a new one
// when fewer than maxConns are open, or the first one released while the
// request waits in the queue. fresh skips idle connections (the keep-alive
// race retry). The caller must hand the connection back with release.
func (p *pool) acquire(ctx context.Context, fresh bool) (*pconn, error) {
	cfg := p.cfg.Load()
	var stale []*pconn
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, errManagerClosed
	}
	if !fresh {
		now := monoNow()
		for len(p.idle) > 0 {
			n := len(p.idle) - 1
			pc := p.idle[n]
			p.idle[n] = nil
			p.idle = p.idle[:n]
			if pc.gen != cfg.gen || pc.expired(now, cfg.idleTimeout) || pc.peerClosed(now) {
				p.open--
				stale = append(stale, pc)
				continue
			}
			p.inUse++
			p.mu.Unlock()
			closeAll(stale)
			p.observeWait(0)
			return pc, nil
		}
	}
	if p.open < cfg.maxConns {
		p.open++
		p.inUse++
		p.mu.Unlock()
		closeAll(stale)
		p.observeWait(0)
		return p.dial(ctx, cfg)
	}
	w := &waiter{ch: make(chan grant, 1)}
	p.queue = append(p.queue, w)
	p.mu.Unlock()
	closeAll(stale)

	start := time.Now()
	select {
	case g := <-w.ch:
		p.observeWait(time.Since(start))
		if g.err != nil {
			return nil, g.err
		}
		if g.pc != nil {
			return g.pc, nil
		}
		return p.dial(ctx, p.cfg.Load())
	case <-ctx.Done():
		p.mu.Lock()
		queued := dequeue(&p.queue, w)
		p.mu.Unlock()
		p.observeWait(time.Since(start))
		if !queued {
			// Served while giving up: pass the grant on.
			g := <-w.ch
			switch {
			case g.pc != nil:
				p.release(g.pc, true)
			case g.err == nil:
				p.dialFailed()
			}
		}
		return nil, ctx.Err()
	}
}

func (p *pool) observeWait(d time.Duration) {
	if d > 0 {
		p.waited.Add(1)
		p.waitNanos.Add(int64(d))
	}
	p.wait.Observe(d.Seconds())
}

// dequeue removes w from the queue; false means w was already served.
// p.mu must be held.
func dequeue(queue *[]*waiter, w *waiter) bool {
	q := *queue
	for i, x := range q {
		if x == w {
			copy(q[i:], q[i+1:])
			q[len(q)-1] = nil
			*queue = q[:len(q)-1]
			return true
		}
	}
	return false
}

// popWaiter removes and returns the oldest waiter, or nil. p.mu must be held.
func popWaiter(queue *[]*waiter) *waiter {
	q := *queue
	if len(q) == 0 {
		return nil
	}
	w := q[0]
	copy(q, q[1:])
	q[len(q)-1] = nil
	*queue = q[:len(q)-1]
	return w
}

// dial opens a new connection for a slot already counted in p.open. On
// failure the slot is given up (and passed to the next waiter).
func (p *pool) dial(ctx context.Context, cfg *poolConfig) (*pconn, error) {
	c, tcp, err := p.connect(ctx, cfg, cfg.tls, false)
	if err != nil {
		p.dialFailed()
		return nil, err
	}
	return newPconn(p, c, tcp, cfg.gen), nil
}

// connect opens a connection to the pool's destination: a port from the
// ledger (refused at once past an enforced budget), the TCP dial within
// connectTimeout and, with tlsCfg, the TLS handshake, which must settle on
// HTTP/2 by ALPN when h2 is set. tcp is the socket under any TLS. On
// failure nothing is left open and the port is given back or, once the
// socket existed, held for the reclaim window.
func (p *pool) connect(ctx context.Context, cfg *poolConfig, tlsCfg *tls.Config, h2 bool) (c net.Conn, tcp *net.TCPConn, err error) {
	if !p.ledger.acquire() {
		snap := p.ledger.Snapshot()
		p.log.exhausted(p, snap)
		return nil, nil, &Error{Reason: ReasonBackendConnectionFailure, Message: MsgUnableToConnect,
			Err: fmt.Errorf("connect %s: %w: %w ("+logs.SNATBudgetDetail+")", p.addr, errConnect, errPortExhausted, snap.Budget, snap.Held)}
	}
	dctx, cancel := context.WithTimeout(ctx, cfg.connectTimeout)
	defer cancel()
	c, err = p.dialer.DialContext(dctx, "tcp", p.addr)
	if err != nil {
		p.ledger.abandon()
		if ctx.Err() == nil { // not the request giving up
			p.markDown()
		}
		return nil, nil, newError(ctx, MsgUnableToConnect, fmt.Errorf("connect %s: %w: %w", p.addr, errConnect, err))
	}
	p.opened.Add(1)
	tcp, _ = c.(*net.TCPConn)
	if p.proxy != nil && p.tunnels(cfg) {
		deadline, _ := dctx.Deadline()
		if _, err := p.proxy.tunnel(c, p.host, deadline); err != nil {
			_ = c.Close()
			p.ledger.release()
			p.closedN.Add(1)
			return nil, nil, newError(ctx, MsgUnableToConnect, fmt.Errorf("%w: %w", errConnect, err))
		}
	}
	if tlsCfg == nil {
		return c, tcp, nil
	}
	under := c
	if !h2 && tcp != nil {
		// HTTP/1.1 requests write their last record through it
		// (countingWriter's write-then-wait).
		under = &sockio.Collecting{TCPConn: tcp}
	}
	tc := tls.Client(under, tlsCfg)
	err = tc.HandshakeContext(dctx)
	what := ""
	if h2 {
		what = " for HTTP/2"
		if err == nil && tc.ConnectionState().NegotiatedProtocol != "h2" {
			err = errors.New("the backend did not choose HTTP/2 in the TLS handshake (ALPN); set its protocol to http1")
		}
	}
	if err != nil {
		_ = c.Close()
		p.ledger.release()
		p.closedN.Add(1)
		return nil, nil, newError(ctx, MsgUnableToConnect, fmt.Errorf("tls handshake with %s%s: %w: %w", p.addr, what, errConnect, err))
	}
	return tc, tcp, nil
}

// tunnels reports whether connections through the pool's proxy are CONNECT
// tunnels (TLS, or HTTP/2 with prior knowledge); plain HTTP/1.1 sends
// absolute-form requests to the proxy instead.
func (p *pool) tunnels(cfg *poolConfig) bool {
	return p.scheme == "https" || cfg.protocol != ProtocolHTTP1 || p.proxy != nil && p.proxy.tunnelAlways
}

// rewind returns req with a fresh copy of its body (from GetBody), to be
// sent again; a request without a body is returned as it is.
func rewind(req *http.Request) (*http.Request, error) {
	if !hasBody(req) {
		return req, nil
	}
	body, err := req.GetBody()
	if err != nil {
		return nil, fmt.Errorf("rewind request body: %w", err)
	}
	r2 := *req
	r2.Body = body
	return &r2, nil
}

// dialFailed gives up a slot counted in p.open and p.inUse; a waiter, if
// any, gets leave to dial in its place.
func (p *pool) dialFailed() {
	p.mu.Lock()
	p.open--
	p.inUse--
	w := p.grantDialLocked(p.cfg.Load())
	p.mu.Unlock()
	if w != nil {
		w.ch <- grant{}
	}
}

// grantDialLocked takes a slot for the oldest waiter if the limit allows.
// p.mu must be held.
func (p *pool) grantDialLocked(cfg *poolConfig) *waiter {
	if p.closed || p.open >= cfg.maxConns {
		return nil
	}
	w := popWaiter(&p.queue)
	if w != nil {
		p.open++
		p.inUse++
	}
	return w
}

// release hands a connection back after a request: to the oldest waiter,
// to the idle list, or closed.
func (p *pool) release(pc *pconn, reuse bool) {
	cfg := p.cfg.Load()
	reuse = reuse && cfg.keepAlive && pc.gen == cfg.gen
	p.mu.Lock()
	p.inUse--
	if reuse && !p.closed && p.open <= cfg.maxConns { // above: a reload lowered the limit
		if w := popWaiter(&p.queue); w != nil {
			p.inUse++
			p.mu.Unlock()
			w.ch <- grant{pc: pc}
			return
		}
		if len(p.idle) < cfg.maxIdle {
			pc.idleAt = monoNow()
			p.idle = append(p.idle, pc)
			p.mu.Unlock()
			return
		}
	}
	p.open--
	w := p.grantDialLocked(cfg)
	p.mu.Unlock()
	pc.close()
	if w != nil {
		w.ch <- grant{}
	}
}

// configure installs a new config and lets waiters use any new room.
func (p *pool) configure(cfg *poolConfig) {
	old := p.cfg.Swap(cfg)
	var stale []*pconn
	var grants []*waiter
	p.mu.Lock()
	if old != nil && old.gen != cfg.gen {
		stale = p.idle
		p.open -= len(stale)
		p.idle = nil
	}
	for {
		w := p.grantDialLocked(cfg)
		if w == nil {
			break
		}
		grants = append(grants, w)
	}
	p.mu.Unlock()
	closeAll(stale)
	for _, w := range grants {
		w.ch <- grant{}
	}
	if old != nil && (cfg.protocol != ProtocolHTTP1 || old.protocol != ProtocolHTTP1) {
		// New HTTP/2 connections pick up the new settings; existing ones
		// finish their requests and close if the settings changed.
		p.retireH2(old.gen != cfg.gen)
	}
}

// reap closes idle connections past their idle timeout.
func (p *pool) reap(now time.Time) {
	cfg := p.cfg.Load()
	if cfg.protocol != ProtocolHTTP1 {
		p.reapH2(cfg)
	}
	var stale []*pconn
	mono := int64(now.Sub(monoEpoch))
	p.mu.Lock()
	kept := p.idle[:0]
	for _, pc := range p.idle {
		if pc.expired(mono, cfg.idleTimeout) {
			stale = append(stale, pc)
		} else {
			kept = append(kept, pc)
		}
	}
	for i := len(kept); i < len(p.idle); i++ {
		p.idle[i] = nil
	}
	p.idle = kept
	p.open -= len(stale)
	if p.open == 0 && len(p.queue) == 0 && len(p.h2.queue) == 0 && len(p.h2.retired) == 0 && p.active.Load() == 0 {
		if p.emptySince.IsZero() {
			p.emptySince = now
		}
	} else {
		p.emptySince = time.Time{}
	}
	p.mu.Unlock()
	closeAll(stale)
}

// shutdown closes idle connections, fails waiters and makes every
// connection in use close when it is released.
func (p *pool) shutdown() {
	p.mu.Lock()
	p.closed = true
	stale := p.idle
	p.idle = nil
	p.open -= len(stale)
	queue := append(p.queue, p.h2.queue...)
	p.queue, p.h2.queue = nil, nil
	p.mu.Unlock()
	closeAll(stale)
	for _, w := range queue {
		w.ch <- grant{err: errManagerClosed}
	}
	p.retireH2(true)
}

func closeAll(pcs []*pconn) {
	for _, pc := range pcs {
		pc.close()
	}
}

// DestinationStats is a snapshot of one pool: the connections from the
// gateway to one destination IP:port for one backend host, and the port
// ledger of that destination.
type DestinationStats struct {
	// Host is the backend authority ("host:port").
	Host string
	// Destination is the IP:port connected to.
	Destination string
	// Protocol is "http1", "h2" or "h2c".
	Protocol string
	// ClientCertificate is the thumbprint of the TLS client certificate
	// the connections present ("" for none).
	ClientCertificate string
	// Open, Idle and InUse count connections (for HTTP/2, InUse counts
	// requests in flight and Idle the connections when none is).
	Open, Idle, InUse int
	// Opened and Closed count connections over the pool's life.
	Opened, Closed uint64
	// WaitQueue is the number of requests waiting for a connection.
	WaitQueue int
	// Waited counts requests that had to wait; WaitTime is their total wait.
	Waited   uint64
	WaitTime time.Duration
	// Ports is the destination's port ledger (shared by every host that
	// connects to the same IP:port).
	Ports LedgerSnapshot
}

func (p *pool) stats() DestinationStats {
	cfg := p.cfg.Load()
	s := DestinationStats{
		Host:              p.host,
		Destination:       p.addr,
		Protocol:          cfg.protocol,
		ClientCertificate: p.cert.thumbprint(),
		Opened:            p.opened.Load(),
		Closed:            p.closedN.Load(),
		Waited:            p.waited.Load(),
		WaitTime:          time.Duration(p.waitNanos.Load()),
		Ports:             p.ledger.Snapshot(),
	}
	if cfg.protocol != ProtocolHTTP1 {
		p.statsH2(&s)
		return s
	}
	p.mu.Lock()
	s.Open, s.Idle, s.InUse, s.WaitQueue = p.open, len(p.idle), p.inUse, len(p.queue)
	p.mu.Unlock()
	return s
}

// roundTrip sends req over an HTTP/1.1 connection of the pool, retrying
// once on a fresh connection when a reused one turns out to have been
// closed by the backend and the retry is safe.
func (p *pool) roundTrip(ctx context.Context, req *http.Request, rb *ResponseBuffer) (*http.Response, error) {
	p.active.Add(1)
	for attempt := 0; ; attempt++ {
		pc, err := p.acquire(ctx, attempt > 0)
		if err != nil {
			// The body is untouched: the caller may try another address.
			p.active.Add(-1)
			return nil, newError(ctx, MsgUnableToConnect, err)
		}
		resp, rerr, retry := pc.roundTrip(ctx, req, rb)
		if rerr == nil {
			return resp, nil // the body's end releases p.active
		}
		if !retry || attempt > 0 || ctx.Err() != nil {
			p.active.Add(-1)
			closeBody(req)
			return nil, rerr
		}
		if req, err = rewind(req); err != nil {
			p.active.Add(-1)
			return nil, newError(ctx, MsgClosedOnSend, err)
		}
	}
}

func hasBody(req *http.Request) bool { return req.Body != nil && req.Body != http.NoBody }

func closeBody(req *http.Request) {
	if hasBody(req) {
		_ = req.Body.Close()
	}
}

// monoEpoch anchors monoNow.
var monoEpoch = time.Now()

// monoNow reads the monotonic clock, in nanoseconds since monoEpoch: the
// idle times of connections need no wall clock, and time.Now reads both.
func monoNow() int64 { return int64(time.Since(monoEpoch)) }

// downCooldown is how long a destination whose connection attempt failed
// is avoided while its host has other destinations.
const downCooldown = 5 * time.Second

func (p *pool) markDown() { p.downUntil.Store(time.Now().Add(downCooldown).UnixNano()) }

func (p *pool) isDown(now int64) bool { return p.downUntil.Load() > now }

// emptyFor returns how long the reaper has seen the pool empty.
func (p *pool) emptyFor(now time.Time) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.emptySince.IsZero() {
		return 0
	}
	return now.Sub(p.emptySince)
}
