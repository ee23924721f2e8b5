package resilience

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"
)

func TestNewRegistryValidation(t *testing.T) {
	okRule := []Rule{{Count: 1, Interval: time.Second, TripDuration: time.Second}}
	tests := []struct {
		name     string
		backends []BackendOptions
		want     string
	}{
		{"ok", []BackendOptions{{ID: "a", URL: "http://127.0.0.1:1", Rules: okRule}, {ID: "p", Pool: []Member{{ID: "a"}}}}, ""},
		{"unknown member", []BackendOptions{{ID: "p", Pool: []Member{{ID: "ghost"}}}}, `unknown backend "ghost"`},
		{"pool of pools", []BackendOptions{{ID: "a"}, {ID: "p", Pool: []Member{{ID: "a"}}}, {ID: "q", Pool: []Member{{ID: "p"}}}}, "pools cannot contain pools"},
		{"duplicate", []BackendOptions{{ID: "a"}, {ID: "a"}}, "defined twice"},
		{"bad rule", []BackendOptions{{ID: "a", Rules: []Rule{{Count: 1}}}}, "circuitBreaker.rules[0]"},
		{"bad probe", []BackendOptions{{ID: "a", URL: "http://127.0.0.1:1", Probe: &ProbeOptions{Path: "x"}}}, "healthProbe.path"},
		{"rules on pool", []BackendOptions{{ID: "a"}, {ID: "p", Pool: []Member{{ID: "a"}}, Rules: okRule}}, "belong on the member backends"},
		{"negative maxInFlight", []BackendOptions{{ID: "a", MaxInFlight: -1}}, "maxInFlight"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := NewRegistry(tc.backends, nil, nil, nil, nil)
			if !errContains(err, tc.want) {
				t.Fatalf("NewRegistry error = %v, want %q", err, tc.want)
			}
			if r != nil {
				r.Close()
			}
		})
	}
}

func TestRegistryRouteBeginEnd(t *testing.T) {
	clk := NewFakeClock(t0)
	r, err := NewRegistry([]BackendOptions{
		{ID: "a", URL: "http://127.0.0.1:1", Rules: []Rule{{Name: "one", Count: 1, Interval: time.Minute, TripDuration: 10 * time.Second}}, MaxInFlight: 1},
		{ID: "b", URL: "http://127.0.0.1:2"},
		{ID: "pool", Pool: []Member{{ID: "a", Priority: 1}, {ID: "b", Priority: 2}}, AffinityCookie: "APIM-Backend-Affinity"},
	}, nil, clk, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	r.Start()

	req := httptest.NewRequest(http.MethodGet, "/", nil)
	rt, err := r.Route("pool", req)
	if err != nil || rt.BackendID != "a" || rt.PoolID != "pool" || rt.SetCookie == nil {
		t.Fatalf("Route = %+v, %v; want member a with a cookie", rt, err)
	}
	// The client sends the cookie back: same member, no new cookie.
	req.AddCookie(rt.SetCookie)
	if again, _ := r.Route("pool", req); again.BackendID != "a" || again.SetCookie != nil {
		t.Fatalf("Route with cookie = %+v, want a without a new cookie", again)
	}
	if single, _ := r.Route("b", nil); single.BackendID != "b" || single.PoolID != "" {
		t.Fatalf("Route(b) = %+v", single)
	}
	if _, err := r.Route("nope", nil); err == nil {
		t.Fatal("Route of an unknown backend succeeded")
	}

	end, err := r.Begin("a")
	if err != nil {
		t.Fatal(err)
	}
	var le *LimitError
	if _, err := r.Begin("a"); !errors.As(err, &le) || le.StatusCode() != http.StatusServiceUnavailable {
		t.Fatalf("second concurrent Begin = %v, want the maxInFlight bulkhead's *LimitError", err)
	}
	if st := r.Status(); st[0].ID != "a" || st[0].InFlight != 1 || st[0].Breaker != "closed" {
		t.Fatalf("Status = %+v", st)
	}
	end(Outcome{StatusCode: 500}) // trips rule "one"
	var open *OpenError
	if _, err := r.Begin("a"); !errors.As(err, &open) {
		t.Fatalf("Begin after trip = %v, want *OpenError", err)
	}
	// a is tripped: the pool fails over to b and re-pins the client.
	rt, err = r.Route("pool", req)
	if err != nil || rt.BackendID != "b" || rt.SetCookie == nil {
		t.Fatalf("Route after trip = %+v, %v; want b with a new cookie", rt, err)
	}
	st := r.Status()
	if st[0].Available || st[0].Breaker != "open" || !st[1].Available || st[2].Type != "pool" || !st[2].Available {
		t.Fatalf("Status after trip = %+v", st)
	}
	if r.Budget("a") == nil || r.Budget("pool") != nil || r.Breaker("a") == nil {
		t.Fatal("Budget/Breaker accessors")
	}
	if _, err := r.Begin("pool"); err == nil {
		t.Fatal("Begin on a pool must fail: route first")
	}
}

func TestOutcomeOf(t *testing.T) {
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	resp := &http.Response{StatusCode: 429, Header: http.Header{"Retry-After": {"7"}}}
	tests := []struct {
		name string
		ctx  context.Context
		resp *http.Response
		err  error
		want Outcome
	}{
		{"response", context.Background(), resp, nil, Outcome{StatusCode: 429, RetryAfter: 7 * time.Second}},
		{"timeout", context.Background(), nil, context.DeadlineExceeded, Outcome{ErrorReason: ReasonTimeout}},
		{"connection", context.Background(), nil, errors.New("reset"), Outcome{ErrorReason: ReasonBackendConnectionFailure}},
		{"client gone", gone, nil, context.Canceled, Outcome{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := OutcomeOf(tc.ctx, tc.resp, tc.err, t0); got != tc.want {
				t.Fatalf("OutcomeOf = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestRegistryInheritAcrossReload(t *testing.T) {
	clk := NewFakeClock(t0)
	m, reg := mustMetrics(t)
	rules := []Rule{{Name: "one", Count: 1, Interval: time.Minute, TripDuration: 10 * time.Second}}
	build := func(r []Rule) *Registry {
		t.Helper()
		x, err := NewRegistry([]BackendOptions{{ID: "a", URL: "http://127.0.0.1:1", Rules: r}, {ID: "b"}}, nil, clk, m, nil)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	old := build(rules)
	end, _ := old.Begin("a")
	end(Outcome{StatusCode: 503}) // trip

	same := build(slices.Clone(rules))
	same.Inherit(old)
	old.Close()
	defer same.Close()
	var open *OpenError
	if _, err := same.Begin("a"); !errors.As(err, &open) {
		t.Fatalf("after reload with the same rules: %v, want the inherited open breaker", err)
	}
	if got := metricValue(t, reg, "apimgw_circuit_breaker_state", "backend", "a"); got != 1 {
		t.Fatalf("state metric after reload = %v, want 1", got)
	}
	clk.Advance(10 * time.Second) // the inherited breaker's timer still runs
	if got := metricValue(t, reg, "apimgw_circuit_breaker_state", "backend", "a"); got != 2 {
		t.Fatalf("state metric after trip duration = %v, want 2", got)
	}

	changed := build([]Rule{{Name: "two", Count: 2, Interval: time.Minute, TripDuration: time.Second}})
	defer changed.Close()
	end, _ = same.Begin("a") // half-open trial on the old config
	end(Outcome{StatusCode: 503})
	changed.Inherit(same)
	if _, err := changed.Begin("a"); err != nil {
		t.Fatalf("after reload with changed rules: %v, want a fresh closed breaker", err)
	}
}

func TestRegistryInheritProbeVerdict(t *testing.T) {
	srv := newFaultServer(t, func(_ int64, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(503) })
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	probe := &ProbeOptions{Path: "/health", Interval: 20 * time.Millisecond, Timeout: 10 * time.Millisecond, UnhealthyThreshold: 1}
	build := func() *Registry {
		t.Helper()
		r, err := NewRegistry([]BackendOptions{{ID: "a", URL: srv.URL, Probe: probe}}, tr, nil, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	old := build()
	old.Start()
	if waitFor(2*time.Second, func() bool { return !old.Available("a") }) > 2*time.Second {
		t.Fatal("backend never became unhealthy")
	}
	next := build()
	defer next.Close()
	next.Inherit(old)
	old.Close()
	if next.Available("a") {
		t.Fatal("reload put an unhealthy backend back into rotation")
	}
	if st := next.Status(); st[0].Probe == nil || st[0].Probe.Healthy {
		t.Fatalf("Status = %+v, want the inherited unhealthy probe", st)
	}
}

func TestRegistryAcquireSkipsRefusingMembers(t *testing.T) {
	r, err := NewRegistry([]BackendOptions{
		{ID: "a", MaxInFlight: 1},
		{ID: "b", MaxInFlight: 1},
		{ID: "pool", Pool: []Member{{ID: "a", Priority: 1}, {ID: "b", Priority: 2}}},
	}, nil, NewFakeClock(t0), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	first, err := r.Acquire("pool", nil)
	if err != nil || first.BackendID != "a" || first.PoolID != "pool" {
		t.Fatalf("first Acquire = %+v, %v; want a", first, err)
	}
	second, err := r.Acquire("pool", nil)
	if err != nil || second.BackendID != "b" {
		t.Fatalf("second Acquire = %+v, %v; want b while a is full", second, err)
	}
	var le *LimitError
	if _, err := r.Acquire("a", nil); !errors.As(err, &le) {
		t.Fatalf("Acquire(a) while full = %v, want *LimitError", err)
	}
	var pu *PoolUnavailableError
	if _, err := r.Acquire("pool", nil); !errors.As(err, &pu) {
		t.Fatalf("Acquire(pool) with every member full = %v, want *PoolUnavailableError", err)
	}
	first.End(Outcome{StatusCode: 200})
	first.End(Outcome{StatusCode: 200}) // ignored
	third, err := r.Acquire("pool", nil)
	if err != nil || third.BackendID != "a" {
		t.Fatalf("after release: %+v, %v; want a", third, err)
	}
	third.End(Outcome{})
	second.End(Outcome{})
	if _, err := r.Acquire("ghost", nil); err == nil {
		t.Fatal("Acquire of an unknown backend succeeded")
	}
}
