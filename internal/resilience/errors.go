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
		return Failure{Reason: ReasonClientConnectionFailure, Message: "The client closed the connection before the backend answered", StatusCode: 499}
	case errors.As(err, &timeout):
		return Failure{Reason: ReasonTimeout, Message: timeout.Error(), StatusCode: http.StatusGatewayTimeout}
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return Failure{Reason: ReasonTimeout, Message: "Request to the backend service timed out: " + err.Error(), StatusCode: http.StatusGatewayTimeout}
	case errors.Is(err, syscall.ECONNREFUSED):
		return Failure{Reason: ReasonBackendConnectionFailure, Message: "Unable to connect to the remote server", StatusCode: http.StatusBadGateway}
	default:
		return Failure{Reason: ReasonBackendConnectionFailure, Message: "The underlying connection was closed: " + err.Error(), StatusCode: http.StatusBadGateway}
	}
}
