package httpserver

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults for the zero values of Server's limits.
const (
	DefaultMaxHeaderBytes     = 64 << 10
	DefaultMaxURLBytes        = 16 << 10 // APIM's own URL limit
	DefaultMaxHeaderLineBytes = 32 << 10
	DefaultMaxHeaders         = 100
	DefaultReadHeaderTimeout  = 30 * time.Second
	DefaultIdleTimeout        = 4 * time.Minute
	DefaultWriteStallTimeout  = time.Minute
	DefaultBodyGrace          = 20 * time.Second // as Apache's mod_reqtimeout
	DefaultBodyMinRate        = 500              // bytes per second, as mod_reqtimeout
)

// Server serves HTTP/1.x on the listeners given to Serve. Its fields must
// not change after the first Serve.
type Server struct {
	// Handler answers every request.
	Handler http.Handler
	// ReadHeaderTimeout bounds the time from a request's first byte to the
	// end of its head; IdleTimeout bounds the wait for the next request on
	// a keep-alive connection (also for a new connection's first request).
	ReadHeaderTimeout time.Duration
	IdleTimeout       time.Duration
	// WriteStallTimeout bounds how long one write to a client may block
	// (the client not reading its response) before the connection is
	// closed, so a stalled client cannot hold a handler, and the backend
	// connection it streams from, for ever.
	WriteStallTimeout time.Duration
	// MaxHeaderBytes bounds the request line plus headers; a longer head is
	// answered 431 (414 when the request line alone is too long).
	MaxHeaderBytes int
	// MaxURLBytes bounds the request target (414 URI Too Long),
	// MaxHeaderLineBytes one header line and MaxHeaders the number of
	// header lines (431 Request Header Fields Too Large).
	MaxURLBytes        int
	MaxHeaderLineBytes int
	MaxHeaders         int
	// BodyGrace and BodyMinRate bound how slowly a client may send a
	// request body: the time spent waiting for its bytes may reach
	// BodyGrace plus one second per BodyMinRate bytes received, after which
	// the body's reader gets ErrBodyReadTimeout and the client 408 Request
	// Timeout (if the response has not started; else the connection is
	// closed). Time the handler spends not reading does not count. A
	// negative BodyMinRate turns the check off.
	BodyGrace   time.Duration
	BodyMinRate int
	// MaxConns caps the open client connections (0: no cap). At the cap
	// the server closes its longest-idle keep-alive connection to make
	// room; with none idle it stops accepting until a connection ends, so
	// new connections wait in the listen backlog.
	MaxConns int
	// AllowUnderscoreHeaders keeps request header fields whose names
	// contain '_'; by default they are dropped (nginx's
	// underscores_in_headers off), so that no backend mapping '_' to '-'
	// takes X_Forwarded_For for X-Forwarded-For.
	AllowUnderscoreHeaders bool
	// TLSConfig, when set, makes the server speak TLS on every connection
	// it accepts (see tls.go): HTTP/1.1 is served here, with each request's
	// TLS set. It is used as given for the server's life (session ticket
	// keys included) and must not change after the first Serve; its
	// NextProtos should offer "http/1.1", and "h2" only with TLSHandOff.
	TLSConfig *tls.Config
	// TLSHandOff receives the TLS connections whose ALPN chose a protocol
	// other than HTTP/1.1 (h2), handshake done; it must not block for
	// long, and it (or the connection's new owner) must call h.Done when
	// the connection ends. Nil: such connections are closed.
	TLSHandOff func(c *tls.Conn, h *HandedConn)
	// ErrorLog receives handler panics and accept errors; nil: slog.Default.
	ErrorLog *slog.Logger

	// parkAfter is parkDelay, shorter in tests; noPoll parks connections
	// on goroutines, as where there is no poller. lingerFor is lingerTime,
	// shorter in tests.
	parkAfter time.Duration
	noPoll    bool
	lingerFor time.Duration

	// clock is the time (UnixNano) by the sweeper's last tick, at most
	// sweepTick old: what connections stamp their state changes and
	// socket writes with, instead of reading the time per request.
	clock atomic.Int64

	// readers, writers and values keep some of the buffers and handler
	// storage (ConnValue) that parked and ended connections gave back, for
	// the connections that wake up or start; the rest is left to the
	// garbage collector
	// (a sync.Pool would keep all of them for two collections).
	poller  poller // waits for parked connections' requests
	readers freeList[*bufio.Reader]
	writers freeList[*bufio.Writer]
	values  freeList[any]

	mu          sync.Mutex
	connFreed   sync.Cond // a connection ended (for MaxConns); L is mu
	roomWaiters int       // waitForRoom calls waiting on connFreed
	listeners   map[*net.Listener]struct{}
	conns       map[*conn]struct{}
	sweeping    bool
	stopSweep   chan struct{}
	// sweepAsleep: the sweeper found no connection and waits for
	// sweepWake (which trackConn sends on when adding one) instead of
	// ticking.
	sweepAsleep bool
	sweepWake   chan struct{}
	inShutdown  atomic.Bool
}

// freeListSize bounds each of a server's free lists.
const freeListSize = 64

// freeList is a bounded free list; the zero value is ready to use.
type freeList[T any] struct {
	mu    sync.Mutex
	items []T
}

// get returns a kept item, or the zero T when there is none.
func (l *freeList[T]) get() (v T) {
	l.mu.Lock()
	if n := len(l.items); n > 0 {
		v = l.items[n-1]
		var zero T
		l.items[n-1] = zero
		l.items = l.items[:n-1]
	}
	l.mu.Unlock()
	return v
}

func (l *freeList[T]) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.items)
}

// put keeps v unless the list is full.
func (l *freeList[T]) put(v T) {
	l.mu.Lock()
	if len(l.items) < freeListSize {
		l.items = append(l.items, v)
	}
	l.mu.Unlock()
}

// ErrServerClosed is what Serve returns after Shutdown or Close; it is
// net/http's value so callers can treat both servers alike.
var ErrServerClosed = http.ErrServerClosed

func (s *Server) log() *slog.Logger {
	if s.ErrorLog != nil {
		return s.ErrorLog
	}
	return slog.Default()
}

// orDefault is v when set (positive), else d.
func orDefault[T int | time.Duration](v, d T) T {
	if v > 0 {
		return v
	}
	return d
}

func (s *Server) maxHeaderBytes() int { return orDefault(s.MaxHeaderBytes, DefaultMaxHeaderBytes) }

func (s *Server) readHeaderTimeout() time.Duration {
	return orDefault(s.ReadHeaderTimeout, DefaultReadHeaderTimeout)
}

func (s *Server) writeStallTimeout() time.Duration {
	return orDefault(s.WriteStallTimeout, DefaultWriteStallTimeout)
}

func (s *Server) idleTimeout() time.Duration { return orDefault(s.IdleTimeout, DefaultIdleTimeout) }

func (s *Server) maxURLBytes() int { return orDefault(s.MaxURLBytes, DefaultMaxURLBytes) }

func (s *Server) maxHeaderLineBytes() int {
	return orDefault(s.MaxHeaderLineBytes, DefaultMaxHeaderLineBytes)
}

func (s *Server) maxHeaders() int { return orDefault(s.MaxHeaders, DefaultMaxHeaders) }

func (s *Server) bodyGrace() time.Duration { return orDefault(s.BodyGrace, DefaultBodyGrace) }

// bodyMinRate is the minimum body rate in bytes per second, 0 for none.
func (s *Server) bodyMinRate() int {
	if s.BodyMinRate < 0 {
		return 0
	}
	return orDefault(s.BodyMinRate, DefaultBodyMinRate)
}

// Serve accepts connections on ln and serves each on its own goroutine
// until Shutdown or Close, when it returns ErrServerClosed. ln is closed on
// return.
func (s *Server) Serve(ln net.Listener) error {
	if s.Handler == nil {
		return errors.New("httpserver: nil Handler")
	}
	if !s.trackListener(&ln, true) {
		ln.Close()
		return ErrServerClosed
	}
	defer s.trackListener(&ln, false)
	defer ln.Close()
	base := context.WithValue(context.Background(), http.LocalAddrContextKey, ln.Addr())
	var backoff time.Duration
	for {
		rwc, err := ln.Accept()
		if err != nil {
			if s.inShutdown.Load() {
				return ErrServerClosed
			}
			if transientAcceptError(err) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log().Warn("http: accept error; retrying", "err", err, "retryIn", backoff)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		if s.MaxConns > 0 && !s.waitForRoom() {
			rwc.Close()
			return ErrServerClosed
		}
		c := newConn(s, rwc, base)
		if !s.trackConn(c, true) {
			rwc.Close()
			continue
		}
		go c.serve()
	}
}

// transientAcceptError reports the accept failures after which net/http
// keeps accepting too (too many open files, connection aborted, timeouts).
func transientAcceptError(err error) bool {
	var ne net.Error
	if !errors.As(err, &ne) {
		return false
	}
	if ne.Timeout() {
		return true
	}
	t, ok := ne.(interface{ Temporary() bool })
	return ok && t.Temporary()
}

func (s *Server) trackListener(ln *net.Listener, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		if s.inShutdown.Load() {
			return false
		}
		if s.listeners == nil {
			s.listeners = make(map[*net.Listener]struct{})
		}
		s.listeners[ln] = struct{}{}
		if !s.sweeping {
			s.clock.Store(time.Now().UnixNano()) // before the first connection reads it
			s.sweeping, s.sweepAsleep = true, false
			s.stopSweep, s.sweepWake = make(chan struct{}), make(chan struct{}, 1)
			go s.sweep(s.stopSweep, s.sweepWake)
		}
		return true
	}
	delete(s.listeners, ln)
	return true
}

func (s *Server) trackConn(c *conn, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		if s.inShutdown.Load() {
			return false
		}
		if s.conns == nil {
			s.conns = make(map[*conn]struct{})
		}
		s.conns[c] = struct{}{}
		if s.sweepAsleep {
			// The clock stopped with the sweeper: set it before the
			// connection stamps a time with it.
			s.sweepAsleep = false
			s.clock.Store(time.Now().UnixNano())
			select {
			case s.sweepWake <- struct{}{}:
			default:
			}
		}
		return true
	}
	delete(s.conns, c)
	s.connFreed.Broadcast()
	return true
}

// waitForRoom returns, for a connection just accepted, once fewer than
// MaxConns connections are open, closing the longest-idle one when all
// are taken (as nginx reuses its keep-alive connections when it runs out);
// it reports false on shutdown. Until then the new connection is not read
// and no further one accepted.
func (s *Server) waitForRoom() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.connFreed.L == nil {
		s.connFreed.L = &s.mu
	}
	var closing *conn
	for len(s.conns) >= s.MaxConns && !s.inShutdown.Load() {
		if _, ok := s.conns[closing]; !ok {
			closing = nil
			var since int64
			for c := range s.conns {
				if st, t := c.getState(); idleState(st) && (closing == nil || t < since) {
					closing, since = c, t
				}
			}
			if closing != nil {
				closing.closeLocked()
			}
		}
		// Woken when a connection ends, and by the sweeper's ticks (a
		// busy connection may have become idle).
		s.roomWaiters++
		s.connFreed.Wait()
		s.roomWaiters--
	}
	return !s.inShutdown.Load()
}

// sweepTick bounds the sweeper's interval: it also starts the watch of
// requests older than watchDelay, and keeps the server's clock.
const sweepTick = 10 * time.Millisecond

// sweepInterval is how often the sweeper runs: sweepTick, or a quarter of
// the shortest timeout when that is shorter (at least 1 ms).
func (s *Server) sweepInterval() time.Duration {
	d := min(s.readHeaderTimeout(), s.idleTimeout(), s.writeStallTimeout()) / 4
	return max(min(d, sweepTick), time.Millisecond)
}

// sweep closes connections that have waited too long for a request
// (IdleTimeout), are too slow sending one (ReadHeaderTimeout) or do not
// read their response (WriteStallTimeout), and starts watching for a
// departed client on requests in their handler for watchDelay. Closing
// the socket ends the connection's blocked read; this replaces a deadline
// and a timer (runtime timers) per request with one pass per interval.
// Connections stamp times by the server's clock, which this pass keeps:
// a stamp is up to one interval early, so a deadline is taken to have
// passed only when it has by an interval more, and a connection is closed
// between its timeout and two intervals after it. With no connection
// (a server between bursts, a replica nobody calls) it stops ticking and
// its clock, until trackConn adds one: an idle server does not wake a
// hundred times a second.
func (s *Server) sweep(stop, wake chan struct{}) {
	interval := s.sweepInterval()
	t := time.NewTicker(interval)
	defer t.Stop()
	slack := interval.Nanoseconds()
	idle, header, stall := s.idleTimeout().Nanoseconds()+slack, s.readHeaderTimeout().Nanoseconds()+slack, s.writeStallTimeout().Nanoseconds()+slack
	watch := watchDelay.Nanoseconds() + slack
	park := orDefault(s.parkAfter, parkDelay).Nanoseconds() + slack
	kick := interval.Nanoseconds() + slack // a write-then-wait a tick old
	grace, rate := s.bodyGrace().Nanoseconds()+slack, int64(s.bodyMinRate())
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			n := time.Now().UnixNano()
			s.clock.Store(n)
			s.mu.Lock()
			if s.roomWaiters > 0 {
				s.connFreed.Broadcast()
			}
			for c := range s.conns {
				st, since := c.getState()
				ws := c.writeSince.Load()
				switch {
				case idleState(st) && n-since > idle || st == stateReading && n-since > header || ws != 0 && n-ws > stall:
					c.closeLocked()
				case st == stateActive && n-since > watch:
					c.startWatch()
					if rate > 0 {
						c.checkBodyRate(n, grace, rate)
					}
				case st == stateIdle && n-since > kick && c.awaiting.Load():
					c.kickAwait()
				case st == stateIdle && n-since > park:
					c.askPark()
				}
			}
			asleep := len(s.conns) == 0 && s.roomWaiters == 0
			s.sweepAsleep = asleep
			s.mu.Unlock()
			if asleep {
				t.Stop()
				select {
				case <-stop:
					return
				case <-wake:
				}
				t.Reset(interval)
			}
		}
	}
}

// Close closes the listeners and every connection at once. Like
// net/http's, it does not wait for handlers still running: their writes
// fail and their connections' goroutines end when they return.
func (s *Server) Close() error {
	s.inShutdown.Store(true)
	s.mu.Lock()
	err := s.closeListenersLocked()
	for c := range s.conns {
		c.closeLocked()
	}
	s.stopSweeperLocked()
	s.connFreed.Broadcast()
	s.mu.Unlock()
	return err
}

// Shutdown stops accepting, closes idle connections, lets each busy one
// finish its current request (answered with Connection: close) and returns
// when none is left, or with ctx's error when ctx ends first.
func (s *Server) Shutdown(ctx context.Context) error {
	s.inShutdown.Store(true)
	s.mu.Lock()
	err := s.closeListenersLocked()
	s.connFreed.Broadcast()
	s.mu.Unlock()
	poll := time.Millisecond
	timer := time.NewTimer(poll)
	defer timer.Stop()
	for {
		if s.closeIdle() {
			s.mu.Lock()
			s.stopSweeperLocked()
			s.mu.Unlock()
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
			poll = min(2*poll, 100*time.Millisecond)
			timer.Reset(poll)
		}
	}
}

// closeIdle closes the connections waiting for a request and reports
// whether no connection is left.
func (s *Server) closeIdle() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if st, _ := c.getState(); idleState(st) {
			c.closeLocked()
		}
	}
	return len(s.conns) == 0
}

func (s *Server) closeListenersLocked() error {
	var err error
	for ln := range s.listeners {
		if cerr := (*ln).Close(); cerr != nil && err == nil && !errors.Is(cerr, net.ErrClosed) {
			err = cerr
		}
	}
	return err
}

func (s *Server) stopSweeperLocked() {
	if s.sweeping {
		close(s.stopSweep)
		s.sweeping = false
	}
	s.poller.stop()
}
