package store

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestCloseStopsGoroutines: every goroutine a store starts (sweeper, cache
// maintenance, health check, connection pool) is gone after Close.
func TestCloseStopsGoroutines(t *testing.T) {
	addr := redisAddr(t)
	for _, cfg := range []Config{
		{Type: TypeMemory},
		{Type: TypeRedis, Redis: RedisConfig{Addr: addr, HealthCheckInterval: 10 * time.Millisecond}},
	} {
		before := runtime.NumGoroutine()
		s, err := New(cfg, prometheus.NewRegistry(), nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		mustRate(t, s, "k", RateSpec{Limit: 1, Period: time.Second}, 1)
		if err := s.Set(ctx, "k", []byte("v"), time.Second); err != nil {
			t.Fatal(err)
		}
		time.Sleep(30 * time.Millisecond) // let the health check run
		if err := s.Close(); err != nil {
			t.Fatalf("%s: Close: %v", cfg.Type, err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("%s: second Close: %v", cfg.Type, err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<16)
				t.Fatalf("%s store: %d goroutines after Close, %d before:\n%s",
					cfg.Type, runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}
