package store

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// failover is the Store that store.type "redis" builds: Redis while it
// answers, local state while it does not. A Redis failure never reaches the
// caller: rate limits and quotas are decided by a per-replica Memory store
// (each limit divided by FallbackReplicas), the cache is bypassed (Get
// misses, Set and Delete do nothing), apimgw_store_redis_up drops to 0,
// apimgw_store_errors_total counts the failures and one warning is logged
// per outage. While Redis is down it is not contacted on the request path
// at all; a health check owned by the store probes it every
// HealthCheckInterval and switches back as soon as it answers.
type failover struct {
	remote   *Redis
	local    *Memory
	metrics  *metrics
	log      *slog.Logger
	replicas int64
	interval time.Duration
	probe    time.Duration // timeout of one health probe

	up        atomic.Bool
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

func newFailover(cfg Config, m *metrics, log *slog.Logger, clk clock) (*failover, error) {
	rc := cfg.Redis.withDefaults()
	remote, err := NewRedis(rc)
	if err != nil {
		return nil, err
	}
	local, err := newMemory(cfg.Memory, clk, m.counterEvictions.Inc)
	if err != nil {
		_ = remote.Close()
		return nil, err
	}
	f := &failover{
		remote:   remote,
		local:    local,
		metrics:  m,
		log:      log.With("component", "store", "redis", rc.Addr),
		replicas: int64(rc.FallbackReplicas),
		interval: rc.HealthCheckInterval,
		probe:    rc.DialTimeout + rc.Timeout,
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	ctx, cancel := context.WithTimeout(context.Background(), f.probe)
	err = remote.Ping(ctx)
	cancel()
	if err != nil {
		m.redisUp.Set(0)
		m.errors.WithLabelValues("ping").Inc()
		f.log.Warn("redis store unreachable at start; rate limits are per replica and the cache is bypassed until it answers", "error", err)
	} else {
		f.up.Store(true)
		m.redisUp.Set(1)
	}
	go f.healthLoop()
	return f, nil
}

// failed records a Redis failure of op and reports whether the caller
// should fall back (every failure except an invalid specification).
func (f *failover) failed(ctx context.Context, op string, err error) bool {
	if errors.Is(err, ErrInvalidSpec) {
		return false
	}
	if ctx.Err() != nil {
		// The request ended while waiting: not Redis's fault. Answer
		// locally anyway; the caller is not waiting for the answer.
		return true
	}
	f.metrics.errors.WithLabelValues(op).Inc()
	f.markDown(err)
	return true
}

func (f *failover) markDown(err error) {
	if f.up.CompareAndSwap(true, false) {
		f.metrics.redisUp.Set(0)
		f.log.Warn("redis store unreachable; rate limits are per replica and the cache is bypassed until it answers", "error", err)
	}
}

func (f *failover) markUp() {
	if f.up.CompareAndSwap(false, true) {
		f.metrics.redisUp.Set(1)
		f.log.Info("redis store reachable again; shared rate limits and cache restored")
	}
}

func (f *failover) healthLoop() {
	defer close(f.done)
	t := time.NewTicker(f.interval)
	defer t.Stop()
	for {
		select {
		case <-f.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), f.probe)
		err := f.remote.Ping(ctx)
		cancel()
		if err != nil {
			if f.up.Load() {
				f.metrics.errors.WithLabelValues("ping").Inc()
			}
			f.markDown(err)
			continue
		}
		f.markUp()
	}
}

func (f *failover) share(limit int64) int64 {
	if f.replicas <= 1 || limit <= 0 {
		return limit
	}
	return (limit + f.replicas - 1) / f.replicas
}

func (f *failover) localRate(spec RateSpec) RateSpec {
	spec.Limit = f.share(spec.Limit)
	return spec
}

func (f *failover) localQuota(spec QuotaSpec) QuotaSpec {
	spec.Calls = f.share(spec.Calls)
	spec.Bandwidth = f.share(spec.Bandwidth)
	return spec
}

// RateLimit implements Store.
func (f *failover) RateLimit(ctx context.Context, key string, spec RateSpec, n int64) (RateDecision, error) {
	if f.up.Load() {
		d, err := f.remote.RateLimit(ctx, key, spec, n)
		if err == nil || !f.failed(ctx, "rate_limit", err) {
			return d, err
		}
	}
	f.metrics.fallbacks.WithLabelValues("rate_limit").Inc()
	return f.local.RateLimit(ctx, key, f.localRate(spec), n)
}

// RateCount implements Store.
func (f *failover) RateCount(ctx context.Context, key string, spec RateSpec, n int64) (RateDecision, error) {
	if f.up.Load() {
		d, err := f.remote.RateCount(ctx, key, spec, n)
		if err == nil || !f.failed(ctx, "rate_count", err) {
			return d, err
		}
	}
	f.metrics.fallbacks.WithLabelValues("rate_count").Inc()
	return f.local.RateCount(ctx, key, f.localRate(spec), n)
}

// Quota implements Store.
func (f *failover) Quota(ctx context.Context, key string, spec QuotaSpec, calls int64) (QuotaDecision, error) {
	if f.up.Load() {
		d, err := f.remote.Quota(ctx, key, spec, calls)
		if err == nil || !f.failed(ctx, "quota", err) {
			return d, err
		}
	}
	f.metrics.fallbacks.WithLabelValues("quota").Inc()
	return f.local.Quota(ctx, key, f.localQuota(spec), calls)
}

// QuotaCount implements Store.
func (f *failover) QuotaCount(ctx context.Context, key string, spec QuotaSpec, calls, bytes int64) (QuotaDecision, error) {
	if f.up.Load() {
		d, err := f.remote.QuotaCount(ctx, key, spec, calls, bytes)
		if err == nil || !f.failed(ctx, "quota_count", err) {
			return d, err
		}
	}
	f.metrics.fallbacks.WithLabelValues("quota_count").Inc()
	return f.local.QuotaCount(ctx, key, f.localQuota(spec), calls, bytes)
}

// Get implements Store. While Redis is down every lookup is a miss.
func (f *failover) Get(ctx context.Context, key string) ([]byte, bool, error) {
	if f.up.Load() {
		v, ok, err := f.remote.Get(ctx, key)
		if err == nil || !f.failed(ctx, "get", err) {
			return v, ok, err
		}
	}
	f.metrics.fallbacks.WithLabelValues("get").Inc()
	return nil, false, nil
}

// Set implements Store. While Redis is down nothing is stored.
func (f *failover) Set(ctx context.Context, key string, val []byte, ttl time.Duration) error {
	if f.up.Load() {
		err := f.remote.Set(ctx, key, val, ttl)
		if err == nil || !f.failed(ctx, "set", err) {
			return err
		}
	} else if ttl <= 0 {
		return f.local.Set(ctx, key, val, ttl) // reports the invalid TTL
	}
	f.metrics.fallbacks.WithLabelValues("set").Inc()
	return nil
}

// Delete implements Store. While Redis is down the removal is dropped: the
// entry expires with its TTL.
func (f *failover) Delete(ctx context.Context, key string) error {
	if f.up.Load() {
		err := f.remote.Delete(ctx, key)
		if err == nil || !f.failed(ctx, "delete", err) {
			return err
		}
	}
	f.metrics.fallbacks.WithLabelValues("delete").Inc()
	return nil
}

// Close implements Store: it stops the health check and closes both stores.
func (f *failover) Close() error {
	var err error
	f.closeOnce.Do(func() {
		close(f.stop)
		<-f.done
		err = errors.Join(f.remote.Close(), f.local.Close())
	})
	return err
}
