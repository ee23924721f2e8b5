package httpserver

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/apimgw/apimgw/internal/httplex"
	"github.com/apimgw/apimgw/internal/reqctx"
	"github.com/apimgw/apimgw/internal/sockio"
)

// Connection states, as seen by the sweeper and Shutdown.
const (
	stateIdle          int32 = iota // waiting for a request's first byte
	stateReading                    // reading a request head
	stateActive                     // in the handler or writing the response
	stateParking                    // idle, and the sweeper is interrupting the wait to park it
	stateParked                     // idle, without buffers, polled or waiting on a small goroutine
	stateClosed                     // a polled connection closed by the server
	stateHandedOff                  // a TLS connection handed to TLSHandOff, busy
	stateHandedOffIdle              // a TLS connection handed to TLSHandOff, idle
	stateLingering                  // answered, reading what the client still sends before the close (lingerTime)
)

// idleState reports whether a connection in state st has no request to
// finish: it waits for one, or lingers before its close. Shutdown closes
// such connections, and so does a server at MaxConns, the longest idle
// first.
func idleState(st int32) bool {
	return st == stateIdle || st == stateParking || st == stateParked || st == stateHandedOffIdle || st == stateLingering
}

// parkDelay is how long a keep-alive connection waits for its next request
// before it is parked: its read and write buffers and the handler's
// per-connection storage go back to the server's free lists, its other
// kept storage is dropped, and its goroutine ends: the server's poller
// (one epoll instance on Linux) waits for its next request and starts a
// new goroutine for it; elsewhere a new goroutine waits, whose stack is the
// smallest the runtime gives. A parked connection costs about 1 KB (see
// docs/benchmarks.md) instead of 20 KB; a busy connection, whose next
// request comes sooner, keeps everything and pays nothing for this.
const parkDelay = time.Second

// ErrBodyReadTimeout is what a request body's Read returns when the client
// sends it slower than the server's BodyMinRate allows; the client is
// answered 408 Request Timeout (or, if its response had started, the
// connection is closed). It is the client's fault, not the backend's.
// It is a net.Error whose Timeout is true, so code that does not know this
// package (the policy engine's client-fault classification) takes it for
// the client timing out.
var ErrBodyReadTimeout error = bodyReadTimeout{}

type bodyReadTimeout struct{}

func (bodyReadTimeout) Error() string   { return "httpserver: request body arrived too slowly (408)" }
func (bodyReadTimeout) Timeout() bool   { return true }
func (bodyReadTimeout) Temporary() bool { return true }

// watchDelay is how long a request runs before the server starts watching
// its connection for the client going away. Shorter requests never pay for
// the watch (a goroutine, a read and an interrupt); longer ones learn of a
// departed client within this delay (plus up to two sweeper ticks). At 5 ms
// the slower requests of a saturating wrk run paid for the watch (2-3 % of
// throughput and up to 1 ms of p99 against 50 ms in a same-run
// comparison); 25 ms keeps it off nearly every request and still ends a
// wait for a pooled connection or a retry interval promptly.
const watchDelay = 25 * time.Millisecond

// maxPostHandlerReadBytes is how much of a request body the handler left
// unread the server still reads to keep the connection; beyond it the
// connection is closed instead (as net/http).
const maxPostHandlerReadBytes = 256 << 10

// A connection that ends while the client may still be sending (a request
// body the handler left unread, requests pipelined after the last) lingers:
// its sending side is shut, and what arrives is read and dropped until the
// client closes its side, sends nothing for lingerQuiet, or lingerTime has
// passed. Closing a socket with unread input makes the kernel send a reset
// instead of the end of the stream, and a client that gets it before
// reading the answer loses the answer (an API's 401 or 413 to an upload,
// say). net/http waits 500 ms without reading; nginx reads, for up to 5 s
// between packets and 30 s in all.
const (
	lingerQuiet = 500 * time.Millisecond
	lingerTime  = 3 * time.Second
)

// bufSize is the size of a connection's read and write buffers.
const bufSize = 4 << 10

// aLongTimeAgo is a read deadline in the past, to interrupt a pending read.
var aLongTimeAgo = time.Unix(1, 0)

type conn struct {
	srv        *Server
	rwc        net.Conn // the TLS connection when the server speaks TLS
	raw        net.Conn // the socket: rwc, or the one under the TLS connection
	remoteAddr string
	baseCtx    context.Context

	state      atomic.Int32
	since      atomic.Int64 // the server's clock at the last state change
	writeSince atomic.Int64 // the server's clock when a socket write started, 0 when none is blocked

	// The request body's rate (Server.BodyMinRate): while inBody, reads
	// from the socket add the time they waited and the bytes they got;
	// bodyReadSince is when the pending one started (0: none).
	inBody        atomic.Bool
	bodyReadSince atomic.Int64
	bodyWaited    atomic.Int64
	bodyBytes     atomic.Int64
	bodyTimedOut  atomic.Bool

	// parked is set when serve returns leaving the connection to the
	// server's poller or to waitParked.
	parked bool
	// polled: the connection is parked on the server's poller (pollFD),
	// with no goroutine of its own. closing: the server closed it (under
	// the server's mu).
	polled  atomic.Bool
	pollFD  int32
	closing bool

	// TLS (see tls.go): handshook once the handshake is done, tlsState
	// the connection's state then (every request's TLS), handedOff when
	// TLSHandOff took the connection.
	handshook bool
	handedOff bool
	tlsState  *tls.ConnectionState

	cr connReader
	br *bufio.Reader
	bw *bufio.Writer

	head      []byte              // the request head being read
	reqHeader httplex.HeaderStore // the request header map, reused per request
	canon     []byte              // scratch for canonicalising header names
	// Which of httplex.Fields the request's head had, and how many
	// fields the parser left in its map (see response.RequestFields).
	reqFields httplex.Fields
	reqLen    int
	header    http.Header // the response header map, cleared per request
	pending   []byte      // response body held back to learn its length
	scratch   [24]byte    // for chunk sizes
	date      []byte      // the Date header value, recomputed once a second
	dateSec   int64

	// A request whose 100-continue has not been sent when its handler
	// returns leaves the connection in an unknown state: close it.
	cur *response
	// hijacked is set when the handler took the connection over.
	hijacked bool
	// linger: the client may still be sending when the connection ends;
	// end lingers before it closes the socket.
	linger bool
	// value is the handler's per-connection slot (response.ConnValue).
	value any
	// x is the storage of the connection's requests, one at a time.
	x *exchange

	// Write-then-wait (await.go). rawConn is the socket when it is a TCP
	// connection (under TLS or not), nil otherwise. deferred: finish left the
	// response's last bytes in bw, for serve to write as the connection
	// starts waiting for its next request (flushAwait). awaiting: that
	// wait is on (for the sweeper); kicked (under cr.mu): the sweeper
	// ended it. noAwait: the client was seen to send a request before the
	// response to the one before it; this connection waits the usual way.
	rawConn    syscall.RawConn
	awaitFn    func(fd uintptr) bool
	awaitWrite sockio.AwaitWrite // writeAwait's write, before the wait
	awaitEnded bool              // the wait ended by a deadline or an error, not readability
	awaitRead  sockio.AwaitRead  // readAwait's read, in the wait
	awaitNext  bool
	deferred   bool
	noAwait    bool
	awaiting   atomic.Bool
	awaitSeq   atomic.Uint32 // counts the waits, for the sweeper's awaitSeen
	awaitSeen  uint32        // the wait the sweeper last found a tick old
	kicked     bool
	tlsSock    *sockio.Collecting // the socket under a TLS connection
}

func newConn(s *Server, rwc net.Conn, base context.Context) *conn {
	c := &conn{srv: s, rwc: rwc, raw: rwc, baseCtx: base, remoteAddr: rwc.RemoteAddr().String()}
	c.cr.c = c
	c.cr.cond.L = &c.cr.mu
	tcp, _ := rwc.(*net.TCPConn)
	if tcp != nil && awaitSupported {
		if rc, err := tcp.SyscallConn(); err == nil {
			c.rawConn = rc
			c.awaitFn = c.awaitStep
		}
	}
	if s.TLSConfig != nil {
		under := rwc
		if c.rawConn != nil {
			// The TLS connection writes its records through tlsSock,
			// which stallWriter arms for write-then-wait.
			c.tlsSock = &sockio.Collecting{TCPConn: tcp}
			under = c.tlsSock
		}
		c.rwc = tls.Server(under, s.tlsConfig())
	}
	c.setState(stateIdle)
	return c
}

// setState records the connection's state and when it entered it, by the
// server's clock (see Server.clock): a per-request time.Now would cost more
// than the sweeper needs.
func (c *conn) setState(st int32) {
	c.since.Store(c.srv.clock.Load())
	c.state.Store(st)
}

// toIdle enters the idle state between requests. A connection the poller
// woke is idle already, and the sweeper may have begun to park it again
// since (stateParking, its read deadline passed): that is left for Peek to
// find, and the connection parks again, so that the deadline cannot fail
// the next request's read.
//
// A connection idle already keeps the time it became so: the longest-idle
// one is the one waitForRoom closes.
func (c *conn) toIdle() {
	for {
		st := c.state.Load()
		if st == stateIdle || st == stateParking {
			return
		}
		c.since.Store(c.srv.clock.Load())
		if c.state.CompareAndSwap(st, stateIdle) {
			return
		}
	}
}

func (c *conn) getState() (int32, int64) {
	st := c.state.Load()
	return st, c.since.Load()
}

func (c *conn) serve() {
	c.parked = false
	defer func() {
		if c.parked {
			c.srv.waitParked(c)
			return
		}
		if c.handedOff {
			return // HandedConn.Done untracks it
		}
		if !c.hijacked {
			c.end()
			// Its buffers and handler storage go to the next connection,
			// as a parked connection's do: a client that opens a
			// connection per request (TLS with resumption, say) would
			// otherwise have each one allocate them again.
			c.giveBack()
		}
		c.srv.trackConn(c, false)
	}()
	if c.raw != c.rwc && !c.handshook && !c.handshake() {
		return
	}
	if c.br == nil {
		if br := c.srv.readers.get(); br != nil {
			br.Reset(&c.cr)
			c.br = br
		} else {
			c.br = bufio.NewReaderSize(&c.cr, bufSize)
		}
	}
	for {
		// On a cleartext connection the read below writes what finish
		// deferred, waits and reads, entering the idle state after the
		// write (readAwait).
		if !c.readsAwait() {
			if c.deferred {
				c.deferred = false
				if c.flushAwait() != nil {
					return
				}
			}
			c.toIdle()
		}
		if _, err := c.br.Peek(1); err != nil {
			if c.state.Load() == stateParking && isTimeout(err) {
				c.park()
			}
			return
		}
		c.since.Store(c.srv.clock.Load())
		if !c.state.CompareAndSwap(stateIdle, stateReading) {
			// The sweeper began to park the connection as the request
			// came: wait for it to have set its deadline, and undo it.
			c.cr.mu.Lock()
			c.rwc.SetReadDeadline(time.Time{})
			c.cr.mu.Unlock()
			c.setState(stateReading)
		}
		req, body, err := c.readRequest()
		if err != nil {
			var pe *protoError
			if errors.As(err, &pe) {
				c.writeProtoError(pe)
			}
			return
		}
		c.setState(stateActive)
		if !c.handle(req, body) || c.srv.inShutdown.Load() {
			return // end writes what finish deferred
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// askPark starts parking an idle connection (on the sweeper's goroutine):
// its pending read is interrupted, and serve parks it (see parkDelay).
func (c *conn) askPark() {
	c.cr.mu.Lock()
	if c.state.CompareAndSwap(stateIdle, stateParking) {
		c.rwc.SetReadDeadline(aLongTimeAgo)
	}
	c.cr.mu.Unlock()
}

// giveBack puts the connection's read and write buffers and its handler
// storage (ConnValue) on the server's free lists, for other connections.
func (c *conn) giveBack() {
	s := c.srv
	if c.br != nil {
		c.br.Reset(nil)
		s.readers.put(c.br)
		c.br = nil
	}
	if c.bw != nil {
		c.bw.Reset(nil)
		s.writers.put(c.bw)
		c.bw = nil
	}
	if c.value != nil {
		s.values.put(c.value)
		c.value = nil
	}
}

// park gives back what an idle connection holds (see parkDelay) and waits
// for its next request on a new goroutine, which serve starts as it returns.
func (c *conn) park() {
	c.rwc.SetReadDeadline(time.Time{})
	c.giveBack()
	c.x = nil
	c.head, c.canon, c.pending, c.date = nil, nil, nil, nil
	c.reqHeader = httplex.HeaderStore{}
	c.header = nil
	c.parked = true
	c.state.Store(stateParked) // since is kept: the idle timeout runs on
}

// waitParked hands a parked connection to the poller, or, where there is
// none, to a goroutine of its own.
func (s *Server) waitParked(c *conn) {
	s.mu.Lock()
	polled := !c.closing && !s.noPoll && s.poller.add(c)
	s.mu.Unlock()
	if !polled {
		go c.waitParked()
	}
}

// closeLocked closes the connection's socket (the server's mu held). A
// connection parked on the poller has no goroutine to notice: it is
// forgotten here.
func (c *conn) closeLocked() {
	s := c.srv
	c.closing = true
	if c.polled.Load() && c.state.CompareAndSwap(stateParked, stateClosed) {
		s.poller.forget(c)
		delete(s.conns, c)
		s.connFreed.Broadcast()
	}
	c.raw.Close() // not a TLS close, which may block writing its alert (see tls.go)
}

// waitParked waits for a parked connection's next request, then serves
// it. Its goroutine starts with the runtime's smallest stack.
func (c *conn) waitParked() {
	cr := &c.cr
	for {
		n, err := c.rwc.Read(cr.b[:])
		if n == 1 {
			cr.mu.Lock()
			cr.hasByte = true
			cr.mu.Unlock()
			c.serve()
			return
		}
		if err != nil {
			c.rwc.Close()
			c.srv.trackConn(c, false)
			return
		}
	}
}

// writer returns the connection's write buffer, taking one when it has
// none (a new or parked connection).
func (c *conn) writer() *bufio.Writer {
	if c.bw == nil {
		if bw := c.srv.writers.get(); bw != nil {
			bw.Reset(stallWriter{c})
			c.bw = bw
		} else {
			c.bw = bufio.NewWriterSize(stallWriter{c}, bufSize)
		}
	}
	return c.bw
}

// readBody reads request body bytes from the socket, accounting the wait
// and the bytes for the body rate check (checkBodyRate).
func (c *conn) readBody(p []byte) (int, error) {
	start := c.srv.clock.Load()
	if start == 0 { // no sweeper (a connection not from Serve)
		return c.rwc.Read(p)
	}
	c.bodyReadSince.Store(start)
	n, err := c.rwc.Read(p)
	c.bodyReadSince.Store(0)
	c.bodyWaited.Add(c.srv.clock.Load() - start)
	c.bodyBytes.Add(int64(n))
	if err != nil && c.bodyTimedOut.Load() {
		err = ErrBodyReadTimeout
	}
	return n, err
}

// checkBodyRate (on the sweeper's goroutine) interrupts a body read that
// has waited longer than the grace plus one second per rate bytes
// received (all in nanoseconds and bytes per second), as Apache's
// mod_reqtimeout does.
func (c *conn) checkBodyRate(now, grace, rate int64) {
	since := c.bodyReadSince.Load()
	if since == 0 || c.bodyTimedOut.Load() {
		return
	}
	waited := c.bodyWaited.Load() + now - since
	got := c.bodyBytes.Load()
	allowed := grace + got/rate*int64(time.Second) + got%rate*int64(time.Second)/rate
	if waited > allowed {
		c.bodyTimedOut.Store(true)
		c.rwc.SetReadDeadline(aLongTimeAgo)
	}
}

// exchange is what one request needs beyond its head: its context, the
// handler's request and the response writer, in one allocation that the
// connection's requests reuse in turn (the context renewed, the rest
// overwritten). As net/http's, a handler must not use the request or the
// writer once it has returned; a context it handed on keeps answering
// Value and Deadline.
type exchange struct {
	ctx     reqctx.Ctx
	started bool // ctx was initialised: the next request renews it
	req     http.Request
	url     url.URL // req's URL, when parseTarget could fill it
	w       response
}

// exchange returns the connection's request storage, making it when the
// connection has none (new, or parked).
func (c *conn) exchange() *exchange {
	if c.x == nil {
		c.x = new(exchange)
	}
	return c.x
}

// handle runs the handler for one request and finishes its response; it
// reports whether the connection can carry another request.
func (c *conn) handle(req *http.Request, b *body) (keep bool) {
	x := c.x // parse built req in it
	if !x.started {
		x.ctx.Init(c.baseCtx, 0)
		x.started = true
	} else {
		x.ctx.Renew(0)
	}
	ctx := &x.ctx
	defer ctx.Cancel(nil)
	c.writer()
	if c.header == nil {
		c.header = make(http.Header, 8) // a small map: cleared per request in one step
	}
	if b != nil {
		c.bodyWaited.Store(0)
		c.bodyBytes.Store(0)
	}
	x.req = *req.WithContext(ctx) // req is &x.req; the copy WithContext makes stays on the stack
	r := &x.req
	if b != nil {
		b.req = r
	}
	clear(c.header)
	x.w = response{c: c, req: r, body: b, header: c.header, cl: -1, isHEAD: r.Method == http.MethodHead}
	w := &x.w
	c.cur = w
	c.pending = c.pending[:0]
	c.cr.begin(ctx, b == nil)
	panicked := c.runHandler(w, r)
	if c.hijacked {
		w.done = true
		return false
	}
	c.cr.end()
	if panicked {
		w.done = true
		return false
	}
	if c.bodyTimedOut.Load() {
		w.done = true
		if !w.committed {
			c.writeProtoError(&protoError{http.StatusRequestTimeout, "request body too slow"})
		} else {
			c.bw.Flush()
		}
		return false
	}
	keep = w.finish()
	c.cur = nil
	if b != nil {
		if keep {
			keep = b.drain()
		}
		// The next request reads the same connection: a reader left over
		// from this one gets ErrBodyReadAfterClose, not its bytes.
		b.closed = true
		if !keep && !b.ended.Load() {
			c.linger = true // the rest of the body may be on its way
		}
	}
	if !keep && c.br.Buffered() > 0 {
		c.linger = true // pipelined requests, and maybe more behind them
	}
	return keep
}

func (c *conn) runHandler(w *response, r *http.Request) (panicked bool) {
	defer func() {
		if p := recover(); p != nil {
			panicked = true
			if p == http.ErrAbortHandler {
				return
			}
			buf := make([]byte, 64<<10)
			buf = buf[:runtime.Stack(buf, false)]
			c.srv.log().Error(fmt.Sprintf("http: panic serving %s: %v\n%s", c.remoteAddr, p, buf))
		}
	}()
	c.srv.Handler.ServeHTTP(w, r)
	return false
}

// startWatch runs watchDelay into a request (on the sweeper's goroutine)
// and starts the background read that notices a departed client, once the
// request body has been read. It acts once per request.
func (c *conn) startWatch() {
	cr := &c.cr
	cr.mu.Lock()
	defer cr.mu.Unlock()
	if !cr.active || cr.watchDue || cr.inRead || cr.hasByte {
		return
	}
	cr.watchDue = true
	if !cr.bodyDone {
		cr.wantWatch = true
		return
	}
	cr.startLocked()
}

// writeProtoError answers a request the server could not parse, the way
// net/http does, before the connection is closed.
func (c *conn) writeProtoError(pe *protoError) {
	text := http.StatusText(pe.status)
	body := fmt.Sprintf("%d %s", pe.status, text)
	if pe.msg != "" {
		body += ": " + pe.msg
	}
	fmt.Fprintf(c.writer(), "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		pe.status, text, len(body), body)
	c.bw.Flush()
	c.linger = true
}

// end closes the connection, writing first what finish deferred. On a TLS
// connection, its last records and its close_notify alert go out in one
// write: crypto/tls would write the alert on its own, a system call more
// per connection that ends after one request (a client resuming a TLS
// session per request, say). The write is the sweeper's to end if the
// client stops reading, as any other (writeSocket).
//
// A connection marked to linger (see lingerTime) lingers after its last
// bytes, before its socket is closed.
func (c *conn) end() {
	s := c.tlsSock
	if s != nil {
		s.Armed = true
	}
	if c.deferred {
		c.deferred = false
		c.bw.Flush()
	}
	if s == nil {
		if c.linger {
			if tc, ok := c.rwc.(*tls.Conn); ok {
				tc.CloseWrite() // its close_notify alert, before the socket's end
			}
			c.lingerRead()
		}
		c.rwc.Close()
		return
	}
	c.rwc.Close() // crypto/tls's: its alert is kept, the socket left open
	s.Armed = false
	if records := s.Collected(); len(records) > 0 {
		c.writeSocket(s.TCPConn, records)
		s.Reset()
	}
	if c.linger {
		c.lingerRead()
	}
	s.TCPConn.Close()
}

// lingerRead shuts the socket's sending side and reads (and drops) what
// the client still sends, until it ends its side, sends nothing for
// lingerQuiet, or lingerTime has passed (see lingerTime). The server's
// Close and Shutdown, and a server at MaxConns, close such a connection's
// socket (stateLingering is idle to them), which ends it.
func (c *conn) lingerRead() {
	cw, ok := c.raw.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		return
	}
	c.setState(stateLingering)
	if c.srv.inShutdown.Load() {
		return // Shutdown may have looked at the connection before
	}
	// The connection's read buffer reads the socket now: what it held is
	// dropped with the rest, and a lingering connection allocates nothing.
	br := c.br
	if br == nil {
		br = bufio.NewReaderSize(c.raw, bufSize)
	} else {
		br.Reset(c.raw)
	}
	end := time.Now().Add(orDefault(c.srv.lingerFor, lingerTime))
	for {
		d := time.Now().Add(lingerQuiet)
		if d.After(end) {
			d = end
		}
		if c.raw.SetReadDeadline(d) != nil {
			return
		}
		if _, err := br.Peek(1); err != nil {
			return
		}
		br.Discard(br.Buffered())
	}
}

// stallWriter writes to the socket, marking when a write starts so that
// the sweeper can close a connection whose client stopped reading.
type stallWriter struct{ c *conn }

func (w stallWriter) Write(p []byte) (int, error) {
	c := w.c
	if c.awaitNext {
		c.awaitNext = false
		if c.tlsSock == nil {
			return c.writeAwait(p)
		}
		// The TLS connection's records for p (several, on a new
		// connection, whose first records Go sizes to a TCP segment)
		// are collected, then written and waited after together.
		s := c.tlsSock
		s.Armed = true
		n, err := c.rwc.Write(p)
		s.Armed = false
		if records := s.Collected(); len(records) > 0 {
			_, werr := c.writeAwait(records)
			s.Reset()
			if err == nil && werr != nil {
				n, err = 0, werr
			}
		}
		return n, err
	}
	return c.writeSocket(c.rwc, p)
}

// writeSocket writes p to w (the connection, or for writeAwait the socket
// under it), marking the time for the sweeper's write-stall check.
func (c *conn) writeSocket(w io.Writer, p []byte) (int, error) {
	c.writeSince.Store(c.srv.clock.Load())
	n, err := w.Write(p)
	c.writeSince.Store(0)
	return n, err
}

// dateValue returns the Date header for now, by the server's clock (at
// most a sweeper tick behind).
func (c *conn) dateValue() []byte {
	now := c.srv.clock.Load()
	if now == 0 { // no sweeper (a connection not from Serve)
		now = time.Now().UnixNano()
	}
	if sec := now / int64(time.Second); sec != c.dateSec || c.date == nil {
		c.dateSec = sec
		c.date = time.Unix(0, now).UTC().AppendFormat(c.date[:0], http.TimeFormat)
	}
	return c.date
}

// connReader is what the connection's bufio.Reader reads from. Between
// requests it is the socket; while a request runs it may also own a
// background read of one byte that notices the client going away (EOF or
// reset) and cancels the request's context.
type connReader struct {
	c    *conn
	mu   sync.Mutex
	cond sync.Cond

	active    bool // a request is in its handler
	bodyDone  bool // its body has been read to the end (or it had none)
	watchDue  bool // the sweeper found the request old enough to watch
	wantWatch bool // the watch was due before the body was read
	inRead    bool // the background read is running
	aborted   bool // end interrupted the background read
	hasByte   bool // the background read got a byte of the next request
	b         [1]byte
	ctx       *reqctx.Ctx // the running request's
	// reading ends with the background read's goroutine, which may cancel
	// the request after it has let go of mu: end waits for it, so that the
	// request's storage is not reused under it.
	reading sync.WaitGroup
}

func (cr *connReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	cr.mu.Lock()
	if cr.inRead {
		cr.mu.Unlock()
		panic("httpserver: concurrent read on a connection")
	}
	if cr.hasByte {
		p[0] = cr.b[0]
		cr.hasByte = false
		cr.mu.Unlock()
		return 1, nil
	}
	cr.mu.Unlock()
	if cr.c.inBody.Load() {
		return cr.c.readBody(p)
	}
	if cr.c.readsAwait() {
		return cr.c.readAwait(p)
	}
	return cr.c.rwc.Read(p)
}

func (cr *connReader) begin(ctx *reqctx.Ctx, bodyDone bool) {
	cr.mu.Lock()
	cr.active, cr.bodyDone, cr.watchDue, cr.wantWatch, cr.ctx = true, bodyDone, false, false, ctx
	cr.mu.Unlock()
}

// bodyEOF is called when the request body has been read to its end.
func (cr *connReader) bodyEOF() {
	cr.mu.Lock()
	cr.bodyDone = true
	if cr.wantWatch && cr.active && !cr.inRead && !cr.hasByte {
		cr.wantWatch = false
		cr.startLocked()
	}
	cr.mu.Unlock()
}

func (cr *connReader) startLocked() {
	cr.inRead = true
	cr.reading.Add(1)
	go cr.backgroundRead()
}

func (cr *connReader) backgroundRead() {
	defer cr.reading.Done()
	n, err := cr.c.rwc.Read(cr.b[:])
	cr.mu.Lock()
	if n == 1 {
		cr.hasByte = true
	}
	var ne net.Error
	var gone *reqctx.Ctx
	if err != nil && !(cr.aborted && errors.As(err, &ne) && ne.Timeout()) {
		gone = cr.ctx // the client closed or reset the connection mid-request
	}
	cr.aborted, cr.inRead = false, false
	cr.mu.Unlock()
	cr.cond.Broadcast()
	if gone != nil {
		// Outside the lock: cancelling runs the request's AfterFuncs.
		gone.Cancel(context.Canceled)
	}
}

// end is called when the handler has returned: it stops a background read
// (keeping a byte it may have read) before the connection reads again.
func (cr *connReader) end() {
	cr.mu.Lock()
	cr.active, cr.wantWatch, cr.ctx = false, false, nil
	if cr.inRead {
		cr.aborted = true
		cr.c.rwc.SetReadDeadline(aLongTimeAgo)
		for cr.inRead {
			cr.cond.Wait()
		}
		cr.c.rwc.SetReadDeadline(time.Time{})
	}
	cr.mu.Unlock()
	cr.reading.Wait()
}
