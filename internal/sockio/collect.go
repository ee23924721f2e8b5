package sockio

import (
	"net"
	"time"
)

// Collecting is the TCP socket under a TLS connection. While Armed, what
// is written to it is kept instead of sent, for whoever armed it to send
// in one write: the records of the bytes a write-then-wait ends with
// (several, on a new connection, whose first records Go sizes to one TCP
// segment), or a connection's last response and its close_notify alert.
// While Armed, it also keeps its write deadline and stays open: writes do
// not block then, and crypto/tls's Close (a deadline set around its alert,
// then the socket closed) leaves the kept alert to be sent, and the socket
// to be closed, by whoever armed it.
type Collecting struct {
	*net.TCPConn
	Armed bool
	buf   []byte
}

// maxKept bounds the buffer a connection keeps between uses: a 4 KiB
// write buffer's worth of records and their overhead.
const maxKept = 5 << 10

func (s *Collecting) Write(p []byte) (int, error) {
	if s.Armed {
		s.buf = append(s.buf, p...)
		return len(p), nil
	}
	return s.TCPConn.Write(p)
}

// SetWriteDeadline sets the socket's write deadline, unless Armed.
func (s *Collecting) SetWriteDeadline(t time.Time) error {
	if s.Armed {
		return nil
	}
	return s.TCPConn.SetWriteDeadline(t)
}

// Close closes the socket, unless Armed.
func (s *Collecting) Close() error {
	if s.Armed {
		return nil
	}
	return s.TCPConn.Close()
}

// Collected returns what was kept since Reset.
func (s *Collecting) Collected() []byte { return s.buf }

// Reset drops what was kept.
func (s *Collecting) Reset() {
	s.buf = s.buf[:0]
	if cap(s.buf) > maxKept {
		s.buf = nil
	}
}
