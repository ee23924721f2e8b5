package sockio

import "net"

// Collecting is the TCP socket under a TLS connection. While Armed, what
// is written to it (the records of the bytes a write-then-wait ends with:
// several, on a new connection, whose first records Go sizes to one TCP
// segment) is kept instead of sent, for the write-then-wait to send
// together before it waits.
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

// Collected returns what was kept since Reset.
func (s *Collecting) Collected() []byte { return s.buf }

// Reset drops what was kept.
func (s *Collecting) Reset() {
	s.buf = s.buf[:0]
	if cap(s.buf) > maxKept {
		s.buf = nil
	}
}
