package resilience

import (
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestProbeOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		o    ProbeOptions
		want string
	}{
		{"defaults", ProbeOptions{Path: "/health"}, ""},
		{"spec example", ProbeOptions{Path: "/health", Interval: 5 * time.Second, Timeout: time.Second, HealthyThreshold: 2, UnhealthyThreshold: 3}, ""},
		{"relative path", ProbeOptions{Path: "health"}, "healthProbe.path"},
		{"timeout over interval", ProbeOptions{Path: "/h", Interval: time.Second, Timeout: 2 * time.Second}, "healthProbe.timeout"},
		{"negative interval", ProbeOptions{Path: "/h", Interval: -time.Second}, "healthProbe.interval"},
		{"negative threshold", ProbeOptions{Path: "/h", UnhealthyThreshold: -1}, "unhealthyThreshold"},
		{"bad status range", ProbeOptions{Path: "/h", ExpectedStatus: []StatusRange{{Min: 300, Max: 200}}}, "expectedStatus[0]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.o.Validate(); !errContains(err, tc.want) {
				t.Fatalf("Validate() = %v, want %q", err, tc.want)
			}
		})
	}
}

// switchable is a backend handler whose behaviour a test flips.
type switchable struct {
	mu   sync.Mutex
	mode string // "ok", "503", "hang", "reset"
	path string
}

func (s *switchable) set(mode string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mode = mode
}

func (s *switchable) serve(_ int64, w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	mode := s.mode
	s.path = r.URL.RequestURI()
	s.mu.Unlock()
	switch mode {
	case "503":
		w.WriteHeader(http.StatusServiceUnavailable)
	case "hang":
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	case "reset":
		hj, ok := w.(http.Hijacker)
		if !ok {
			http.Error(w, "cannot hijack", http.StatusInternalServerError)
			return
		}
		conn, _, err := hj.Hijack()
		if err == nil {
			if tc, ok := conn.(*net.TCPConn); ok {
				_ = tc.SetLinger(0)
			}
			conn.Close()
		}
	default:
		_, _ = w.Write([]byte("ok"))
	}
}

// waitFor polls cond until it holds or limit passes and returns the time it
// took (or limit+1 when it never held).
func waitFor(limit time.Duration, cond func() bool) time.Duration {
	start := time.Now()
	for time.Since(start) <= limit {
		if cond() {
			return time.Since(start)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return limit + 1
}

func TestHealthCheckerDetectsFaults(t *testing.T) {
	const interval = 60 * time.Millisecond
	const unhealthyAfter = 3
	// Detection must happen within interval × unhealthyThreshold (plus the
	// probe timeout and scheduling slack on a shared CI machine).
	limit := interval*unhealthyAfter + 40*time.Millisecond + 500*time.Millisecond
	for _, fault := range []string{"503", "hang", "reset"} {
		t.Run(fault, func(t *testing.T) {
			var sw switchable
			srv := newFaultServer(t, sw.serve)
			tr := &http.Transport{}
			defer tr.CloseIdleConnections()
			m, reg := mustMetrics(t)
			hc := NewHealthChecker(tr, nil, m, nil)
			defer hc.Close()
			err := hc.Add("orders", srv.URL+"/base/", ProbeOptions{Path: "/health?deep=1", Interval: interval, Timeout: 40 * time.Millisecond,
				HealthyThreshold: 2, UnhealthyThreshold: unhealthyAfter})
			if err != nil {
				t.Fatal(err)
			}
			hc.Start()
			if waitFor(2*time.Second, func() bool { return hc.Status()["orders"].ConsecutiveSuccesses >= 1 }) > 2*time.Second {
				t.Fatal("first probe never succeeded")
			}
			sw.mu.Lock()
			path := sw.path
			sw.mu.Unlock()
			if path != "/base/health?deep=1" {
				t.Fatalf("probe requested %q, want /base/health?deep=1", path)
			}
			if !hc.Healthy("orders") {
				t.Fatal("backend unhealthy while answering 200")
			}
			sw.set(fault)
			took := waitFor(limit, func() bool { return !hc.Healthy("orders") })
			if took > limit {
				t.Fatalf("backend still healthy %v after it started failing (%s)", limit, fault)
			}
			t.Logf("%s: unhealthy after %v (interval×unhealthyThreshold = %v)", fault, took, interval*unhealthyAfter)
			st := hc.Status()["orders"]
			if st.Healthy || st.ConsecutiveFailures < unhealthyAfter || st.LastError == "" {
				t.Fatalf("status = %+v, want unhealthy with %d failures and an error", st, unhealthyAfter)
			}
			if got := metricValue(t, reg, "apimgw_backend_health", "backend", "orders"); got != 0 {
				t.Fatalf("health metric = %v, want 0", got)
			}
			sw.set("ok")
			if took := waitFor(2*time.Second, func() bool { return hc.Healthy("orders") }); took > 2*time.Second {
				t.Fatal("backend never became healthy again")
			}
			if got := metricValue(t, reg, "apimgw_backend_health", "backend", "orders"); got != 1 {
				t.Fatalf("health metric = %v, want 1", got)
			}
		})
	}
}

// TestUnhealthyMemberLeavesPool: a pool whose availability is the health
// checker stops sending to a member once its probes fail.
func TestUnhealthyMemberLeavesPool(t *testing.T) {
	var a, b switchable
	srvA := newFaultServer(t, a.serve)
	srvB := newFaultServer(t, b.serve)
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	hc := NewHealthChecker(tr, nil, nil, nil)
	defer hc.Close()
	opts := ProbeOptions{Path: "/health", Interval: 50 * time.Millisecond, Timeout: 30 * time.Millisecond, HealthyThreshold: 1, UnhealthyThreshold: 2}
	if err := hc.Add("a", srvA.URL, opts); err != nil {
		t.Fatal(err)
	}
	if err := hc.Add("b", srvB.URL, opts); err != nil {
		t.Fatal(err)
	}
	hc.Start()
	pool, err := NewPool("pool", []Member{{ID: "a"}, {ID: "b"}}, hc.Healthy)
	if err != nil {
		t.Fatal(err)
	}
	b.set("503")
	if waitFor(2*time.Second, func() bool { return !hc.Healthy("b") }) > 2*time.Second {
		t.Fatal("b never became unhealthy")
	}
	for range 20 {
		if id, err := pool.Pick(""); err != nil || id != "a" {
			t.Fatalf("Pick = %q, %v; want a while b is unhealthy", id, err)
		}
	}
}

func TestHealthCheckerAddAndClose(t *testing.T) {
	var sw switchable
	srv := newFaultServer(t, sw.serve)
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	before := runtime.NumGoroutine()
	hc := NewHealthChecker(tr, nil, nil, nil)
	tests := []struct {
		name, id, url string
		opts          ProbeOptions
		want          string
	}{
		{"ok", "a", srv.URL, ProbeOptions{Path: "/h", Interval: 20 * time.Millisecond, Timeout: 10 * time.Millisecond}, ""},
		{"duplicate", "a", srv.URL, ProbeOptions{Path: "/h"}, "already added"},
		{"bad url", "b", "orders.internal:9001", ProbeOptions{Path: "/h"}, "not an absolute http(s) URL"},
		{"bad options", "c", srv.URL, ProbeOptions{Path: "h"}, "healthProbe.path"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := hc.Add(tc.id, tc.url, tc.opts); !errContains(err, tc.want) {
				t.Fatalf("Add = %v, want %q", err, tc.want)
			}
		})
	}
	if !hc.Healthy("unprobed") {
		t.Fatal("a backend without a probe must count as healthy")
	}
	hc.Start()
	hc.Start() // idempotent
	// Added after Start: probed at once.
	if err := hc.Add("late", srv.URL, ProbeOptions{Path: "/late", Interval: 20 * time.Millisecond, Timeout: 10 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if waitFor(2*time.Second, func() bool { return !hc.Status()["late"].LastProbe.IsZero() }) > 2*time.Second {
		t.Fatal("backend added after Start was never probed")
	}
	hc.Close()
	// A probe that Close cancelled in flight may still reach the server:
	// let such a straggler land before counting.
	time.Sleep(30 * time.Millisecond)
	n := srv.hits.Load()
	time.Sleep(60 * time.Millisecond)
	if srv.hits.Load() != n {
		t.Fatal("probes continued after Close")
	}
	tr.CloseIdleConnections()
	if waitFor(2*time.Second, func() bool { return runtime.NumGoroutine() <= before }) > 2*time.Second {
		t.Fatalf("goroutines: %d after Close, %d before the checker: leaked probe loops", runtime.NumGoroutine(), before)
	}
	if err := hc.Add("after", srv.URL, ProbeOptions{Path: "/h"}); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Fatalf("Add after Close = %v, want closed error", err)
	}
}

// TestHealthCheckerExactDetectionTime drives the probe schedule with a fake
// clock (the probes themselves are real loopback requests): a backend that
// starts failing right after a successful probe is out of rotation exactly
// interval × unhealthyThreshold later, and back after healthyThreshold
// successful probes.
func TestHealthCheckerExactDetectionTime(t *testing.T) {
	var sw switchable
	srv := newFaultServer(t, sw.serve)
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	clk := NewFakeClock(t0)
	hc := NewHealthChecker(tr, clk, nil, nil)
	defer hc.Close()
	const interval = 5 * time.Second
	if err := hc.Add("a", srv.URL, ProbeOptions{Path: "/health", Interval: interval, Timeout: time.Second,
		HealthyThreshold: 2, UnhealthyThreshold: 3}); err != nil {
		t.Fatal(err)
	}
	probes := func() int64 { return srv.hits.Load() }
	// waitProbe waits until n probes were answered and the loop sleeps again.
	waitProbe := func(n int64) {
		t.Helper()
		if waitFor(5*time.Second, func() bool {
			st := hc.Status()["a"]
			return probes() >= n && st.LastProbe.Equal(clk.Now()) && clk.Pending() > 0
		}) > 5*time.Second {
			t.Fatalf("probe %d did not complete (hits %d)", n, probes())
		}
	}
	hc.Start()
	waitProbe(1) // first probe at start: healthy
	sw.set("503")
	start := clk.Now()
	var n int64 = 1
	for hc.Healthy("a") {
		if n > 10 {
			t.Fatal("never became unhealthy")
		}
		clk.Advance(interval)
		n++
		waitProbe(n)
	}
	if took := clk.Now().Sub(start); took != 3*interval {
		t.Fatalf("unhealthy after %v, want exactly interval × unhealthyThreshold = %v", took, 3*interval)
	}
	sw.set("ok")
	clk.Advance(interval)
	n++
	waitProbe(n)
	if hc.Healthy("a") {
		t.Fatal("healthy again after 1 success, want healthyThreshold = 2")
	}
	clk.Advance(interval)
	n++
	waitProbe(n)
	if !hc.Healthy("a") {
		t.Fatal("not healthy after 2 successes")
	}
}
