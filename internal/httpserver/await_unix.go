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
	c.awaitWrite.Begin(p)
	c.awaitEnded = c.rawConn.Read(c.awaitFn) != nil
	n, err := c.awaitWrite.End(c.rwc)
	if err != nil {
		return n, err
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
	first, done := c.awaitWrite.Step(fd)
	if !first {
		// Readable (or a deadline or a closed socket ended the wait, and
		// this is not called).
		return c.awaitRead.Step(fd, c.rwc)
	}
	if done {
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
