package policy

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"syscall"

	"github.com/apimgw/apimgw/internal/expr"
)

// A request body that cannot be read is the client's fault: a malformed
// chunked framing, an upload abandoned half-way, a body over a limit. It
// is answered 400, 499, 408 or 413 with the reason ClientConnectionFailure
// (RequestEntityTooLarge for the limit), and no circuit breaker, retry or
// health verdict counts it: an anonymous client must not be able to open a
// backend's breaker for everybody else.

// ReasonRequestEntityTooLarge: a policy buffered a request body beyond the
// configured limit (apimgw's reason; APIM answers 413 without one).
const ReasonRequestEntityTooLarge = "RequestEntityTooLarge"

// requestBodyError is the Error for a failure to read the client's
// request body while doing what msg says.
func requestBodyError(msg string, err error) *Error {
	e := &Error{Reason: ReasonClientConnectionFailure, Message: msg, Err: err}
	var tooLarge *expr.BodyTooLargeError
	var maxBytes *http.MaxBytesError
	var ne net.Error
	switch {
	case errors.As(err, &tooLarge), errors.As(err, &maxBytes):
		e.Reason, e.Status = ReasonRequestEntityTooLarge, http.StatusRequestEntityTooLarge
		e.Message, e.ClientMessage = "The request body is larger than the limit for a buffered body", "Request entity too large"
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, context.Canceled),
		errors.Is(err, http.ErrBodyReadAfterClose):
		// The client went away before its body was complete.
		e.Status = 499
	case errors.As(err, &ne) && ne.Timeout():
		e.Status, e.ClientMessage = http.StatusRequestTimeout, "Request timeout"
	default:
		// The body's framing is broken (a bad chunk size, say).
		e.Status, e.ClientMessage = http.StatusBadRequest, "Bad request"
	}
	return e
}

// IsClientFault reports whether err is a failure the client caused: its
// request body, or its going away.
func IsClientFault(err error) bool {
	var pe *Error
	return errors.As(err, &pe) && (pe.Reason == ReasonClientConnectionFailure || pe.Reason == ReasonRequestEntityTooLarge)
}

// sentBody is the request body as forward-request sends it, keeping the
// error a read of it returned: when the backend call then fails, that error
// says the client broke it, not the backend.
// (The backend client may read it on a goroutine of its own, hence the
// atomic.)
type sentBody struct {
	r   io.Reader
	err atomic.Pointer[error]
}

func (b *sentBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		b.err.CompareAndSwap(nil, &err)
	}
	return n, err
}

// readErr is the first error a read returned, or nil.
func (b *sentBody) readErr() error {
	if p := b.err.Load(); p != nil {
		return *p
	}
	return nil
}

func (b *sentBody) Close() error { return nil }
