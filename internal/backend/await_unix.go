//go:build unix

package backend

// writeAwait writes p, the last bytes of a request (or their TLS
// records) to the socket, then waits for the
// socket to turn readable (the response has begun) before it returns, as
// an event loop writes and waits for the next readiness event. The
// response read that follows then finds bytes. Without it, that read
// comes before the backend could answer: it fails with EAGAIN, and only
// then does the runtime wait for readiness, one system call per request
// more than needed.
//
// The write and the wait happen in one RawConn.Read, which resets the
// socket's readiness before calling f. Readiness from before the write is
// forgotten, and a response cannot begin before its request is written.
// Bytes the backend sent unasked into an idle connection are the pool's
// concern (peerClosed).
//
// What one non-blocking write could not send (a full socket buffer) goes
// the usual way, with the write deadline. A wait ended by a deadline, an
// interrupt or a closed socket is not an error here: the read that
// follows reports it.
func (c *countingWriter) writeAwait(p []byte) (int, error) {
	c.awaitWrite.Begin(p)
	_ = c.raw.Read(c.awaitFn)
	n, err := c.awaitWrite.End(c.rest)
	if err != nil {
		return n, err
	}
	if n < len(p) {
		m, err := c.rest.Write(p[n:])
		return n + m, err
	}
	return n, nil
}

// awaitStep is writeAwait's callback: the first call writes, and asks to
// wait unless the write was cut short; the next one comes once the socket
// is readable (or a deadline or a closed socket ended the wait).
func (c *countingWriter) awaitStep(fd uintptr) bool {
	if first, done := c.awaitWrite.Step(fd); first {
		return done // else wait
	}
	return c.awaitRead.Step(fd, c.rest)
}

// readAwait is the response's first read when writeRequest left the
// request's last bytes pending (cleartext): they are written, the socket
// awaited and read into p in one RawConn.Read, with no read of its own
// through net.Conn. A failed write comes back as a sendError, for
// roundTrip to report as the failed send it is; a wait that ended
// without readability (a deadline, an interrupt) reads the usual way,
// which reports it.
func (c *countingWriter) readAwait(p []byte) (int, error) {
	pending := c.pending
	c.pending = nil
	c.awaitRead.Begin(p)
	n, err := c.writeAwait(pending)
	rn, rerr := c.awaitRead.End()
	c.n += int64(n)
	switch {
	case err != nil:
		return 0, &sendError{err}
	case rn < 0:
		return c.rest.Read(p)
	}
	return rn, rerr
}
