package resilience

import (
	"context"
	"errors"
	"fmt"
	"io"
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
			req, err := http.NewRequestWithContext(clientCtx, http.MethodGet, tc.url, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := Forward(tc.transport, req, tc.timeout, nil)
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

func TestForwardTimeoutBoundsHeadersOnly(t *testing.T) {
	// Headers at once, then a body that trickles for longer than the
	// timeout: APIM's timeout waits for headers only, so it must not be cut.
	trickle := newFaultServer(t, func(_ int64, w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		for range 3 {
			time.Sleep(40 * time.Millisecond)
			_, _ = w.Write([]byte("x"))
			w.(http.Flusher).Flush()
		}
	})
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, trickle.URL, nil)
	resp, err := Forward(tr, req, 60*time.Millisecond, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || string(body) != "xxx" {
		t.Fatalf("body %q, %v; want the whole slow body", body, err)
	}
}

func TestForwardWithFakeClock(t *testing.T) {
	clk := NewFakeClock(t0)
	block := make(chan struct{})
	rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		select {
		case <-r.Context().Done():
			return nil, r.Context().Err()
		case <-block:
			return &http.Response{StatusCode: 200, Body: http.NoBody}, nil
		}
	})
	tests := []struct {
		name    string
		timeout time.Duration
		advance time.Duration
		want    string
	}{
		{"default is 300s: 299s is fine", 0, 299 * time.Second, ""},
		{"default is 300s: 300s times out", 0, 300 * time.Second, "within 5m0s"},
		{"explicit", 5 * time.Second, 5 * time.Second, "within 5s"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://127.0.0.1:1/", nil)
			done := make(chan error, 1)
			pending := clk.Pending()
			go func() {
				resp, err := Forward(rt, req, tc.timeout, clk)
				if err == nil {
					resp.Body.Close()
				}
				done <- err
			}()
			for clk.Pending() == pending {
				time.Sleep(time.Millisecond)
			}
			clk.Advance(tc.advance)
			if tc.want == "" {
				block <- struct{}{}
			}
			err := <-done
			var te *TimeoutError
			if tc.want == "" && err != nil || tc.want != "" && (!errors.As(err, &te) || !errContains(err, tc.want)) {
				t.Fatalf("Forward = %v, want timeout %q", err, tc.want)
			}
		})
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

type reasonedErr struct{ reason, msg string }

func (e reasonedErr) Error() string                { return e.reason + ": " + e.msg }
func (e reasonedErr) APIMReason() (string, string) { return e.reason, e.msg }

func TestClassifyKeepsTransportWording(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		wantReason string
		wantMsg    string
		wantStatus int
	}{
		{"reasoned connection failure", fmt.Errorf("forward: %w", reasonedErr{ReasonBackendConnectionFailure, "Unable to connect to the remote server"}),
			ReasonBackendConnectionFailure, "Unable to connect to the remote server", 502},
		{"reasoned timeout", reasonedErr{ReasonTimeout, "Request to the backend service timed out"}, ReasonTimeout, "Request to the backend service timed out", 504},
		{"dial timeout is a connection failure", &net.OpError{Op: "dial", Net: "tcp", Err: timeoutNetErr{}},
			ReasonBackendConnectionFailure, "Unable to connect to the remote server", 502},
		{"read timeout is a timeout", &net.OpError{Op: "read", Net: "tcp", Err: timeoutNetErr{}}, ReasonTimeout, "Request to the backend service timed out", 504},
		{"forward timeout", &TimeoutError{After: time.Second}, ReasonTimeout, "Request to the backend service timed out", 504},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := Classify(context.Background(), tc.err)
			if f.Reason != tc.wantReason || f.Message != tc.wantMsg || f.StatusCode != tc.wantStatus {
				t.Fatalf("Classify = %+v, want %s / %q / %d", f, tc.wantReason, tc.wantMsg, tc.wantStatus)
			}
		})
	}
}

type timeoutNetErr struct{}

func (timeoutNetErr) Error() string   { return "i/o timeout" }
func (timeoutNetErr) Timeout() bool   { return true }
func (timeoutNetErr) Temporary() bool { return true }
