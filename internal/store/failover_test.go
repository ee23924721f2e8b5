package store

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apimgw/apimgw/internal/testnet"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

type replica struct {
	store Store
	reg   *prometheus.Registry
	log   *testnet.Buffer
}

func newReplica(t *testing.T, rc RedisConfig) replica {
	t.Helper()
	r := replica{reg: prometheus.NewRegistry(), log: &testnet.Buffer{}}
	s, err := New(Config{Type: TypeRedis, Redis: rc}, r.reg, slog.New(slog.NewTextHandler(r.log, nil)))
	if err != nil {
		t.Fatalf("New redis store: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	r.store = s
	return r
}

func (r replica) gauge(t *testing.T) float64 {
	t.Helper()
	return metricValue(t, r.store.(*failover).metrics.redisUp)
}

// TestReplicasShareOneLimit: two gateway replicas on one Redis admit 10
// calls in total for rate-limit-by-key calls="10", however the calls are
// spread between them.
func TestReplicasShareOneLimit(t *testing.T) {
	// A generous timeout: on a loaded machine a slow answer would switch a
	// replica to local limiting, which is not what these tests measure.
	rc := RedisConfig{Addr: redisAddr(t), Timeout: 3 * time.Second}
	a, b := newReplica(t, rc), newReplica(t, rc)
	key := uniqueKey(t, "shared")
	spec := RateSpec{Limit: 10, Period: 60 * time.Second}
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for _, r := range []replica{a, b, a, b} {
		wg.Go(func() {
			for range 15 {
				if mustRate(t, r.store, key, spec, 1).Allowed {
					admitted.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if got := admitted.Load(); got != 10 {
		t.Fatalf("two replicas admitted %d of 60 calls, want exactly 10", got)
	}
	// Both replicas see the same window.
	for _, r := range []replica{a, b} {
		if d := mustRate(t, r.store, key, spec, 0); d.Allowed || d.Remaining != 0 {
			t.Fatalf("replica sees %+v, want a full window", d)
		}
	}
	// The same holds for quotas and for the cache.
	q := QuotaSpec{Calls: 3, Period: time.Hour}
	mustQuota(t, a.store, key, q, 2)
	if d := mustQuota(t, b.store, key, q, 2); d.Allowed || d.CallsUsed != 2 {
		t.Fatalf("quota on the other replica: %+v", d)
	}
	ctx := context.Background()
	if err := a.store.Set(ctx, key, []byte("from a"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if v, ok, err := b.store.Get(ctx, key); err != nil || !ok || string(v) != "from a" {
		t.Fatalf("replica b reads %q %v %v", v, ok, err)
	}
}

// TestReplicasAdmittedRate: two replicas hammering one limit are admitted,
// together, the configured rate within ±5%. The rate is measured in the
// steady state, after the first window (whose burst a sliding window admits
// at once), over four whole windows.
func TestReplicasAdmittedRate(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for 5s")
	}
	// A generous timeout: on a loaded machine a slow answer would switch a
	// replica to local limiting, which is not what these tests measure.
	rc := RedisConfig{Addr: redisAddr(t), Timeout: 3 * time.Second}
	a, b := newReplica(t, rc), newReplica(t, rc)
	key := uniqueKey(t, "rate")
	spec := RateSpec{Limit: 200, Period: time.Second}
	const windows = 4
	start := time.Now()
	from, stop := start.Add(spec.Period), start.Add(spec.Period*(windows+1))
	var admitted, sent atomic.Int64
	var wg sync.WaitGroup
	for _, r := range []replica{a, a, b, b} {
		wg.Go(func() {
			tick := time.NewTicker(time.Millisecond)
			defer tick.Stop()
			for i := 0; i < 10000; i++ { // ≤ 1,000 calls/s per sender
				<-tick.C
				now := time.Now()
				if !now.Before(stop) {
					return
				}
				d := mustRate(t, r.store, key, spec, 1)
				if now.After(from) {
					sent.Add(1)
					if d.Allowed {
						admitted.Add(1)
					}
				}
			}
		})
	}
	wg.Wait()
	want := float64(spec.Limit * windows)
	got := float64(admitted.Load())
	t.Logf("steady state: sent %d, admitted %.0f over %d windows, configured %.0f (%+.1f%%)",
		sent.Load(), got, windows, want, 100*(got-want)/want)
	if float64(sent.Load()) < 2*want {
		t.Skipf("machine too loaded to offer twice the limit (sent %d)", sent.Load())
	}
	if got < 0.95*want || got > 1.05*want {
		t.Fatalf("admitted %.0f, want %.0f ± 5%%", got, want)
	}
}

// TestRedisOutage kills redis-server while requests flow: no request gets
// an error, rate limits continue per replica, the cache is bypassed, the
// metric and one warning say so, and the store returns to Redis by itself
// once redis-server is back on the same port.
func TestRedisOutage(t *testing.T) {
	srv := startRedis(t)
	// A killed redis-server refuses connections at once, so the outage is
	// seen without waiting for a timeout; a long timeout keeps a slow answer
	// on a loaded machine from counting as an outage of its own.
	r := newReplica(t, RedisConfig{Addr: srv.addr, HealthCheckInterval: 100 * time.Millisecond, Timeout: 3 * time.Second})
	ctx := context.Background()
	if r.gauge(t) != 1 {
		t.Fatalf("apimgw_store_redis_up = %v at start, want 1", r.gauge(t))
	}

	var calls, failures atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			key := uniqueKey(t, "flow")
			for i := 0; i < 100000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var err error
				switch i % 3 {
				case 0:
					_, err = r.store.RateLimit(ctx, key, RateSpec{Limit: 1000, Period: time.Minute}, 1)
				case 1:
					_, err = r.store.Quota(ctx, key, QuotaSpec{Calls: 1000, Period: time.Hour}, 1)
				default:
					if err = r.store.Set(ctx, key, []byte{byte(w)}, time.Minute); err == nil {
						_, _, err = r.store.Get(ctx, key)
					}
				}
				calls.Add(1)
				if err != nil {
					failures.Add(1)
					t.Errorf("request failed during the outage test: %v", err)
				}
				time.Sleep(time.Millisecond)
			}
		})
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				close(stop)
				wg.Wait()
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	time.Sleep(200 * time.Millisecond)
	srv.kill()
	waitFor("the store to notice the outage", func() bool { return r.gauge(t) == 0 })

	// While down: counters are local, the cache misses, nothing errors.
	key := uniqueKey(t, "down")
	for i := range 3 {
		if d := mustRate(t, r.store, key, RateSpec{Limit: 2, Period: time.Minute}, 1); d.Allowed != (i < 2) {
			t.Fatalf("local limiting call %d: %+v", i, d)
		}
	}
	if err := r.store.Set(ctx, key, []byte("v"), time.Minute); err != nil {
		t.Fatalf("Set while down: %v", err)
	}
	if _, ok, err := r.store.Get(ctx, key); ok || err != nil {
		t.Fatalf("Get while down: ok=%v err=%v, want a miss", ok, err)
	}
	time.Sleep(300 * time.Millisecond)
	errorsDuringOutage := metricValue(t, r.store.(*failover).metrics.errors)
	if errorsDuringOutage < 1 {
		t.Fatal("apimgw_store_errors_total did not count the failure")
	}

	srv.start(t)
	waitFor("the store to return to Redis", func() bool { return r.gauge(t) == 1 })
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()

	if failures.Load() != 0 {
		t.Fatalf("%d of %d requests failed", failures.Load(), calls.Load())
	}
	if n := strings.Count(r.log.String(), "redis store unreachable"); n != 1 {
		t.Fatalf("logged %d outage warnings, want 1:\n%s", n, r.log.String())
	}
	if !strings.Contains(r.log.String(), "reachable again") {
		t.Fatalf("recovery not logged:\n%s", r.log.String())
	}
	// Back on Redis: a second replica sees this one's counts.
	other := newReplica(t, RedisConfig{Addr: srv.addr})
	key = uniqueKey(t, "after")
	spec := RateSpec{Limit: 2, Period: time.Minute}
	mustRate(t, r.store, key, spec, 1)
	mustRate(t, r.store, key, spec, 1)
	if d := mustRate(t, other.store, key, spec, 1); d.Allowed {
		t.Fatalf("after recovery the replicas do not share the window: %+v", d)
	}
	t.Logf("%d requests, none failed; %v Redis errors counted", calls.Load(), errorsDuringOutage)
}

// TestRedisDownAtStart: a gateway whose Redis is unreachable still starts
// and serves, limiting per replica with FallbackReplicas applied.
func TestRedisDownAtStart(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close() // nothing listens there now
	r := newReplica(t, RedisConfig{Addr: addr, FallbackReplicas: 3})
	if r.gauge(t) != 0 {
		t.Fatalf("apimgw_store_redis_up = %v, want 0", r.gauge(t))
	}
	spec := RateSpec{Limit: 10, Period: time.Minute} // ceil(10/3) = 4 per replica
	for i := range 5 {
		if d := mustRate(t, r.store, "k", spec, 1); d.Allowed != (i < 4) {
			t.Fatalf("call %d: %+v", i, d)
		}
	}
	if d := mustQuota(t, r.store, "k", QuotaSpec{Calls: 5, Period: time.Hour}, 1); !d.Allowed {
		t.Fatalf("quota while down: %+v", d)
	}
	if !strings.Contains(r.log.String(), "unreachable at start") {
		t.Fatalf("no warning logged:\n%s", r.log.String())
	}
}

// metricValue sums the values of every metric c collects.
func metricValue(t *testing.T, c prometheus.Collector) float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 64)
	go func() {
		c.Collect(ch)
		close(ch)
	}()
	var sum float64
	for m := range ch {
		var pb dto.Metric
		if err := m.Write(&pb); err != nil {
			t.Fatalf("read metric: %v", err)
		}
		sum += pb.GetGauge().GetValue() + pb.GetCounter().GetValue()
	}
	return sum
}
