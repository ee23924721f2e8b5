package policy

import (
	"context"
	"fmt"
	"time"

	"github.com/apimgw/apimgw/internal/expr"
	"github.com/apimgw/apimgw/internal/policy/policyxml"
	"github.com/apimgw/apimgw/internal/resilience"
)

func init() {
	register("retry", nil, compileRetry)
	register("limit-concurrency", nil, compileLimitConcurrency)
}

// retry runs its children once, then again while condition holds, up to
// count retries, waiting per APIM's fixed, linear or exponential schedule.
type retry struct {
	cond                                *expr.Value
	opts                                resilience.RetryOptions
	count, interval, maxInterval, delta intValue
	body                                steps
}

func compileRetry(b *builder, el *policyxml.Element, path string) Step {
	attrs := b.attrs(el, "condition", "count", "interval", "max-interval", "delta", "first-fast-retry", "jitter")
	if !b.require(el, attrs, "condition", "count", "interval") {
		return nil
	}
	r := &retry{
		cond:        b.value(attrs["condition"]),
		count:       b.intAttr(attrs["count"], 1, 1, resilience.MaxRetryCount),
		interval:    b.intAttr(attrs["interval"], 0, 0, 86400),
		maxInterval: b.intAttr(attrs["max-interval"], 0, 0, 86400),
		delta:       b.intAttr(attrs["delta"], 0, 0, 86400),
	}
	r.opts = resilience.RetryOptions{
		FirstFastRetry: b.constBool(attrs["first-fast-retry"], false),
		Jitter:         b.constBool(attrs["jitter"], false),
	}
	if r.count.isConst() && r.interval.isConst() && r.maxInterval.isConst() && r.delta.isConst() {
		opts := r.withValues(r.count.n, r.interval.n, r.maxInterval.n, r.delta.n)
		if err := opts.Validate(); err != nil {
			b.errorf(el.Pos, "%v", err)
		}
	}
	r.body = b.steps(el, path+"/", false)
	return r
}

// withValues returns the retry options with the timing attributes set.
func (r *retry) withValues(count, interval, maxInterval, delta int) resilience.RetryOptions {
	o := r.opts
	o.Count = count
	o.Interval = time.Duration(interval) * time.Second
	o.MaxInterval = time.Duration(maxInterval) * time.Second
	o.Delta = time.Duration(delta) * time.Second
	return o
}

func (r *retry) options(st *State) (resilience.RetryOptions, error) {
	var v [4]int
	for i, iv := range []intValue{r.count, r.interval, r.maxInterval, r.delta} {
		n, err := iv.get(st)
		if err != nil {
			return resilience.RetryOptions{}, err
		}
		v[i] = n
	}
	o := r.withValues(v[0], v[1], v[2], v[3])
	if err := o.Validate(); err != nil {
		return o, &Error{Reason: ReasonExpressionFailure, Message: err.Error()}
	}
	return o, nil
}

func (r *retry) Run(st *State) error {
	if r.cond == nil {
		return nil
	}
	opts, err := r.options(st)
	if err != nil {
		return err
	}
	// Each attempt re-sends the request: keep its body.
	if body := st.X.Request.Body; body != nil && !body.Consumed() {
		if _, err := body.Bytes(); err != nil {
			return requestBodyError("reading the request body failed", err)
		}
	}
	var allow func() bool
	var last error
	err = opts.Run(st.Ctx, resilience.SystemClock{}, nil, func() bool {
		if allow == nil {
			if e := st.BackendEntity; e != nil && e.Budget != nil {
				allow = e.Budget.Retry
			} else if e, ok := st.Env.Backends[st.BackendID]; ok && e.Budget != nil {
				allow = e.Budget.Retry
			} else {
				allow = func() bool { return true }
			}
		}
		return allow()
	}, func(_ context.Context, n int) (bool, error) {
		st.Retrying = n > 0
		err := r.body.run(st)
		last = err
		if err == errResponded || IsClientFault(err) {
			// The client's fault (or its answer): sending again helps nobody.
			return false, err
		}
		again, cerr := r.cond.Bool(&st.X)
		if cerr != nil {
			if err != nil {
				return false, err
			}
			return false, cerr
		}
		return again, err
	})
	st.Retrying = false
	if err != nil && last == nil {
		// The client went away while waiting between attempts.
		return &Error{Reason: ReasonClientConnectionFailure, Message: "The client closed the connection during a retry wait", Status: 499, Err: err}
	}
	return err
}

// limitConcurrency lets at most max-count requests with the same key run
// its children at once; over the limit APIM answers 429 at once.
type limitConcurrency struct {
	key     *expr.Value
	max     int
	body    steps
	limiter *resilience.Limiter
}

func compileLimitConcurrency(b *builder, el *policyxml.Element, path string) Step {
	attrs := b.attrs(el, "key", "max-count")
	if !b.require(el, attrs, "key", "max-count") {
		return nil
	}
	return &limitConcurrency{
		key:     b.value(attrs["key"]),
		max:     b.constInt(attrs["max-count"], 1, 1, 1<<30),
		body:    b.steps(el, path+"/", false),
		limiter: resilience.NewLimiter(resilience.ScopeLimitConcurrency, nil),
	}
}

func (l *limitConcurrency) Run(st *State) error {
	if l.key == nil {
		return nil
	}
	key, err := l.key.String(&st.X)
	if err != nil {
		return err
	}
	release, err := l.limiter.Acquire(key, l.max)
	if err != nil {
		return &Error{Reason: resilience.ReasonConcurrencyLimitExceeded, Message: fmt.Sprintf("Too many concurrent requests for key %q (limit %d)", key, l.max),
			Status: 429, ClientMessage: "Too many requests. Concurrency limit exceeded.", Err: err}
	}
	defer release()
	return l.body.run(st)
}
