//go:build unix

package httpserver

import (
	"syscall"

	"github.com/apimgw/apimgw/internal/sockio"
)

const awaitSupported = true

// writeAwait writes p, then, unless the socket took less than all of it,
// enters the idle state and waits in the same RawConn.Read until the
// socket is readable (see await.go). What the socket did not take goes
// out the usual way, through stallWriter.
func (c *conn) writeAwait(p []byte) (int, error) {
	c.awaitP, c.awaitN, c.awaitErr, c.awaitWrote = p, 0, nil, false
	c.awaitEnded = c.rawConn.Read(c.awaitFn) != nil
	n, werr := c.awaitN, c.awaitErr
	c.awaitP, c.awaitErr = nil, nil
	if werr != nil {
		return n, sockio.ConnError("write", c.rwc, werr)
	}
	if n < len(p) {
		m, err := c.writeSocket(c.raw, p[n:])
		return n + m, err
	}
	return n, nil
}

// awaitStep is writeAwait's RawConn.Read callback, made once per
// connection (a closure per response would be allocated).
func (c *conn) awaitStep(fd uintptr) bool {
	if c.awaitWrote {
		// Readable (or a deadline or a closed socket ended the wait, and
		// this is not called).
		return c.awaitRead.Step(fd, c.rwc)
	}
	c.awaitWrote = true
	n, err := sockio.Write(fd, c.awaitP)
	c.awaitN, c.awaitErr = n, err
	if err != nil || n < len(c.awaitP) {
		return true
	}
	c.toIdle()
	c.awaitSeq.Add(1)
	c.awaiting.Store(true)
	return false
}

// pendingBytes reports whether bytes wait unread in the socket, without
// blocking.
func pendingBytes(rc syscall.RawConn) bool {
	pending := false
	_ = rc.Read(func(fd uintptr) bool {
		n, err := sockio.Peek(fd)
		pending = err == nil && n > 0
		return true // never wait for readiness
	})
	return pending
}
