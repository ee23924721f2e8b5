package sockio

// AwaitWrite is the write a write-then-wait makes in its RawConn.Read
// callback, before it waits: the HTTP server's response and the backend
// client's request (their last bytes) go out there, and the wait begins
// only if all of them did.
type AwaitWrite struct {
	p     []byte
	n     int
	err   error
	wrote bool
}

// Begin asks the next wait to write p first.
func (w *AwaitWrite) Begin(p []byte) { w.p, w.n, w.err, w.wrote = p, 0, nil, false }

// AwaitRead is the read a write-then-wait makes in its RawConn.Read
// callback once the socket is readable, when the caller asked for one
// (Begin): the HTTP server's next request and the backend client's
// response are read there, with no read of their own through net.Conn.
// A write-then-wait without Begin only waits.
type AwaitRead struct {
	p   []byte
	n   int // < 0: no read happened
	err error
}

// Begin asks the next wait to read into p once the socket is readable.
func (r *AwaitRead) Begin(p []byte) { r.p, r.n, r.err = p, -1, nil }

// End returns what the read Begin asked for got, n < 0 when none
// happened (the wait ended without readability: a deadline, an interrupt,
// a closed socket, or a write cut short), and forgets p.
func (r *AwaitRead) End() (n int, err error) {
	n, err = r.n, r.err
	r.p, r.err = nil, nil
	return n, err
}
