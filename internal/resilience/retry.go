package resilience

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"time"
)

// MaxRetryCount is APIM's upper bound for the retry policy's count.
const MaxRetryCount = 50

// RetryOptions are the timing attributes of an APIM retry policy, resolved
// to values (the condition and the child policies are the policy engine's).
// Which schedule applies follows APIM: Interval alone is fixed; Interval and
// Delta is linear; Interval, Delta and MaxInterval is exponential.
type RetryOptions struct {
	// Count is the number of retries after the first attempt (1-50).
	Count int
	// Interval is the base wait between attempts (may be zero).
	Interval time.Duration
	// MaxInterval caps every wait; with Delta it selects the exponential
	// schedule.
	MaxInterval time.Duration
	// Delta is the per-retry increment of the linear and exponential
	// schedules.
	Delta time.Duration
	// FirstFastRetry makes the first retry immediate.
	FirstFastRetry bool
	// Jitter (apimgw extension, off by default for APIM compatibility)
	// replaces each wait w by a uniformly random wait in [0, w] ("full
	// jitter"), so clients that failed together do not retry together.
	Jitter bool
}

// Validate reports the first attribute out of APIM's ranges, named as in the
// policy XML.
func (o RetryOptions) Validate() error {
	switch {
	case o.Count < 1 || o.Count > MaxRetryCount:
		return fmt.Errorf("retry count: %d is out of range 1..%d", o.Count, MaxRetryCount)
	case o.Interval < 0:
		return errors.New("retry interval: must not be negative")
	case o.MaxInterval < 0:
		return errors.New("retry max-interval: must not be negative")
	case o.Delta < 0:
		return errors.New("retry delta: must not be negative")
	case o.MaxInterval > 0 && o.MaxInterval < o.Interval:
		return fmt.Errorf("retry max-interval: %s is less than interval %s", o.MaxInterval, o.Interval)
	}
	return nil
}

// Wait returns how long to wait before retry n (1-based: n=1 is the wait
// between the first attempt and the first retry), using APIM's formulas:
//
//	fixed:       interval
//	linear:      interval + (n-1)*delta
//	exponential: interval + (2^(n-1) - 1) * random(0.8*delta, 1.2*delta), capped at max-interval
//
// FirstFastRetry makes n=1 zero; later retries keep their formula. rnd
// supplies the exponential randomness and the jitter; nil uses the
// math/rand/v2 global source.
func (o RetryOptions) Wait(n int, rnd *rand.Rand) time.Duration {
	if n < 1 || (n == 1 && o.FirstFastRetry) {
		return 0
	}
	var w float64
	switch {
	case o.Delta > 0 && o.MaxInterval > 0:
		factor := math.Exp2(float64(min(n-1, 62))) - 1
		d := float64(o.Delta) * (0.8 + 0.4*float64Of(rnd))
		w = float64(o.Interval) + factor*d
	case o.Delta > 0:
		w = float64(o.Interval) + float64(n-1)*float64(o.Delta)
	default:
		w = float64(o.Interval)
	}
	if o.MaxInterval > 0 && w > float64(o.MaxInterval) {
		w = float64(o.MaxInterval)
	}
	// float64(math.MaxInt64) rounds up to 2^63, which does not convert back.
	d := time.Duration(math.MaxInt64)
	if w < float64(math.MaxInt64) {
		d = time.Duration(w)
	}
	if o.Jitter {
		d = time.Duration(float64(d) * float64Of(rnd))
	}
	return d
}

func float64Of(rnd *rand.Rand) float64 {
	if rnd == nil {
		return rand.Float64()
	}
	return rnd.Float64()
}

// Retry budget defaults.
const (
	// DefaultBudgetRatio: retries may add at most 20% to a backend's load.
	DefaultBudgetRatio = 0.2
	// DefaultBudgetMinPerSecond: retries always allowed regardless of
	// ratio, so a backend with little traffic can still be retried.
	DefaultBudgetMinPerSecond = 3
	// DefaultBudgetWindow is the sliding window the ratio is computed over.
	DefaultBudgetWindow = 10 * time.Second
)

// BudgetOptions configure a RetryBudget. Zero fields take the defaults.
type BudgetOptions struct {
	// Ratio is the allowed retries as a share of first attempts (0.2 = 20%).
	// A negative value disables the budget (every retry is allowed).
	Ratio float64
	// MinPerSecond is a floor of retries per second always allowed.
	MinPerSecond float64
	// Window is the sliding window requests and retries are counted over.
	Window time.Duration
}

// RetryBudget limits the retries sent to one backend to a share of its first
// attempts over a sliding window, so retries cannot multiply the load on a
// backend that is already struggling (APIM has no such limit). It is safe for
// concurrent use; one budget per backend is shared by every request.
type RetryBudget struct {
	backend string
	opts    BudgetOptions
	clock   Clock
	metrics *Metrics
	width   time.Duration

	mu      sync.Mutex
	buckets [budgetBuckets]budgetBucket
}

type budgetBucket struct {
	start             time.Time
	requests, retries int
}

const budgetBuckets = 10

// NewRetryBudget builds the budget of backend with opts (zero fields take
// the defaults). m may be nil.
func NewRetryBudget(backend string, opts BudgetOptions, clock Clock, m *Metrics) *RetryBudget {
	if opts.Ratio == 0 {
		opts.Ratio = DefaultBudgetRatio
	}
	if opts.MinPerSecond == 0 {
		opts.MinPerSecond = DefaultBudgetMinPerSecond
	}
	if opts.Window <= 0 {
		opts.Window = DefaultBudgetWindow
	}
	if clock == nil {
		clock = SystemClock{}
	}
	return &RetryBudget{backend: backend, opts: opts, clock: clock, metrics: m,
		width: max(opts.Window/budgetBuckets, time.Nanosecond)}
}

// Request records one first attempt to the backend.
func (b *RetryBudget) Request() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.bucketLocked().requests++
}

// Retry asks to send one retry. It returns true and counts the retry when
// the budget allows it, false (and counts the refusal in
// apimgw_retry_budget_exhausted_total) when it does not; the retry policy
// then stops and returns the last response.
func (b *RetryBudget) Retry() bool {
	if b.opts.Ratio < 0 {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	cur := b.bucketLocked()
	requests, retries := b.sumLocked()
	allowed := b.opts.Ratio*float64(requests) + b.opts.MinPerSecond*b.opts.Window.Seconds()
	if float64(retries)+1 > allowed {
		b.metrics.budgetSpent(b.backend)
		return false
	}
	cur.retries++
	return true
}

func (b *RetryBudget) bucketLocked() *budgetBucket {
	slot := b.clock.Now().UnixNano() / int64(b.width)
	start := time.Unix(0, slot*int64(b.width))
	bk := &b.buckets[slot%budgetBuckets]
	if !bk.start.Equal(start) {
		*bk = budgetBucket{start: start}
	}
	return bk
}

func (b *RetryBudget) sumLocked() (requests, retries int) {
	cutoff := b.clock.Now().Add(-b.opts.Window)
	for _, bk := range b.buckets {
		if bk.start.After(cutoff) {
			requests += bk.requests
			retries += bk.retries
		}
	}
	return requests, retries
}

// Attempt runs the retry policy's children once. n is 0 for the first
// attempt and k for retry k. It returns again=true when the retry condition
// holds (evaluated after this attempt, so context.Response is this one's),
// and the attempt's error, if any.
type Attempt func(ctx context.Context, n int) (again bool, err error)

// Run executes attempt once and then again while it asks for it, up to
// o.Count retries, waiting o.Wait(k) on clock before retry k. allowRetry, when
// not nil, is asked before each retry (pass RetryBudget.Retry of the backend
// being called); when it refuses, Run stops as if the condition were false.
// Run returns the last attempt's error, or ctx's error if the client went
// away during a wait. rnd is as for Wait.
func (o RetryOptions) Run(ctx context.Context, clock Clock, rnd *rand.Rand, allowRetry func() bool, attempt Attempt) error {
	if clock == nil {
		clock = SystemClock{}
	}
	for n := 0; ; n++ {
		again, err := attempt(ctx, n)
		if !again || n >= o.Count {
			return err
		}
		if allowRetry != nil && !allowRetry() {
			return err
		}
		if werr := Sleep(ctx, clock, o.Wait(n+1, rnd)); werr != nil {
			if err != nil {
				return fmt.Errorf("retry wait interrupted (last attempt: %w): %w", err, werr)
			}
			return fmt.Errorf("retry wait interrupted: %w", werr)
		}
	}
}
