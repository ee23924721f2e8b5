package backend

import (
	"net"
	"syscall"

	"github.com/apimgw/apimgw/internal/sockio"
)

// peerClosed peeks at an idle connection without blocking: a pending EOF
// (the backend closed it), pending bytes (nothing is expected on an idle
// connection) or a socket error all make it unfit for reuse.
func peerClosed(c *net.TCPConn) bool {
	rc, err := c.SyscallConn()
	if err != nil {
		return false
	}
	closed := false
	err = rc.Read(func(fd uintptr) bool {
		n, rerr := sockio.Peek(fd)
		switch {
		case rerr == syscall.EAGAIN || rerr == syscall.EINTR:
		case rerr != nil, n >= 0:
			closed = true
		}
		return true // never wait for readiness
	})
	return closed || err != nil
}
