package httpserver

import (
	"errors"
	"io"
	"net/http"
	"sync/atomic"

	"github.com/apimgw/apimgw/internal/httplex"
)

// maxTrailerBytes bounds the trailer section of a chunked request body.
const maxTrailerBytes = 64 << 10

// body is a request body: Content-Length bytes, or chunked. It reads from
// the connection's buffered reader; the handler's reads and the server's
// drain after the handler are the only readers.
type body struct {
	c            *conn
	req          *http.Request // the handler's request: its Trailer gets the trailer fields
	chunked      bool
	src          io.Reader // the chunked decoder
	remaining    int64     // fixed-length bytes not yet read
	needContinue bool      // "100 Continue" is still owed
	sawEOF       bool
	// ended is sawEOF for other goroutines than the body's reader: the
	// handler's, which may write its answer while another of its
	// goroutines still reads the body (a backend call).
	ended  atomic.Bool
	closed bool
	err    error
}

func (b *body) Read(p []byte) (int, error) {
	if b.closed {
		return 0, http.ErrBodyReadAfterClose
	}
	return b.read(p)
}

func (b *body) read(p []byte) (int, error) {
	if b.sawEOF {
		return 0, io.EOF
	}
	if b.err != nil {
		return 0, b.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if b.needContinue {
		b.needContinue = false
		// Only while the response has not started: after it, the
		// client reads our answer instead.
		if w := b.c.cur; w == nil || !w.committed {
			b.c.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
			if err := b.c.bw.Flush(); err != nil {
				b.err = err
				return 0, err
			}
		}
	}
	var n int
	var err error
	b.c.inBody.Store(true)
	defer b.c.inBody.Store(false)
	if b.chunked {
		n, err = b.src.Read(p)
		if err == io.EOF {
			err = b.readTrailer()
			if err == nil {
				err = io.EOF
			}
		}
	} else {
		if int64(len(p)) > b.remaining {
			p = p[:b.remaining]
		}
		n, err = b.c.br.Read(p)
		b.remaining -= int64(n)
		if b.remaining == 0 {
			err = io.EOF
		} else if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
	}
	if err == io.EOF {
		b.sawEOF = true
		b.ended.Store(true)
		b.c.cr.bodyEOF()
	} else if err != nil {
		b.err = err
	}
	return n, err
}

// readTrailer reads the trailer section after the last chunk into the
// request's Trailer, as net/http does (fields it did not announce too;
// framing and routing fields are dropped).
func (b *body) readTrailer() error {
	return httplex.ReadTrailer(b.c.br, maxTrailerBytes, func(name, value string) error {
		if !httplex.ValidFieldValue(value) {
			return errors.New("invalid trailer field value")
		}
		name = http.CanonicalHeaderKey(name)
		if forbiddenTrailer(name) || b.req == nil {
			return nil
		}
		if b.req.Trailer == nil {
			b.req.Trailer = make(http.Header)
		}
		b.req.Trailer[name] = append(b.req.Trailer[name], value)
		return nil
	})
}

// Close marks the body closed to the handler; what it left unread is
// drained by the server after the handler returns.
func (b *body) Close() error {
	b.closed = true
	return nil
}

// drain reads what the handler left of the body, so the connection can
// carry the next request; it reports whether that worked within
// maxPostHandlerReadBytes.
func (b *body) drain() bool {
	if b.sawEOF {
		return true
	}
	if b.err != nil || b.needContinue {
		// The client may not have sent the body at all.
		return false
	}
	if !b.chunked && b.remaining > maxPostHandlerReadBytes {
		return false
	}
	var buf [4 << 10]byte
	read := 0
	for read <= maxPostHandlerReadBytes {
		n, err := b.read(buf[:])
		read += n
		if err == io.EOF {
			return true
		}
		if err != nil {
			return false
		}
	}
	return false
}
