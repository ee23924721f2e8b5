package policy

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/apimgw/apimgw/internal/expr"
	"github.com/apimgw/apimgw/internal/logs"
)

// Run executes the pipeline over st: inbound, backend, outbound, and on-error
// when a step fails. When it returns, st.X.Response holds the response to
// send (never nil).
func (p *Pipeline) Run(st *State) {
	err := p.section(st, secInbound)
	if err == nil && !st.Responded {
		err = p.section(st, secBackend)
	}
	if err == nil && !st.Responded {
		err = p.section(st, secOutbound)
	}
	if err != nil && err != errResponded {
		p.OnError(st, err)
	}
	if st.X.Response == nil {
		st.X.Response = &expr.Response{StatusCode: http.StatusOK, StatusReason: "OK", Headers: http.Header{}}
	}
}

func (p *Pipeline) section(st *State, i int) error {
	st.Section = sectionNames[i]
	return p.sections[i].run(st)
}

// OnError records err as context.LastError, prepares the default error
// response for it and runs the on-error section, which may change or replace
// that response. Errors raised by on-error itself are recorded but do not run
// on-error again.
func (p *Pipeline) OnError(st *State, err error) {
	pe := st.raise(err)
	st.X.Response = ErrorResponse(pe.status(), pe.clientMessage(), st.X.RequestId)
	for k, v := range pe.Headers {
		st.X.Response.Headers.Set(k, v)
	}
	st.Responded = false
	st.Section = SectionOnError
	if err := p.sections[secOnError].run(st); err != nil && err != errResponded {
		pe := st.raise(err)
		st.X.Response = ErrorResponse(pe.status(), pe.clientMessage(), st.X.RequestId)
	}
}

// raise records err (wrapped as *Error if needed) as the last error.
func (st *State) raise(err error) *Error {
	var pe *Error
	if !errors.As(err, &pe) {
		pe = &Error{Reason: "PolicyError", Message: err.Error(), Err: err}
	}
	if pe.Section == "" {
		pe.Section = st.Section
	}
	if !st.X.Timestamp.IsZero() {
		pe.Elapsed = st.Env.now().Sub(st.X.Timestamp)
	}
	st.Errors = append(st.Errors, pe)
	st.X.LastError = &expr.LastError{
		Source: pe.Source, Reason: pe.Reason, Message: pe.Message,
		Scope: pe.Scope, Section: pe.Section, Path: pe.Path, PolicyId: pe.PolicyID,
	}
	return pe
}

func (e *Error) status() int {
	if e.Status != 0 {
		return e.Status
	}
	switch e.Reason {
	case ReasonBackendConnectionFailure:
		return http.StatusBadGateway
	case ReasonTimeout:
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}

func (e *Error) clientMessage() string {
	if e.ClientMessage != "" {
		return e.ClientMessage
	}
	switch e.status() {
	case http.StatusInternalServerError:
		return "Internal server error"
	case http.StatusBadGateway:
		return "Bad Gateway"
	case http.StatusGatewayTimeout:
		return "Gateway Timeout"
	}
	return e.Message
}

// ErrorResponse builds APIM's JSON error response
// {"statusCode": N, "message": "..."}; 5xx bodies carry the activityId
// (the request id) as APIM's do.
func ErrorResponse(status int, message, requestID string) *expr.Response {
	body := make([]byte, 0, 96+len(message))
	body = append(body, `{"statusCode":`...)
	body = strconv.AppendInt(body, int64(status), 10)
	body = append(body, `,"message":`...)
	body = logs.AppendJSONString(body, message)
	if status >= 500 && requestID != "" {
		body = append(body, `,"activityId":`...)
		body = logs.AppendJSONString(body, requestID)
	}
	body = append(body, '}')
	h := http.Header{}
	h.Set("Content-Type", "application/json; charset=utf-8")
	return &expr.Response{
		StatusCode:   status,
		StatusReason: http.StatusText(status),
		Headers:      h,
		Body:         expr.NewBodyBytes(body),
	}
}
