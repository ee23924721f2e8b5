package resilience

import (
	"math/rand/v2"
	"testing"
	"time"
)

func BenchmarkRegistryRouteBegin(b *testing.B) {
	r, err := NewRegistry([]BackendOptions{
		{ID: "a", Rules: []Rule{{Count: 100000, Interval: time.Minute, TripDuration: time.Second}}, MaxInFlight: 1 << 20},
		{ID: "b"},
		{ID: "pool", Pool: []Member{{ID: "a", Weight: 3}, {ID: "b", Weight: 1}}},
	}, nil, nil, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			rt, err := r.Route("pool", nil)
			if err != nil {
				b.Fatal(err)
			}
			end, err := r.Begin(rt.BackendID)
			if err != nil {
				b.Fatal(err)
			}
			end(Outcome{StatusCode: 200})
		}
	})
}

func BenchmarkRegistryAcquirePool(b *testing.B) {
	r, err := NewRegistry([]BackendOptions{
		{ID: "a", Rules: []Rule{{Count: 100000, Interval: time.Minute, TripDuration: time.Second}}, MaxInFlight: 1 << 20},
		{ID: "b"},
		{ID: "pool", Pool: []Member{{ID: "a", Weight: 3}, {ID: "b", Weight: 1}}, AffinityCookie: "aff"},
	}, nil, nil, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			l, err := r.Acquire("pool", nil)
			if err != nil {
				b.Fatal(err)
			}
			l.End(Outcome{StatusCode: 200})
		}
	})
}

func BenchmarkLimiterAcquire(b *testing.B) {
	l := NewLimiter(ScopeLimitConcurrency, nil)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			release, err := l.Acquire("key", 1<<20)
			if err != nil {
				b.Fatal(err)
			}
			release()
		}
	})
}

func BenchmarkRetryBudget(b *testing.B) {
	bud := NewRetryBudget("x", BudgetOptions{}, nil, nil)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		bud.Request()
		if i%5 == 0 {
			bud.Retry()
		}
	}
}

func BenchmarkRetryWaitExponential(b *testing.B) {
	o := RetryOptions{Count: 10, Interval: time.Second, Delta: time.Second, MaxInterval: time.Minute, Jitter: true}
	rnd := rand.New(rand.NewPCG(1, 1))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		_ = o.Wait(i%10+1, rnd)
	}
}
