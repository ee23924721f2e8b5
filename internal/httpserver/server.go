package httpserver

import (
	"context"
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
	DefaultMaxHeaderBytes    = 1 << 20 // as net/http
	DefaultReadHeaderTimeout = 30 * time.Second
	DefaultIdleTimeout       = 4 * time.Minute
	DefaultWriteStallTimeout = time.Minute
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
	// answered 431.
	MaxHeaderBytes int
	// ErrorLog receives handler panics and accept errors; nil: slog.Default.
	ErrorLog *slog.Logger

	// clock is the time (UnixNano) by the sweeper's last tick, at most
	// sweepTick old: what connections stamp their state changes and
	// socket writes with, instead of reading the time per request.
	clock atomic.Int64

	mu         sync.Mutex
	listeners  map[*net.Listener]struct{}
	conns      map[*conn]struct{}
	sweeping   bool
	stopSweep  chan struct{}
	inShutdown atomic.Bool
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
			s.sweeping = true
			s.stopSweep = make(chan struct{})
			go s.sweep(s.stopSweep)
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
		return true
	}
	delete(s.conns, c)
	return true
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
// between its timeout and two intervals after it.
func (s *Server) sweep(stop chan struct{}) {
	interval := s.sweepInterval()
	t := time.NewTicker(interval)
	defer t.Stop()
	slack := interval.Nanoseconds()
	idle, header, stall := s.idleTimeout().Nanoseconds()+slack, s.readHeaderTimeout().Nanoseconds()+slack, s.writeStallTimeout().Nanoseconds()+slack
	watch := watchDelay.Nanoseconds() + slack
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			n := time.Now().UnixNano()
			s.clock.Store(n)
			s.mu.Lock()
			for c := range s.conns {
				st, since := c.getState()
				ws := c.writeSince.Load()
				switch {
				case st == stateIdle && n-since > idle || st == stateReading && n-since > header || ws != 0 && n-ws > stall:
					c.rwc.Close()
				case st == stateActive && n-since > watch:
					c.startWatch()
				}
			}
			s.mu.Unlock()
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
		c.rwc.Close()
	}
	s.stopSweeperLocked()
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
		if st, _ := c.getState(); st == stateIdle {
			c.rwc.Close()
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
}
