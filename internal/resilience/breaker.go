package resilience

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// State is a circuit breaker state. Its numeric value is the value of the
// apimgw_circuit_breaker_state metric.
type State int

// Breaker states.
const (
	// StateClosed lets every request through and watches the outcomes.
	StateClosed State = 0
	// StateOpen answers every request without contacting the backend.
	StateOpen State = 1
	// StateHalfOpen lets exactly one trial request through; its outcome
	// closes the breaker or opens it again.
	StateHalfOpen State = 2
)

// String returns "closed", "open" or "half-open".
func (s State) String() string {
	switch s {
	case StateClosed:
		return "closed"
	case StateOpen:
		return "open"
	case StateHalfOpen:
		return "half-open"
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// StatusRange is an inclusive range of HTTP status codes, as in APIM's
// failureCondition.statusCodeRanges.
type StatusRange struct {
	Min int `yaml:"min" json:"min"`
	Max int `yaml:"max" json:"max"`
}

// Contains reports whether code lies in the range.
func (r StatusRange) Contains(code int) bool { return code >= r.Min && code <= r.Max }

// DefaultMinRequests is how many requests a percentage rule needs inside its
// interval before it may trip, when Rule.MinRequests is zero. APIM does not
// document a minimum; without one a single failed request would be 100%.
const DefaultMinRequests = 10

// maxRuleCount bounds Rule.Count so a breaker's memory stays small.
const maxRuleCount = 100000

// Rule is one circuitBreaker.rules[] entry of a backend entity. Exactly one
// of Count and Percentage is set.
type Rule struct {
	// Name identifies the rule in logs and in the trips metric.
	Name string
	// Count trips the breaker when this many failures happen within Interval.
	Count int
	// Percentage trips the breaker when at least this share (1-100) of the
	// requests within Interval failed, once MinRequests requests were seen.
	Percentage int
	// MinRequests is the least number of requests within Interval before a
	// Percentage rule may trip (apimgw extension; 0 means DefaultMinRequests).
	MinRequests int
	// Interval is the sliding window over which failures are counted.
	Interval time.Duration
	// StatusCodeRanges are the backend status codes that count as failures.
	StatusCodeRanges []StatusRange
	// ErrorReasons are the LastError reasons (BackendConnectionFailure,
	// Timeout, ...) that count as failures.
	ErrorReasons []string
	// TripDuration is how long the breaker stays open once tripped.
	TripDuration time.Duration
	// AcceptRetryAfter makes a Retry-After sent by the backend with the
	// tripping response set the open duration instead of TripDuration.
	AcceptRetryAfter bool
}

// Validate reports the first problem with the rule, naming the field as in
// gateway.yaml.
func (r Rule) Validate() error {
	switch {
	case r.Count == 0 && r.Percentage == 0:
		return errors.New("failureCondition: one of count or percentage is required")
	case r.Count != 0 && r.Percentage != 0:
		return errors.New("failureCondition: count and percentage are mutually exclusive")
	case r.Count < 0 || r.Count > maxRuleCount:
		return fmt.Errorf("failureCondition.count: %d is out of range 1..%d", r.Count, maxRuleCount)
	case r.Percentage < 0 || r.Percentage > 100:
		return fmt.Errorf("failureCondition.percentage: %d is out of range 1..100", r.Percentage)
	case r.MinRequests < 0:
		return fmt.Errorf("failureCondition.minRequests: %d must not be negative", r.MinRequests)
	case r.Interval <= 0:
		return errors.New("failureCondition.interval: must be positive")
	case r.TripDuration <= 0:
		return errors.New("tripDuration: must be positive")
	}
	for i, sr := range r.StatusCodeRanges {
		if sr.Min < 100 || sr.Max > 599 || sr.Min > sr.Max {
			return fmt.Errorf("failureCondition.statusCodeRanges[%d]: {min: %d, max: %d} is not a range within 100..599", i, sr.Min, sr.Max)
		}
	}
	for i, reason := range r.ErrorReasons {
		if strings.TrimSpace(reason) == "" {
			return fmt.Errorf("failureCondition.errorReasons[%d]: empty reason", i)
		}
	}
	return nil
}

// IsFailure reports whether the outcome counts as a failure for this rule:
// its status is in StatusCodeRanges or its error reason is in ErrorReasons. A
// rule with neither list treats 5xx statuses and the BackendConnectionFailure
// and Timeout reasons as failures.
func (r Rule) IsFailure(o Outcome) bool {
	if len(r.StatusCodeRanges) == 0 && len(r.ErrorReasons) == 0 {
		return (o.StatusCode >= 500 && o.StatusCode <= 599) ||
			o.ErrorReason == ReasonBackendConnectionFailure || o.ErrorReason == ReasonTimeout
	}
	if o.StatusCode != 0 {
		for _, sr := range r.StatusCodeRanges {
			if sr.Contains(o.StatusCode) {
				return true
			}
		}
	}
	if o.ErrorReason != "" {
		for _, reason := range r.ErrorReasons {
			if strings.EqualFold(reason, o.ErrorReason) {
				return true
			}
		}
	}
	return false
}

// Outcome is what happened to one request the breaker let through: the
// backend's status code, or the error reason when there was no response, and
// the backend's Retry-After (see ParseRetryAfter). The zero Outcome means "no
// verdict" (the client went away, the request was never sent): it is not
// counted, and a half-open trial reported that way just frees the trial slot.
type Outcome struct {
	StatusCode  int
	ErrorReason string
	RetryAfter  time.Duration
}

// OpenError is returned by Breaker.Allow while the breaker is open (or
// half-open with its trial request in flight). The gateway answers 503
// without contacting the backend.
type OpenError struct {
	// BackendID is the backend entity whose breaker is open.
	BackendID string
	// Rule is the name of the rule that tripped it.
	Rule string
	// RetryAfter is how long until the breaker lets a trial request through
	// (zero while a trial is already in flight).
	RetryAfter time.Duration
}

// Error says which backend, which rule and for how long, for the log line's
// LastErrorMessage.
func (e *OpenError) Error() string {
	return fmt.Sprintf("circuit breaker of backend %s is open (rule %q), retry in %s",
		e.BackendID, e.Rule, e.RetryAfter.Round(time.Millisecond))
}

// StatusCode is the status APIM answers with while a breaker is open.
func (e *OpenError) StatusCode() int { return http.StatusServiceUnavailable }

// StatusReason is the HTTP reason phrase of that answer; APIM's wording,
// which real policies match with context.Response.StatusReason.
func (e *OpenError) StatusReason() string {
	return "Backend " + e.BackendID + " is temporarily unavailable"
}

// Breaker is the circuit breaker of one backend entity, shared by every
// request to it. It is safe for concurrent use. Build it with NewBreaker.
type Breaker struct {
	id      string
	clock   Clock
	metrics *Metrics
	log     *slog.Logger

	mu         sync.Mutex
	rules      []ruleWindow
	state      State
	openUntil  time.Time
	tripRule   int  // index of the rule that last tripped
	trialOut   bool // half-open trial in flight
	trialStart time.Time
	gen        uint64
	timer      Timer
	closed     bool
}

type ruleWindow struct {
	Rule
	// Count rules: ring of the most recent failure times; head is the
	// oldest once the ring is full.
	failures []time.Time
	head     int
	// Percentage rules: a ring of buckets covering Interval.
	buckets []bucket
	width   time.Duration
}

type bucket struct {
	start         time.Time
	total, failed int
}

const percentageBuckets = 20

// trialLease is how long a half-open trial may stay unreported before
// another request may become the trial. Longer than any sane
// forward-request timeout, it only guards against a lost done call.
const trialLease = DefaultForwardTimeout + time.Minute

// NewBreaker builds the breaker of backend backendID from its rules. m and
// log may be nil. Call Close when the breaker is discarded (a reload) to stop
// its timer.
func NewBreaker(backendID string, rules []Rule, clock Clock, m *Metrics, log *slog.Logger) (*Breaker, error) {
	if clock == nil {
		clock = SystemClock{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := &Breaker{id: backendID, clock: clock, metrics: m, log: log}
	names := map[string]bool{}
	for i, r := range rules {
		if err := r.Validate(); err != nil {
			return nil, fmt.Errorf("backend %s: circuitBreaker.rules[%d]: %w", backendID, i, err)
		}
		if r.Name == "" {
			r.Name = "rule" + strconv.Itoa(i)
		}
		if names[r.Name] {
			return nil, fmt.Errorf("backend %s: circuitBreaker.rules[%d]: duplicate rule name %q", backendID, i, r.Name)
		}
		names[r.Name] = true
		w := ruleWindow{Rule: r}
		w.StatusCodeRanges = slices.Clone(r.StatusCodeRanges)
		w.ErrorReasons = slices.Clone(r.ErrorReasons)
		if r.Count > 0 {
			w.failures = make([]time.Time, 0, min(r.Count, 64))
		} else {
			if w.MinRequests == 0 {
				w.MinRequests = DefaultMinRequests
			}
			w.buckets = make([]bucket, percentageBuckets)
			w.width = max(r.Interval/percentageBuckets, time.Nanosecond)
		}
		b.rules = append(b.rules, w)
	}
	m.setBreakerState(backendID, StateClosed)
	return b, nil
}

// BackendID returns the backend entity the breaker guards.
func (b *Breaker) BackendID() string { return b.id }

// State returns the current state.
func (b *Breaker) State() State {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.advanceLocked()
	return b.state
}

// Available reports whether Allow would let a request through now, without
// taking the half-open trial slot. Pools use it to skip tripped members.
func (b *Breaker) Available() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.advanceLocked()
	return b.state == StateClosed || (b.state == StateHalfOpen && !b.trialOut)
}

// Allow asks to send one request to the backend. While the breaker is open it
// returns an *OpenError. Otherwise the caller sends the request and must call
// done exactly once with what happened (later calls are ignored). In the
// half-open state only one caller at a time gets through: the trial.
func (b *Breaker) Allow() (done func(Outcome), err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.advanceLocked()
	switch b.state {
	case StateOpen:
		b.metrics.rejected(b.id)
		return nil, &OpenError{BackendID: b.id, Rule: b.rules[b.tripRule].Name, RetryAfter: b.openUntil.Sub(b.clock.Now())}
	case StateHalfOpen:
		now := b.clock.Now()
		if b.trialOut && now.Sub(b.trialStart) < trialLease {
			b.metrics.rejected(b.id)
			return nil, &OpenError{BackendID: b.id, Rule: b.rules[b.tripRule].Name}
		}
		if b.trialOut {
			// The trial's caller never reported: forget it so one lost
			// request cannot keep the backend out of service forever.
			b.gen++
		}
		b.trialOut = true
		b.trialStart = now
		gen := b.gen
		return b.doneFunc(func(o Outcome) { b.trialDoneLocked(gen, o) }), nil
	}
	if len(b.rules) == 0 {
		return func(Outcome) {}, nil
	}
	gen := b.gen
	return b.doneFunc(func(o Outcome) { b.recordLocked(gen, o) }), nil
}

func (b *Breaker) doneFunc(f func(Outcome)) func(Outcome) {
	var once sync.Once
	return func(o Outcome) {
		once.Do(func() {
			b.mu.Lock()
			defer b.mu.Unlock()
			b.advanceLocked()
			f(o)
		})
	}
}

// advanceLocked moves an open breaker whose trip duration ended to half-open.
func (b *Breaker) advanceLocked() {
	if b.state == StateOpen && !b.clock.Now().Before(b.openUntil) {
		b.setStateLocked(StateHalfOpen)
		b.trialOut = false
		b.gen++
	}
}

func (b *Breaker) setStateLocked(s State) {
	if b.state == s {
		return
	}
	b.log.Info("circuit breaker state change", "backend", b.id, "from", b.state.String(), "to", s.String(), "rule", b.ruleNameLocked())
	b.state = s
	b.metrics.setBreakerState(b.id, s)
}

func (b *Breaker) ruleNameLocked() string {
	if len(b.rules) == 0 {
		return ""
	}
	return b.rules[b.tripRule].Name
}

func noVerdict(o Outcome) bool { return o.StatusCode == 0 && o.ErrorReason == "" }

// recordLocked counts a closed-state outcome and trips when a rule says so.
func (b *Breaker) recordLocked(gen uint64, o Outcome) {
	if gen != b.gen || b.state != StateClosed || noVerdict(o) {
		return // the breaker tripped (or reset) while this request was in flight
	}
	now := b.clock.Now()
	for i := range b.rules {
		w := &b.rules[i]
		failed := w.IsFailure(o)
		if w.observe(now, failed) && failed {
			b.tripLocked(i, o, now)
			return
		}
	}
}

// observe adds one outcome to the window and reports whether the rule's
// threshold is now reached.
func (w *ruleWindow) observe(now time.Time, failed bool) bool {
	cutoff := now.Add(-w.Interval)
	if w.Count > 0 {
		if !failed {
			return false
		}
		// failures is a ring of the last Count failure times: the rule
		// trips when it is full and its oldest entry is inside the window.
		if len(w.failures) < w.Count {
			w.failures = append(w.failures, now)
			return len(w.failures) == w.Count && w.failures[0].After(cutoff)
		}
		w.failures[w.head] = now
		w.head = (w.head + 1) % w.Count
		return w.failures[w.head].After(cutoff)
	}
	slot := now.UnixNano() / int64(w.width)
	start := time.Unix(0, slot*int64(w.width))
	bk := &w.buckets[slot%int64(len(w.buckets))]
	if !bk.start.Equal(start) {
		*bk = bucket{start: start}
	}
	bk.total++
	if failed {
		bk.failed++
	}
	total, fails := 0, 0
	for _, x := range w.buckets {
		if x.start.After(cutoff) || x.start.Equal(start) {
			total += x.total
			fails += x.failed
		}
	}
	return total >= w.MinRequests && fails*100 >= w.Percentage*total
}

func (w *ruleWindow) reset() {
	w.failures = w.failures[:0]
	w.head = 0
	clear(w.buckets)
}

// tripLocked opens the breaker because of rule i.
func (b *Breaker) tripLocked(i int, o Outcome, now time.Time) {
	r := b.rules[i]
	d := r.TripDuration
	if r.AcceptRetryAfter && o.RetryAfter > 0 {
		d = o.RetryAfter
	}
	b.tripRule = i
	b.openUntil = now.Add(d)
	b.gen++
	b.trialOut = false
	for j := range b.rules {
		b.rules[j].reset()
	}
	b.setStateLocked(StateOpen)
	b.log.Warn("circuit breaker tripped", "backend", b.id, "rule", r.Name,
		"statusCode", o.StatusCode, "errorReason", o.ErrorReason, "openFor", d.String())
	b.metrics.trip(b.id, r.Name)
	if b.timer != nil {
		b.timer.Stop()
	}
	if !b.closed {
		// Keep the state metric honest for a backend that gets no traffic
		// while open.
		b.timer = b.clock.AfterFunc(d, func() {
			b.mu.Lock()
			defer b.mu.Unlock()
			b.advanceLocked()
		})
	}
}

// trialDoneLocked closes or reopens the breaker after the half-open trial.
func (b *Breaker) trialDoneLocked(gen uint64, o Outcome) {
	if gen != b.gen || b.state != StateHalfOpen {
		return
	}
	b.trialOut = false
	if noVerdict(o) {
		return
	}
	for i := range b.rules {
		if b.rules[i].IsFailure(o) {
			b.tripLocked(i, o, b.clock.Now())
			return
		}
	}
	b.gen++
	b.setStateLocked(StateClosed)
}

// republish sets the state metric from the current state (after a newer
// Registry adopted this breaker and its NewBreaker calls reset the series).
func (b *Breaker) republish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.advanceLocked()
	b.metrics.setBreakerState(b.id, b.state)
}

// Close stops the breaker's timer and its metrics (a newer breaker of the
// same backend owns the series now). The breaker keeps answering Allow, for
// requests still in flight on the configuration being replaced.
func (b *Breaker) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	b.metrics = nil
	if b.timer != nil {
		b.timer.Stop()
		b.timer = nil
	}
}

// ParseRetryAfter reads a Retry-After header value: delay-seconds or an HTTP
// date (relative to now). It returns false for a missing, malformed or
// already-past value.
func ParseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0, false
		}
		if secs > int64(math.MaxInt64/int64(time.Second)) {
			secs = int64(math.MaxInt64 / int64(time.Second))
		}
		return time.Duration(secs) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	d := t.Sub(now)
	if d <= 0 {
		return 0, false
	}
	return d, true
}
