package resilience

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics holds the Prometheus collectors of this package. Build one per
// gateway with NewMetrics and hand it to NewBreaker, NewHealthChecker and
// NewRetryBudget; a nil *Metrics records nothing, so tests and tools that do
// not export metrics pass nil.
type Metrics struct {
	breakerState     *prometheus.GaugeVec
	breakerTrips     *prometheus.CounterVec
	breakerRejected  *prometheus.CounterVec
	backendHealth    *prometheus.GaugeVec
	budgetExhausted  *prometheus.CounterVec
	concurrencyLimit *prometheus.CounterVec
}

// NewMetrics creates the collectors and registers them on reg. Registering
// twice on the same registry (a config reload) reuses the collectors already
// there, so series survive reloads.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		breakerState: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "apimgw_circuit_breaker_state",
			Help: "Circuit breaker state per backend: 0 closed, 1 open, 2 half-open.",
		}, []string{"backend"}),
		breakerTrips: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "apimgw_circuit_breaker_trips_total",
			Help: "Times a backend's circuit breaker opened, by the rule that tripped it.",
		}, []string{"backend", "rule"}),
		breakerRejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "apimgw_circuit_breaker_rejected_total",
			Help: "Requests answered without contacting the backend because its circuit breaker was open.",
		}, []string{"backend"}),
		backendHealth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "apimgw_backend_health",
			Help: "Active health probe verdict per backend: 1 healthy, 0 unhealthy.",
		}, []string{"backend"}),
		budgetExhausted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "apimgw_retry_budget_exhausted_total",
			Help: "Retries refused because the backend's retry budget was spent.",
		}, []string{"backend"}),
		concurrencyLimit: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "apimgw_concurrency_limit_rejected_total",
			Help: "Requests refused by a concurrency limit (limit-concurrency policy or a backend's maxInFlight).",
		}, []string{"scope"}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	m.breakerState, err = register(reg, m.breakerState)
	if err != nil {
		return nil, err
	}
	if m.breakerTrips, err = register(reg, m.breakerTrips); err != nil {
		return nil, err
	}
	if m.breakerRejected, err = register(reg, m.breakerRejected); err != nil {
		return nil, err
	}
	if m.backendHealth, err = register(reg, m.backendHealth); err != nil {
		return nil, err
	}
	if m.budgetExhausted, err = register(reg, m.budgetExhausted); err != nil {
		return nil, err
	}
	if m.concurrencyLimit, err = register(reg, m.concurrencyLimit); err != nil {
		return nil, err
	}
	return m, nil
}

// register registers c, or returns the identical collector a previous
// NewMetrics call registered.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		var zero C
		return zero, fmt.Errorf("register resilience metrics: %w", err)
	}
	return c, nil
}

func (m *Metrics) setBreakerState(backend string, s State) {
	if m == nil {
		return
	}
	m.breakerState.WithLabelValues(backend).Set(float64(s))
}

func (m *Metrics) trip(backend, rule string) {
	if m == nil {
		return
	}
	m.breakerTrips.WithLabelValues(backend, rule).Inc()
}

func (m *Metrics) rejected(backend string) {
	if m == nil {
		return
	}
	m.breakerRejected.WithLabelValues(backend).Inc()
}

func (m *Metrics) setHealth(backend string, healthy bool) {
	if m == nil {
		return
	}
	v := 0.0
	if healthy {
		v = 1
	}
	m.backendHealth.WithLabelValues(backend).Set(v)
}

func (m *Metrics) budgetSpent(backend string) {
	if m == nil {
		return
	}
	m.budgetExhausted.WithLabelValues(backend).Inc()
}

func (m *Metrics) limitRejected(scope string) {
	if m == nil {
		return
	}
	m.concurrencyLimit.WithLabelValues(scope).Inc()
}
