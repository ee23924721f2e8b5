package store

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// implementations are the Stores every conformance case runs against.
func implementations(t *testing.T) []struct {
	name string
	open func(t *testing.T) Store
} {
	return []struct {
		name string
		open func(t *testing.T) Store
	}{
		{"memory", func(t *testing.T) Store {
			s, err := New(Config{}, prometheus.NewRegistry(), nil)
			if err != nil {
				t.Fatalf("New memory: %v", err)
			}
			return s
		}},
		{"redis", func(t *testing.T) Store {
			s, err := NewRedis(RedisConfig{Addr: redisAddr(t), Timeout: 3 * time.Second})
			if err != nil {
				t.Fatalf("NewRedis: %v", err)
			}
			return s
		}},
		{"redis-failover", func(t *testing.T) Store {
			s, err := New(Config{Type: TypeRedis, Redis: RedisConfig{Addr: redisAddr(t), Timeout: 3 * time.Second}}, prometheus.NewRegistry(), nil)
			if err != nil {
				t.Fatalf("New redis: %v", err)
			}
			return s
		}},
	}
}

type conformanceCase struct {
	name string
	run  func(t *testing.T, s Store, key string)
}

var conformance = []conformanceCase{
	{"rate limit admits calls then 429 with retry-after", func(t *testing.T, s Store, key string) {
		spec := RateSpec{Limit: 5, Period: 60 * time.Second}
		for i := int64(1); i <= 5; i++ {
			d := mustRate(t, s, key, spec, 1)
			if !d.Allowed || d.Remaining != 5-i || d.Limit != 5 {
				t.Fatalf("call %d: got %+v, want allowed with remaining %d", i, d, 5-i)
			}
		}
		for i := 6; i <= 7; i++ {
			d := mustRate(t, s, key, spec, 1)
			if d.Allowed || d.Remaining != 0 {
				t.Fatalf("call %d: got %+v, want refused", i, d)
			}
			if d.RetryAfter <= 55*time.Second || d.RetryAfter > 60*time.Second {
				t.Fatalf("call %d: RetryAfter %s, want just under 60s", i, d.RetryAfter)
			}
			if got := d.RetryAfterSeconds(); got != 60 && got != 59 {
				t.Fatalf("call %d: RetryAfterSeconds %d, want 60 (or 59)", i, got)
			}
			if want := "Rate limit is exceeded. Try again in "; !strings.HasPrefix(d.Message(), want) {
				t.Fatalf("message %q", d.Message())
			}
		}
	}},
	{"refused calls are not counted", func(t *testing.T, s Store, key string) {
		spec := RateSpec{Limit: 2, Period: time.Second}
		for range 2 {
			mustRate(t, s, key, spec, 1)
		}
		for range 20 {
			if d := mustRate(t, s, key, spec, 1); d.Allowed {
				t.Fatalf("over-limit call admitted: %+v", d)
			}
		}
		d := mustRate(t, s, key, spec, 1)
		time.Sleep(d.RetryAfter + 20*time.Millisecond)
		// Had the refused calls counted, the window would still be full.
		for i := range 2 {
			if d := mustRate(t, s, key, spec, 1); !d.Allowed {
				t.Fatalf("call %d after the window slid: refused %+v", i, d)
			}
		}
	}},
	{"increment-count weighs calls", func(t *testing.T, s Store, key string) {
		spec := RateSpec{Limit: 5, Period: time.Minute}
		for i, want := range []bool{true, true, false} {
			if d := mustRate(t, s, key, spec, 2); d.Allowed != want {
				t.Fatalf("weight-2 call %d: allowed=%v want %v (%+v)", i, d.Allowed, want, d)
			}
		}
		if d := mustRate(t, s, key, spec, 1); !d.Allowed || d.Remaining != 0 {
			t.Fatalf("weight-1 call filling the window: %+v", d)
		}
		if d := mustRate(t, s, key, RateSpec{Limit: 5, Period: time.Minute}, 6); d.Allowed || d.RetryAfter != time.Minute {
			t.Fatalf("call heavier than the limit: %+v, want refused for a whole period", d)
		}
	}},
	{"check without counting, then deferred count", func(t *testing.T, s Store, key string) {
		spec := RateSpec{Limit: 3, Period: time.Minute}
		for range 10 {
			if d := mustRate(t, s, key, spec, 0); !d.Allowed || d.Remaining != 3 {
				t.Fatalf("check on an empty window: %+v", d)
			}
		}
		for i := int64(1); i <= 4; i++ {
			d, err := s.RateCount(context.Background(), key, spec, 1)
			if err != nil {
				t.Fatal(err)
			}
			if d.Allowed != (i <= 3) || d.Remaining != max(3-i, 0) {
				t.Fatalf("count %d: %+v", i, d)
			}
		}
		if d := mustRate(t, s, key, spec, 0); d.Allowed || d.RetryAfter <= 0 {
			t.Fatalf("check on a full window: %+v", d)
		}
	}},
	{"zero limit refuses everything", func(t *testing.T, s Store, key string) {
		d := mustRate(t, s, key, RateSpec{Limit: 0, Period: time.Second}, 1)
		if d.Allowed || d.RetryAfterSeconds() < 1 {
			t.Fatalf("got %+v", d)
		}
	}},
	{"keys and periods are separate counters", func(t *testing.T, s Store, key string) {
		spec := RateSpec{Limit: 1, Period: time.Minute}
		mustRate(t, s, key, spec, 1)
		if d := mustRate(t, s, key+"-other", spec, 1); !d.Allowed {
			t.Fatalf("other key refused: %+v", d)
		}
		if d := mustRate(t, s, key, RateSpec{Limit: 1, Period: 30 * time.Second}, 1); !d.Allowed {
			t.Fatalf("same key, other period refused: %+v", d)
		}
		if d := mustRate(t, s, key, spec, 1); d.Allowed {
			t.Fatalf("second call on a 1-call window admitted: %+v", d)
		}
	}},
	{"invalid specs are errors", func(t *testing.T, s Store, key string) {
		ctx := context.Background()
		for _, spec := range []RateSpec{{Limit: -1, Period: time.Second}, {Limit: 1, Period: 0}} {
			if _, err := s.RateLimit(ctx, key, spec, 1); !errors.Is(err, ErrInvalidSpec) {
				t.Fatalf("RateLimit %+v: err %v, want ErrInvalidSpec", spec, err)
			}
		}
		if _, err := s.RateLimit(ctx, key, RateSpec{Limit: 1, Period: time.Second}, -1); !errors.Is(err, ErrInvalidSpec) {
			t.Fatalf("negative weight: err %v", err)
		}
		if _, err := s.Quota(ctx, key, QuotaSpec{Period: time.Hour}, 1); !errors.Is(err, ErrInvalidSpec) {
			t.Fatalf("quota without calls or bandwidth: err %v", err)
		}
		if err := s.Set(ctx, key, []byte("x"), 0); !errors.Is(err, ErrInvalidSpec) {
			t.Fatalf("Set with zero TTL: err %v", err)
		}
	}},
	{"call quota gives 403 text with renewal time", func(t *testing.T, s Store, key string) {
		spec := QuotaSpec{Calls: 3, Period: time.Hour}
		for i := int64(1); i <= 3; i++ {
			d := mustQuota(t, s, key, spec, 1)
			if !d.Allowed || d.CallsUsed != i || d.CallsRemaining != 3-i {
				t.Fatalf("call %d: %+v", i, d)
			}
		}
		d := mustQuota(t, s, key, spec, 1)
		if d.Allowed || d.Exceeded != QuotaCallsExceeded || d.CallsUsed != 3 {
			t.Fatalf("4th call: %+v", d)
		}
		if d.RenewsIn <= 0 || d.RenewsIn > time.Hour {
			t.Fatalf("RenewsIn %s", d.RenewsIn)
		}
		if !strings.HasPrefix(d.Message(), "Out of call volume quota. Quota will be replenished in ") {
			t.Fatalf("message %q", d.Message())
		}
	}},
	{"bandwidth quota counts bytes after the response", func(t *testing.T, s Store, key string) {
		spec := QuotaSpec{Bandwidth: 1000, Period: time.Hour}
		ctx := context.Background()
		if d := mustQuota(t, s, key, spec, 1); !d.Allowed {
			t.Fatalf("first call: %+v", d)
		}
		d, err := s.QuotaCount(ctx, key, spec, 0, 600)
		if err != nil || !d.Allowed || d.BytesUsed != 600 || d.BytesRemaining != 400 {
			t.Fatalf("count 600 bytes: %+v %v", d, err)
		}
		if d := mustQuota(t, s, key, spec, 1); !d.Allowed {
			t.Fatalf("call with 400 bytes left: %+v", d)
		}
		if d, err = s.QuotaCount(ctx, key, spec, 0, 600); err != nil || d.Allowed || d.Exceeded != QuotaBandwidthExceeded {
			t.Fatalf("count past the bandwidth: %+v %v", d, err)
		}
		d = mustQuota(t, s, key, spec, 1)
		if d.Allowed || d.Exceeded != QuotaBandwidthExceeded ||
			!strings.HasPrefix(d.Message(), "Out of bandwidth quota. Quota will be replenished in ") {
			t.Fatalf("call after the bandwidth is used: %+v %q", d, d.Message())
		}
	}},
	{"quota periods align to first-period-start", func(t *testing.T, s Store, key string) {
		start := time.Now().Add(-90 * time.Minute).Truncate(time.Second)
		d := mustQuota(t, s, key, QuotaSpec{Calls: 10, Period: time.Hour, FirstPeriodStart: start}, 1)
		want := time.Until(start.Add(2 * time.Hour))
		if diff := d.RenewsIn - want; diff < -3*time.Second || diff > 3*time.Second {
			t.Fatalf("RenewsIn %s, want about %s", d.RenewsIn, want)
		}
	}},
	{"lifetime quota never renews", func(t *testing.T, s Store, key string) {
		spec := QuotaSpec{Calls: 1}
		mustQuota(t, s, key, spec, 1)
		d := mustQuota(t, s, key, spec, 1)
		if d.Allowed || d.RenewsIn != 0 || d.RetryAfterSeconds() != 0 || d.Message() != "Out of call volume quota." {
			t.Fatalf("got %+v %q", d, d.Message())
		}
	}},
	{"cache set get delete", func(t *testing.T, s Store, key string) {
		ctx := context.Background()
		if _, ok, err := s.Get(ctx, key); ok || err != nil {
			t.Fatalf("Get before Set: ok=%v err=%v", ok, err)
		}
		val := []byte("hello\x00world")
		if err := s.Set(ctx, key, val, time.Minute); err != nil {
			t.Fatal(err)
		}
		val[0] = 'X' // the store keeps its own copy
		got, ok, err := s.Get(ctx, key)
		if err != nil || !ok || !bytes.Equal(got, []byte("hello\x00world")) {
			t.Fatalf("Get: %q %v %v", got, ok, err)
		}
		if err := s.Delete(ctx, key); err != nil {
			t.Fatal(err)
		}
		if _, ok, _ := s.Get(ctx, key); ok {
			t.Fatal("Get after Delete hit")
		}
		if err := s.Delete(ctx, key); err != nil {
			t.Fatalf("Delete of a missing key: %v", err)
		}
	}},
	{"cache entries expire", func(t *testing.T, s Store, key string) {
		ctx := context.Background()
		if err := s.Set(ctx, key, []byte("v"), 150*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(3 * time.Second)
		for {
			_, ok, err := s.Get(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatal("entry with a 150ms TTL still served after 3s")
			}
			time.Sleep(50 * time.Millisecond)
		}
	}},
}

func TestConformance(t *testing.T) {
	for _, impl := range implementations(t) {
		t.Run(impl.name, func(t *testing.T) {
			s := impl.open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			for _, c := range conformance {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					c.run(t, s, uniqueKey(t, "k"))
				})
			}
		})
	}
}

func mustRate(t *testing.T, s Store, key string, spec RateSpec, n int64) RateDecision {
	t.Helper()
	d, err := s.RateLimit(context.Background(), key, spec, n)
	if err != nil {
		t.Fatalf("RateLimit(%q, %+v, %d): %v", key, spec, n, err)
	}
	return d
}

func mustQuota(t *testing.T, s Store, key string, spec QuotaSpec, calls int64) QuotaDecision {
	t.Helper()
	d, err := s.Quota(context.Background(), key, spec, calls)
	if err != nil {
		t.Fatalf("Quota(%q, %+v, %d): %v", key, spec, calls, err)
	}
	return d
}
