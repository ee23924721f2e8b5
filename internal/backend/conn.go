package backend

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/apimgw/apimgw/internal/httplex"
	"github.com/apimgw/apimgw/internal/reqctx"
	"github.com/apimgw/apimgw/internal/sockio"
)

// staleCheckAfter is how long a connection must have been idle before it
// is probed for a close by the backend before reuse. Shorter idle periods
// make such a close unlikely, and the probe costs a system call.
const staleCheckAfter = 100 * time.Millisecond

// keepAliveMargin is how much earlier than the timeout a backend announces
// in Keep-Alive: timeout=N the gateway stops reusing a connection.
const keepAliveMargin = 250 * time.Millisecond

// maxResponseHeadBytes bounds a response's status line and headers, so a
// broken backend cannot make the gateway buffer without end.
const maxResponseHeadBytes = 1 << 20

// maxInformational bounds the 1xx responses skipped before the final one.
const maxInformational = 5

// maxDrain and drainTimeout bound what Close reads of an unfinished
// response body to keep its connection.
const (
	maxDrain     = 16 << 10
	drainTimeout = 50 * time.Millisecond
)

// writeGrace is how long a complete response waits for the request body
// writer to finish before the connection is given up.
const writeGrace = 100 * time.Millisecond

var aLongTimeAgo = time.Unix(1, 0)

// pconn is one HTTP/1.1 connection to a destination. It carries one request
// at a time; its owner is the request that acquired it until the response
// body is finished, then the pool.
type pconn struct {
	p      *pool
	conn   net.Conn
	tcp    *net.TCPConn // for the idle probe; nil if unavailable
	cr     countingReader
	cw     countingWriter
	br     *bufio.Reader
	bw     *bufio.Writer
	gen    uint64
	idleAt int64  // when the connection went idle, by monoNow
	head   []byte // the response head being read
	// interruptFn is interrupt as a func value, made once per connection
	// rather than per request.
	interruptFn func()
	// idleLimit is the backend's announced keep-alive timeout less a
	// margin; 0 when none was announced.
	idleLimit time.Duration
	requests  int
	closed    atomic.Bool
}

// countingReader counts the bytes read from the socket and, while limit
// is positive, refuses to read past it (bounding a response head).
type countingReader struct {
	r     io.Reader
	n     int64
	limit int64
	w     *countingWriter // the connection's, whose pending bytes a read sends first
}

var errHeadTooLarge = fmt.Errorf("response head larger than %d bytes", maxResponseHeadBytes)

func (c *countingReader) Read(p []byte) (int, error) {
	if c.limit > 0 {
		left := c.limit - c.n
		if left <= 0 {
			return 0, errHeadTooLarge
		}
		if int64(len(p)) > left {
			p = p[:left]
		}
	}
	var n int
	var err error
	if w := c.w; w != nil && w.pending != nil {
		n, err = w.readAwait(p)
	} else {
		n, err = c.r.Read(p)
	}
	c.n += int64(n)
	return n, err
}

type countingWriter struct {
	w io.Writer
	n int64
	// raw is the TCP socket (nil when unavailable): with await set, the
	// next Write is the request's last and goes through writeAwait. rest
	// is that socket as a writer, for what one non-blocking write leaves;
	// sock is set when the connection is TLS over it.
	raw   syscall.RawConn
	await bool
	rest  net.Conn
	sock  *sockio.Collecting
	// The state of writeAwait's RawConn.Read callback, awaitFn, which is
	// made once per connection: a closure per request would be allocated.
	awaitWrite sockio.AwaitWrite
	awaitFn    func(fd uintptr) bool
	// pending: with toRead set, the request's last bytes are left for the
	// response's first read, which writes them, waits and reads in one
	// RawConn.Read (readAwait, cleartext only). They are bw's buffer,
	// which nothing writes to before that read, made in the wait
	// (awaitRead).
	toRead    bool
	pending   []byte
	awaitRead sockio.AwaitRead
}

func (c *countingWriter) Write(p []byte) (int, error) {
	if c.toRead {
		c.toRead, c.await = false, false
		c.pending = p // counted in n once written
		return len(p), nil
	}
	if c.await {
		c.await = false
		var n int
		var err error
		if s := c.sock; s != nil {
			// The TLS connection's records for p (several, on a new
			// connection, whose first records Go sizes to a TCP
			// segment) are collected, then written and waited after.
			s.Armed = true
			n, err = c.w.Write(p)
			s.Armed = false
			if records := s.Collected(); len(records) > 0 {
				wn, werr := c.writeAwait(records)
				s.Reset()
				if err == nil && werr != nil {
					if wn == 0 {
						n = 0 // nothing reached the socket
					}
					err = werr
				}
			}
		} else {
			n, err = c.writeAwait(p)
		}
		c.n += int64(n)
		return n, err
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func newPconn(p *pool, c net.Conn, tcp *net.TCPConn, gen uint64) *pconn {
	pc := &pconn{p: p, conn: c, tcp: tcp, gen: gen}
	pc.interruptFn = pc.interrupt
	pc.cr.r, pc.cr.w = c, &pc.cw
	pc.cw.w = c
	var sock *sockio.Collecting
	if tc, ok := c.(*tls.Conn); ok {
		sock, _ = tc.NetConn().(*sockio.Collecting)
	}
	if tcp != nil && (c == net.Conn(tcp) || sock != nil) {
		if raw, err := tcp.SyscallConn(); err == nil {
			pc.cw.raw, pc.cw.rest, pc.cw.sock = raw, tcp, sock
			pc.cw.awaitFn = pc.cw.awaitStep
		}
	}
	pc.br = bufio.NewReaderSize(&pc.cr, 4096)
	pc.bw = bufio.NewWriterSize(&pc.cw, 4096)
	return pc
}

// close closes the socket once and moves its port into the reclaim window.
func (pc *pconn) close() {
	if pc.closed.Swap(true) {
		return
	}
	_ = pc.conn.Close()
	pc.p.ledger.release()
	pc.p.closedN.Add(1)
}

// interrupt makes any blocked read or write on the connection return.
func (pc *pconn) interrupt() { _ = pc.conn.SetDeadline(aLongTimeAgo) }

// afterFuncer is a context that can call a function when it is cancelled
// without context.AfterFunc's machinery (see reqctx.Ctx).
type afterFuncer interface {
	AfterFunc(f func()) (stop func() bool)
}

// stopper undoes a registration of a function to run when a context ends:
// a reqctx.Watch, or the stop function of any other context's.
type stopper struct {
	w reqctx.Watch
	f func() bool
}

// stop reports whether the function was unregistered before it ran (false
// also when nothing was registered).
func (s stopper) stop() bool {
	if s.f != nil {
		return s.f()
	}
	return s.w.Stop()
}

func (s stopper) registered() bool { return s.f != nil || s.w != reqctx.Watch{} }

func (pc *pconn) expired(now int64, idleTimeout time.Duration) bool {
	idle := time.Duration(now - pc.idleAt)
	if pc.idleLimit > 0 && idle >= pc.idleLimit {
		return true
	}
	return idleTimeout > 0 && idle >= idleTimeout
}

// peerClosed reports whether an idle connection can be seen to have been
// closed by the backend (or to carry unexpected bytes), so that it is not
// reused. It only probes connections idle for a while.
func (pc *pconn) peerClosed(now int64) bool {
	if pc.br.Buffered() > 0 {
		return true
	}
	if pc.tcp == nil || time.Duration(now-pc.idleAt) < staleCheckAfter {
		return false
	}
	return peerClosed(pc.tcp)
}

// roundTrip writes req and reads the response head. On success the
// response body owns the connection until it is read to the end or closed.
// On failure the connection is closed and retry says whether sending the
// request again on a fresh connection is safe.
func (pc *pconn) roundTrip(ctx context.Context, req *http.Request, rb *ResponseBuffer) (resp *http.Response, err error, retry bool) {
	cfg := pc.p.cfg.Load()
	reused := pc.requests > 0
	pc.requests++
	closeConn := !cfg.keepAlive || req.Close

	var stop stopper
	if rc, ok := ctx.(*reqctx.Ctx); ok {
		// A context that runs f itself: no goroutine, nothing allocated.
		stop.w = rc.Watch(pc.interruptFn)
	} else if af, ok := ctx.(afterFuncer); ok {
		stop.f = af.AfterFunc(pc.interruptFn)
	} else if ctx.Done() != nil {
		stop.f = context.AfterFunc(ctx, pc.interruptFn)
	}
	written, read := pc.cw.n, pc.cr.n

	var writeDone chan error
	if hasBody(req) {
		writeDone = make(chan error, 1)
		go func() {
			err := pc.writeRequest(req, closeConn)
			if err != nil {
				pc.interrupt() // unblock the response read
			}
			writeDone <- err
		}()
	} else if werr := pc.writeRequest(req, closeConn); werr != nil {
		return pc.fail(ctx, stop, nil, werr, MsgClosedOnSend, reused, true, written, req)
	}

	x, err := pc.readResponse(req, rb)
	if pc.cw.pending != nil {
		// Not sent, which a read would have (it cannot be, see
		// writeRequest): the connection is not fit for another request.
		pc.cw.pending = nil
		if err == nil {
			err = errors.New("request not sent")
		}
	}
	if err != nil {
		if se, ok := errors.AsType[*sendError](err); ok {
			return pc.fail(ctx, stop, writeDone, se.err, MsgClosedOnSend, reused, true, written, req)
		}
		msg := MsgClosedUnexpected
		if !isConnError(err) {
			msg = MsgProtocolViolation
		}
		return pc.fail(ctx, stop, writeDone, err, msg, reused, pc.cr.n == read, written, req)
	}

	resp = &x.resp
	if ka := httplex.First(resp.Header, "Keep-Alive"); ka != "" {
		pc.idleLimit = keepAliveLimit(ka)
	}
	if tc, ok := pc.conn.(*tls.Conn); ok {
		st := tc.ConnectionState()
		resp.TLS = &st
	}
	b := &x.body
	*b = body{pc: pc, ctx: ctx, stop: stop, writeDone: writeDone,
		reuse: !closeConn && !resp.Close && resp.StatusCode != http.StatusSwitchingProtocols}
	switch {
	case resp.StatusCode == http.StatusSwitchingProtocols:
		resp.Body = &upgradeBody{body: b}
	case resp.Body == http.NoBody || resp.Body == nil:
		resp.Body = http.NoBody
		b.finish(true)
	default:
		b.rc = resp.Body
		resp.Body = b
	}
	return resp, nil, false
}

// fail closes the connection after a failed exchange and decides whether
// a retry is safe: the connection had been used before, the backend gave
// no byte of a response, and either the request is idempotent and can be
// sent again, or nothing of it reached the socket.
func (pc *pconn) fail(ctx context.Context, stop stopper, writeDone chan error, err error, msg string, reused, nothingRead bool, written int64, req *http.Request) (*http.Response, error, bool) {
	pc.interrupt()
	if writeDone != nil {
		if werr := <-writeDone; werr != nil && (errors.Is(werr, errBodyWrite) || errors.Is(werr, errInvalidRequest)) {
			// The request failed (an invalid header, or the client's
			// upload broke): that is the cause, not the interrupted read.
			err, msg = werr, MsgClosedOnSend
		}
	}
	nothingWritten := pc.cw.n == written
	stop.stop()
	pc.p.release(pc, false)
	replayable := !hasBody(req) || req.GetBody != nil
	retry := reused && nothingRead && replayable && (isIdempotent(req) || nothingWritten) && !errors.Is(err, errInvalidRequest)
	return nil, newError(ctx, msg, fmt.Errorf("%s %s via %s: %w", req.Method, safeURL(req.URL), pc.p.addr, err)), retry
}

var errBodyWrite = errors.New("write request body")

// sendError is the failed write of a request's last bytes, which the
// response's first read made (countingWriter.readAwait).
type sendError struct{ err error }

func (e *sendError) Error() string { return e.err.Error() }
func (e *sendError) Unwrap() error { return e.err }

// readResponse reads the response head, skipping informational responses.
func (pc *pconn) readResponse(req *http.Request, rb *ResponseBuffer) (*exchange, error) {
	defer func() { pc.cr.limit = 0 }()
	for i := 0; ; i++ {
		pc.cr.limit = pc.cr.n + int64(pc.br.Buffered()) + maxResponseHeadBytes
		x, err := pc.readResponseHead(req, rb)
		if err != nil {
			return nil, err
		}
		if code := x.resp.StatusCode; code >= 200 || code == http.StatusSwitchingProtocols {
			return x, nil
		}
		if i >= maxInformational {
			return nil, errors.New("too many 1xx informational responses")
		}
	}
}

// writeRequest serialises req as HTTP/1.1 and streams its body.
func (pc *pconn) writeRequest(req *http.Request, closeConn bool) error {
	if err := pc.writeHead(req, closeConn); err != nil {
		closeBody(req)
		return err
	}
	if hasBody(req) {
		err := pc.writeBody(req)
		_ = req.Body.Close()
		if err != nil {
			return err
		}
		return pc.bw.Flush()
	}
	// The request is whole once this goes out, and its writer is the
	// response's reader (no body goroutine): the last write can wait for
	// the response (countingWriter.writeAwait).
	// On a cleartext connection that write is left to the response's
	// first read, which comes next (the head is read from an empty buffer),
	// and also reads (countingWriter.readAwait).
	pc.cw.await = pc.cw.raw != nil
	pc.cw.toRead = pc.cw.await && pc.cw.sock == nil && pc.br.Buffered() == 0
	err := pc.bw.Flush()
	pc.cw.await, pc.cw.toRead = false, false
	return err
}

func (pc *pconn) writeHead(req *http.Request, closeConn bool) error {
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	if !validMethod(method) {
		return fmt.Errorf("%w: method %q", errInvalidRequest, method)
	}
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	if !validHost(host) {
		return fmt.Errorf("%w: Host header %q", errInvalidRequest, host)
	}
	uri, clean := requestURI(req.URL)
	px := pc.p.proxy
	if px != nil && pc.p.tunnels(pc.p.cfg.Load()) {
		px = nil // the tunnel reaches the backend itself
	}
	if px != nil {
		// To a forward proxy: the absolute form (RFC 9112 §3.2.2).
		uri = pc.p.scheme + "://" + req.URL.Host + uri
		clean = false
	}
	if !clean && (strings.IndexByte(uri, ' ') >= 0 || strings.IndexByte(uri, '\r') >= 0 || strings.IndexByte(uri, '\n') >= 0) {
		return fmt.Errorf("%w: request URI %q", errInvalidRequest, uri)
	}
	bw := pc.bw
	bw.WriteString(method)
	bw.WriteByte(' ')
	bw.WriteString(uri)
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(host)
	bw.WriteString("\r\n")
	if _, ok := req.Header["User-Agent"]; !ok {
		bw.WriteString("User-Agent: Go-http-client/1.1\r\n")
	}
	if a := px.authorization(); a != "" {
		bw.WriteString("Proxy-Authorization: ")
		bw.WriteString(a)
		bw.WriteString("\r\n")
	}
	if u := req.URL.User; u != nil && req.Header.Get("Authorization") == "" {
		// Credentials in the backend URL, as net/http's Client sends them.
		pw, _ := u.Password()
		bw.WriteString("Authorization: Basic ")
		bw.WriteString(base64.StdEncoding.EncodeToString([]byte(u.Username() + ":" + pw)))
		bw.WriteString("\r\n")
	}
	for k, vv := range req.Header {
		switch k {
		case "Host", "Content-Length", "Transfer-Encoding", "Trailer":
			continue
		}
		if !validToken(k) {
			return fmt.Errorf("%w: header field name %q", errInvalidRequest, k)
		}
		for _, v := range vv {
			if !validFieldValue(v) {
				return fmt.Errorf("%w: header field value for %q", errInvalidRequest, k)
			}
			if v == "" && k == "User-Agent" {
				continue
			}
			httplex.WriteField(bw, k, v)
		}
	}
	switch {
	case hasBody(req) && req.ContentLength > 0:
		bw.WriteString("Content-Length: ")
		bw.WriteString(strconv.FormatInt(req.ContentLength, 10))
		bw.WriteString("\r\n")
	case hasBody(req):
		bw.WriteString("Transfer-Encoding: chunked\r\n")
		if len(req.Trailer) > 0 {
			names := make([]string, 0, len(req.Trailer))
			for k := range req.Trailer {
				if !validToken(k) {
					return fmt.Errorf("%w: trailer name %q", errInvalidRequest, k)
				}
				names = append(names, k)
			}
			bw.WriteString("Trailer: ")
			bw.WriteString(strings.Join(names, ","))
			bw.WriteString("\r\n")
		}
	case method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch:
		bw.WriteString("Content-Length: 0\r\n")
	}
	if closeConn {
		bw.WriteString("Connection: close\r\n")
	}
	_, err := bw.WriteString("\r\n")
	return err
}

func (pc *pconn) writeBody(req *http.Request) error {
	if req.ContentLength > 0 {
		n, err := io.Copy(pc.bw, io.LimitReader(req.Body, req.ContentLength))
		if err != nil {
			return fmt.Errorf("%w: %w", errBodyWrite, err)
		}
		if n != req.ContentLength {
			return fmt.Errorf("%w: body has %d bytes, Content-Length says %d", errBodyWrite, n, req.ContentLength)
		}
		return nil
	}
	cw := httputil.NewChunkedWriter(pc.bw)
	if _, err := io.Copy(cw, req.Body); err != nil {
		return fmt.Errorf("%w: %w", errBodyWrite, err)
	}
	if err := cw.Close(); err != nil {
		return fmt.Errorf("%w: %w", errBodyWrite, err)
	}
	for k, vv := range req.Trailer {
		for _, v := range vv {
			if !validFieldValue(v) {
				return fmt.Errorf("%w: invalid trailer value for %q", errBodyWrite, k)
			}
			pc.bw.WriteString(k)
			pc.bw.WriteString(": ")
			pc.bw.WriteString(v)
			pc.bw.WriteString("\r\n")
		}
	}
	_, err := pc.bw.WriteString("\r\n")
	return err
}

func validMethod(m string) bool { return validToken(m) }

// isIdempotent follows net/http: safe methods, and requests that carry an
// idempotency key.
func isIdempotent(req *http.Request) bool {
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	if _, ok := req.Header["Idempotency-Key"]; ok {
		return true
	}
	_, ok := req.Header["X-Idempotency-Key"]
	return ok
}

// isConnError reports whether err came from the socket (as opposed to a
// malformed response).
func isConnError(err error) bool {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne)
}

// keepAliveLimit parses a Keep-Alive header ("timeout=5, max=100") into how
// long the connection may stay idle; 0 when there is no timeout.
func keepAliveLimit(v string) time.Duration {
	for part := range strings.SplitSeq(v, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), "timeout") {
			continue
		}
		n, err := strconv.Atoi(strings.Trim(strings.TrimSpace(val), `"`))
		if err != nil || n < 0 {
			return 0
		}
		d := time.Duration(n)*time.Second - keepAliveMargin
		if d <= 0 {
			// timeout=0: the backend closes at once; never reuse.
			return time.Nanosecond
		}
		return d
	}
	return 0
}

// body is the response body of an HTTP/1.1 exchange. Reading it to the end
// returns the connection to the pool; closing it early closes the
// connection. Cancelling the request's context aborts a blocked read.
type body struct {
	pc        *pconn
	ctx       context.Context
	rc        io.ReadCloser
	stop      stopper
	writeDone chan error
	reuse     bool

	mu      sync.Mutex
	done    bool
	reading bool  // a Read is in progress: Close must not drain
	err     error // returned by reads after finish
}

// Read implements io.Reader.
func (b *body) Read(p []byte) (int, error) {
	b.mu.Lock()
	if b.done {
		err := b.err
		b.mu.Unlock()
		return 0, err
	}
	b.reading = true
	b.mu.Unlock()
	n, err := b.rc.Read(p)
	b.mu.Lock()
	b.reading = false
	b.mu.Unlock()
	switch {
	case err == io.EOF:
		b.finish(true)
	case err != nil:
		b.finish(false)
		err = newError(b.ctx, MsgClosedOnReceive, fmt.Errorf("read response body from %s: %w", b.pc.p.addr, err))
		b.mu.Lock()
		b.err = err
		b.mu.Unlock()
	}
	return n, err
}

// Close implements io.Closer. Closing before the end drains a short rest
// (a caller that read exactly Content-Length bytes has not seen EOF yet) so
// the connection can be reused; a longer or slower rest closes it.
func (b *body) Close() error {
	b.mu.Lock()
	drain := !b.done && !b.reading && b.reuse
	if drain {
		b.reading = true
	}
	b.mu.Unlock()
	if drain {
		_ = b.pc.conn.SetReadDeadline(time.Now().Add(drainTimeout))
		n, err := io.CopyN(io.Discard, b.rc, maxDrain+1)
		b.mu.Lock()
		b.reading = false
		b.mu.Unlock()
		if err == io.EOF && n <= maxDrain {
			_ = b.pc.conn.SetReadDeadline(time.Time{})
			b.finish(true)
			return nil
		}
	}
	b.finish(false)
	return nil
}

// finish ends the exchange once: the connection goes back to the pool if
// the response was read to the end, the request was fully written and the
// context did not interrupt the socket; otherwise it is closed.
func (b *body) finish(eof bool) {
	b.mu.Lock()
	if b.done {
		b.mu.Unlock()
		return
	}
	b.done = true
	if eof {
		b.err = io.EOF
	} else {
		b.err = errors.New("read on closed response body")
	}
	b.mu.Unlock()

	reuse := eof && b.reuse
	if b.writeDone != nil {
		select {
		case werr := <-b.writeDone:
			reuse = reuse && werr == nil
		default:
			// The response is complete but the request is not yet: the
			// writer is finishing its last flush, or the backend answered
			// without reading the whole request. Give it a moment, then
			// give up the connection.
			t := time.NewTimer(writeGrace)
			select {
			case werr := <-b.writeDone:
				reuse = reuse && werr == nil
			case <-t.C:
				reuse = false
				b.pc.interrupt()
				<-b.writeDone
			}
			t.Stop()
		}
	}
	if b.stop.registered() && !b.stop.stop() {
		reuse = false // the context fired and poisoned the deadline
	}
	b.pc.p.release(b.pc, reuse)
	b.pc.p.active.Add(-1)
}

// upgradeBody is the body of a 101 Switching Protocols response: the
// connection itself, readable and writable, never reused.
type upgradeBody struct {
	body *body
}

// Read implements io.Reader.
func (u *upgradeBody) Read(p []byte) (int, error) { return u.body.pc.br.Read(p) }

// Write implements io.Writer.
func (u *upgradeBody) Write(p []byte) (int, error) { return u.body.pc.conn.Write(p) }

// Close implements io.Closer and closes the connection.
func (u *upgradeBody) Close() error {
	u.body.finish(false)
	return nil
}
