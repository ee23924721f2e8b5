package store

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the store's Prometheus collectors.
type metrics struct {
	redisUp          prometheus.Gauge
	errors           *prometheus.CounterVec
	fallbacks        *prometheus.CounterVec
	counterEvictions prometheus.Counter
}

// newMetrics creates the collectors. The Redis ones (redis_up, errors,
// fallbacks) are registered on reg only when redis is true: a gateway with
// the memory store exports no Redis series, so "apimgw_store_redis_up == 0"
// means a configured Redis is unreachable, never "no Redis".
func newMetrics(reg prometheus.Registerer, redis bool) *metrics {
	m := &metrics{
		redisUp: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "apimgw_store_redis_up",
			Help: "1 when the Redis store answers, 0 while the gateway serves from local state because Redis is unreachable.",
		}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "apimgw_store_errors_total",
			Help: "Redis store operations that failed, by operation.",
		}, []string{"op"}),
		fallbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "apimgw_store_fallback_total",
			Help: "Store operations answered locally (rate limits, quotas) or bypassed (cache) because Redis was unreachable, by operation.",
		}, []string{"op"}),
		counterEvictions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "apimgw_store_counter_evictions_total",
			Help: "Live rate-limit or quota counters evicted from the memory store because store.memory.maxCounters was reached.",
		}),
	}
	if reg == nil {
		return m
	}
	if redis {
		m.redisUp = register(reg, m.redisUp)
		m.errors = register(reg, m.errors)
		m.fallbacks = register(reg, m.fallbacks)
	}
	m.counterEvictions = register(reg, m.counterEvictions)
	return m
}

// register registers c, or reuses the collector already registered under
// the same name (a store rebuilt on configuration reload).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
	}
	return c
}
