package policy

import (
	"errors"
	"fmt"
	"time"
)

// Reasons of context.LastError that the engine and its policies raise. They
// are APIM's reason strings.
const (
	ReasonBackendConnectionFailure = "BackendConnectionFailure"
	ReasonTimeout                  = "Timeout"
	ReasonClientConnectionFailure  = "ClientConnectionFailure"
	ReasonExpressionFailure        = "ExpressionValueEvaluationFailure"
	ReasonRateLimitExceeded        = "RateLimitExceeded"
	ReasonQuotaExceeded            = "QuotaExceeded"
	ReasonSubscriptionKeyNotFound  = "SubscriptionKeyNotFound"
	ReasonSubscriptionKeyInvalid   = "SubscriptionKeyInvalid"
	ReasonOperationNotFound        = "OperationNotFound"
	ReasonBackendStatusCode        = "BackendStatusCode"
	ReasonCircuitOpen              = "CircuitBreakerOpen"
	// ReasonInvalidPath: the path sent to the backend would have left the
	// API's base (apimgw's reason; APIM has none).
	ReasonInvalidPath = "InvalidRequestPath"
)

// Error is a failure raised while a pipeline runs. It becomes
// context.LastError and sends the request to on-error. Status and Message
// (and optional extra Headers) are the response the client gets when on-error
// does not produce another one.
type Error struct {
	Source   string // the policy that failed, e.g. "forward-request"
	Reason   string
	Message  string
	Section  string
	Path     string
	PolicyID string
	Scope    string
	// Status is the HTTP status of the default error response (500 if 0).
	Status int
	// ClientMessage is the "message" of the default JSON error body; Message
	// is used when empty.
	ClientMessage string
	// Headers are added to the default error response (e.g. Retry-After).
	Headers map[string]string
	// Elapsed is the time from the request's start to the error.
	Elapsed time.Duration
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %s: %v", e.Source, e.Reason, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s: %s", e.Source, e.Reason, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// errResponded stops the pipeline because a policy (return-response) has
// produced the final response.
var errResponded = errors.New("response returned")
