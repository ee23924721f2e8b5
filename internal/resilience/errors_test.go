package resilience

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestClassifyBackendFaults sends real requests to fault-injecting loopback
// backends and checks each failure becomes APIM's reason and status.
func TestClassifyBackendFaults(t *testing.T) {
	var sw switchable
	srv := newFaultServer(t, sw.serve)
	slowHeaders := newFaultServer(t, func(_ int64, w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	// A port with nothing listening: bind, note the address, close.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + ln.Addr().String()
	ln.Close()

	tests := []struct {
		name       string
		mode       string
		url        string
		transport  *http.Transport
		timeout    time.Duration
		wantReason string
		wantStatus int
	}{
		{"connection refused", "", refused, &http.Transport{}, time.Second, ReasonBackendConnectionFailure, 502},
		{"connection reset", "reset", srv.URL, &http.Transport{}, time.Second, ReasonBackendConnectionFailure, 502},
		{"hang past forward-request timeout", "hang", srv.URL, &http.Transport{}, 50 * time.Millisecond, ReasonTimeout, 504},
		{"slow headers past response-header timeout", "", slowHeaders.URL,
			&http.Transport{ResponseHeaderTimeout: 50 * time.Millisecond}, 5 * time.Second, ReasonTimeout, 504},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sw.set(tc.mode)
			defer tc.transport.CloseIdleConnections()
			clientCtx := t.Context()
			ctx, cancel := WithForwardTimeout(clientCtx, tc.timeout)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, tc.url, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := tc.transport.RoundTrip(req)
			if err == nil {
				resp.Body.Close()
				t.Fatalf("request succeeded with %d, want a failure", resp.StatusCode)
			}
			f := Classify(clientCtx, err)
			if f.Reason != tc.wantReason || f.StatusCode != tc.wantStatus || f.Message == "" {
				t.Fatalf("Classify(%v) = %+v, want %s/%d", err, f, tc.wantReason, tc.wantStatus)
			}
		})
	}
}

func TestClassifyErrors(t *testing.T) {
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name       string
		ctx        context.Context
		err        error
		wantReason string
		wantStatus int
	}{
		{"nil", context.Background(), nil, "", 0},
		{"open breaker", context.Background(), fmt.Errorf("forward: %w", &OpenError{BackendID: "b", Rule: "r"}), ReasonCircuitBreakerOpen, 503},
		{"pool unavailable", context.Background(), &PoolUnavailableError{PoolID: "p"}, ReasonBackendUnavailable, 503},
		{"limit-concurrency", context.Background(), &LimitError{Scope: ScopeLimitConcurrency, Key: "k", Max: 1}, ReasonConcurrencyLimitExceeded, 429},
		{"client went away", gone, context.Canceled, ReasonClientConnectionFailure, 499},
		{"deadline", context.Background(), context.DeadlineExceeded, ReasonTimeout, 504},
		{"other", context.Background(), errors.New("EOF"), ReasonBackendConnectionFailure, 502},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := Classify(tc.ctx, tc.err)
			if f.Reason != tc.wantReason || f.StatusCode != tc.wantStatus {
				t.Fatalf("Classify = %+v, want %q/%d", f, tc.wantReason, tc.wantStatus)
			}
		})
	}
}

func TestWithForwardTimeoutDefault(t *testing.T) {
	ctx, cancel := WithForwardTimeout(context.Background(), 0)
	defer cancel()
	dl, ok := ctx.Deadline()
	if !ok || time.Until(dl) < DefaultForwardTimeout-time.Minute {
		t.Fatalf("deadline %v, want about %v from now", dl, DefaultForwardTimeout)
	}
	short, cancel2 := WithForwardTimeout(context.Background(), time.Millisecond)
	defer cancel2()
	<-short.Done()
	if !ErrForwardTimeout(context.Cause(short)) {
		t.Fatalf("cause = %v, want the forward-request timeout", context.Cause(short))
	}
	if f := Classify(short, short.Err()); f.Reason != ReasonTimeout {
		t.Fatalf("Classify with the attempt context = %+v, want Timeout", f)
	}
}
