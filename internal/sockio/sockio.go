//go:build unix

package sockio

import "syscall"

// Write writes p to the non-blocking socket fd until all of it is written,
// the socket takes no more (EAGAIN), or a write fails. It returns how many
// bytes were written and the error, nil when the socket was full.
func Write(fd uintptr, p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m, err := syscall.Write(int(fd), p[n:])
		if m > 0 {
			n += m
		}
		switch {
		case err == syscall.EINTR:
		case err == syscall.EAGAIN || err == nil && m <= 0:
			return n, nil
		case err != nil:
			return n, err
		}
	}
	return n, nil
}

// Peek looks at socket fd for a byte waiting to be read, without taking it
// and without blocking: n is 1 when one waits and 0 at the end of the
// stream; err is EAGAIN when nothing waits.
func Peek(fd uintptr) (int, error) {
	var b [1]byte
	n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return n, err
}
