package store

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// BenchmarkMemoryRateLimit is one rate-limit-by-key decision in the memory
// store (the budget is 300 ns).
func BenchmarkMemoryRateLimit(b *testing.B) {
	m, err := NewMemory(MemoryConfig{})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	spec := RateSpec{Limit: 1 << 40, Period: 60 * time.Second}
	b.Run("one-key", func(b *testing.B) {
		start := cpuTime(b)
		for b.Loop() {
			_, _ = m.RateLimit(ctx, "subscription-alice", spec, 1)
		}
		reportCPU(b, start)
	})
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = "client-ip-10.0." + strconv.Itoa(i/256) + "." + strconv.Itoa(i%256)
	}
	b.Run("parallel-1024-keys", func(b *testing.B) {
		start := cpuTime(b)
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				_, _ = m.RateLimit(ctx, keys[i%len(keys)], spec, 1)
				i++
			}
		})
		reportCPU(b, start)
	})
}

// BenchmarkRedisRateLimit is one rate-limit decision against a real Redis
// on loopback (one Lua round trip).
func BenchmarkRedisRateLimit(b *testing.B) {
	addr := redisAddr(b)
	r, err := NewRedis(RedisConfig{Addr: addr})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	ctx := context.Background()
	spec := RateSpec{Limit: 1 << 40, Period: 60 * time.Second}
	key := "bench-" + strconv.FormatInt(time.Now().UnixNano(), 10)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := r.RateLimit(ctx, key, spec, 1); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkEndToEnd compares a request through a gateway-like proxy that
// passes through to a loopback backend with the same request served from
// the response cache (memory store). Compare the ns/op of the two.
func BenchmarkEndToEnd(b *testing.B) {
	backend := newCountingBackend(b, nil)
	s, err := NewMemory(MemoryConfig{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	run := func(b *testing.B, p *cachingProxy) {
		srv := httptest.NewServer(p)
		defer srv.Close()
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
		defer client.CloseIdleConnections()
		get(b, client, srv.URL+"/orders/1") // warm the cache
		b.ResetTimer()
		start := cpuTime(b)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				get(b, client, srv.URL+"/orders/1")
			}
		})
		reportCPU(b, start)
	}
	newProxy := func(c *ResponseCache) *cachingProxy {
		return &cachingProxy{
			cache:   c,
			backend: backend.srv.URL,
			client:  &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}},
			opts:    CacheKeyOptions{API: "orders", Operation: "get-order"},
			ttl:     time.Hour,
		}
	}
	b.Run("pass-through", func(b *testing.B) { run(b, newProxy(nil)) })
	b.Run("cache-hit", func(b *testing.B) { run(b, newProxy(NewResponseCache(s, 0))) })
	b.Run("cache-hit-redis", func(b *testing.B) {
		r, err := New(Config{Type: TypeRedis, Redis: RedisConfig{Addr: redisAddr(b)}}, nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer r.Close()
		run(b, newProxy(NewResponseCache(r, 0)))
	})
}

// cpuTime is the process's user+system CPU time. On a shared machine the
// wall-clock ns/op of a CPU-bound benchmark includes time spent waiting for
// a core; CPU time per operation does not.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the CPU time per operation since start as cpu-ns/op.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime(b)-start)/float64(b.N), "cpu-ns/op")
}
