package backend

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/apimgw/apimgw/internal/logs"
)

// Error reasons, as APIM names them in context.LastError.Reason.
const (
	ReasonBackendConnectionFailure = "BackendConnectionFailure"
	ReasonTimeout                  = "Timeout"
	// ReasonClientConnectionFailure is returned when the request's context
	// was cancelled (the client went away) rather than timed out.
	ReasonClientConnectionFailure = "ClientConnectionFailure"
)

// Error messages, worded as APIM (and the .NET stack under it) words them.
const (
	MsgUnableToConnect   = "Unable to connect to the remote server"
	MsgClosedUnexpected  = "The underlying connection was closed: The connection was closed unexpectedly."
	MsgClosedOnSend      = "The underlying connection was closed: An unexpected error occurred on a send."
	MsgClosedOnReceive   = "The underlying connection was closed: An unexpected error occurred on a receive."
	MsgProtocolViolation = "The server committed a protocol violation. Section=ResponseStatusLine"
	MsgTimeout           = "Request to the backend service timed out"
	MsgCanceled          = "The operation was canceled."
)

// Error is the error every RoundTrip failure is: Reason and Message are
// what the gateway puts in context.LastError and the request log; Err is
// the underlying cause.
type Error struct {
	// Reason is ReasonBackendConnectionFailure, ReasonTimeout or
	// ReasonClientConnectionFailure.
	Reason string
	// Message is APIM's message for the failure.
	Message string
	// Err is the underlying error, if any.
	Err error
}

// Error implements error.
func (e *Error) Error() string {
	if e.Err == nil {
		return e.Reason + ": " + e.Message
	}
	return fmt.Sprintf("%s: %s: %v", e.Reason, e.Message, e.Err)
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Timeout reports whether the failure was a timeout (net.Error style).
func (e *Error) Timeout() bool { return e.Reason == ReasonTimeout }

// errPortExhausted is the cause of a connection refused by the SNAT model.
var errPortExhausted = errors.New(logs.SNATExhaustedDetail)

// errConnect marks a failure to establish a connection: nothing of the
// request was sent, so another address of the host may be tried.
var errConnect = errors.New("connection not established")

// errInvalidRequest marks a request that cannot be serialised; it is
// never retried.
var errInvalidRequest = errors.New("invalid request")

// errManagerClosed is the cause of a request sent after Close.
var errManagerClosed = errors.New("backend manager closed")

// newError classifies err: the context's state wins (a failure caused by a
// deadline is a Timeout whatever the socket said), then the given fallback
// message for a BackendConnectionFailure.
func newError(ctx context.Context, msg string, err error) *Error {
	var be *Error
	if errors.As(err, &be) {
		return be
	}
	cerr := ctx.Err()
	if cerr == nil {
		// A dial or I/O deadline taken from ctx's can expire a moment
		// before ctx itself reports it.
		if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
			cerr = context.DeadlineExceeded
		}
	}
	switch cerr {
	case context.DeadlineExceeded:
		return &Error{Reason: ReasonTimeout, Message: MsgTimeout, Err: err}
	case context.Canceled:
		return &Error{Reason: ReasonClientConnectionFailure, Message: MsgCanceled, Err: err}
	}
	return &Error{Reason: ReasonBackendConnectionFailure, Message: msg, Err: err}
}

// safeURL renders u for error messages without credentials or query,
// which may carry secrets (function keys, signatures).
func safeURL(u *url.URL) string {
	return u.Scheme + "://" + u.Host + u.EscapedPath()
}
