package resilience

import (
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
)

func TestLimiterAcquire(t *testing.T) {
	tests := []struct {
		name       string
		scope      string
		max        int
		hold       int
		wantOK     bool
		wantStatus int
	}{
		{"under limit", ScopeLimitConcurrency, 3, 2, true, 0},
		{"at limit rejects with 429", ScopeLimitConcurrency, 3, 3, false, http.StatusTooManyRequests},
		{"backend bulkhead rejects with 503", ScopeBackend, 1, 1, false, http.StatusServiceUnavailable},
		{"zero max lets nothing through", ScopeLimitConcurrency, 0, 0, false, http.StatusTooManyRequests},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, reg := mustMetrics(t)
			l := NewLimiter(tc.scope, m)
			var releases []func()
			for range tc.hold {
				r, err := l.Acquire("k", tc.max)
				if err != nil {
					t.Fatal(err)
				}
				releases = append(releases, r)
			}
			r, err := l.Acquire("k", tc.max)
			if (err == nil) != tc.wantOK {
				t.Fatalf("Acquire = %v, want ok=%v", err, tc.wantOK)
			}
			if err != nil {
				var le *LimitError
				if !errors.As(err, &le) || le.StatusCode() != tc.wantStatus || le.Key != "k" {
					t.Fatalf("error %v, want *LimitError with status %d", err, tc.wantStatus)
				}
				if got := metricValue(t, reg, "apimgw_concurrency_limit_rejected_total", "scope", tc.scope); got != 1 {
					t.Fatalf("rejected metric = %v", got)
				}
			} else {
				releases = append(releases, r)
			}
			if other, err := l.Acquire("other", 1); err != nil {
				t.Fatalf("keys must be independent: %v", err)
			} else {
				other()
			}
			for _, rel := range releases {
				rel()
				rel() // idempotent
			}
			if n := l.InFlight("k"); n != 0 {
				t.Fatalf("InFlight after release = %d", n)
			}
			if len(l.inFlight) != 0 {
				t.Fatalf("idle keys kept in memory: %v", l.inFlight)
			}
		})
	}
}

// TestLimiterBoundsConcurrency runs real requests to a loopback backend
// through a limit of 3 and checks the backend never sees more than 3 at once.
func TestLimiterBoundsConcurrency(t *testing.T) {
	var cur, peak atomic.Int64
	release := make(chan struct{})
	srv := newFaultServer(t, func(_ int64, w http.ResponseWriter, _ *http.Request) {
		n := cur.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		<-release
		cur.Add(-1)
	})
	client := newTestClient(t)
	l := NewLimiter(ScopeLimitConcurrency, nil)
	var wg sync.WaitGroup
	var admitted, rejected atomic.Int64
	var inside sync.WaitGroup
	for range 10 {
		done, err := l.Acquire("ip", 3)
		if err != nil {
			rejected.Add(1)
			continue
		}
		admitted.Add(1)
		wg.Add(1)
		inside.Add(1)
		go func() {
			defer wg.Done()
			defer done()
			inside.Done()
			resp, err := client.Get(srv.URL)
			if err == nil {
				resp.Body.Close()
			}
		}()
	}
	inside.Wait()
	close(release)
	wg.Wait()
	if admitted.Load() != 3 || rejected.Load() != 7 || peak.Load() > 3 {
		t.Fatalf("admitted %d rejected %d peak %d, want 3, 7, <=3", admitted.Load(), rejected.Load(), peak.Load())
	}
}
