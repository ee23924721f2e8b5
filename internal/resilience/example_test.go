package resilience_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"time"

	"github.com/apimgw/apimgw/internal/resilience"
)

// Example shows the wiring of <retry count="3" interval="0"> around
// <forward-request timeout="5"/> to a pool whose first member always
// answers 503: every attempt goes through Acquire (pool choice, breaker,
// bulkhead), Forward (APIM's timeout) and End (the breaker learns), and the
// retry policy consults the retry budget of the backend that just failed.
func Example() {
	var calls atomic.Int64
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer failing.Close()
	healthy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
	}))
	defer healthy.Close()

	reg, err := resilience.NewRegistry([]resilience.BackendOptions{
		{ID: "orders-a", URL: failing.URL, Rules: []resilience.Rule{{
			Name: "two-failures", Count: 2, Interval: time.Minute, TripDuration: 30 * time.Second,
			StatusCodeRanges: []resilience.StatusRange{{Min: 500, Max: 599}},
		}}},
		{ID: "orders-b", URL: healthy.URL},
		{ID: "orders-pool", Pool: []resilience.Member{{ID: "orders-a", Priority: 1}, {ID: "orders-b", Priority: 2}}},
	}, http.DefaultTransport, nil, nil, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer reg.Close()
	reg.Start()
	urls := map[string]string{"orders-a": failing.URL, "orders-b": healthy.URL}

	clientCtx := context.Background()
	var lastBackend string
	var status int
	retry := resilience.RetryOptions{Count: 3}
	err = retry.Run(clientCtx, nil, nil,
		func() bool { return reg.Budget(lastBackend) == nil || reg.Budget(lastBackend).Retry() },
		func(ctx context.Context, n int) (bool, error) {
			lease, err := reg.Acquire("orders-pool", nil)
			if err != nil {
				return false, err // 503 without touching a backend
			}
			lastBackend = lease.BackendID
			if n == 0 {
				reg.Budget(lease.BackendID).Request()
			}
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, urls[lease.BackendID], nil)
			resp, err := resilience.Forward(http.DefaultTransport, req, 5*time.Second, nil)
			lease.End(resilience.OutcomeOf(clientCtx, resp, err, time.Now()))
			if err != nil {
				f := resilience.Classify(clientCtx, err)
				fmt.Printf("attempt %d: %s %s\n", n, lease.BackendID, f.Reason)
				return true, err
			}
			resp.Body.Close()
			status = resp.StatusCode
			fmt.Printf("attempt %d: %s %d\n", n, lease.BackendID, status)
			return status >= 500, nil
		})
	fmt.Println("final:", status, err, "- orders-a calls:", calls.Load(), "- breaker:", reg.Breaker("orders-a").State())
	// Output:
	// attempt 0: orders-a 503
	// attempt 1: orders-a 503
	// attempt 2: orders-b 200
	// final: 200 <nil> - orders-a calls: 2 - breaker: open
}
