package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/apimgw/apimgw/internal/backend"
	"github.com/apimgw/apimgw/internal/config"
	"github.com/apimgw/apimgw/internal/policy"
	"github.com/apimgw/apimgw/internal/resilience"
)

// resilienceOptions maps the backends section to the resilience registry's
// options.
func resilienceOptions(cfg *config.Config, certs *policy.Certificates) []resilience.BackendOptions {
	out := make([]resilience.BackendOptions, 0, len(cfg.BackendIDs))
	for _, id := range cfg.BackendIDs {
		b := cfg.Backends[id]
		o := resilience.BackendOptions{ID: id, URL: b.URL, MaxInFlight: b.MaxInFlight}
		if rb := b.RetryBudget; rb != nil {
			o.RetryBudget = resilience.BudgetOptions{Ratio: rb.Ratio, MinPerSecond: rb.MinPerSecond, Window: rb.Window.D()}
		}
		if cb := b.CircuitBreaker; cb != nil {
			for _, r := range cb.Rules {
				fc := r.FailureCondition
				rule := resilience.Rule{
					Name: r.Name, Count: fc.Count, Percentage: fc.Percentage, MinRequests: fc.MinRequests, Interval: fc.Interval.D(),
					ErrorReasons: fc.ErrorReasons, TripDuration: r.TripDuration.D(), AcceptRetryAfter: r.AcceptRetryAfter,
				}
				for _, sr := range fc.StatusCodeRanges {
					rule.StatusCodeRanges = append(rule.StatusCodeRanges, resilience.StatusRange{Min: sr.Min, Max: sr.Max})
				}
				o.Rules = append(o.Rules, rule)
			}
		}
		if hp := b.HealthProbe; hp != nil {
			p := &resilience.ProbeOptions{Path: hp.Path, Interval: hp.Interval.D(), Timeout: hp.Timeout.D(),
				HealthyThreshold: hp.HealthyThreshold, UnhealthyThreshold: hp.UnhealthyThreshold}
			for _, sr := range hp.ExpectedStatus {
				p.ExpectedStatus = append(p.ExpectedStatus, resilience.StatusRange{Min: sr.Min, Max: sr.Max})
			}
			c, px := backendCertificate(b, certs), backendProxy(b)
			if c != nil || px != nil {
				p.Context = func(ctx context.Context) context.Context { return backend.WithConnOptions(ctx, c, px) }
			}
			o.Probe = p
		}
		if b.Pool != nil {
			o.URL = ""
			for _, s := range b.Pool.Services {
				o.Pool = append(o.Pool, resilience.Member{ID: s.ID, Priority: s.Priority, Weight: s.Weight})
			}
			if b.Pool.SessionAffinity != nil {
				o.AffinityCookie = b.Pool.SessionAffinity.Cookie
			}
		}
		out = append(out, o)
	}
	return out
}

// wireBackends connects the backend entities of env to the registry:
// single backends are admitted by their breaker and in-flight limit, pools
// pick a member first.
func wireBackends(cfg *config.Config, env *policy.Env, reg *resilience.Registry) {
	for _, id := range cfg.BackendIDs {
		e := env.Backends[id]
		if e == nil {
			continue
		}
		if cfg.Backends[id].Type == "pool" {
			poolID := id
			e.Select = func(st *policy.State) (*policy.BackendEntity, func(policy.Outcome), error) {
				lease, err := reg.Acquire(poolID, &http.Request{Header: st.X.Request.Headers})
				if err != nil {
					return nil, nil, resilienceError(err)
				}
				member := env.Backends[lease.BackendID]
				if member == nil {
					lease.End(resilience.Outcome{})
					return nil, nil, &policy.Error{Reason: "BackendNotFound", Message: fmt.Sprintf("pool %q member %q is not a backend", poolID, lease.BackendID)}
				}
				if lease.SetCookie != nil {
					if st.ExtraHeaders == nil {
						st.ExtraHeaders = http.Header{}
					}
					st.ExtraHeaders.Add("Set-Cookie", lease.SetCookie.String())
				}
				return member, func(o policy.Outcome) { lease.End(toOutcome(o)) }, nil
			}
			continue
		}
		memberID := id
		if b := reg.Budget(id); b != nil {
			e.Budget = b
		}
		e.Admit = func(st *policy.State) (func(policy.Outcome), error) {
			end, err := reg.Begin(memberID)
			if err != nil {
				return nil, resilienceError(err)
			}
			return func(o policy.Outcome) { end(toOutcome(o)) }, nil
		}
	}
}

func toOutcome(o policy.Outcome) resilience.Outcome {
	return resilience.Outcome{StatusCode: o.StatusCode, ErrorReason: o.ErrorReason, RetryAfter: o.RetryAfter}
}

// resilienceError turns a refusal of the resilience layer into APIM's error
// response: 503 Service Unavailable without contacting the backend.
func resilienceError(err error) error {
	var open *resilience.OpenError
	var pool *resilience.PoolUnavailableError
	var limit *resilience.LimitError
	pe := &policy.Error{Status: http.StatusServiceUnavailable, ClientMessage: "Service Unavailable", Err: err, Message: err.Error()}
	switch {
	case errors.As(err, &open):
		pe.Reason = resilience.ReasonCircuitBreakerOpen
		pe.Message = fmt.Sprintf("Backend '%s' is unavailable: circuit breaker open (rule %s)", open.BackendID, open.Rule)
		if open.RetryAfter > 0 {
			pe.Headers = map[string]string{"Retry-After": strconv.Itoa(int(open.RetryAfter.Seconds() + 0.999))}
		}
	case errors.As(err, &pool):
		pe.Reason = resilience.ReasonBackendUnavailable
	case errors.As(err, &limit):
		pe.Reason = resilience.ReasonConcurrencyLimitExceeded
	default:
		pe.Reason = "BackendNotFound"
		pe.Status = http.StatusInternalServerError
		pe.ClientMessage = ""
	}
	return pe
}
