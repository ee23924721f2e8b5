//go:build unix

package sockio

import (
	"io"
	"net"
	"os"
	"syscall"
)

// The system calls here go to non-blocking sockets, which never block: they
// are made raw, without telling the scheduler that the goroutine enters a
// system call that might (about 0.2 µs each on the machine of
// docs/benchmarks.md). Under the race detector they go through package
// syscall, whose annotations let it see the order that data passed
// between goroutines through the kernel gives their memory accesses, as
// for any other socket I/O (raw_race.go).

// Write writes p to the non-blocking socket fd until all of it is written,
// the socket takes no more (EAGAIN), or a write fails. It returns how many
// bytes were written and the error, nil when the socket was full.
func Write(fd uintptr, p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m, errno := rawWrite(fd, p[n:])
		switch {
		case errno == syscall.EINTR:
		case errno == syscall.EAGAIN || errno == 0 && m <= 0:
			return n, nil
		case errno != 0:
			return n, errno
		default:
			n += m
		}
	}
	return n, nil
}

// Read reads from the non-blocking socket fd into p (which must not be
// empty): n bytes, or n == 0 at the end of the stream, or err EAGAIN when
// nothing waits.
func Read(fd uintptr, p []byte) (int, error) {
	for {
		n, errno := rawRead(fd, p)
		if errno == syscall.EINTR {
			continue
		}
		if errno != 0 {
			return 0, errno
		}
		return n, nil
	}
}

// ReadReady is the read a write-then-wait's callback makes once socket fd
// (c's) is readable: n bytes into p, with the error c's Read would have
// returned (io.EOF at the end of the stream), or again when nothing waits
// after all (woken with nothing to read): the callback waits on.
func ReadReady(fd uintptr, p []byte, c net.Conn) (n int, again bool, err error) {
	n, err = Read(fd, p)
	switch {
	case err == syscall.EAGAIN:
		return 0, true, nil
	case err != nil:
		return 0, false, ConnError("read", c, err)
	case n == 0:
		return 0, false, io.EOF
	}
	return n, false, nil
}

// Step is a write-then-wait callback's step: its first call (first)
// writes Begin's p to socket fd and reports whether the wait is over
// already (done: the write failed or was cut short); the later ones, made
// once the socket is readable, report first false and leave the rest to
// the caller.
func (w *AwaitWrite) Step(fd uintptr) (first, done bool) {
	if w.wrote {
		return false, false
	}
	w.wrote = true
	w.n, w.err = Write(fd, w.p)
	return true, w.err != nil || w.n < len(w.p)
}

// End returns how much of Begin's p the write took and its error as c's
// Write would report it, and forgets p.
func (w *AwaitWrite) End(c net.Conn) (int, error) {
	n, err := w.n, w.err
	w.p, w.err = nil, nil
	if err != nil {
		return n, ConnError("write", c, err)
	}
	return n, nil
}

// Step is a write-then-wait callback's step once socket fd (c's) is
// readable: it reads into Begin's p (ReadReady) and reports whether the
// wait is over; without Begin it is over at once. It returns false when
// nothing waits after all, for the callback to wait on.
func (r *AwaitRead) Step(fd uintptr, c net.Conn) bool {
	if r.p == nil {
		return true
	}
	n, again, err := ReadReady(fd, r.p, c)
	r.n, r.err = n, err
	return !again
}

// ConnError is the error c's op ("read" or "write") returns for a failed
// system call's err, as net.Conn reports it.
func ConnError(op string, c net.Conn, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: os.NewSyscallError(op, err)}
}

// Peek looks at socket fd for a byte waiting to be read, without taking it
// and without blocking: n is 1 when one waits and 0 at the end of the
// stream; err is EAGAIN when nothing waits.
func Peek(fd uintptr) (int, error) {
	var b [1]byte
	n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return n, err
}
