package policy

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/apimgw/apimgw/internal/expr"
	"github.com/apimgw/apimgw/internal/policy/policyxml"
	"github.com/apimgw/apimgw/internal/store"
)

func init() {
	register("rate-limit", []string{SectionInbound}, compileRateLimit)
	register("rate-limit-by-key", []string{SectionInbound}, compileRateLimitByKey)
	register("quota", []string{SectionInbound}, compileQuota)
	register("quota-by-key", []string{SectionInbound}, compileQuotaByKey)
}

// limitOutputs are the optional header and variable names of the rate-limit
// policies.
type limitOutputs struct {
	retryAfterHeader, retryAfterVar string
	remainingHeader, remainingVar   string
	totalHeader                     string
}

func (b *builder) limitOutputs(attrs map[string]policyxml.Attr) limitOutputs {
	return limitOutputs{
		retryAfterHeader: attrs["retry-after-header-name"].Value,
		retryAfterVar:    attrs["retry-after-variable-name"].Value,
		remainingHeader:  attrs["remaining-calls-header-name"].Value,
		remainingVar:     attrs["remaining-calls-variable-name"].Value,
		totalHeader:      attrs["total-calls-header-name"].Value,
	}
}

var limitOutputAttrs = []string{"retry-after-header-name", "retry-after-variable-name", "remaining-calls-header-name", "remaining-calls-variable-name", "total-calls-header-name"}

// publish sets the configured headers and variables from a decision.
func (o limitOutputs) publish(st *State, d store.RateDecision) {
	if o.remainingVar != "" {
		st.X.Variables[o.remainingVar] = int(d.Remaining)
	}
	if o.remainingHeader != "" {
		st.extraHeader(o.remainingHeader, strconv.FormatInt(d.Remaining, 10))
	}
	if o.totalHeader != "" {
		st.extraHeader(o.totalHeader, strconv.FormatInt(d.Limit, 10))
	}
	if !d.Allowed && o.retryAfterVar != "" {
		st.X.Variables[o.retryAfterVar] = int(d.RetryAfterSeconds())
	}
}

func (st *State) extraHeader(name, value string) {
	if st.ExtraHeaders == nil {
		st.ExtraHeaders = http.Header{}
	}
	st.ExtraHeaders.Set(name, value)
}

func (st *State) store() (store.Store, error) {
	if st.Env.Services.Store == nil {
		return nil, &Error{Reason: "StoreUnavailable", Message: "no counter store is configured"}
	}
	return st.Env.Services.Store, nil
}

// rateLimited is the 429 error APIM answers with.
func rateLimited(d store.RateDecision, o limitOutputs) *Error {
	header := o.retryAfterHeader
	if header == "" {
		header = "Retry-After"
	}
	return &Error{
		Reason: ReasonRateLimitExceeded, Message: d.Message(), ClientMessage: d.Message(), Status: http.StatusTooManyRequests,
		Headers: map[string]string{header: strconv.FormatInt(d.RetryAfterSeconds(), 10)},
	}
}

// scopedLimit is a per-API or per-operation limit nested in rate-limit or
// quota.
type scopedLimit struct {
	api, op string // name or id of the API / operation
	calls   int64
	band    int64
	period  time.Duration
}

func (b *builder) scopedLimits(el *policyxml.Element, quota bool) []scopedLimit {
	var out []scopedLimit
	for _, api := range b.children(el, "api") {
		out = append(out, b.scopedLimit(api, quota, ""))
		for _, op := range b.children(api, "operation") {
			l := b.scopedLimit(op, quota, "")
			l.op, l.api = l.api, out[len(out)-1].api
			out = append(out, l)
		}
	}
	return out
}

func (b *builder) scopedLimit(el *policyxml.Element, quota bool, _ string) scopedLimit {
	names := []string{"name", "id", "calls", "renewal-period"}
	if quota {
		names = append(names, "bandwidth")
	}
	attrs := b.attrs(el, names...)
	l := scopedLimit{api: attrs["name"].Value, calls: int64(b.constInt(attrs["calls"], 0, 0, 1<<30))}
	// id (the API's or operation's id) is not in attrs: the builder takes
	// every id attribute as the policy's own id.
	if a, ok := el.Attr("id"); ok && strings.TrimSpace(a.Value) != "" {
		l.api = a.Value
	}
	if l.api == "" {
		b.errorf(el.Pos, "<%s> needs name or id", el.Name)
	}
	l.period = b.seconds(attrs["renewal-period"], 0, 1<<30)
	if quota {
		l.band = int64(b.constInt(attrs["bandwidth"], 0, 0, 1<<30)) * 1024
	}
	return l
}

// key is the counter key of this per-API or per-operation limit under base,
// when it applies to the request.
func (l scopedLimit) key(st *State, base string) (string, bool) {
	isOp := l.op != ""
	if !l.matches(st, isOp) {
		return "", false
	}
	k := base + ":api:" + st.X.Api.Id
	if isOp {
		k += ":op:" + st.X.Operation.Id
	}
	return k, true
}

func (l scopedLimit) matches(st *State, isOp bool) bool {
	if st.X.Api == nil || !strings.EqualFold(l.api, st.X.Api.Name) && !strings.EqualFold(l.api, st.X.Api.Id) {
		return false
	}
	if !isOp {
		return l.op == ""
	}
	return st.X.Operation != nil && (strings.EqualFold(l.op, st.X.Operation.Name) || strings.EqualFold(l.op, st.X.Operation.Id))
}

// rateLimit is rate-limit: calls per renewal-period per subscription, with
// optional per-API and per-operation limits.
type rateLimit struct {
	id     string
	spec   store.RateSpec
	scoped []scopedLimit
	out    limitOutputs
}

func compileRateLimit(b *builder, el *policyxml.Element, path string) Step {
	attrs := b.attrs(el, append([]string{"calls", "renewal-period"}, limitOutputAttrs...)...)
	if !b.require(el, attrs, "calls", "renewal-period") {
		return nil
	}
	r := &rateLimit{
		id:   b.file + "#" + path,
		spec: store.RateSpec{Limit: int64(b.constInt(attrs["calls"], 0, 0, 1<<30)), Period: b.seconds(attrs["renewal-period"], time.Second, 300)},
		out:  b.limitOutputs(attrs),
	}
	if r.spec.Period <= 0 {
		b.errorf(attrs["renewal-period"].ValuePos, "renewal-period must be between 1 and 300 seconds")
	}
	for _, l := range b.scopedLimits(el, false) {
		if l.period <= 0 || l.period > store.MaxRenewalPeriod {
			b.errorf(el.Pos, "renewal-period of api/operation %q must be between 1 and 300 seconds", l.api)
		}
		r.scoped = append(r.scoped, l)
	}
	return r
}

func (r *rateLimit) Run(st *State) error {
	if st.X.Subscription == nil {
		return nil // rate-limit counts per subscription: without one it does not apply
	}
	s, err := st.store()
	if err != nil {
		return err
	}
	base := "rl:" + r.id + ":" + st.X.Subscription.Id
	type check struct {
		key  string
		spec store.RateSpec
	}
	checks := []check{{base, r.spec}}
	for _, l := range r.scoped {
		if k, ok := l.key(st, base); ok {
			checks = append(checks, check{k, store.RateSpec{Limit: l.calls, Period: l.period}})
		}
	}
	// Check every limit before counting, so a call refused by one limit is
	// not counted by the others.
	for _, c := range checks {
		d, err := s.RateLimit(st.Ctx, c.key, c.spec, 0)
		if err != nil {
			return storeError(err)
		}
		if !d.Allowed {
			r.out.publish(st, d)
			return rateLimited(d, r.out)
		}
	}
	// The remaining calls published are the fewest left under any of the
	// subscription, API and operation limits that apply.
	var least store.RateDecision
	for i, c := range checks {
		d, err := s.RateCount(st.Ctx, c.key, c.spec, 1)
		if err != nil {
			return storeError(err)
		}
		if i == 0 || d.Remaining < least.Remaining {
			least = d
		}
	}
	r.out.publish(st, least)
	return nil
}

func storeError(err error) *Error {
	return &Error{Reason: "StoreFailure", Message: err.Error(), Err: err}
}

// rateLimitByKey is rate-limit-by-key: a sliding window per counter-key.
type rateLimitByKey struct {
	calls     intValue
	period    intValue
	key       *expr.Value
	cond      *expr.Value
	increment *expr.Value
	out       limitOutputs
}

func compileRateLimitByKey(b *builder, el *policyxml.Element, path string) Step {
	attrs := b.attrs(el, append([]string{"calls", "renewal-period", "counter-key", "increment-condition", "increment-count"}, limitOutputAttrs...)...)
	b.children(el)
	if !b.require(el, attrs, "calls", "renewal-period", "counter-key") {
		return nil
	}
	r := &rateLimitByKey{
		calls:  b.intAttr(attrs["calls"], 0, 0, 1<<30),
		period: b.intAttr(attrs["renewal-period"], 1, 1, 300),
		key:    b.value(attrs["counter-key"]),
		out:    b.limitOutputs(attrs),
	}
	if a, ok := attrs["increment-condition"]; ok {
		r.cond = b.value(a)
	}
	if a, ok := attrs["increment-count"]; ok {
		r.increment = b.value(a)
	}
	return r
}

func (r *rateLimitByKey) Run(st *State) error {
	if r.key == nil {
		return nil
	}
	s, err := st.store()
	if err != nil {
		return err
	}
	key, err := r.key.String(&st.X)
	if err != nil {
		return err
	}
	calls, err := r.calls.get(st)
	if err != nil {
		return err
	}
	period, err := r.period.get(st)
	if err != nil {
		return err
	}
	spec := store.RateSpec{Limit: int64(calls), Period: time.Duration(period) * time.Second}
	n := int64(1)
	if r.increment != nil {
		v, err := r.increment.Int(&st.X)
		if err != nil {
			return err
		}
		if v < 0 {
			return &Error{Reason: ReasonExpressionFailure, Message: fmt.Sprintf("increment-count must not be negative, got %d", v)}
		}
		n = int64(v)
	}
	full := "rlk:" + key
	if r.cond == nil {
		d, err := s.RateLimit(st.Ctx, full, spec, n)
		if err != nil {
			return storeError(err)
		}
		r.out.publish(st, d)
		if !d.Allowed {
			return rateLimited(d, r.out)
		}
		return nil
	}
	// With an increment-condition APIM decides on the calls counted so far
	// and counts this one once the condition, evaluated at the end of the
	// request (it usually reads context.Response), holds.
	d, err := s.RateLimit(st.Ctx, full, spec, 0)
	if err != nil {
		return storeError(err)
	}
	r.out.publish(st, d)
	if !d.Allowed {
		return rateLimited(d, r.out)
	}
	st.Defer(func(int64) {
		ok, err := r.cond.Bool(&st.X)
		if err != nil || !ok {
			return
		}
		if _, err := s.RateCount(context.WithoutCancel(st.Ctx), full, spec, n); err != nil && st.Env.Log != nil {
			st.Env.Log.Warn("rate-limit-by-key: deferred count failed", "err", err)
		}
	})
	return nil
}

// quota is quota (per subscription) and quota-by-key: calls and bandwidth
// per fixed renewal period.
type quota struct {
	id        string
	byKey     bool
	spec      store.QuotaSpec
	scoped    []scopedLimit
	key       *expr.Value
	cond      *expr.Value
	increment *expr.Value
}

func compileQuota(b *builder, el *policyxml.Element, path string) Step {
	attrs := b.attrs(el, "calls", "bandwidth", "renewal-period")
	q := b.quotaSpec(el, attrs, path)
	if q == nil {
		return nil
	}
	q.scoped = b.scopedLimits(el, true)
	return q
}

func compileQuotaByKey(b *builder, el *policyxml.Element, path string) Step {
	attrs := b.attrs(el, "calls", "bandwidth", "renewal-period", "counter-key", "increment-condition", "increment-count", "first-period-start")
	b.children(el)
	q := b.quotaSpec(el, attrs, path)
	if q == nil || !b.require(el, attrs, "counter-key") {
		return nil
	}
	q.byKey = true
	q.key = b.value(attrs["counter-key"])
	if a, ok := attrs["increment-condition"]; ok {
		q.cond = b.value(a)
	}
	if a, ok := attrs["increment-count"]; ok {
		q.increment = b.value(a)
	}
	if a, ok := attrs["first-period-start"]; ok {
		t, err := time.Parse(time.RFC3339, strings.TrimSpace(a.Value))
		if err != nil {
			t, err = time.Parse("2006-01-02T15:04:05", strings.TrimSpace(a.Value))
		}
		if err != nil {
			b.errorf(a.ValuePos, "first-period-start must be an ISO 8601 date-time, got %q", a.Value)
		}
		q.spec.FirstPeriodStart = t.UTC()
	}
	return q
}

func (b *builder) quotaSpec(el *policyxml.Element, attrs map[string]policyxml.Attr, path string) *quota {
	if !b.require(el, attrs, "renewal-period") {
		return nil
	}
	q := &quota{id: b.file + "#" + path}
	q.spec.Calls = int64(b.constInt(attrs["calls"], 0, 0, 1<<30))
	q.spec.Bandwidth = int64(b.constInt(attrs["bandwidth"], 0, 0, 1<<30)) * 1024
	q.spec.Period = b.seconds(attrs["renewal-period"], 0, 1<<30)
	if q.spec.Calls == 0 && q.spec.Bandwidth == 0 {
		b.errorf(el.Pos, "<%s> needs calls or bandwidth (or both)", el.Name)
	}
	return q
}

func (q *quota) Run(st *State) error {
	s, err := st.store()
	if err != nil {
		return err
	}
	var key string
	if q.byKey {
		if q.key == nil {
			return nil
		}
		if key, err = q.key.String(&st.X); err != nil {
			return err
		}
		key = "qk:" + key
	} else {
		if st.X.Subscription == nil {
			return nil // quota counts per subscription
		}
		key = "q:" + q.id + ":" + st.X.Subscription.Id
	}
	type counter struct {
		key  string
		spec store.QuotaSpec
	}
	specs := []counter{{key, q.spec}}
	for _, l := range q.scoped {
		if k, ok := l.key(st, key); ok {
			specs = append(specs, counter{k, store.QuotaSpec{Calls: l.calls, Bandwidth: l.band, Period: l.period}})
		}
	}
	n := int64(1)
	if q.increment != nil {
		v, err := q.increment.Int(&st.X)
		if err != nil {
			return err
		}
		n = int64(v)
	}
	// Without an increment-condition the call is counted when admitted (one
	// atomic store operation); with one it is counted at the end.
	admitWith := n
	if q.cond != nil {
		admitWith = 0
	}
	for _, sp := range specs {
		d, err := s.Quota(st.Ctx, sp.key, sp.spec, admitWith)
		if err != nil {
			return storeError(err)
		}
		if !d.Allowed {
			e := &Error{Reason: ReasonQuotaExceeded, Message: d.Message(), ClientMessage: d.Message(), Status: http.StatusForbidden}
			if ra := d.RetryAfterSeconds(); ra > 0 {
				e.Headers = map[string]string{"Retry-After": strconv.FormatInt(ra, 10)}
			}
			return e
		}
	}
	reqBytes := st.requestBodyLen()
	if reqBytes < 0 {
		reqBytes = 0
	}
	st.Defer(func(respBytes int64) {
		var calls int64
		if q.cond != nil {
			if ok, err := q.cond.Bool(&st.X); err == nil && ok {
				calls = n
			}
		}
		ctx := context.WithoutCancel(st.Ctx)
		for _, sp := range specs {
			var bytes int64
			if sp.spec.Bandwidth > 0 {
				bytes = reqBytes + respBytes
			}
			if calls == 0 && bytes == 0 {
				continue
			}
			if _, err := s.QuotaCount(ctx, sp.key, sp.spec, calls, bytes); err != nil && st.Env.Log != nil {
				st.Env.Log.Warn("quota: count failed", "err", err)
			}
		}
	})
	return nil
}
