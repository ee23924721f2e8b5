package gateway

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countingBackend answers with status(n) for the n-th call (0-based) and
// records call times.
func countingBackend(t *testing.T, name string, status func(n int) int) (*httptest.Server, *atomic.Int64, func() []time.Time) {
	var n atomic.Int64
	var mu sync.Mutex
	var times []time.Time
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1) - 1)
		mu.Lock()
		times = append(times, time.Now())
		mu.Unlock()
		w.Header().Set("X-Served-By", name)
		w.WriteHeader(status(i))
		fmt.Fprint(w, name)
	}))
	t.Cleanup(srv.Close)
	return srv, &n, func() []time.Time {
		mu.Lock()
		defer mu.Unlock()
		return append([]time.Time(nil), times...)
	}
}

func TestRetryPolicyThroughGateway(t *testing.T) {
	be, calls, times := countingBackend(t, "b", func(int) int { return 503 })
	h := start(t, map[string]string{
		"gateway.yaml": openAPI(be.URL, "GET"),
		"api.xml": `<policies><inbound><base/></inbound>
<backend>
  <retry condition="@(context.Response.StatusCode == 503)" count="3" interval="0" delta="0">
    <forward-request timeout="10" />
  </retry>
</backend>
<outbound><base/></outbound><on-error><base/></on-error></policies>`,
	})
	resp, _ := h.do("GET", "/a/x", nil, nil)
	if resp.StatusCode != 503 {
		t.Fatalf("status %d, want the last attempt's 503", resp.StatusCode)
	}
	if got := calls.Load(); got != 4 {
		t.Fatalf("backend calls %d, want 4 (1 + 3 retries)", got)
	}
	if ts := times(); len(ts) != 4 {
		t.Fatalf("times %v", ts)
	}
}

func TestRetryFixedSpacing(t *testing.T) {
	be, calls, times := countingBackend(t, "b", func(n int) int {
		if n < 2 {
			return 500
		}
		return 200
	})
	h := start(t, map[string]string{
		"gateway.yaml": openAPI(be.URL, "POST"),
		"api.xml": `<policies><inbound><base/></inbound>
<backend>
  <retry condition="@(context.Response.StatusCode >= 500)" count="5" interval="1">
    <forward-request />
  </retry>
</backend>
<outbound><base/></outbound><on-error><base/></on-error></policies>`,
	})
	resp, body := h.do("POST", "/a/x", strings.NewReader("payload"), nil)
	if resp.StatusCode != 200 || body != "b" {
		t.Fatalf("status %d %q", resp.StatusCode, body)
	}
	if calls.Load() != 3 {
		t.Fatalf("calls %d, want 3", calls.Load())
	}
	ts := times()
	for i := 1; i < len(ts); i++ {
		gap := ts[i].Sub(ts[i-1])
		if gap < 980*time.Millisecond || gap > 1300*time.Millisecond {
			t.Errorf("gap %d = %v, want 1s (fixed interval)", i, gap)
		}
	}
}

func TestCircuitBreakerOpensAnd503s(t *testing.T) {
	be, calls, _ := countingBackend(t, "b", func(int) int { return 500 })
	h := start(t, map[string]string{
		"gateway.yaml": `
backends:
  flaky:
    url: ` + be.URL + `
    circuitBreaker:
      rules:
        - name: three-500s
          failureCondition: {count: 3, interval: 1m, statusCodeRanges: [{min: 500, max: 599}]}
          tripDuration: 300ms
apis:
  - id: a
    path: a
    backendId: flaky
    subscriptionRequired: false
    operations: [{id: all, method: GET, urlTemplate: "/*"}]
`})
	for i := 0; i < 3; i++ {
		if resp, _ := h.do("GET", "/a/x", nil, nil); resp.StatusCode != 500 {
			t.Fatalf("call %d: %d", i, resp.StatusCode)
		}
	}
	resp, body := h.do("GET", "/a/x", nil, nil)
	wantAPIMError(t, resp, body, 503, "Service Unavailable")
	if calls.Load() != 3 {
		t.Fatalf("the open breaker let a call through: %d calls", calls.Load())
	}
	recs := h.records()
	if r := recs[len(recs)-1]; r.LastErrorReason != "CircuitBreakerOpen" || r.BackendResponseCode != 0 {
		t.Errorf("log line while open: %+v", r)
	}
	time.Sleep(400 * time.Millisecond)
	if resp, _ := h.do("GET", "/a/x", nil, nil); resp.StatusCode != 500 || calls.Load() != 4 {
		t.Fatalf("half-open trial: status %d calls %d", resp.StatusCode, calls.Load())
	}
}

func TestPoolPriorityFailoverAndWeights(t *testing.T) {
	var primaryDown atomic.Bool
	p1, _, _ := countingBackend(t, "p1", func(int) int {
		if primaryDown.Load() {
			return 503
		}
		return 200
	})
	p2, _, _ := countingBackend(t, "p2", func(int) int { return 200 })
	s1, _, _ := countingBackend(t, "s1", func(int) int { return 200 })
	rule := `
    circuitBreaker:
      rules:
        - {name: r, failureCondition: {count: 1, interval: 1m, statusCodeRanges: [{min: 500, max: 599}]}, tripDuration: 1m}`
	h := start(t, map[string]string{
		"gateway.yaml": `
backends:
  p1:
    url: ` + p1.URL + rule + `
  p2:
    url: ` + p2.URL + rule + `
  s1:
    url: ` + s1.URL + `
  pool:
    type: pool
    pool:
      services:
        - {id: p1, priority: 1, weight: 3}
        - {id: p2, priority: 1, weight: 1}
        - {id: s1, priority: 2}
apis:
  - id: a
    path: a
    backendId: pool
    subscriptionRequired: false
    operations: [{id: all, method: GET, urlTemplate: "/*"}]
`})
	count := map[string]int{}
	for i := 0; i < 400; i++ {
		resp, body := h.do("GET", "/a/x", nil, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		count[body]++
	}
	if p := float64(count["p1"]) / 400; p < 0.70 || p > 0.80 || count["s1"] != 0 {
		t.Fatalf("weights 3:1 gave %v", count)
	}
	// p1 fails once and trips; traffic stays on priority 1 (p2).
	primaryDown.Store(true)
	got := map[string]int{}
	for i := 0; i < 20; i++ {
		_, body := h.do("GET", "/a/x", nil, nil)
		got[body]++
	}
	if got["p1"] > 1 || got["s1"] != 0 {
		t.Fatalf("with p1 tripped: %v", got)
	}
	recs := h.records()
	if r := recs[len(recs)-1]; r.BackendId != "p2" {
		t.Errorf("log BackendId %q, want p2", r.BackendId)
	}
}

// A forward-request whose timeout expression fails gives back the bulkhead
// slot its backend admitted it to: the slot used to stay taken, so with
// maxInFlight: 1 every later request was refused with 503.
func TestFailedTimeoutExpressionReleasesSlot(t *testing.T) {
	be, calls, _ := countingBackend(t, "b", func(int) int { return 200 })
	h := start(t, map[string]string{
		"gateway.yaml": `
backends:
  one:
    url: ` + be.URL + `
    maxInFlight: 1
apis:
  - id: a
    path: a
    backendId: one
    subscriptionRequired: false
    policy: a.xml
    operations: [{id: all, method: GET, urlTemplate: "/*"}]
`,
		"a.xml": `<policies><inbound><base/></inbound>
<backend><forward-request timeout="@(int.Parse(context.Request.Headers.GetValueOrDefault(&quot;x-timeout&quot;, &quot;30&quot;)))"/></backend>
<outbound><base/></outbound><on-error><base/></on-error></policies>`,
	})
	for i := range 3 {
		if resp, _ := h.do("GET", "/a/x", nil, map[string]string{"x-timeout": "soon"}); resp.StatusCode != 500 {
			t.Fatalf("bad timeout %d: status %d, want 500", i, resp.StatusCode)
		}
	}
	if resp, body := h.do("GET", "/a/x", nil, nil); resp.StatusCode != 200 || calls.Load() != 1 {
		t.Fatalf("after failed timeouts: status %d %q, backend calls %d; want 200 and 1", resp.StatusCode, body, calls.Load())
	}
}
