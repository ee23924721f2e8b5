package policy

import (
	"context"
	"fmt"

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
	cond *expr.Value
	opts resilience.RetryOptions
	body steps
}

func compileRetry(b *builder, el *policyxml.Element, path string) Step {
	attrs := b.attrs(el, "condition", "count", "interval", "max-interval", "delta", "first-fast-retry", "jitter")
	if !b.require(el, attrs, "condition", "count", "interval") {
		return nil
	}
	r := &retry{cond: b.value(attrs["condition"])}
	r.opts = resilience.RetryOptions{
		Count:          b.constInt(attrs["count"], 1, 1, resilience.MaxRetryCount),
		Interval:       b.seconds(attrs["interval"], 0, 86400),
		MaxInterval:    b.seconds(attrs["max-interval"], 0, 86400),
		Delta:          b.seconds(attrs["delta"], 0, 86400),
		FirstFastRetry: b.constBool(attrs["first-fast-retry"], false),
		Jitter:         b.constBool(attrs["jitter"], false),
	}
	if err := r.opts.Validate(); err != nil {
		b.errorf(el.Pos, "%v", err)
	}
	r.body = b.steps(el, path+"/", false)
	return r
}

func (r *retry) Run(st *State) error {
	if r.cond == nil {
		return nil
	}
	// Each attempt re-sends the request: keep its body.
	if body := st.X.Request.Body; body != nil && !body.Consumed() {
		if _, err := body.Bytes(); err != nil {
			return &Error{Reason: ReasonClientConnectionFailure, Message: "reading the request body failed", Err: err}
		}
	}
	var allow func() bool
	var last error
	err := r.opts.Run(st.Ctx, resilience.SystemClock{}, nil, func() bool {
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
		if err == errResponded {
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
