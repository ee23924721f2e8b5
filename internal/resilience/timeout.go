package resilience

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// DefaultForwardTimeout is APIM's forward-request timeout when neither
// timeout nor timeout-ms is given.
const DefaultForwardTimeout = 300 * time.Second

// TimeoutError is returned by Forward when the backend sent no response
// headers within the forward-request timeout. It is a net.Error whose
// Timeout is true; Classify reports it as APIM's Timeout (504).
type TimeoutError struct {
	After time.Duration
}

// Error says how long the gateway waited.
func (e *TimeoutError) Error() string {
	return fmt.Sprintf("request to the backend service timed out: no response headers within %s", e.After)
}

// Timeout reports true.
func (e *TimeoutError) Timeout() bool { return true }

// Temporary reports false (required by net.Error).
func (e *TimeoutError) Temporary() bool { return false }

// Forward sends req through rt with APIM's forward-request timeout: the
// response headers must arrive within d (DefaultForwardTimeout when d <= 0),
// measured from the call, including any wait for a pooled connection and the
// connect. Reading the body is not bounded by d, so a large or streamed
// (server-sent events) response is not cut off; the request's own context
// still ends everything when the client goes away. On timeout Forward returns
// a *TimeoutError. clock nil is the system clock.
func Forward(rt http.RoundTripper, req *http.Request, d time.Duration, clock Clock) (*http.Response, error) {
	if d <= 0 {
		d = DefaultForwardTimeout
	}
	if clock == nil {
		clock = SystemClock{}
	}
	timeoutErr := &TimeoutError{After: d}
	ctx, cancel := context.WithCancelCause(req.Context())
	timer := clock.AfterFunc(d, func() { cancel(timeoutErr) })
	resp, err := rt.RoundTrip(req.WithContext(ctx))
	timedOut := !timer.Stop() && errors.Is(context.Cause(ctx), timeoutErr)
	switch {
	case err != nil:
		cancel(nil)
		if timedOut {
			return nil, timeoutErr
		}
		return nil, err
	case timedOut:
		// Headers raced the timer and lost: the body is already cancelled.
		_ = resp.Body.Close()
		cancel(nil)
		return nil, timeoutErr
	}
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: func() { cancel(nil) }}
	return resp, nil
}

// cancelOnClose releases the call's context once the body is closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel func()
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}
