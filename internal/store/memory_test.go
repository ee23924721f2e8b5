package store

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a settable clock for the memory store.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock(t time.Time) *fakeClock {
	c := &fakeClock{}
	c.ns.Store(t.UnixNano())
	return c
}

func (c *fakeClock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// clock is the memory store clock reading c for both wall and monotonic time.
func (c *fakeClock) clock() clock {
	return clock{wall: c.now, monoMs: func() int64 { return c.now().UnixMilli() }}
}

func newTestMemory(t *testing.T, cfg MemoryConfig, clock *fakeClock, onEvict func()) *Memory {
	t.Helper()
	m, err := newMemory(cfg, clock.clock(), onEvict)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m
}

// TestSlidingWindow checks the window slides call by call, not in fixed
// blocks: each call leaves the window one period after it was made (rounded
// up to its slot).
func TestSlidingWindow(t *testing.T) {
	start := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	spec := RateSpec{Limit: 3, Period: 60 * time.Second}
	width := time.Duration(slotWidthMillis(spec.Period)) * time.Millisecond
	type step struct {
		at      time.Duration // since start
		allowed bool
		retry   time.Duration // expected RetryAfter when refused (± one slot)
	}
	steps := []step{
		{at: 0, allowed: true},
		{at: 10 * time.Second, allowed: true},
		{at: 20 * time.Second, allowed: true},
		{at: 30 * time.Second, allowed: false, retry: 30 * time.Second},
		{at: 59 * time.Second, allowed: false, retry: time.Second},
		{at: 60*time.Second + width, allowed: true}, // the call at 0 has left
		{at: 61 * time.Second, allowed: false, retry: 9 * time.Second},
		{at: 70*time.Second + width, allowed: true}, // the call at 10s has left
	}
	clock := newFakeClock(start)
	m := newTestMemory(t, MemoryConfig{}, clock, nil)
	for _, s := range steps {
		clock.ns.Store(start.Add(s.at).UnixNano())
		d := mustRate(t, m, "k", spec, 1)
		if d.Allowed != s.allowed {
			t.Fatalf("at %s: allowed=%v want %v (%+v)", s.at, d.Allowed, s.allowed, d)
		}
		if !s.allowed && (d.RetryAfter < s.retry || d.RetryAfter > s.retry+width) {
			t.Fatalf("at %s: RetryAfter %s, want %s (+ up to %s)", s.at, d.RetryAfter, s.retry, width)
		}
	}
}

// TestSlidingWindowNeverExceedsLimit drives a window with an irregular
// stream of calls and checks, against an exact log of the admitted calls,
// that no window of length Period ever admits more than Limit.
func TestSlidingWindowNeverExceedsLimit(t *testing.T) {
	start := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	for _, spec := range []RateSpec{
		{Limit: 5, Period: time.Second},
		{Limit: 100, Period: 60 * time.Second},
		{Limit: 7, Period: 1500 * time.Millisecond},
	} {
		clock := newFakeClock(start)
		m := newTestMemory(t, MemoryConfig{}, clock, nil)
		var admitted []time.Time
		step := spec.Period / 97 // irregular relative to the slots
		for i := range 5000 {
			clock.advance(step + time.Duration(i%7)*time.Millisecond)
			d := mustRate(t, m, "k", spec, 1)
			now := clock.now()
			if d.Allowed {
				admitted = append(admitted, now)
			}
			var inWindow int64
			for _, a := range admitted {
				if now.Sub(a) < spec.Period {
					inWindow++
				}
			}
			if inWindow > spec.Limit {
				t.Fatalf("%+v: %d calls admitted within one period at %s", spec, inWindow, now.Sub(start))
			}
		}
		// The limiter must not be too strict either: a long run admits close
		// to Limit per Period.
		elapsed := clock.now().Sub(start)
		want := float64(spec.Limit) * float64(elapsed) / float64(spec.Period)
		if got := float64(len(admitted)); got < 0.95*want {
			t.Fatalf("%+v: admitted %.0f over %s, want about %.0f", spec, got, elapsed, want)
		}
	}
}

func TestQuotaPeriodsRenew(t *testing.T) {
	first := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := newFakeClock(first.Add(10 * time.Minute))
	m := newTestMemory(t, MemoryConfig{}, clock, nil)
	spec := QuotaSpec{Calls: 2, Period: time.Hour, FirstPeriodStart: first}
	mustQuota(t, m, "k", spec, 1)
	mustQuota(t, m, "k", spec, 1)
	d := mustQuota(t, m, "k", spec, 1)
	if d.Allowed || d.RenewsIn != 50*time.Minute || d.Message() != "Out of call volume quota. Quota will be replenished in 00:50:00." {
		t.Fatalf("third call: %+v %q", d, d.Message())
	}
	if d.RetryAfterSeconds() != 3000 {
		t.Fatalf("RetryAfterSeconds %d", d.RetryAfterSeconds())
	}
	clock.advance(50 * time.Minute) // next period starts exactly now
	if d := mustQuota(t, m, "k", spec, 1); !d.Allowed || d.CallsUsed != 1 || d.RenewsIn != time.Hour {
		t.Fatalf("first call of the next period: %+v", d)
	}
}

func TestQuotaMessageFormat(t *testing.T) {
	for _, c := range []struct {
		in   time.Duration
		want string
	}{
		{504 * time.Second, "Out of call volume quota. Quota will be replenished in 00:08:24."},
		{1500 * time.Millisecond, "Out of call volume quota. Quota will be replenished in 00:00:02."},
		{26*time.Hour + 3*time.Second, "Out of call volume quota. Quota will be replenished in 1.02:00:03."},
	} {
		d := QuotaDecision{Exceeded: QuotaCallsExceeded, RenewsIn: c.in}
		if got := d.Message(); got != c.want {
			t.Errorf("RenewsIn %s: %q, want %q", c.in, got, c.want)
		}
	}
	if got := (RateDecision{RetryAfter: 1500 * time.Millisecond}).Message(); got != "Rate limit is exceeded. Try again in 2 seconds." {
		t.Errorf("rate message %q", got)
	}
}

func TestCounterTableBoundedAndSwept(t *testing.T) {
	clock := newFakeClock(time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC))
	var evicted atomic.Int64
	m := newTestMemory(t, MemoryConfig{MaxCounters: memoryShards * 4}, clock, func() { evicted.Add(1) })
	spec := RateSpec{Limit: 10, Period: time.Second}
	count := func() int {
		n := 0
		for i := range m.shards {
			m.shards[i].mu.Lock()
			n += len(m.shards[i].rates) + len(m.shards[i].quotas)
			m.shards[i].mu.Unlock()
		}
		return n
	}
	for i := range 2000 {
		mustRate(t, m, string(rune('a'+i%26))+time.Duration(i).String(), spec, 1)
	}
	if n := count(); n > memoryShards*4 {
		t.Fatalf("%d counters live, bound is %d", n, memoryShards*4)
	}
	if evicted.Load() == 0 {
		t.Fatal("no eviction reported while over the bound")
	}
	// Expired windows are dropped before anything live is evicted: let
	// every window expire, then fill each shard again up to its share.
	clock.advance(2 * time.Second)
	before := evicted.Load()
	fresh := map[*counterShard]int{}
	for i := 0; i < 100000 && len(fresh) < memoryShards; i++ {
		key := "fresh" + time.Duration(i).String()
		if s := m.shard(key); fresh[s] < 4 {
			fresh[s]++
			mustRate(t, m, key, spec, 1)
		}
	}
	if evicted.Load() != before {
		t.Fatal("evicted live counters while expired ones could be swept")
	}
	clock.advance(2 * time.Second)
	m.sweep()
	if n := count(); n != 0 {
		t.Fatalf("%d counters left after every window expired", n)
	}
}

func TestMemoryCacheBounded(t *testing.T) {
	m, err := NewMemory(MemoryConfig{MaxBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	val := make([]byte, 1024)
	for i := range 1000 {
		if err := m.Set(ctx, time.Duration(i).String(), val, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	m.cache.CleanUp()
	if w := m.cache.WeightedSize(); w > 64<<10 {
		t.Fatalf("cache holds %d bytes, bound is %d", w, 64<<10)
	}
}

func TestMemoryConcurrentExact(t *testing.T) {
	m, err := NewMemory(MemoryConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	spec := RateSpec{Limit: 1000, Period: time.Minute}
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 500 {
				if mustRate(t, m, "k", spec, 1).Allowed {
					admitted.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if admitted.Load() != 1000 {
		t.Fatalf("admitted %d of 4000 concurrent calls, want exactly 1000", admitted.Load())
	}
}
