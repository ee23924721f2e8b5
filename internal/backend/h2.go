package backend

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// h2State is the HTTP/2 side of a pool: its own set of net/http
// ClientConns to the destination (HTTP/2 over TLS with ALPN, or cleartext
// with prior knowledge). Each connection carries up to the backend's
// concurrent-stream limit; a request reserves a stream before it is sent.
// When every connection is at its limit, a new one is dialled only while
// fewer than maxConns are open (and one dial at a time, since one HTTP/2
// connection serves many requests); otherwise the request waits in the
// pool's FIFO queue, exactly as HTTP/1.1 requests wait for a connection.
//
// Every field is guarded by the pool's mu. ClientConn methods are never
// called with mu held: a ClientConn may run its state hook, which takes mu,
// from inside any of them.
type h2State struct {
	// t makes new connections into HTTP/2 client connections; it is
	// rebuilt after a reload so that they pick up the new settings.
	t *http.Transport
	// tls is the config of TLS connections (ALPN h2), nil for h2c.
	tls *tls.Config
	// conns are the connections of the current generation, oldest first.
	// The pool's open counts them plus the ones being dialled.
	conns   []*h2Conn
	dialing int
	// retired are connections that take no new requests and close after
	// their last one (see h2Conn.retired); they are not in open.
	retired []*h2Conn
	// queue holds the requests waiting for a stream, oldest first (apart
	// from HTTP/1.1's, so that a grant always means the same thing).
	queue []*waiter
	// epoch changes whenever a reservation may have become possible (a
	// stream or connection freed, a connection added), so that a request
	// that found none cannot miss the change while it queues.
	epoch uint64
}

// h2Conn is one HTTP/2 connection of a pool.
type h2Conn struct {
	p   *pool
	cc  *http.ClientConn
	gen uint64
	// retired is set when the connection no longer takes new requests
	// (a reload changed its settings, or the manager is closing): it
	// closes as soon as its last request is done.
	retired atomic.Bool
	// confirmed is set once the backend's SETTINGS frame has been
	// applied (seen by h2conn; a response proves it too), or when the
	// connection is retired or dropped. Until then the connection carries
	// only the request that dialled it and counts as a dial under way: its
	// stream limit is not known, and reserving past the backend's limit
	// makes requests wait inside the connection, or be refused.
	confirmed atomic.Bool
	// tls is the TLS state of an h2 (not h2c) connection.
	tls *tls.ConnectionState
	// started counts the requests given to the connection's RoundTrip,
	// settled those of them whose header has been written or whose
	// RoundTrip has returned, wrote the headers written: the reaper tells
	// from them a connection whose requests no longer get sent (see
	// unstick). The reaper's own: the counts it saw last, and whether it
	// has unstuck the connection (once is enough: a retired connection
	// takes no new reservation).
	started, settled, wrote    atomic.Uint64
	reaperStarted, reaperWrote uint64
	unstuck                    bool
	// raw is the connection's socket; the health check's state, the
	// reaper's own (see pingCheck): whether it has pinged, the answers
	// read by then, and when.
	raw         *h2conn
	pinged      bool
	pingAnswers uint64
	pingAt      int64
}

// h2send follows one request on a connection from its RoundTrip call until
// its header is written (net/http's WroteHeaders) or RoundTrip returns.
type h2send struct {
	trace httptrace.ClientTrace
	c     *h2Conn
	done  atomic.Bool
}

func (s *h2send) wroteHeaders() { s.settle(true) }

func (s *h2send) settle(wrote bool) {
	if s.done.CompareAndSwap(false, true) {
		if wrote {
			s.c.wrote.Add(1)
		}
		s.c.settled.Add(1)
	}
}

// roundTrip sends req on the stream reserved for it, following it (see
// h2send).
func (c *h2Conn) roundTrip(req *http.Request) (*http.Response, error) {
	s := &h2send{c: c}
	s.trace.WroteHeaders = s.wroteHeaders
	c.started.Add(1)
	resp, err := c.cc.RoundTrip(req.WithContext(httptrace.WithClientTrace(req.Context(), &s.trace)))
	s.settle(false)
	return resp, err
}

// transportLocked returns the transport that dials new HTTP/2 connections
// for the pool's current config. p.mu must be held.
func (p *pool) transportLocked(cfg *poolConfig) *http.Transport {
	if p.h2.t != nil {
		return p.h2.t
	}
	// dialH2 makes the connection, TLS included (an https:// backend URL;
	// "h2" towards an http:// URL can only mean h2c), so the transport
	// always speaks HTTP/2 with prior knowledge over what it returns: that
	// lets the connection watch for the backend's SETTINGS (see h2conn).
	protos := new(http.Protocols)
	protos.SetUnencryptedHTTP2(true)
	p.h2.t = &http.Transport{
		DialContext:        p.dialH2,
		Protocols:          protos,
		IdleConnTimeout:    cfg.idleTimeout,
		DisableCompression: true,
		// The bound of an HTTP/1.1 response head (net/http's is 10 MiB).
		MaxResponseHeaderBytes: maxResponseHeadBytes,
		// No health check of net/http's: it pings a connection every
		// SendPingTimeout for as long as nothing else comes, in flight
		// or idle, and a gRPC server takes that for abuse and closes the
		// connection (GOAWAY ENHANCE_YOUR_CALM, "too_many_pings"), with
		// the requests on it. The pool's own is pingCheck.
	}
	p.h2.tls = nil
	if cfg.tls != nil {
		p.h2.tls = cfg.tls.Clone()
		p.h2.tls.NextProtos = []string{"h2"}
	}
	return p.h2.t
}

// acquireH2 returns a connection with a stream reserved for one request:
// a connection with a free stream, a new connection, or the first stream
// freed while the request waits in the queue. The reservation is consumed
// by the connection's RoundTrip.
func (p *pool) acquireH2(ctx context.Context) (*h2Conn, error) {
	var start time.Time
	retried := false // woken for a stream another request took: keep the place
	waited := func() time.Duration {
		if start.IsZero() {
			return 0
		}
		return time.Since(start)
	}
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, errManagerClosed
		}
		cfg := p.cfg.Load()
		var buf [8]*h2Conn
		conns := append(buf[:0], p.h2.conns...)
		epoch := p.h2.epoch
		p.mu.Unlock()

		for _, c := range conns {
			if c.gen == cfg.gen && c.confirmed.Load() && c.cc.Reserve() == nil {
				if c.retired.Load() {
					// Retired since the copy (see reapH2): it may be
					// closing; give the stream back.
					c.cc.Release()
					continue
				}
				p.observeWait(waited())
				return c, nil
			}
		}

		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, errManagerClosed
		}
		if p.h2.epoch != epoch {
			p.mu.Unlock()
			continue // a stream or connection freed meanwhile: look again
		}
		if p.h2.dialing == 0 && p.open < cfg.maxConns {
			p.open++
			p.h2.dialing++
			p.mu.Unlock()
			p.observeWait(waited())
			return p.dialH2Conn(ctx, cfg)
		}
		w := &waiter{ch: make(chan grant, 1)}
		if retried {
			// It was at the head when woken; going to the back would let
			// every newer request pass it again and again.
			p.h2.queue = slices.Insert(p.h2.queue, 0, w)
		} else {
			p.h2.queue = append(p.h2.queue, w)
		}
		p.mu.Unlock()
		if start.IsZero() {
			start = time.Now()
		}
		// A stream freed just before the waiter was queued may have left
		// no trace: see kickH2.
		p.kickH2()

		select {
		case g := <-w.ch:
			switch {
			case g.err != nil:
				p.observeWait(waited())
				return nil, g.err
			case g.h2 != nil:
				p.observeWait(waited())
				return g.h2, nil
			case !g.retry:
				p.observeWait(waited())
				return p.dialH2Conn(ctx, p.cfg.Load())
			}
			// The stream it was woken for was taken: look again.
			retried = true
		case <-ctx.Done():
			p.mu.Lock()
			queued := dequeue(&p.h2.queue, w)
			p.mu.Unlock()
			p.observeWait(waited())
			if !queued {
				p.passOnH2(<-w.ch) // served while giving up
			}
			return nil, ctx.Err()
		}
	}
}

// passOnH2 gives up a grant its waiter no longer wants.
func (p *pool) passOnH2(g grant) {
	switch {
	case g.h2 != nil:
		g.h2.cc.Release() // its state hook serves the next waiter,
		p.kickH2()        // or this does if the hook misses it (see kickH2)
	case g.err == nil && !g.retry:
		p.h2DialDone(nil)
	}
}

// dialH2Conn opens a new HTTP/2 connection for a slot already counted in
// p.open and p.h2.dialing, reserves a stream on it for the caller, and
// serves the requests that queued meanwhile.
func (p *pool) dialH2Conn(ctx context.Context, cfg *poolConfig) (*h2Conn, error) {
	p.mu.Lock()
	t := p.transportLocked(cfg)
	d := &h2dial{tls: p.h2.tls}
	p.mu.Unlock()
	// dialH2 connects to the pool's destination, whatever address it is
	// asked for, and hands the connection back through d.
	cc, err := t.NewClientConn(context.WithValue(ctx, h2dialKey{}, d), "http", p.host)
	if err != nil {
		p.h2DialDone(nil)
		var be *Error
		if errors.As(err, &be) {
			return nil, be
		}
		return nil, newError(ctx, MsgUnableToConnect, fmt.Errorf("connect %s: %w: %w", p.addr, errConnect, err))
	}
	c := &h2Conn{p: p, cc: cc, gen: cfg.gen, tls: d.tlsState, raw: d.conn}
	// The caller's stream first: once the connection is confirmed, the
	// queued requests take what is free.
	rerr := cc.Reserve()
	if !p.h2DialDone(c) {
		_ = cc.Close()
		return nil, errManagerClosed
	}
	cc.SetStateHook(c.stateChanged)
	d.conn.watchSettings(c)
	// A backend that sends nothing, not even its SETTINGS, has not
	// finished the connection attempt by connectTimeout: the connection is
	// closed, as a dial that failed, rather than stay counted as a dial
	// under way, which holds every other request back. (The transport's
	// health check would close it too, but a PING's timeout later, and
	// without marking the address down.)
	time.AfterFunc(cfg.connectTimeout, func() {
		if !d.conn.seen.Load() {
			p.markDown()
			_ = cc.Close() // the hook drops it
		}
	})
	if rerr != nil {
		_ = cc.Close() // the hook drops it
		return nil, newError(ctx, MsgUnableToConnect, fmt.Errorf("connect %s: %w: new HTTP/2 connection refused a request: %w", p.addr, errConnect, rerr))
	}
	return c, nil
}

// h2DialDone ends a dial: c joins the pool (still counted as a dial until
// it is confirmed), or, when c is nil (the dial failed), its slot is given
// up and the oldest waiter may dial instead. It reports false when the
// pool closed during the dial.
func (p *pool) h2DialDone(c *h2Conn) bool {
	p.mu.Lock()
	cfg := p.cfg.Load()
	joined := c != nil && !p.closed
	if joined && c.gen == cfg.gen {
		p.h2.conns = append(p.h2.conns, c)
		p.mu.Unlock()
		return true
	}
	if joined {
		// A reload changed the settings during the dial: the connection
		// serves the request that dialled it, then closes.
		p.retireLocked(c)
	} else {
		p.h2.dialing--
		p.h2.epoch++
		p.open--
	}
	w := p.grantDialH2Locked(cfg)
	p.mu.Unlock()
	if w != nil {
		w.ch <- grant{}
	}
	return joined
}

// confirm marks c's stream limit as known: it stops counting as a dial
// and takes the queued requests it has room for.
func (c *h2Conn) confirm() {
	if c.confirmed.Load() || c.confirmed.Swap(true) {
		return
	}
	p := c.p
	p.mu.Lock()
	p.h2.dialing--
	p.h2.epoch++
	p.mu.Unlock()
	c.serveWaiters()
}

// grantDialH2Locked gives the oldest waiter leave to dial if no dial is
// under way and the limit allows one. p.mu must be held.
func (p *pool) grantDialH2Locked(cfg *poolConfig) *waiter {
	if p.closed || p.h2.dialing > 0 || p.open >= cfg.maxConns {
		return nil
	}
	w := popWaiter(&p.h2.queue)
	if w != nil {
		p.open++
		p.h2.dialing++
	}
	return w
}

// stateChanged is the connection's state hook: it runs when a stream is
// freed, the backend raises its stream limit, or the connection closes.
func (c *h2Conn) stateChanged(*http.ClientConn) {
	if c.cc.Err() != nil {
		c.p.dropH2(c)
		return
	}
	if !c.confirmed.Load() {
		// Only the request that dialled it uses the connection until
		// the backend's SETTINGS are in (see h2conn): its stream being
		// freed proves nothing, and the confirmation serves the queue.
		return
	}
	if c.retired.Load() {
		if c.cc.InFlight() == 0 {
			_ = c.cc.Close()
			c.p.dropH2(c)
		}
		return
	}
	c.serveWaiters()
}

// serveWaiters reserves streams on c for queued requests, oldest first,
// while it has free ones.
func (c *h2Conn) serveWaiters() {
	p := c.p
	for {
		p.mu.Lock()
		p.h2.epoch++
		if c.gen != p.cfg.Load().gen {
			p.mu.Unlock()
			return
		}
		w := popWaiter(&p.h2.queue)
		p.mu.Unlock()
		if w == nil {
			return
		}
		if c.cc.Reserve() == nil {
			if !c.retired.Load() {
				w.ch <- grant{h2: c}
				continue
			}
			c.cc.Release() // retired meanwhile
		}
		// c is full after all (another request took the stream): the
		// waiter looks again, and may dial if the limit allows.
		w.ch <- grant{retry: true}
		return
	}
}

// dropH2 removes a closed or retired connection from the pool; the oldest
// waiter may dial in its place.
func (p *pool) dropH2(c *h2Conn) {
	p.mu.Lock()
	var w *waiter
	if i := slices.Index(p.h2.conns, c); i >= 0 {
		p.h2.conns = slices.Delete(p.h2.conns, i, i+1)
		p.open--
		p.h2.epoch++
		if !c.confirmed.Swap(true) {
			p.h2.dialing--
		}
		w = p.grantDialH2Locked(p.cfg.Load())
	} else if i := slices.Index(p.h2.retired, c); i >= 0 {
		p.h2.retired = slices.Delete(p.h2.retired, i, i+1)
	}
	p.mu.Unlock()
	if w != nil {
		w.ch <- grant{}
	}
}

// retireH2 stops every HTTP/2 connection of the pool from taking new
// requests; each closes once its requests are done. The transport is
// dropped so that new connections use the current config.
func (p *pool) retireH2(dropConns bool) {
	p.mu.Lock()
	p.h2.t = nil
	var old []*h2Conn
	if dropConns {
		old = p.h2.conns
		p.h2.conns = nil
		for _, c := range old {
			p.retireLocked(c)
		}
	}
	// A raised maxConnsPerHost may let a waiter dial (one dial at a time).
	w := p.grantDialH2Locked(p.cfg.Load())
	p.mu.Unlock()
	if w != nil {
		w.ch <- grant{}
	}
	for _, c := range old {
		if c.cc.InFlight() == 0 {
			_ = c.cc.Close() // its state hook drops it
		}
	}
}

// kickH2 serves queued requests from streams that are free now. A freed
// stream wakes the queue through the connection's state hook, but
// net/http's ClientConn runs that hook only when it sees Available or
// InFlight change against the values it last saw. If a stream is taken
// and freed again while the hook is running, the net state can match the
// last seen one, and no further hook comes. A request that queued just
// then would wait beside a free stream until the idle reaper closed the
// connection. So a request checks once it is queued, and the reaper checks
// every pass (reapH2), which bounds any wait that is still missed.
func (p *pool) kickH2() {
	p.mu.Lock()
	if len(p.h2.queue) == 0 {
		p.mu.Unlock()
		return
	}
	gen := p.cfg.Load().gen
	var buf [8]*h2Conn
	conns := append(buf[:0], p.h2.conns...)
	p.mu.Unlock()
	for _, c := range conns {
		if c.gen == gen && c.confirmed.Load() && !c.retired.Load() && c.cc.Available() > 0 {
			c.serveWaiters()
		}
	}
}

// reapH2 closes idle HTTP/2 connections beyond maxIdle, newest first.
// (Each connection also closes itself after idleTimeout without requests.)
// A connection is retired before it is closed, so that a request that
// reserved a stream on it meanwhile gives the stream back (acquireH2)
// rather than being sent on a closing connection.
func (p *pool) reapH2(cfg *poolConfig) {
	p.kickH2()
	p.mu.Lock()
	var buf [8]*h2Conn
	conns := append(buf[:0], p.h2.conns...)
	var rbuf [8]*h2Conn
	retired := append(rbuf[:0], p.h2.retired...)
	p.mu.Unlock()
	// A request given to a connection before the last pass and not sent
	// yet, with no header written since then: the connection is stuck.
	now := monoNow()
	for _, cs := range [2][]*h2Conn{conns, retired} {
		for _, c := range cs {
			started, wrote := c.started.Load(), c.wrote.Load()
			if c.settled.Load() < c.reaperStarted && wrote == c.reaperWrote && !c.unstuck {
				c.unstuck = true
				p.unstick(c)
			}
			c.reaperStarted, c.reaperWrote = started, wrote
			p.pingCheck(c, cfg.connectTimeout, now)
		}
	}
	// A retired connection closes when its last request ends (stateChanged);
	// should that hook be missed (see kickH2), it closes here rather than
	// hold its port until its idle timeout.
	for _, c := range retired {
		if c.cc.InFlight() == 0 {
			_ = c.cc.Close() // its state hook drops it
		}
	}
	idle := 0
	for _, c := range conns {
		if c.cc.InFlight() == 0 {
			idle++
		}
	}
	for i := len(conns) - 1; i >= 0 && idle > cfg.maxIdle; i-- {
		c := conns[i]
		if c.cc.InFlight() != 0 || !p.retireOne(c) {
			continue
		}
		idle--
		if c.cc.InFlight() == 0 {
			_ = c.cc.Close() // its state hook drops it
		} // else: it closes after that request (stateChanged)
	}
}

// pingCheck is the health check of a connection with requests in flight.
// When nothing has come on it for timeout, it is sent a PING; when nothing
// has come within timeout after that either, the backend is taken for
// gone (a process hung, a network path that drops the connection's
// packets) and the connection is closed: its requests fail, and a request
// that may be sent twice is sent again on a new connection, instead of
// every request going to the dead connection until it times out.
//
// A gRPC server closes a connection pinged too often (grpc-go: a third
// PING with no HEADERS or DATA sent since the last, within 5 minutes, or
// within 2 hours on a connection without streams), and a call whose
// answer takes long is silent that long. So an idle connection is not
// pinged, and a connection is pinged at most once between two of the
// backend's answers (HEADERS or DATA frames): one PING shows the backend
// there; that it stays there shows in its answers, or in the requests'
// own timeouts.
func (p *pool) pingCheck(c *h2Conn, timeout time.Duration, now int64) {
	raw := c.raw
	if c.cc.InFlight() == 0 {
		return
	}
	last := raw.lastRead.Load()
	if c.pinged && c.pingAt > last {
		// The PING is out and nothing has come since.
		if now-c.pingAt >= int64(timeout) {
			p.log.h2Unresponsive(p, timeout)
			_ = c.cc.Close() // the hook drops it
		}
		return
	}
	answers := raw.answers.Load()
	if now-last < int64(timeout) || c.pinged && answers == c.pingAnswers {
		return
	}
	c.pinged, c.pingAnswers, c.pingAt = true, answers, now
	// Not under the reaper: the write may block on a backend that no
	// longer reads, until the connection is closed.
	go raw.ping()
}

// unstick frees the requests net/http holds back on c behind stream
// reservations c can no longer honour, and retires c.
//
// A backend may lower its concurrent-stream limit at any time (RFC 9113
// §5.1.2: a new SETTINGS frame). Requests that reserved a stream under the
// old limit then queue inside net/http for the connection's one "new
// stream" lock, and the first of them waits there until fewer streams
// than the new limit are in use, a count that includes the reservations
// of the others queued behind it: with a limit of 1, nothing moves until
// their contexts expire. Once c is retired no new reservation is made on
// it; the reservations held are given back, so that each of those
// requests waits for a stream actually freed, in turn, and a request made
// with its context already cancelled (it is never sent) wakes the first
// one to look again. New requests go to another connection. A connection
// whose writes are blocked (a backend that stopped reading) looks the same
// to the reaper and is retired as well, which spares new requests the wait
// behind it.
func (p *pool) unstick(c *h2Conn) {
	p.retireOne(c)
	p.log.h2Stuck(p, c.started.Load()-c.settled.Load())
	for n := c.cc.InFlight(); n > 0; n-- {
		c.cc.Release() // no-op once none is left
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	nudge := &http.Request{Method: http.MethodGet, URL: &url.URL{Scheme: "http", Host: p.host, Path: "/"}, Host: p.host, Header: http.Header{}}
	_, _ = c.cc.RoundTrip(nudge.WithContext(ctx))
}

// retireOne takes c out of the connections that take new requests (false
// if it was not among them); the oldest waiter may then dial in its place.
func (p *pool) retireOne(c *h2Conn) bool {
	p.mu.Lock()
	i := slices.Index(p.h2.conns, c)
	if i >= 0 {
		p.h2.conns = slices.Delete(p.h2.conns, i, i+1)
		p.retireLocked(c)
	}
	w := p.grantDialH2Locked(p.cfg.Load())
	p.mu.Unlock()
	if w != nil {
		w.ch <- grant{}
	}
	return i >= 0
}

// retireLocked moves c, already taken out of p.h2.conns, to the retired
// connections: it no longer counts in open (nor as a dial). p.mu must be
// held.
func (p *pool) retireLocked(c *h2Conn) {
	p.open--
	p.h2.epoch++
	if !c.confirmed.Swap(true) {
		p.h2.dialing--
	}
	c.retired.Store(true)
	p.h2.retired = append(p.h2.retired, c)
}

// statsH2 fills the connection counts of an HTTP/2 pool's stats.
func (p *pool) statsH2(s *DestinationStats) {
	p.mu.Lock()
	var buf [8]*h2Conn
	conns := append(append(buf[:0], p.h2.conns...), p.h2.retired...)
	s.Open, s.WaitQueue = p.open+len(p.h2.retired), len(p.h2.queue)
	p.mu.Unlock()
	for _, c := range conns {
		n := c.cc.InFlight()
		s.InUse += n
		if n == 0 {
			s.Idle++
		}
	}
}

// h2dial carries one dial's TLS config in and its connection out.
type h2dial struct {
	tls      *tls.Config
	conn     *h2conn
	tlsState *tls.ConnectionState
}

type h2dialKey struct{}

// dialH2 connects to the pool's destination, whatever address the
// transport asks for, accounts the connection in the port ledger and, for
// h2, makes the TLS handshake, which must settle on HTTP/2 by ALPN.
func (p *pool) dialH2(ctx context.Context, _, _ string) (net.Conn, error) {
	d, _ := ctx.Value(h2dialKey{}).(*h2dial)
	if d == nil {
		return nil, errors.New("backend: HTTP/2 dial outside the pool")
	}
	c, _, err := p.connect(ctx, p.cfg.Load(), d.tls, true)
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*tls.Conn); ok {
		st := tc.ConnectionState()
		d.tlsState = &st
	}
	d.conn = &h2conn{Conn: c, p: p}
	d.conn.lastRead.Store(monoNow()) // silence is counted from here
	return d.conn, nil
}

// h2conn is an HTTP/2 connection's socket (or TLS stream). It releases its
// port into the reclaim window when closed, watches the backend's first
// frame (its SETTINGS, RFC 9113 §3.4) to tell the pool when the
// connection's stream limit is known, and sends the health check's PINGs
// between the client connection's frames (see pingCheck).
type h2conn struct {
	net.Conn
	p      *pool
	closed atomic.Bool

	// Read is called by the client connection's single reader only.
	in       frameWalk // the frames read
	read     int64     // bytes returned by Read
	frameEnd int64     // where the first frame ends, once its header is in
	told     bool
	// seen is set once the SETTINGS frame has been applied; owner is
	// told then, whichever of the two comes second. goneAway is set
	// when the backend's GOAWAY frame comes; owner is retired then (or
	// as soon as it is known).
	seen, goneAway atomic.Bool
	owner          atomic.Pointer[h2Conn]
	// lastRead is when bytes last came (monoNow), answers counts the
	// HEADERS and DATA frames read: the health check's signs of life.
	lastRead atomic.Int64
	answers  atomic.Uint64

	// Writes, the client connection's and a PING's, under wmu.
	wmu      sync.Mutex
	preface  int       // bytes of the client preface written
	out      frameWalk // the frames written after it
	pingDue  bool      // a PING waits for the end of the frame being written
	pingSent uint64    // PINGs written
}

// frameWalk follows HTTP/2 frame boundaries (RFC 9113 §4.1) through a
// byte stream given in pieces of any size.
type frameWalk struct {
	head  [9]byte // the header of the current frame
	nhead int     // its bytes seen
	skip  int64   // bytes of its payload still to come
}

// next consumes b up to the end of the next frame header, which it then
// reports (the frame's header is in w.head), or to its end.
func (w *frameWalk) next(b []byte) (rest []byte, header bool) {
	for len(b) > 0 {
		if w.skip > 0 {
			k := min(int64(len(b)), w.skip)
			w.skip -= k
			b = b[k:]
			continue
		}
		k := copy(w.head[w.nhead:], b)
		w.nhead += k
		b = b[k:]
		if w.nhead < len(w.head) {
			return b, false
		}
		w.nhead = 0
		w.skip = int64(w.head[0])<<16 | int64(w.head[1])<<8 | int64(w.head[2])
		return b, true
	}
	return b, false
}

// between reports whether the stream so far ends at a frame boundary.
func (w *frameWalk) between() bool { return w.nhead == 0 && w.skip == 0 }

// clientPreface is what an HTTP/2 client writes before its first frame
// (RFC 9113 §3.4).
const clientPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// pingFrame is the health check's PING (RFC 9113 §6.7): eight bytes of
// opaque data, which the backend sends back in its acknowledgement.
var pingFrame = [17]byte{0, 0, 8, 0x6, 0, 0, 0, 0, 0, 'a', 'p', 'i', 'm', 'g', 'w', 'p', 'g'}

// Read implements net.Conn. The client connection reads frames through a
// buffer and applies each before it reads more, so once Read is called
// again after the SETTINGS frame's last byte was returned, the frame has
// been applied.
func (c *h2conn) Read(b []byte) (int, error) {
	if !c.told && c.frameEnd > 0 && c.read >= c.frameEnd {
		c.told = true
		c.seen.Store(true)
		if o := c.owner.Load(); o != nil {
			o.confirm()
		}
	}
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.lastRead.Store(monoNow())
		c.frames(b[:n])
	}
	c.read += int64(n)
	return n, err
}

// Write implements net.Conn: the client connection's writes, after which
// a PING asked for meanwhile goes out if they ended at a frame boundary.
func (c *h2conn) Write(b []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	n, err := c.Conn.Write(b)
	w := b[:n]
	if c.preface < len(clientPreface) {
		k := min(len(w), len(clientPreface)-c.preface)
		c.preface += k
		w = w[k:]
	}
	for len(w) > 0 {
		w, _ = c.out.next(w)
	}
	if err == nil && c.pingDue {
		c.writePingLocked()
	}
	return n, err
}

// ping writes the health check's PING now if the client connection is
// between frames, or else right after the frame it is writing.
func (c *h2conn) ping() {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.pingDue = true
	c.writePingLocked()
}

func (c *h2conn) writePingLocked() {
	if c.preface < len(clientPreface) || !c.out.between() {
		return
	}
	c.pingDue = false
	c.pingSent++
	// A failed write leaves the connection broken whatever was written:
	// the client connection's next write or read says so.
	_, _ = c.Conn.Write(pingFrame[:])
}

// frames follows the frame boundaries through b, the next bytes read, for
// the end of the first frame (the backend's SETTINGS) and for a GOAWAY
// (RFC 9113 §6.8: a backend shutting down, or done with the connection, as
// nginx is after keepalive_requests). The connection is retired then: net/http
// sends nothing new on it, and it no longer counts against maxConns, so the
// oldest waiter may dial its successor at once rather than wait for the
// requests still on it to end.
func (c *h2conn) frames(b []byte) {
	for len(b) > 0 {
		var header bool
		if b, header = c.in.next(b); !header {
			continue
		}
		if c.frameEnd == 0 {
			c.frameEnd = int64(len(c.in.head)) + c.in.skip // the first frame starts the stream
		}
		switch c.in.head[3] {
		case 0x0, 0x1: // DATA, HEADERS
			c.answers.Add(1)
		case 0x7: // GOAWAY
			if !c.goneAway.Swap(true) {
				if o := c.owner.Load(); o != nil {
					o.p.retireOne(o)
				}
			}
		}
	}
}

// watchSettings makes o the connection told when the SETTINGS are in, or
// a GOAWAY.
func (c *h2conn) watchSettings(o *h2Conn) {
	c.owner.Store(o)
	if c.seen.Load() {
		o.confirm()
	}
	if c.goneAway.Load() {
		o.p.retireOne(o)
	}
}

// Close implements net.Conn.
func (c *h2conn) Close() error {
	err := c.Conn.Close()
	if !c.closed.Swap(true) {
		c.p.ledger.release()
		c.p.closedN.Add(1)
	}
	return err
}

// roundTripH2 sends req over one of the pool's HTTP/2 connections. A
// request the backend did not process (see h2Unprocessed), or whose
// connection died under it, is sent again when that is safe.
func (p *pool) roundTripH2(ctx context.Context, req *http.Request) (*http.Response, error) {
	// net/http's stream goroutine may still read the header after
	// RoundTrip has returned (a request given up before its stream
	// opened), when the caller may be reusing the map (apimgw's server
	// reuses a connection's request header map): it gets its own copy.
	r2 := *req
	r2.Header = req.Header.Clone()
	req = &r2
	p.active.Add(1)
	for attempt := 0; ; attempt++ {
		c, err := p.acquireH2(ctx)
		if err != nil {
			// Nothing was sent and the body is untouched: the caller
			// may try another address.
			p.active.Add(-1)
			return nil, newError(ctx, MsgUnableToConnect, err)
		}
		resp, err := c.roundTrip(req)
		if err == nil {
			c.confirm() // the backend's SETTINGS came before its response
			resp.TLS = c.tls
			resp.Body = &h2body{rc: resp.Body, p: p, ctx: ctx}
			return resp, nil
		}
		// Again, on another stream or connection, when the backend did not
		// process the request, which makes it safe for any method (RFC
		// 9113 §8.7), up to maxH2Unprocessed times; once when the
		// connection died under a request that may be sent twice.
		unprocessed := h2Unprocessed(err)
		if ctx.Err() == nil && (unprocessed && attempt < maxH2Unprocessed || attempt == 0 && c.cc.Err() != nil && isIdempotent(req)) && (!hasBody(req) || req.GetBody != nil) {
			if req, err = rewind(req); err != nil {
				p.active.Add(-1)
				return nil, newError(ctx, MsgClosedOnSend, err)
			}
			continue
		}
		p.active.Add(-1)
		msg := MsgClosedUnexpected
		if h2Violation(err) {
			msg = MsgProtocolViolation
		}
		return nil, newError(ctx, msg, fmt.Errorf("%s %s via %s: %w", req.Method, safeURL(req.URL), p.addr, err))
	}
}

// maxH2Unprocessed bounds the retries of a request the backend did not
// process: a backend shutting down (GOAWAY) can meet a retry on its next
// connection too.
const maxH2Unprocessed = 3

// h2Unprocessed reports whether err, from an HTTP/2 round trip, says the
// backend did not process the request: the stream was refused
// (REFUSED_STREAM), it was above the last one a GOAWAY accepted, or the
// request was never sent (the connection became unusable, or closed before
// its first request, before the stream opened). net/http's HTTP/2 errors
// are not exported: they are recognised by their messages, which
// TestH2BackendGoesAway checks.
func h2Unprocessed(err error) bool {
	switch msg := err.Error(); msg {
	case "http2: client conn not usable",
		"http2: Transport received Server's graceful shutdown GOAWAY",
		"http2: client conn could not be established":
		return true
	default:
		return strings.Contains(msg, "REFUSED_STREAM")
	}
}

// h2Violation reports whether err, from an HTTP/2 round trip, is net/http
// finding the backend in breach of the protocol: a connection error it
// detected (PROTOCOL_ERROR, COMPRESSION_ERROR, FRAME_SIZE_ERROR and the
// like, reported as "connection error: CODE"; a GOAWAY the backend sent
// reads otherwise), a malformed response, or a response head past the
// bound (which also ends as a COMPRESSION_ERROR when one field is past
// it), as an HTTP/1.1 backend's protocol violations are reported.
func h2Violation(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "connection error: ") ||
		strings.Contains(msg, "malformed response from server") ||
		strings.Contains(msg, "response header list larger than")
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
