package httpserver

import "time"

// Write-then-wait. Go's netpoller reads first and waits for readiness only
// after a read fails with EAGAIN. After a response, the next request is
// rarely there yet: the read that follows fails, and the connection pays
// a system call per request that an event loop, which reads when epoll
// says so, does not. Where the socket is a TCP connection, finish leaves
// the response's last bytes in the write buffer, and serve writes them
// (under TLS, their records, collected below the TLS connection) and waits for readability in one
// RawConn.Read (writeAwait) before reading the next request.
//
// RawConn.Read forgets readiness reported before it starts, so a request
// already in the socket when the wait begins would wait unannounced. A
// client that waits for each response before it sends the next request
// (every browser and HTTP library by default) cannot have sent one; a
// pipelining client can. finish does not defer when it can see bytes of
// the next request (in the read buffer, or the watch's byte), and the
// sweeper ends a wait older than a tick that the next tick finds still on
// (kickAwait). When the kick, not readability, ended the wait, the
// connection peeks at the socket, and if
// a request is there (all along, or, rarely, since the kick) it stops
// deferring for good (noAwait). A pipelined request thus waits at most
// four sweeper ticks, once per connection.

// canDefer reports whether finish may leave w's last bytes for serve to
// write with flushAwait: the response is complete and kept alive, the
// request's body (if any) was read to its end, so that nothing is left to
// drain, and the connection has nothing of the next request in hand.
func (c *conn) canDefer(w *response) bool {
	if c.rawConn == nil || c.noAwait || w.body != nil && !w.body.sawEOF || c.hijacked || c.bw.Buffered() == 0 ||
		c.br.Buffered() > 0 || c.srv.inShutdown.Load() {
		return false
	}
	c.cr.mu.Lock()
	has := c.cr.hasByte
	c.cr.mu.Unlock()
	return !has
}

// flushAwait writes the bytes finish left in the write buffer, entering
// the idle state once they are out, and waits for the next request to
// begin; it returns the write's error. (A wait ended by a deadline, the
// sweeper or a closed socket is left to the read that follows.)
func (c *conn) flushAwait() error {
	c.awaitNext = true
	err := c.bw.Flush()
	c.awaitNext = false
	c.cr.mu.Lock()
	c.awaiting.Store(false)
	kicked := c.kicked
	c.kicked = false
	if kicked && c.state.Load() != stateParking {
		c.rwc.SetReadDeadline(time.Time{})
	}
	c.cr.mu.Unlock()
	if kicked && c.awaitEnded && (c.tlsSock != nil || pendingBytes(c.rawConn)) {
		// The kick, not readability, ended the wait, and a request is
		// there: the client pipelines (see above). Under TLS the request
		// may be in the TLS connection's buffer, out of sight: any
		// kicked wait ends write-then-wait there.
		c.noAwait = true
	}
	return err
}

// readAwait is the read of the next request's first bytes on a cleartext
// connection whose last response finish deferred: the write, the wait and
// the read into p all happen in one RawConn.Read, no read of its own
// through net.Conn. serve leaves the deferred bytes to it (readsAwait),
// and does not enter the idle state before them: awaitStep does once they
// are out. A wait that ended without readability reads the usual way.
func (c *conn) readAwait(p []byte) (int, error) {
	c.deferred = false
	c.awaitRead.Begin(p)
	err := c.flushAwait()
	n, rerr := c.awaitRead.End()
	if err != nil {
		return 0, err
	}
	if n >= 0 {
		return n, rerr
	}
	c.toIdle() // if the write did not go through awaitStep
	return c.rwc.Read(p)
}

// readsAwait reports whether the connection's next read writes the
// deferred bytes (readAwait): cleartext, where that read is the socket's.
func (c *conn) readsAwait() bool { return c.deferred && c.tlsSock == nil }

// kickAwait (on the sweeper's goroutine) ends a write-then-wait that has
// lasted a sweeper tick, so that the connection reads the usual way, once
// the next tick has found the same wait still on. A tick that comes late
// after the whole process stalled (a CPU quota's throttling, a busy host
// preempting its virtual CPU) finds every wait a tick old, and the next
// requests in their sockets, arrived during the stall: the poller has
// readiness to deliver, and kicking then would take every connection for
// a pipelining one (noAwait). The first sighting only notes the wait.
func (c *conn) kickAwait() {
	if seq := c.awaitSeq.Load(); seq != c.awaitSeen {
		c.awaitSeen = seq
		return
	}
	c.cr.mu.Lock()
	if c.awaiting.Load() && !c.kicked {
		c.kicked = true
		c.rwc.SetReadDeadline(aLongTimeAgo)
	}
	c.cr.mu.Unlock()
}
