package resilience

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"slices"
	"sort"
	"sync"
	"time"
)

// BackendOptions are the resilience settings of one backend entity of
// gateway.yaml (backends.<id>). A backend with Pool members is a pool
// (type: pool) and has no URL, rules or probe of its own.
type BackendOptions struct {
	// ID is the backend entity id (the key under backends:).
	ID string
	// URL is the backend's base URL; probes are sent relative to it.
	URL string
	// Rules are circuitBreaker.rules.
	Rules []Rule
	// Probe is healthProbe; nil means no active probing.
	Probe *ProbeOptions
	// MaxInFlight bounds concurrent requests to this backend (apimgw
	// extension, 0 = unlimited); over it requests fail at once with 503.
	MaxInFlight int
	// RetryBudget bounds retries to this backend (zero = defaults).
	RetryBudget BudgetOptions
	// Pool lists pool.services; non-empty makes this backend a pool.
	Pool []Member
	// AffinityCookie is pool.sessionAffinity.sessionId.name: when set, the
	// pool pins each client to one member with a cookie of this name.
	AffinityCookie string
}

// Registry owns the resilience state of every backend of one loaded
// configuration: breakers, pools, probes, in-flight limits and retry
// budgets. The gateway builds one per configuration, Starts it, and Closes
// the old one after a reload swapped it out. It is safe for concurrent use.
type Registry struct {
	backends map[string]*backendState
	health   *HealthChecker
	inFlight *Limiter

	mu         sync.Mutex
	handedOver map[string]bool // breakers now owned by a newer Registry
}

type backendState struct {
	opts    BackendOptions
	breaker *Breaker     // nil for pools
	pool    *Pool        // nil for single backends
	budget  *RetryBudget // nil for pools
}

// NewRegistry validates and builds the state of backends. Probes are sent
// through rt (the pooled outbound transport). m and log may be nil; a nil
// clock is the system clock.
func NewRegistry(backends []BackendOptions, rt http.RoundTripper, clock Clock, m *Metrics, log *slog.Logger) (*Registry, error) {
	if clock == nil {
		clock = SystemClock{}
	}
	r := &Registry{
		backends: make(map[string]*backendState, len(backends)),
		health:   NewHealthChecker(rt, clock, m, log),
		inFlight: NewLimiter(ScopeBackend, m),
	}
	var errs []error
	for _, b := range backends {
		if err := r.add(b, clock, m, log); err != nil {
			errs = append(errs, err)
		}
	}
	// Pools can only be checked once every backend is known.
	for _, b := range backends {
		for i, mem := range b.Pool {
			st, ok := r.backends[mem.ID]
			switch {
			case !ok:
				errs = append(errs, fmt.Errorf("backend pool %s: pool.services[%d]: unknown backend %q", b.ID, i, mem.ID))
			case st.pool != nil:
				errs = append(errs, fmt.Errorf("backend pool %s: pool.services[%d]: %q is a pool; pools cannot contain pools", b.ID, i, mem.ID))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

func (r *Registry) add(b BackendOptions, clock Clock, m *Metrics, log *slog.Logger) error {
	if b.ID == "" {
		return errors.New("backend: empty id")
	}
	if _, dup := r.backends[b.ID]; dup {
		return fmt.Errorf("backend %s: defined twice", b.ID)
	}
	if b.MaxInFlight < 0 {
		return fmt.Errorf("backend %s: maxInFlight %d must not be negative", b.ID, b.MaxInFlight)
	}
	st := &backendState{opts: b}
	if len(b.Pool) > 0 {
		if len(b.Rules) > 0 || b.Probe != nil {
			return fmt.Errorf("backend pool %s: circuitBreaker and healthProbe belong on the member backends, not the pool", b.ID)
		}
		p, err := NewPool(b.ID, b.Pool, r.Available)
		if err != nil {
			return err
		}
		st.pool = p
	} else {
		br, err := NewBreaker(b.ID, b.Rules, clock, m, log)
		if err != nil {
			return err
		}
		st.breaker = br
		st.budget = NewRetryBudget(b.ID, b.RetryBudget, clock, m)
		if b.Probe != nil {
			if err := r.health.Add(b.ID, b.URL, *b.Probe); err != nil {
				return err
			}
		}
	}
	r.backends[b.ID] = st
	return nil
}

// Start begins the health probes.
func (r *Registry) Start() { r.health.Start() }

// Close stops the probes and the breakers' timers (except breakers a newer
// Registry inherited).
func (r *Registry) Close() {
	r.health.Close()
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, st := range r.backends {
		if st.breaker != nil && !r.handedOver[id] {
			st.breaker.Close()
		}
	}
}

// Inherit takes over from prev (the registry of the configuration being
// replaced) the breakers and retry budgets of backends whose id and rules
// did not change, and the probe verdicts of backends whose URL and probe did
// not change. A reload then neither closes an open breaker, which would
// flood a backend that is down, nor forgets recent failures, nor puts an
// unhealthy backend back into rotation. Call it before Start and before r
// serves requests; then Close prev once it has drained.
func (r *Registry) Inherit(prev *Registry) {
	if prev == nil || prev == r {
		return
	}
	prev.mu.Lock()
	defer prev.mu.Unlock()
	if prev.handedOver == nil {
		prev.handedOver = map[string]bool{}
	}
	for id, st := range r.backends {
		old, ok := prev.backends[id]
		if !ok || st.breaker == nil || old.breaker == nil || prev.handedOver[id] {
			continue
		}
		if reflect.DeepEqual(st.opts.Rules, old.opts.Rules) {
			st.breaker.Close()
			st.breaker = old.breaker
			st.breaker.republish()
			prev.handedOver[id] = true
		}
		if st.opts.RetryBudget == old.opts.RetryBudget {
			st.budget = old.budget
		}
		if st.opts.Probe != nil && old.opts.Probe != nil && st.opts.URL == old.opts.URL &&
			sameProbe(*st.opts.Probe, *old.opts.Probe) {
			r.health.inherit(prev.health, id)
		}
	}
}

// Available reports whether a single backend may take traffic: its breaker
// lets a request through and its probe (if any) says healthy. Unknown ids
// are unavailable.
func (r *Registry) Available(id string) bool {
	st, ok := r.backends[id]
	if !ok || st.breaker == nil {
		return false
	}
	return st.breaker.Available() && r.health.Healthy(id)
}

// Route says which backend a request for backend id goes to. For a single
// backend that is id itself. For a pool it is the member Pool.Pick chooses,
// honouring the affinity cookie of req; SetCookie is then the cookie the
// response must carry to pin the client (nil when the pool has no session
// affinity or the client already holds the right cookie). Errors: unknown
// id, or *PoolUnavailableError.
func (r *Registry) Route(id string, req *http.Request) (Route, error) {
	st, ok := r.backends[id]
	if !ok {
		return Route{}, fmt.Errorf("backend %q is not defined", id)
	}
	if st.pool == nil {
		return Route{BackendID: id}, nil
	}
	return r.route(st, id, req, nil)
}

func (r *Registry) route(st *backendState, id string, req *http.Request, skip func(string) bool) (Route, error) {
	var have string
	if name := st.opts.AffinityCookie; name != "" && req != nil {
		if c, err := req.Cookie(name); err == nil {
			have = c.Value
		}
	}
	member, err := st.pool.pick(have, skip)
	if err != nil {
		return Route{}, err
	}
	rt := Route{BackendID: member, PoolID: id}
	if name := st.opts.AffinityCookie; name != "" {
		if tok := st.pool.AffinityToken(member); tok != have {
			rt.SetCookie = &http.Cookie{Name: name, Value: tok, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode}
		}
	}
	return rt, nil
}

// Route is the outcome of Registry.Route.
type Route struct {
	// BackendID is the single backend to send to.
	BackendID string
	// PoolID is the pool it was chosen from ("" when not a pool).
	PoolID string
	// SetCookie, when not nil, must be added to the client's response.
	SetCookie *http.Cookie
}

// Lease is one admitted backend call, from Registry.Acquire.
type Lease struct {
	Route
	end func(Outcome)
}

// End reports the call's outcome (see OutcomeOf) and releases its in-flight
// slot. Call it exactly once; later calls are ignored.
func (l *Lease) End(o Outcome) { l.end(o) }

// Acquire routes a call for backend id (single or pool) and admits it, in
// one step: for a pool, a member whose breaker refuses at the last moment (a
// concurrent request took its half-open trial) or whose maxInFlight is full
// is skipped and the next member chosen, so the client gets a 503 only when
// no member can take the call. Errors: unknown id, *PoolUnavailableError,
// and for a single backend *OpenError or *LimitError.
func (r *Registry) Acquire(id string, req *http.Request) (*Lease, error) {
	st, ok := r.backends[id]
	if !ok {
		return nil, fmt.Errorf("backend %q is not defined", id)
	}
	if st.pool == nil {
		end, err := r.Begin(id)
		if err != nil {
			return nil, err
		}
		return &Lease{Route: Route{BackendID: id}, end: end}, nil
	}
	var refused []string
	skip := func(m string) bool { return slices.Contains(refused, m) }
	for range len(st.pool.members) {
		rt, err := r.route(st, id, req, skip)
		if err != nil {
			return nil, err
		}
		end, err := r.Begin(rt.BackendID)
		if err == nil {
			return &Lease{Route: rt, end: end}, nil
		}
		refused = append(refused, rt.BackendID)
	}
	return nil, &PoolUnavailableError{PoolID: id}
}

// Begin admits one call to single backend id: its breaker must be closed (or
// grant the half-open trial) and its in-flight limit must have room. The
// caller sends the request and then calls the returned end exactly once with
// the outcome. Errors: *OpenError, *LimitError, or an unknown id.
func (r *Registry) Begin(id string) (end func(Outcome), err error) {
	st, ok := r.backends[id]
	if !ok || st.breaker == nil {
		return nil, fmt.Errorf("backend %q is not a single backend", id)
	}
	done, err := st.breaker.Allow()
	if err != nil {
		return nil, err
	}
	release := func() {}
	if st.opts.MaxInFlight > 0 {
		rel, err := r.inFlight.Acquire(id, st.opts.MaxInFlight)
		if err != nil {
			done(Outcome{}) // not sent: no verdict, frees a half-open trial
			return nil, err
		}
		release = rel
	}
	return func(o Outcome) {
		release()
		done(o)
	}, nil
}

// Budget returns the retry budget of single backend id, or nil for a pool
// or an unknown id (then retries are not budgeted).
func (r *Registry) Budget(id string) *RetryBudget {
	if st, ok := r.backends[id]; ok {
		return st.budget
	}
	return nil
}

// Breaker returns the breaker of single backend id, or nil.
func (r *Registry) Breaker(id string) *Breaker {
	if st, ok := r.backends[id]; ok {
		return st.breaker
	}
	return nil
}

// BackendStatus is one backend's resilience state, for /readyz detail.
type BackendStatus struct {
	ID       string       `json:"id"`
	Type     string       `json:"type"` // "single" or "pool"
	Breaker  string       `json:"circuitBreaker,omitempty"`
	Probe    *ProbeStatus `json:"healthProbe,omitempty"`
	InFlight int          `json:"inFlight"`
	// Available is what pools and forward-request see now.
	Available bool `json:"available"`
}

// Status returns every backend's state, sorted by id. A gateway is ready
// when every backend an API uses has Available true (or is a pool with one
// available member); the gateway decides what "ready" requires.
func (r *Registry) Status() []BackendStatus {
	probes := r.health.Status()
	out := make([]BackendStatus, 0, len(r.backends))
	for id, st := range r.backends {
		s := BackendStatus{ID: id, Type: "single"}
		if st.pool != nil {
			s.Type = "pool"
			for _, m := range st.pool.members {
				if r.Available(m.ID) {
					s.Available = true
					break
				}
			}
		} else {
			s.Breaker = st.breaker.State().String()
			s.InFlight = r.inFlight.InFlight(id)
			s.Available = r.Available(id)
			if p, ok := probes[id]; ok {
				s.Probe = &p
			}
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// OutcomeOf builds the Outcome of one backend call for Begin's end
// function from the response or the error, reading the backend's
// Retry-After. clientCtx is the incoming request's context: a call that
// failed because the client went away yields the no-verdict Outcome.
func OutcomeOf(clientCtx context.Context, resp *http.Response, err error, now time.Time) Outcome {
	if err != nil {
		f := Classify(clientCtx, err)
		if f.Reason == ReasonClientConnectionFailure {
			return Outcome{}
		}
		return Outcome{ErrorReason: f.Reason}
	}
	if resp == nil {
		return Outcome{}
	}
	ra, _ := ParseRetryAfter(resp.Header.Get("Retry-After"), now)
	return Outcome{StatusCode: resp.StatusCode, RetryAfter: ra}
}
