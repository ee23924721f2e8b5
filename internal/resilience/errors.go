package resilience

import (
	"context"
	"errors"
	"net"
	"net/http"
	"syscall"
)

// APIM LastError reasons this package produces or reads.
const (
	// ReasonBackendConnectionFailure: the backend could not be reached or the
	// connection broke before a response arrived.
	ReasonBackendConnectionFailure = "BackendConnectionFailure"
	// ReasonTimeout: the backend did not answer within the forward-request
	// timeout.
	ReasonTimeout = "Timeout"
	// ReasonClientConnectionFailure: the client went away first.
	ReasonClientConnectionFailure = "ClientConnectionFailure"
	// ReasonConcurrencyLimitExceeded: limit-concurrency refused the request.
	ReasonConcurrencyLimitExceeded = "ConcurrencyLimitExceeded"
	// ReasonCircuitBreakerOpen: the backend's breaker refused the request.
	// APIM does not document this reason; apimgw uses it so logs and
	// diagnose can tell an open circuit from a backend failure.
	ReasonCircuitBreakerOpen = "CircuitBreakerOpen"
	// ReasonBackendUnavailable: no member of a pool is usable.
	ReasonBackendUnavailable = "BackendUnavailable"
)

// LastError messages, worded as APIM (and the .NET stack under it) words
// them; the same wording as the outbound transport's.
const (
	msgUnableToConnect = "Unable to connect to the remote server"
	msgClosed          = "The underlying connection was closed: The connection was closed unexpectedly."
	msgTimeout         = "Request to the backend service timed out"
	msgCanceled        = "The operation was canceled."
)

// ReasonedError is implemented by errors that already carry APIM's
// LastError reason and message (the outbound transport's errors); Classify
// keeps their wording.
type ReasonedError interface {
	error
	APIMReason() (reason, message string)
}

func statusForReason(reason string) int {
	switch reason {
	case ReasonTimeout:
		return http.StatusGatewayTimeout
	case ReasonClientConnectionFailure:
		return 499
	case ReasonCircuitBreakerOpen, ReasonBackendUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusBadGateway
}

// Failure is a backend call failure translated to APIM's vocabulary: the
// context.LastError reason and message, and the status the gateway answers
// when no on-error section handles it.
type Failure struct {
	Reason     string
	Message    string
	StatusCode int
}

// Classify translates the error of a failed backend call (or of Allow/Pick/
// Acquire before it) into APIM's reason, message and status. clientCtx is the
// incoming request's context: when it is done the failure is the client's,
// not the backend's. Classify never returns a zero Failure for a non-nil err.
func Classify(clientCtx context.Context, err error) Failure {
	var open *OpenError
	var pool *PoolUnavailableError
	var limit *LimitError
	var timeout *TimeoutError
	var reasoned ReasonedError
	var opErr *net.OpError
	var netErr net.Error
	switch {
	case err == nil:
		return Failure{}
	case errors.As(err, &open):
		return Failure{Reason: ReasonCircuitBreakerOpen, Message: open.Error(), StatusCode: http.StatusServiceUnavailable}
	case errors.As(err, &pool):
		return Failure{Reason: ReasonBackendUnavailable, Message: pool.Error(), StatusCode: http.StatusServiceUnavailable}
	case errors.As(err, &limit):
		return Failure{Reason: ReasonConcurrencyLimitExceeded, Message: limit.Error(), StatusCode: limit.StatusCode()}
	case clientCtx != nil && clientCtx.Err() != nil:
		return Failure{Reason: ReasonClientConnectionFailure, Message: msgCanceled, StatusCode: 499}
	case errors.As(err, &timeout):
		return Failure{Reason: ReasonTimeout, Message: msgTimeout, StatusCode: http.StatusGatewayTimeout}
	case errors.As(err, &reasoned):
		reason, msg := reasoned.APIMReason()
		return Failure{Reason: reason, Message: msg, StatusCode: statusForReason(reason)}
	case errors.Is(err, syscall.ECONNREFUSED), errors.As(err, &opErr) && opErr.Op == "dial":
		// A connect that fails or times out is a connection failure in
		// APIM, not a Timeout: it is the SNAT-exhaustion symptom.
		return Failure{Reason: ReasonBackendConnectionFailure, Message: msgUnableToConnect, StatusCode: http.StatusBadGateway}
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return Failure{Reason: ReasonTimeout, Message: msgTimeout, StatusCode: http.StatusGatewayTimeout}
	default:
		return Failure{Reason: ReasonBackendConnectionFailure, Message: msgClosed, StatusCode: http.StatusBadGateway}
	}
}
