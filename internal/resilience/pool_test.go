package resilience

import (
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"
)

// availSet is a concurrency-safe set of unavailable members.
type availSet struct {
	mu   sync.Mutex
	down map[string]bool
}

func (a *availSet) set(id string, down bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.down == nil {
		a.down = map[string]bool{}
	}
	a.down[id] = down
}

func (a *availSet) avail(id string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return !a.down[id]
}

func TestNewPoolValidation(t *testing.T) {
	tests := []struct {
		name    string
		members []Member
		want    string
	}{
		{"empty", nil, "at least one service"},
		{"no id", []Member{{}}, "services[0]: id is required"},
		{"duplicate", []Member{{ID: "a"}, {ID: "a"}}, "services[1]: duplicate id"},
		{"negative weight", []Member{{ID: "a", Weight: -1}}, "weight"},
		{"negative priority", []Member{{ID: "a", Priority: -1}}, "priority"},
		{"ok", []Member{{ID: "a"}, {ID: "b", Priority: 2, Weight: 5}}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewPool("p", tc.members, nil)
			if !errContains(err, tc.want) {
				t.Fatalf("NewPool error = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestPoolWeights(t *testing.T) {
	tests := []struct {
		name    string
		members []Member
		n       int
		want    map[string]int
	}{
		{"3:1 over 400", []Member{{ID: "a", Weight: 3}, {ID: "b", Weight: 1}}, 400, map[string]int{"a": 300, "b": 100}},
		{"unset weights are equal", []Member{{ID: "a"}, {ID: "b"}, {ID: "c"}}, 300, map[string]int{"a": 100, "b": 100, "c": 100}},
		{"5:2:1", []Member{{ID: "a", Weight: 5}, {ID: "b", Weight: 2}, {ID: "c", Weight: 1}}, 800, map[string]int{"a": 500, "b": 200, "c": 100}},
		{"only the best priority", []Member{{ID: "a", Priority: 1, Weight: 1}, {ID: "b", Priority: 2, Weight: 100}}, 50, map[string]int{"a": 50}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := NewPool("p", tc.members, nil)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]int{}
			for range tc.n {
				id, err := p.Pick("")
				if err != nil {
					t.Fatal(err)
				}
				got[id]++
			}
			for id, w := range tc.want {
				if got[id] != w {
					t.Fatalf("picks = %v, want %v", got, tc.want)
				}
			}
		})
	}
}

func TestPoolSmoothInterleaving(t *testing.T) {
	p, err := NewPool("p", []Member{{ID: "a", Weight: 3}, {ID: "b", Weight: 1}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var seq string
	for range 8 {
		id, _ := p.Pick("")
		seq += id
	}
	// Smooth WRR never sends a burst longer than needed: b appears once in
	// every window of 4.
	if seq != "aabaaaba" && seq != "abaaabaa" && seq != "aaba"+"aaba" {
		t.Fatalf("sequence %q is not smoothly interleaved", seq)
	}
}

func TestPoolPriorityFailover(t *testing.T) {
	var a availSet
	p, err := NewPool("orders-pool", []Member{
		{ID: "p1a", Priority: 1, Weight: 1}, {ID: "p1b", Priority: 1, Weight: 1},
		{ID: "p2", Priority: 2},
	}, a.avail)
	if err != nil {
		t.Fatal(err)
	}
	count := func(n int) map[string]int {
		got := map[string]int{}
		for range n {
			id, err := p.Pick("")
			if err != nil {
				got["error"]++
				continue
			}
			got[id]++
		}
		return got
	}
	if got := count(10); got["p1a"] != 5 || got["p1b"] != 5 {
		t.Fatalf("all up: %v, want priority 1 only, evenly", got)
	}
	a.set("p1a", true)
	if got := count(10); got["p1b"] != 10 {
		t.Fatalf("one of priority 1 down: %v, want the other priority-1 member only", got)
	}
	a.set("p1b", true)
	if got := count(10); got["p2"] != 10 {
		t.Fatalf("priority 1 down: %v, want failover to priority 2", got)
	}
	a.set("p2", true)
	_, err = p.Pick("")
	var unavailable *PoolUnavailableError
	if !errors.As(err, &unavailable) || unavailable.StatusReason() != "Backend pool orders-pool is temporarily unavailable" {
		t.Fatalf("everything down: %v, want *PoolUnavailableError", err)
	}
	a.set("p1a", false)
	a.set("p2", false)
	if got := count(10); got["p1a"] != 10 {
		t.Fatalf("priority 1 back: %v, want fail-back to priority 1", got)
	}
}

func TestPoolAffinity(t *testing.T) {
	var a availSet
	p, err := NewPool("pool", []Member{{ID: "a", Priority: 1}, {ID: "b", Priority: 2}}, a.avail)
	if err != nil {
		t.Fatal(err)
	}
	tokB := p.AffinityToken("b")
	if tokB == p.AffinityToken("a") || tokB == "" {
		t.Fatal("affinity tokens must differ per member")
	}
	other, _ := NewPool("other", []Member{{ID: "b"}}, nil)
	if other.AffinityToken("b") == tokB {
		t.Fatal("affinity token must depend on the pool")
	}
	tests := []struct {
		name     string
		affinity string
		bDown    bool
		want     string
	}{
		{"sticky wins over priority", tokB, false, "b"},
		{"sticky member down falls back", tokB, true, "a"},
		{"unknown token ignored", "stale-cookie", false, "a"},
		{"no token", "", false, "a"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a.set("b", tc.bDown)
			got, err := p.Pick(tc.affinity)
			if err != nil || got != tc.want {
				t.Fatalf("Pick(%q) = %q, %v; want %q", tc.affinity, got, err, tc.want)
			}
		})
	}
}

// TestPoolWithBreakersAndLoopbackBackends runs real backends behind a pool
// whose members' availability is their breakers: priority 1 fails, its
// breaker trips, traffic fails over to priority 2, and after the trip
// duration a successful trial brings it back.
func TestPoolWithBreakersAndLoopbackBackends(t *testing.T) {
	var mu sync.Mutex
	p1Status := http.StatusInternalServerError
	p1 := newFaultServer(t, func(_ int64, w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		w.WriteHeader(p1Status)
	})
	p2 := newFaultServer(t, func(_ int64, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	urls := map[string]string{"p1": p1.URL, "p2": p2.URL}
	clk := NewFakeClock(t0)
	breakers := map[string]*Breaker{}
	for id := range urls {
		b, err := NewBreaker(id, []Rule{{Count: 3, Interval: time.Minute, TripDuration: 10 * time.Second}}, clk, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		breakers[id] = b
	}
	pool, err := NewPool("pool", []Member{{ID: "p1", Priority: 1}, {ID: "p2", Priority: 2}},
		func(id string) bool { return breakers[id].Available() })
	if err != nil {
		t.Fatal(err)
	}
	client := newTestClient(t)
	send := func() string {
		id, err := pool.Pick("")
		if err != nil {
			t.Fatalf("Pick: %v", err)
		}
		done, err := breakers[id].Allow()
		if err != nil {
			t.Fatalf("Allow(%s): %v", id, err)
		}
		resp, err := client.Get(urls[id])
		if err != nil {
			t.Fatalf("GET %s: %v", id, err)
		}
		resp.Body.Close()
		done(Outcome{StatusCode: resp.StatusCode})
		return id
	}
	for i := range 3 {
		if id := send(); id != "p1" {
			t.Fatalf("request %d went to %s, want p1", i, id)
		}
	}
	for i := range 5 {
		if id := send(); id != "p2" {
			t.Fatalf("request %d after p1 tripped went to %s, want p2", i, id)
		}
	}
	if p1.hits.Load() != 3 || p2.hits.Load() != 5 {
		t.Fatalf("hits p1=%d p2=%d, want 3 and 5", p1.hits.Load(), p2.hits.Load())
	}
	mu.Lock()
	p1Status = http.StatusOK
	mu.Unlock()
	clk.Advance(10 * time.Second)
	for i := range 5 {
		if id := send(); id != "p1" {
			t.Fatalf("request %d after recovery went to %s, want p1 (fail back)", i, id)
		}
	}
}

func BenchmarkPoolPick(b *testing.B) {
	p, err := NewPool("p", []Member{{ID: "a", Weight: 3}, {ID: "b", Weight: 1}, {ID: "c", Priority: 2}}, func(string) bool { return true })
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := p.Pick(""); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkBreakerAllow(b *testing.B) {
	br, err := NewBreaker("x", []Rule{{Count: 100000, Interval: time.Minute, TripDuration: time.Second, StatusCodeRanges: fiveXX()}}, nil, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			done, err := br.Allow()
			if err != nil {
				b.Fatal(err)
			}
			done(Outcome{StatusCode: 200})
		}
	})
}

// TestPoolWeightsOverLoopback: weights 3:1 give 75%/25% (±5%) of 400 real
// requests, counted at the backends.
func TestPoolWeightsOverLoopback(t *testing.T) {
	ok := func(_ int64, w http.ResponseWriter, _ *http.Request) {}
	a, b := newFaultServer(t, ok), newFaultServer(t, ok)
	urls := map[string]string{"a": a.URL, "b": b.URL}
	p, err := NewPool("pool", []Member{{ID: "a", Weight: 3}, {ID: "b", Weight: 1}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	client := newTestClient(t)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for range 400 {
		id, err := p.Pick("")
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			resp, err := client.Get(urls[id])
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
		}()
	}
	wg.Wait()
	ha, hb := a.hits.Load(), b.hits.Load()
	if ha+hb != 400 || ha < 280 || ha > 320 || hb < 80 || hb > 120 {
		t.Fatalf("backend hits a=%d b=%d, want 300/100 ±20", ha, hb)
	}
}
