package backend

import (
	"net"
	"syscall"
)

// peerClosed peeks at an idle connection without blocking: a pending EOF
// (the backend closed it), pending bytes (nothing is expected on an idle
// connection) or a socket error all make it unfit for reuse.
func peerClosed(c *net.TCPConn) bool {
	rc, err := c.SyscallConn()
	if err != nil {
		return false
	}
	var buf [1]byte
	closed := false
	err = rc.Read(func(fd uintptr) bool {
		n, _, rerr := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case rerr == syscall.EAGAIN || rerr == syscall.EINTR:
		case rerr != nil, n >= 0:
			closed = true
		}
		return true // never wait for readiness
	})
	return closed || err != nil
}
