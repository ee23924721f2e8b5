package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"
)

// Store is the shared state behind the throttling and caching policies.
// Every method is safe for concurrent use. Implementations never block a
// request for long: the Redis store uses short timeouts and, while Redis is
// unreachable, answers from local state without contacting it.
type Store interface {
	// RateLimit decides whether a call of weight n is admitted by the sliding
	// window spec for key, and counts it (n) only when it is admitted, so
	// rejected (429) calls never count. n == 0 only checks whether one more
	// call would be admitted without counting anything: that is the inbound
	// half of a rate-limit-by-key whose increment-condition is evaluated at
	// the end of the outbound pipeline (see RateCount).
	RateLimit(ctx context.Context, key string, spec RateSpec, n int64) (RateDecision, error)

	// RateCount adds n to key's sliding window unconditionally (the deferred
	// increment of rate-limit-by-key). Allowed in the result reports whether
	// the window is still within the limit after counting.
	RateCount(ctx context.Context, key string, spec RateSpec, n int64) (RateDecision, error)

	// Quota decides whether a call of weight calls is admitted by the fixed
	// period quota spec for key, and counts calls only when it is admitted.
	// A call is refused when the call volume would exceed spec.Calls or when
	// the bandwidth already used has reached spec.Bandwidth. calls == 0 only
	// checks.
	Quota(ctx context.Context, key string, spec QuotaSpec, calls int64) (QuotaDecision, error)

	// QuotaCount adds calls and bytes to key's current quota period
	// unconditionally: the response bytes known once the response is sent,
	// and the deferred call increment of an increment-condition.
	QuotaCount(ctx context.Context, key string, spec QuotaSpec, calls, bytes int64) (QuotaDecision, error)

	// Get returns the cached value for key. The returned slice is shared and
	// must not be modified. A miss is (nil, false, nil).
	Get(ctx context.Context, key string) ([]byte, bool, error)

	// Set stores a copy of val under key for ttl (ttl > 0).
	Set(ctx context.Context, key string, val []byte, ttl time.Duration) error

	// Delete removes key from the cache; removing a missing key is not an error.
	Delete(ctx context.Context, key string) error

	// Close stops the store's goroutines and releases its connections.
	Close() error
}

// ErrInvalidSpec is wrapped by the errors a Store returns for a malformed
// RateSpec, QuotaSpec, weight or TTL. Policies validate their attributes at
// load time; this guards values computed by expressions at run time.
var ErrInvalidSpec = errors.New("store: invalid limit specification")

// MaxRenewalPeriod is the longest sliding window APIM accepts for
// rate-limit and rate-limit-by-key (renewal-period ≤ 300 s).
const MaxRenewalPeriod = 300 * time.Second

// RateSpec is one sliding-window rate limit: at most Limit calls within any
// window of length Period.
type RateSpec struct {
	// Limit is the number of calls admitted per window (calls attribute).
	// Zero refuses every call.
	Limit int64
	// Period is the sliding window length (renewal-period), at least 1 ms.
	Period time.Duration
}

func (s RateSpec) validate(n int64) error {
	if s.Limit < 0 || s.Period < time.Millisecond || n < 0 {
		return fmt.Errorf("%w: rate limit %d calls per %s, weight %d", ErrInvalidSpec, s.Limit, s.Period, n)
	}
	return nil
}

// RateDecision is the outcome of one rate-limit decision.
type RateDecision struct {
	// Allowed is true when the call is admitted.
	Allowed bool
	// Limit is the configured calls per window (for total-calls-header-name).
	Limit int64
	// Remaining is how many more calls the window admits after this one
	// (for remaining-calls-header-name / -variable-name); never negative.
	Remaining int64
	// RetryAfter is, for a refused call, how long until enough of the window
	// has expired for the same call to be admitted. Zero when Allowed.
	RetryAfter time.Duration
}

// RetryAfterSeconds is the Retry-After value APIM sends: RetryAfter rounded
// up to whole seconds, at least 1 for a refused call.
func (d RateDecision) RetryAfterSeconds() int64 {
	if d.Allowed {
		return 0
	}
	return ceilSeconds(d.RetryAfter)
}

// Message is APIM's 429 message text for a refused call.
func (d RateDecision) Message() string {
	return fmt.Sprintf("Rate limit is exceeded. Try again in %d seconds.", d.RetryAfterSeconds())
}

// QuotaSpec is one fixed-period quota. At least one of Calls and Bandwidth
// must be positive.
type QuotaSpec struct {
	// Calls is the call volume per period; 0 means no call limit.
	Calls int64
	// Bandwidth is the number of bytes per period; 0 means no bandwidth
	// limit. APIM's bandwidth attribute is in kilobytes: multiply by 1024.
	Bandwidth int64
	// Period is the renewal period; 0 means the quota never renews
	// (a lifetime quota, as APIM's renewal-period="0").
	Period time.Duration
	// FirstPeriodStart anchors the periods: each period starts at
	// FirstPeriodStart + k×Period. The zero time is APIM's default,
	// 0001-01-01T00:00:00Z.
	FirstPeriodStart time.Time
}

func (q QuotaSpec) validate(calls, bytes int64) error {
	if q.Calls < 0 || q.Bandwidth < 0 || (q.Calls == 0 && q.Bandwidth == 0) ||
		q.Period < 0 || (q.Period > 0 && q.Period < time.Millisecond) || calls < 0 || bytes < 0 {
		return fmt.Errorf("%w: quota %d calls / %d bytes per %s, weight %d calls %d bytes",
			ErrInvalidSpec, q.Calls, q.Bandwidth, q.Period, calls, bytes)
	}
	return nil
}

// QuotaExceeded says which limit of a quota refused a call.
type QuotaExceeded int

const (
	// QuotaNotExceeded means the call was admitted.
	QuotaNotExceeded QuotaExceeded = iota
	// QuotaCallsExceeded means the call volume quota is used up.
	QuotaCallsExceeded
	// QuotaBandwidthExceeded means the bandwidth quota is used up.
	QuotaBandwidthExceeded
)

// QuotaDecision is the outcome of one quota decision.
type QuotaDecision struct {
	// Allowed is true when the call is admitted.
	Allowed bool
	// Exceeded says which limit refused the call (or, for QuotaCount,
	// which limit the period has passed).
	Exceeded QuotaExceeded
	// CallsUsed and BytesUsed are the period's totals after this decision.
	CallsUsed, BytesUsed int64
	// CallsRemaining and BytesRemaining are what is left of the period's
	// quota (0 when that limit is not configured or is used up).
	CallsRemaining, BytesRemaining int64
	// RenewsIn is the time until the current period ends and the quota is
	// replenished; zero for a lifetime quota (Period 0).
	RenewsIn time.Duration
}

// RetryAfterSeconds is the Retry-After value APIM sends with a 403: the time
// until the quota renews, rounded up to whole seconds. Zero for a lifetime
// quota (no Retry-After header is sent then).
func (d QuotaDecision) RetryAfterSeconds() int64 {
	if d.RenewsIn <= 0 {
		return 0
	}
	return ceilSeconds(d.RenewsIn)
}

// Message is APIM's 403 message text for a refused call, e.g. "Out of call
// volume quota. Quota will be replenished in 00:08:24." A lifetime quota,
// which is never replenished, gets the first sentence only.
func (d QuotaDecision) Message() string {
	first := "Out of call volume quota."
	if d.Exceeded == QuotaBandwidthExceeded {
		first = "Out of bandwidth quota."
	}
	if d.RenewsIn <= 0 {
		return first
	}
	return first + " Quota will be replenished in " + formatTimeSpan(ceilSeconds(d.RenewsIn)) + "."
}

// formatTimeSpan renders whole seconds as .NET's TimeSpan "c" format, which
// APIM uses: hh:mm:ss, prefixed with "d." from one day on.
func formatTimeSpan(secs int64) string {
	d, rem := secs/86400, secs%86400
	h, m, s := rem/3600, rem%3600/60, rem%60
	if d > 0 {
		return fmt.Sprintf("%d.%02d:%02d:%02d", d, h, m, s)
	}
	return fmt.Sprintf("%02d:%02d:%02d", h, m, s)
}

func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 1
	}
	s := int64(d / time.Second)
	if d%time.Second != 0 {
		s++
	}
	return s
}

// slotsPerWindow is how finely a sliding window is divided. Calls are
// counted exactly; only the instant at which a call leaves the window is
// rounded up to the end of its slot (Period/1024, at least 1 ms), so the
// limit is never exceeded in any window of length Period and a call is
// at worst refused one slot earlier than a perfect sliding log would.
const slotsPerWindow = 1024

// slotWidthMillis is the width of one window slot in milliseconds.
func slotWidthMillis(period time.Duration) int64 {
	w := period.Milliseconds() / slotsPerWindow
	if w < 1 {
		w = 1
	}
	return w
}

// floorDiv is integer division rounding towards negative infinity.
func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// quotaPeriod returns the index of the period containing nowMs and the
// milliseconds until it ends (0 for a lifetime quota).
func quotaPeriod(spec QuotaSpec, nowMs int64) (idx, renewsInMs int64) {
	p := spec.Period.Milliseconds()
	if p <= 0 {
		return 0, 0
	}
	start := spec.FirstPeriodStart.UnixMilli()
	idx = floorDiv(nowMs-start, p)
	return idx, start + (idx+1)*p - nowMs
}

// quotaDecide applies the quota rules to a period's totals. mode admit
// counts calls only when admitted; mode count always adds calls and bytes.
func quotaDecide(spec QuotaSpec, used *[2]int64, calls, bytes int64, count bool) QuotaDecision {
	var d QuotaDecision
	if count {
		used[0] = satAdd(used[0], calls)
		used[1] = satAdd(used[1], bytes)
		switch {
		case spec.Calls > 0 && used[0] > spec.Calls:
			d.Exceeded = QuotaCallsExceeded
		case spec.Bandwidth > 0 && used[1] > spec.Bandwidth:
			d.Exceeded = QuotaBandwidthExceeded
		}
	} else {
		need := max(calls, 1)
		switch {
		case spec.Calls > 0 && satAdd(used[0], need) > spec.Calls:
			d.Exceeded = QuotaCallsExceeded
		case spec.Bandwidth > 0 && used[1] >= spec.Bandwidth:
			d.Exceeded = QuotaBandwidthExceeded
		default:
			used[0] = satAdd(used[0], calls)
		}
	}
	d.Allowed = d.Exceeded == QuotaNotExceeded
	d.CallsUsed, d.BytesUsed = used[0], used[1]
	if spec.Calls > 0 {
		d.CallsRemaining = max(spec.Calls-used[0], 0)
	}
	if spec.Bandwidth > 0 {
		d.BytesRemaining = max(spec.Bandwidth-used[1], 0)
	}
	return d
}

// satAdd adds non-negative values without overflowing.
func satAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}
