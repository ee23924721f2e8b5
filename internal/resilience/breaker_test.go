package resilience

import (
	"errors"
	"math"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"
)

func fiveXX() []StatusRange { return []StatusRange{{Min: 500, Max: 599}} }

func TestRuleValidate(t *testing.T) {
	ok := Rule{Name: "r", Count: 3, Interval: time.Minute, TripDuration: time.Second}
	tests := []struct {
		name string
		mod  func(*Rule)
		want string
	}{
		{"valid", func(*Rule) {}, ""},
		{"neither", func(r *Rule) { r.Count = 0 }, "one of count or percentage"},
		{"both", func(r *Rule) { r.Percentage = 50 }, "mutually exclusive"},
		{"count too big", func(r *Rule) { r.Count = maxRuleCount + 1 }, "count"},
		{"percentage range", func(r *Rule) { r.Count = 0; r.Percentage = 101 }, "percentage"},
		{"no interval", func(r *Rule) { r.Interval = 0 }, "interval"},
		{"no trip", func(r *Rule) { r.TripDuration = 0 }, "tripDuration"},
		{"bad range", func(r *Rule) { r.StatusCodeRanges = []StatusRange{{Min: 600, Max: 500}} }, "statusCodeRanges[0]"},
		{"empty reason", func(r *Rule) { r.ErrorReasons = []string{" "} }, "errorReasons[0]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := ok
			tc.mod(&r)
			if err := r.Validate(); !errContains(err, tc.want) {
				t.Fatalf("Validate() = %v, want error containing %q", err, tc.want)
			}
		})
	}
}

func TestRuleIsFailure(t *testing.T) {
	tests := []struct {
		name string
		rule Rule
		o    Outcome
		want bool
	}{
		{"status in range", Rule{StatusCodeRanges: fiveXX()}, Outcome{StatusCode: 503}, true},
		{"status outside", Rule{StatusCodeRanges: fiveXX()}, Outcome{StatusCode: 404}, false},
		{"reason listed", Rule{ErrorReasons: []string{"Timeout"}}, Outcome{ErrorReason: "timeout"}, true},
		{"reason not listed", Rule{ErrorReasons: []string{"Timeout"}}, Outcome{ErrorReason: ReasonBackendConnectionFailure}, false},
		{"status not counted by reasons-only rule", Rule{ErrorReasons: []string{"Timeout"}}, Outcome{StatusCode: 500}, false},
		{"default 5xx", Rule{}, Outcome{StatusCode: 502}, true},
		{"default connection failure", Rule{}, Outcome{ErrorReason: ReasonBackendConnectionFailure}, true},
		{"default 429 is fine", Rule{}, Outcome{StatusCode: 429}, false},
		{"429 when listed", Rule{StatusCodeRanges: []StatusRange{{Min: 429, Max: 429}}}, Outcome{StatusCode: 429}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.rule.IsFailure(tc.o); got != tc.want {
				t.Fatalf("IsFailure(%+v) = %v, want %v", tc.o, got, tc.want)
			}
		})
	}
}

// report runs one request through b with outcome o; it returns the Allow
// error.
func report(b *Breaker, o Outcome) error {
	done, err := b.Allow()
	if err != nil {
		return err
	}
	done(o)
	return nil
}

func TestBreakerCountRule(t *testing.T) {
	fail := Outcome{StatusCode: 500}
	okay := Outcome{StatusCode: 200}
	tests := []struct {
		name      string
		steps     []Outcome       // outcomes in order
		gaps      []time.Duration // clock advance before step i (optional)
		wantState State
	}{
		{"below count stays closed", []Outcome{fail, fail}, nil, StateClosed},
		{"count reached trips", []Outcome{fail, fail, fail}, nil, StateOpen},
		{"successes do not reset the window", []Outcome{fail, okay, fail, okay, fail}, nil, StateOpen},
		{"non-matching status does not count", []Outcome{fail, {StatusCode: 404}, fail}, nil, StateClosed},
		{"listed reason counts", []Outcome{fail, {ErrorReason: ReasonTimeout}, fail}, nil, StateOpen},
		{"failures outside the interval expire", []Outcome{fail, fail, fail},
			[]time.Duration{0, 30 * time.Second, 31 * time.Second}, StateClosed},
		{"failures inside the interval add up", []Outcome{fail, fail, fail},
			[]time.Duration{0, 30 * time.Second, 29 * time.Second}, StateOpen},
		{"ring keeps the latest failures", []Outcome{fail, fail, fail, fail},
			[]time.Duration{0, 30 * time.Second, 31 * time.Second, time.Second}, StateOpen},
		{"ring drops expired failures", []Outcome{fail, fail, fail, fail, fail},
			[]time.Duration{0, 30 * time.Second, 31 * time.Second, 30 * time.Second, 31 * time.Second}, StateClosed},
		{"no verdict is not counted", []Outcome{fail, {}, fail}, nil, StateClosed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := NewFakeClock(t0)
			b, err := NewBreaker("orders", []Rule{{Name: "three", Count: 3, Interval: time.Minute,
				StatusCodeRanges: fiveXX(), ErrorReasons: []string{ReasonTimeout}, TripDuration: 30 * time.Second}}, clk, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			for i, o := range tc.steps {
				if i < len(tc.gaps) {
					clk.Advance(tc.gaps[i])
				}
				if err := report(b, o); err != nil {
					t.Fatalf("step %d: Allow: %v", i, err)
				}
			}
			if got := b.State(); got != tc.wantState {
				t.Fatalf("State() = %v, want %v", got, tc.wantState)
			}
		})
	}
}

func TestBreakerPercentageRule(t *testing.T) {
	tests := []struct {
		name      string
		fails     int
		oks       int
		wantState State
	}{
		{"too few requests", 5, 0, StateClosed},
		{"below percentage", 4, 6, StateClosed},
		{"at percentage", 5, 5, StateOpen},
		{"above percentage", 8, 4, StateOpen},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := NewFakeClock(t0)
			b, err := NewBreaker("orders", []Rule{{Name: "half", Percentage: 50, Interval: 10 * time.Second,
				StatusCodeRanges: fiveXX(), TripDuration: time.Second}}, clk, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			// Successes first so the rule can only trip on a failure.
			for range tc.oks {
				clk.Advance(100 * time.Millisecond)
				if err := report(b, Outcome{StatusCode: 200}); err != nil {
					t.Fatal(err)
				}
			}
			for range tc.fails {
				clk.Advance(100 * time.Millisecond)
				var open *OpenError
				if err := report(b, Outcome{StatusCode: 503}); errors.As(err, &open) {
					break // tripped before the last failure: still a pass for "open"
				} else if err != nil {
					t.Fatal(err)
				}
			}
			if got := b.State(); got != tc.wantState {
				t.Fatalf("State() = %v, want %v", got, tc.wantState)
			}
		})
	}
}

func TestBreakerPercentageWindowSlides(t *testing.T) {
	clk := NewFakeClock(t0)
	b, err := NewBreaker("orders", []Rule{{Percentage: 50, MinRequests: 4, Interval: 10 * time.Second, TripDuration: time.Second}}, clk, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for range 3 {
		_ = report(b, Outcome{StatusCode: 500})
	}
	clk.Advance(11 * time.Second) // those three leave the window
	for range 3 {
		_ = report(b, Outcome{StatusCode: 200})
	}
	_ = report(b, Outcome{StatusCode: 500}) // 1 of 4 = 25%
	if got := b.State(); got != StateClosed {
		t.Fatalf("State() = %v, want closed: old failures should have left the window", got)
	}
}

func TestBreakerOpenHalfOpenClose(t *testing.T) {
	clk := NewFakeClock(t0)
	m, reg := mustMetrics(t)
	b, err := NewBreaker("orders", []Rule{{Name: "two", Count: 2, Interval: time.Minute,
		StatusCodeRanges: fiveXX(), TripDuration: 30 * time.Second}}, clk, m, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	_ = report(b, Outcome{StatusCode: 500})
	_ = report(b, Outcome{StatusCode: 500})
	if b.State() != StateOpen || b.Available() {
		t.Fatalf("after 2 failures: state %v available %v, want open and unavailable", b.State(), b.Available())
	}
	clk.Advance(10 * time.Second)
	_, err = b.Allow()
	var open *OpenError
	if !errors.As(err, &open) {
		t.Fatalf("Allow while open = %v, want *OpenError", err)
	}
	if open.BackendID != "orders" || open.Rule != "two" || open.RetryAfter != 20*time.Second {
		t.Fatalf("OpenError = %+v, want backend orders, rule two, retry after 20s", open)
	}
	if open.StatusCode() != http.StatusServiceUnavailable || open.StatusReason() != "Backend orders is temporarily unavailable" {
		t.Fatalf("OpenError answer = %d %q", open.StatusCode(), open.StatusReason())
	}
	if got := metricValue(t, reg, "apimgw_circuit_breaker_state", "backend", "orders"); got != 1 {
		t.Fatalf("state metric = %v, want 1", got)
	}
	if got := metricValue(t, reg, "apimgw_circuit_breaker_trips_total", "backend", "orders", "rule", "two"); got != 1 {
		t.Fatalf("trips metric = %v, want 1", got)
	}
	if got := metricValue(t, reg, "apimgw_circuit_breaker_rejected_total", "backend", "orders"); got != 1 {
		t.Fatalf("rejected metric = %v, want 1", got)
	}

	clk.Advance(20 * time.Second) // trip duration over: the timer moves it to half-open
	if got := metricValue(t, reg, "apimgw_circuit_breaker_state", "backend", "orders"); got != 2 {
		t.Fatalf("state metric after trip duration = %v, want 2 (half-open)", got)
	}
	trial, err := b.Allow()
	if err != nil {
		t.Fatalf("half-open trial refused: %v", err)
	}
	if _, err := b.Allow(); !errors.As(err, &open) {
		t.Fatalf("second request while the trial is in flight = %v, want *OpenError", err)
	}
	if b.Available() {
		t.Fatal("Available() = true while the trial is in flight")
	}
	trial(Outcome{StatusCode: 200})
	trial(Outcome{StatusCode: 500}) // a second done call is ignored
	if got := b.State(); got != StateClosed {
		t.Fatalf("after successful trial: %v, want closed", got)
	}
	if got := metricValue(t, reg, "apimgw_circuit_breaker_state", "backend", "orders"); got != 0 {
		t.Fatalf("state metric = %v, want 0", got)
	}
	// Closed again with a fresh window: one failure does not trip.
	_ = report(b, Outcome{StatusCode: 500})
	if got := b.State(); got != StateClosed {
		t.Fatalf("after one failure in a fresh window: %v, want closed", got)
	}
}

func TestBreakerTrialFailureReopens(t *testing.T) {
	clk := NewFakeClock(t0)
	b, err := NewBreaker("orders", []Rule{{Count: 1, Interval: time.Minute, TripDuration: 5 * time.Second}}, clk, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	_ = report(b, Outcome{ErrorReason: ReasonBackendConnectionFailure})
	clk.Advance(5 * time.Second)
	// A trial without verdict frees the slot and keeps it half-open.
	trial, err := b.Allow()
	if err != nil {
		t.Fatal(err)
	}
	trial(Outcome{})
	if got := b.State(); got != StateHalfOpen {
		t.Fatalf("after trial without verdict: %v, want half-open", got)
	}
	if err := report(b, Outcome{StatusCode: 502}); err != nil {
		t.Fatal(err)
	}
	if got := b.State(); got != StateOpen {
		t.Fatalf("after failed trial: %v, want open", got)
	}
	clk.Advance(4 * time.Second)
	if got := b.State(); got != StateOpen {
		t.Fatalf("4s into the second trip: %v, want open", got)
	}
	clk.Advance(time.Second)
	if got := b.State(); got != StateHalfOpen {
		t.Fatalf("after second trip: %v, want half-open", got)
	}
}

func TestBreakerAcceptRetryAfter(t *testing.T) {
	tests := []struct {
		name       string
		accept     bool
		retryAfter time.Duration
		wantOpen   time.Duration
	}{
		{"accepted", true, 2 * time.Minute, 2 * time.Minute},
		{"accepted but absent", true, 0, 30 * time.Second},
		{"not accepted", false, 2 * time.Minute, 30 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := NewFakeClock(t0)
			b, err := NewBreaker("aoai", []Rule{{Count: 1, Interval: time.Minute, StatusCodeRanges: []StatusRange{{429, 429}},
				TripDuration: 30 * time.Second, AcceptRetryAfter: tc.accept}}, clk, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			_ = report(b, Outcome{StatusCode: 429, RetryAfter: tc.retryAfter})
			clk.Advance(tc.wantOpen - time.Millisecond)
			if got := b.State(); got != StateOpen {
				t.Fatalf("just before %v: %v, want open", tc.wantOpen, got)
			}
			clk.Advance(time.Millisecond)
			if got := b.State(); got != StateHalfOpen {
				t.Fatalf("at %v: %v, want half-open", tc.wantOpen, got)
			}
		})
	}
}

func TestBreakerIgnoresOutcomesFromBeforeTrip(t *testing.T) {
	clk := NewFakeClock(t0)
	b, err := NewBreaker("orders", []Rule{{Count: 1, Interval: time.Minute, TripDuration: time.Second}}, clk, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	slow, _ := b.Allow() // in flight while the breaker trips
	_ = report(b, Outcome{StatusCode: 500})
	clk.Advance(time.Second)
	trial, err := b.Allow()
	if err != nil {
		t.Fatal(err)
	}
	slow(Outcome{StatusCode: 200}) // must not close the breaker
	if got := b.State(); got != StateHalfOpen {
		t.Fatalf("stale success changed state to %v", got)
	}
	trial(Outcome{StatusCode: 200})
	if got := b.State(); got != StateClosed {
		t.Fatalf("after trial: %v, want closed", got)
	}
}

func TestBreakerLostTrialExpires(t *testing.T) {
	clk := NewFakeClock(t0)
	b, err := NewBreaker("orders", []Rule{{Count: 1, Interval: time.Minute, TripDuration: time.Second}}, clk, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	_ = report(b, Outcome{StatusCode: 500})
	clk.Advance(time.Second)
	lost, err := b.Allow() // its caller never reports
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(trialLease - time.Second)
	if _, err := b.Allow(); err == nil {
		t.Fatal("second trial admitted before the lease ran out")
	}
	clk.Advance(time.Second)
	trial, err := b.Allow()
	if err != nil {
		t.Fatalf("after the lease: %v, want a new trial", err)
	}
	lost(Outcome{StatusCode: 500}) // late report of the forgotten trial is ignored
	if got := b.State(); got != StateHalfOpen {
		t.Fatalf("late report changed the state to %v", got)
	}
	trial(Outcome{StatusCode: 200})
	if got := b.State(); got != StateClosed {
		t.Fatalf("State() = %v, want closed", got)
	}
}

func TestBreakerConcurrentHalfOpenSingleTrial(t *testing.T) {
	clk := NewFakeClock(t0)
	b, err := NewBreaker("orders", []Rule{{Count: 1, Interval: time.Minute, TripDuration: time.Second}}, clk, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	_ = report(b, Outcome{StatusCode: 500})
	clk.Advance(time.Second)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var trials []func(Outcome)
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if done, err := b.Allow(); err == nil {
				mu.Lock()
				trials = append(trials, done)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(trials) != 1 {
		t.Fatalf("%d requests got through half-open, want exactly 1", len(trials))
	}
	trials[0](Outcome{StatusCode: 204})
	if got := b.State(); got != StateClosed {
		t.Fatalf("State() = %v, want closed", got)
	}
}

func TestNewBreakerRejectsBadRules(t *testing.T) {
	tests := []struct {
		name  string
		rules []Rule
		want  string
	}{
		{"invalid", []Rule{{Count: 1}}, "circuitBreaker.rules[0]: failureCondition.interval"},
		{"duplicate names", []Rule{
			{Name: "a", Count: 1, Interval: time.Second, TripDuration: time.Second},
			{Name: "a", Count: 2, Interval: time.Second, TripDuration: time.Second},
		}, "duplicate rule name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewBreaker("b", tc.rules, nil, nil, nil)
			if !errContains(err, tc.want) {
				t.Fatalf("NewBreaker error = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestBreakerWithoutRulesAlwaysAllows(t *testing.T) {
	b, err := NewBreaker("plain", nil, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 100 {
		if err := report(b, Outcome{StatusCode: 500}); err != nil {
			t.Fatal(err)
		}
	}
	if b.State() != StateClosed {
		t.Fatal("breaker without rules opened")
	}
}

// TestBreakerWithLoopbackBackend drives a real backend: after the configured
// failures the breaker stops traffic, after tripDuration one trial goes
// through, and a healthy backend closes it.
func TestBreakerWithLoopbackBackend(t *testing.T) {
	var healthy sync.Mutex
	status := http.StatusServiceUnavailable
	srv := newFaultServer(t, func(_ int64, w http.ResponseWriter, _ *http.Request) {
		healthy.Lock()
		code := status
		healthy.Unlock()
		w.WriteHeader(code)
	})
	client := newTestClient(t)
	clk := NewFakeClock(t0)
	b, err := NewBreaker("orders", []Rule{{Name: "five", Count: 5, Interval: time.Minute,
		StatusCodeRanges: fiveXX(), ErrorReasons: []string{ReasonBackendConnectionFailure, ReasonTimeout},
		TripDuration: 30 * time.Second}}, clk, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	send := func() (int, error) {
		done, err := b.Allow()
		if err != nil {
			return 0, err
		}
		resp, err := client.Get(srv.URL)
		if err != nil {
			done(Outcome{ErrorReason: Classify(t.Context(), err).Reason})
			return 0, err
		}
		resp.Body.Close()
		ra, _ := ParseRetryAfter(resp.Header.Get("Retry-After"), clk.Now())
		done(Outcome{StatusCode: resp.StatusCode, RetryAfter: ra})
		return resp.StatusCode, nil
	}
	for i := range 5 {
		if code, err := send(); err != nil || code != 503 {
			t.Fatalf("request %d: %d %v, want 503 from the backend", i, code, err)
		}
	}
	for i := range 10 {
		if _, err := send(); err == nil {
			t.Fatalf("request %d after trip reached the backend", i)
		}
	}
	if got := srv.hits.Load(); got != 5 {
		t.Fatalf("backend saw %d requests, want 5 (none while open)", got)
	}
	healthy.Lock()
	status = http.StatusOK
	healthy.Unlock()
	clk.Advance(30 * time.Second)
	if code, err := send(); err != nil || code != 200 {
		t.Fatalf("trial: %d %v, want 200", code, err)
	}
	if b.State() != StateClosed {
		t.Fatalf("after successful trial: %v", b.State())
	}
	for i := range 3 {
		if code, err := send(); err != nil || code != 200 {
			t.Fatalf("request %d after close: %d %v", i, code, err)
		}
	}
	if got := srv.hits.Load(); got != 9 {
		t.Fatalf("backend saw %d requests, want 9", got)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := t0
	tests := []struct {
		in     string
		want   time.Duration
		wantOK bool
	}{
		{"120", 2 * time.Minute, true},
		{" 5 ", 5 * time.Second, true},
		{"0", 0, false},
		{"-3", 0, false},
		{"", 0, false},
		{"soon", 0, false},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0, false},
		{strconv.FormatInt(1<<62, 10), time.Duration(math.MaxInt64/int64(time.Second)) * time.Second, true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, ok := ParseRetryAfter(tc.in, now)
			if got != tc.want || ok != tc.wantOK {
				t.Fatalf("ParseRetryAfter(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"120", "Wed, 21 Oct 2015 07:28:00 GMT", "", "-1", "99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := ParseRetryAfter(s, t0)
		if ok && d <= 0 {
			t.Fatalf("ParseRetryAfter(%q) = %v, true: a positive duration is promised", s, d)
		}
		if !ok && d != 0 {
			t.Fatalf("ParseRetryAfter(%q) = %v, false", s, d)
		}
	})
}
