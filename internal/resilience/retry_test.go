package resilience

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
	"time"
)

func TestRetryOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		o    RetryOptions
		want string
	}{
		{"fixed", RetryOptions{Count: 3, Interval: time.Second}, ""},
		{"zero interval fast retry", RetryOptions{Count: 2, FirstFastRetry: true}, ""},
		{"count zero", RetryOptions{Count: 0}, "retry count"},
		{"count too big", RetryOptions{Count: 51}, "retry count"},
		{"negative interval", RetryOptions{Count: 1, Interval: -1}, "retry interval"},
		{"negative delta", RetryOptions{Count: 1, Delta: -1}, "retry delta"},
		{"negative max", RetryOptions{Count: 1, MaxInterval: -1}, "retry max-interval"},
		{"max below interval", RetryOptions{Count: 1, Interval: 10 * time.Second, MaxInterval: time.Second}, "less than interval"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.o.Validate(); !errContains(err, tc.want) {
				t.Fatalf("Validate() = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestRetryWaitSchedules(t *testing.T) {
	s := time.Second
	tests := []struct {
		name string
		o    RetryOptions
		want []time.Duration // waits before retries 1..n
	}{
		{"fixed", RetryOptions{Count: 3, Interval: 2 * s}, []time.Duration{2 * s, 2 * s, 2 * s}},
		{"fixed first fast", RetryOptions{Count: 3, Interval: 2 * s, FirstFastRetry: true}, []time.Duration{0, 2 * s, 2 * s}},
		{"linear", RetryOptions{Count: 4, Interval: s, Delta: 2 * s}, []time.Duration{s, 3 * s, 5 * s, 7 * s}},
		// APIM's documented example: interval=delta=10, max-interval=100 gives
		// about 10, 20, 40, 80, 100, 100.
		{"exponential APIM example", RetryOptions{Count: 6, Interval: 10 * s, Delta: 10 * s, MaxInterval: 100 * s},
			[]time.Duration{10 * s, 20 * s, 40 * s, 80 * s, 100 * s, 100 * s}},
		{"exponential first fast", RetryOptions{Count: 3, Interval: s, Delta: s, MaxInterval: 10 * s, FirstFastRetry: true},
			[]time.Duration{0, 2 * s, 4 * s}},
		{"zero interval", RetryOptions{Count: 2}, []time.Duration{0, 0}},
		{"fixed capped", RetryOptions{Count: 1, Interval: 5 * s, MaxInterval: 5 * s}, []time.Duration{5 * s}},
		{"huge interval does not overflow", RetryOptions{Count: 1, Interval: math.MaxInt64}, []time.Duration{math.MaxInt64}},
		{"huge exponential does not overflow", RetryOptions{Count: 50, Interval: s, Delta: math.MaxInt64, MaxInterval: math.MaxInt64},
			[]time.Duration{s, math.MaxInt64, math.MaxInt64}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// The midpoint of random(0.8δ, 1.2δ) is δ: a source that always
			// yields 0.5 makes the exponential schedule exact.
			rnd := rand.New(constSource(1 << 52))
			for i, want := range tc.want {
				if got := tc.o.Wait(i+1, rnd); got != want {
					t.Fatalf("Wait(%d) = %v, want %v", i+1, got, want)
				}
			}
		})
	}
}

// constSource is a rand.Source always returning the same value.
type constSource uint64

func (c constSource) Uint64() uint64 { return uint64(c) }

func TestRetryWaitExponentialBounds(t *testing.T) {
	o := RetryOptions{Count: 50, Interval: time.Second, Delta: 2 * time.Second, MaxInterval: time.Hour}
	rnd := rand.New(rand.NewPCG(1, 2))
	for n := 1; n <= 10; n++ {
		f := float64(int(1)<<(n-1) - 1)
		lo := time.Second + time.Duration(f*0.8*float64(2*time.Second))
		hi := time.Second + time.Duration(f*1.2*float64(2*time.Second))
		for range 20 {
			if got := o.Wait(n, rnd); got < lo || got > hi {
				t.Fatalf("Wait(%d) = %v, want within [%v, %v]", n, got, lo, hi)
			}
		}
	}
	if got := o.Wait(50, rnd); got != time.Hour {
		t.Fatalf("Wait(50) = %v, want capped at 1h", got)
	}
}

func TestRetryWaitJitter(t *testing.T) {
	o := RetryOptions{Count: 3, Interval: time.Second, Jitter: true}
	rnd := rand.New(rand.NewPCG(3, 4))
	seen := map[time.Duration]bool{}
	for range 100 {
		w := o.Wait(1, rnd)
		if w < 0 || w > time.Second {
			t.Fatalf("jittered wait %v outside [0, 1s]", w)
		}
		seen[w] = true
	}
	if len(seen) < 50 {
		t.Fatalf("jitter produced only %d distinct waits out of 100", len(seen))
	}
}

// TestRetryRunAlways503 is the acceptance case: retry count=3 on a
// backend that always answers 503 makes exactly 4 backend calls, spaced by
// the schedule (measured exactly with a fake clock).
func TestRetryRunAlways503(t *testing.T) {
	clk := NewFakeClock(t0)
	var mu sync.Mutex
	var callTimes []time.Time
	srv := newFaultServer(t, func(_ int64, w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		callTimes = append(callTimes, clk.Now())
		mu.Unlock()
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	client := newTestClient(t)
	opts := RetryOptions{Count: 3, Interval: time.Second, Delta: 500 * time.Millisecond} // linear: 1s, 1.5s, 2s
	result := make(chan error, 1)
	var last int
	go func() {
		result <- opts.Run(context.Background(), clk, nil, nil, func(ctx context.Context, n int) (bool, error) {
			resp, err := client.Get(srv.URL)
			if err != nil {
				return false, err
			}
			resp.Body.Close()
			last = resp.StatusCode
			return resp.StatusCode == http.StatusServiceUnavailable, nil
		})
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		select {
		case err := <-result:
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(callTimes) != 4 || last != 503 {
				t.Fatalf("backend calls = %d (last %d), want 4 ending in 503", len(callTimes), last)
			}
			want := []time.Duration{time.Second, 1500 * time.Millisecond, 2 * time.Second}
			for i, w := range want {
				if gap := callTimes[i+1].Sub(callTimes[i]); gap != w {
					t.Fatalf("gap before retry %d = %v, want %v", i+1, gap, w)
				}
			}
			return
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("Run did not finish")
		}
		if clk.Pending() > 0 {
			clk.Advance(100 * time.Millisecond)
		} else {
			time.Sleep(time.Millisecond)
		}
	}
}

// TestRetryRunRealClockSpacing runs the same case on the real clock and
// checks the spacing with server-side timestamps (never shorter than the
// schedule; the upper bound is loose because CI machines are shared).
func TestRetryRunRealClockSpacing(t *testing.T) {
	var mu sync.Mutex
	var callTimes []time.Time
	srv := newFaultServer(t, func(_ int64, w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		callTimes = append(callTimes, time.Now())
		mu.Unlock()
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	client := newTestClient(t)
	opts := RetryOptions{Count: 3, Interval: 40 * time.Millisecond, Delta: 20 * time.Millisecond}
	err := opts.Run(t.Context(), SystemClock{}, nil, nil, func(ctx context.Context, n int) (bool, error) {
		resp, err := client.Get(srv.URL)
		if err != nil {
			return false, err
		}
		resp.Body.Close()
		return resp.StatusCode >= 500, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(callTimes) != 4 {
		t.Fatalf("backend calls = %d, want 4", len(callTimes))
	}
	for i, w := range []time.Duration{40 * time.Millisecond, 60 * time.Millisecond, 80 * time.Millisecond} {
		gap := callTimes[i+1].Sub(callTimes[i])
		if gap < w || gap > w+time.Second {
			t.Fatalf("gap before retry %d = %v, want about %v", i+1, gap, w)
		}
	}
}

func TestRetryRunStops(t *testing.T) {
	errBoom := errors.New("boom")
	tests := []struct {
		name      string
		outcomes  []bool // condition after each attempt
		budget    int    // retries the budget allows (-1 = no budget)
		wantCalls int
	}{
		{"success first", []bool{false}, -1, 1},
		{"500 then 200", []bool{true, false}, -1, 2},
		{"count exhausted", []bool{true, true, true, true, true}, -1, 4},
		{"budget refuses", []bool{true, true, true, true}, 1, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			var allow func() bool
			if tc.budget >= 0 {
				left := tc.budget
				allow = func() bool { left--; return left >= 0 }
			}
			err := RetryOptions{Count: 3}.Run(t.Context(), NewFakeClock(t0), nil, allow, func(ctx context.Context, n int) (bool, error) {
				if n != calls {
					t.Fatalf("attempt number %d, want %d", n, calls)
				}
				calls++
				return tc.outcomes[n], errBoom
			})
			if calls != tc.wantCalls || !errors.Is(err, errBoom) {
				t.Fatalf("calls = %d err = %v, want %d calls and the last error", calls, err, tc.wantCalls)
			}
		})
	}
}

func TestRetryRunClientGoneDuringWait(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	clk := NewFakeClock(t0)
	calls := 0
	done := make(chan error, 1)
	go func() {
		done <- RetryOptions{Count: 3, Interval: time.Minute}.Run(ctx, clk, nil, nil, func(context.Context, int) (bool, error) {
			calls++
			return true, nil
		})
	}()
	for clk.Pending() == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	err := <-done
	if !errors.Is(err, context.Canceled) || calls != 1 {
		t.Fatalf("err = %v calls = %d, want context.Canceled after 1 call", err, calls)
	}
}

func TestRetryBudget(t *testing.T) {
	clk := NewFakeClock(t0)
	m, reg := mustMetrics(t)
	b := NewRetryBudget("orders", BudgetOptions{Ratio: 0.2, MinPerSecond: 0.1, Window: 10 * time.Second}, clk, m)
	// 100 first attempts: 20% + 0.1/s*10s = 21 retries allowed.
	for range 100 {
		b.Request()
	}
	allowed := 0
	for range 50 {
		if b.Retry() {
			allowed++
		}
	}
	if allowed != 21 {
		t.Fatalf("allowed %d retries, want 21", allowed)
	}
	if got := metricValue(t, reg, "apimgw_retry_budget_exhausted_total", "backend", "orders"); got != 29 {
		t.Fatalf("exhausted metric = %v, want 29", got)
	}
	clk.Advance(11 * time.Second) // the window slides past everything
	if !b.Retry() {
		t.Fatal("retry refused after the window slid: the floor should allow one")
	}
}

func TestRetryBudgetDefaultsAndDisabled(t *testing.T) {
	clk := NewFakeClock(t0)
	b := NewRetryBudget("x", BudgetOptions{}, clk, nil)
	allowed := 0
	for range 100 {
		if b.Retry() {
			allowed++
		}
	}
	if want := int(DefaultBudgetMinPerSecond * DefaultBudgetWindow.Seconds()); allowed != want {
		t.Fatalf("idle backend: %d retries allowed, want the floor %d", allowed, want)
	}
	off := NewRetryBudget("y", BudgetOptions{Ratio: -1}, clk, nil)
	for range 1000 {
		if !off.Retry() {
			t.Fatal("disabled budget refused a retry")
		}
	}
}

// TestRetryRunWithFaultyBackends: real loopback backends, retry while the
// status is 5xx or the call failed.
func TestRetryRunWithFaultyBackends(t *testing.T) {
	tests := []struct {
		name       string
		handler    func(n int64, w http.ResponseWriter, r *http.Request)
		wantCalls  int64
		wantStatus int
		wantReason string
	}{
		{"500 then 200", func(n int64, w http.ResponseWriter, _ *http.Request) {
			if n == 1 {
				w.WriteHeader(500)
			}
		}, 2, 200, ""},
		{"always 503", func(_ int64, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(503) }, 4, 503, ""},
		{"reset then 200", func(n int64, w http.ResponseWriter, r *http.Request) {
			if n == 1 {
				(&switchable{mode: "reset"}).serve(n, w, r)
			}
		}, 2, 200, ""},
		{"always hangs past the timeout", func(_ int64, _ http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}, 4, 0, ReasonTimeout},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFaultServer(t, tc.handler)
			tr := &http.Transport{}
			defer tr.CloseIdleConnections()
			var status int
			var reason string
			err := RetryOptions{Count: 3, Interval: time.Millisecond}.Run(t.Context(), nil, nil, nil,
				func(ctx context.Context, n int) (bool, error) {
					req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
					resp, err := Forward(tr, req, 50*time.Millisecond, nil)
					status, reason = 0, ""
					if err != nil {
						reason = Classify(ctx, err).Reason
						return true, err
					}
					resp.Body.Close()
					status = resp.StatusCode
					return status >= 500, nil
				})
			if got := srv.hits.Load(); got != tc.wantCalls || status != tc.wantStatus || reason != tc.wantReason {
				t.Fatalf("calls %d status %d reason %q (err %v); want %d, %d, %q",
					got, status, reason, err, tc.wantCalls, tc.wantStatus, tc.wantReason)
			}
		})
	}
}

func FuzzRetryWait(f *testing.F) {
	f.Add(3, int64(time.Second), int64(0), int64(0), false, false, uint64(1))
	f.Add(50, int64(10*time.Second), int64(100*time.Second), int64(10*time.Second), true, true, uint64(7))
	f.Add(1, int64(math.MaxInt64), int64(0), int64(0), false, false, uint64(1)) // once overflowed to a negative wait
	f.Fuzz(func(t *testing.T, n int, interval, maxInterval, delta int64, fast, jitter bool, seed uint64) {
		o := RetryOptions{Count: MaxRetryCount, Interval: time.Duration(interval), MaxInterval: time.Duration(maxInterval),
			Delta: time.Duration(delta), FirstFastRetry: fast, Jitter: jitter}
		if o.Validate() != nil {
			return
		}
		w := o.Wait(n, rand.New(rand.NewPCG(seed, seed)))
		if w < 0 {
			t.Fatalf("Wait(%d) = %v for %+v: negative", n, w, o)
		}
		if o.MaxInterval > 0 && w > o.MaxInterval {
			t.Fatalf("Wait(%d) = %v exceeds max-interval for %+v", n, w, o)
		}
	})
}
