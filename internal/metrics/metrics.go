package metrics

import (
	"slices"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Gateway holds the request-level collectors.
type Gateway struct {
	Requests        *prometheus.CounterVec
	Duration        *prometheus.HistogramVec
	BackendDuration *prometheus.HistogramVec
	CacheLookups    *prometheus.CounterVec
	Rejections      *prometheus.CounterVec
	Reloads         *prometheus.CounterVec
	InFlight        prometheus.Gauge
	// BackendFailures counts requests whose backend call failed without an
	// answer (BackendConnectionFailure, Timeout), by backend entity.
	BackendFailures *prometheus.CounterVec
}

// NewRegistry returns a registry with the Go runtime and process collectors.
func NewRegistry() *prometheus.Registry {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(collectors.MetricsScheduler)), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return r
}

// latencyBuckets spans 0.5 ms to 60 s.
var latencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

// New creates the collectors and registers them on reg.
func New(reg prometheus.Registerer) *Gateway {
	g := &Gateway{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "apimgw_requests_total",
			Help: "Requests handled, by API, operation, gateway and backend response code class, and last error reason.",
		}, []string{"api", "operation", "code", "backend_code", "last_error_reason"}),
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "apimgw_request_duration_seconds", Help: "Total time from request received to response sent.", Buckets: latencyBuckets,
		}, []string{"api"}),
		BackendDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "apimgw_backend_duration_seconds", Help: "Time from backend request sent to response headers received.", Buckets: latencyBuckets,
		}, []string{"api"}),
		CacheLookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "apimgw_cache_lookups_total", Help: "Response cache lookups by result (hit, miss).",
		}, []string{"api", "result"}),
		Rejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "apimgw_throttle_rejections_total", Help: "Requests rejected by rate-limit, quota and limit-concurrency policies.",
		}, []string{"api", "policy"}),
		Reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "apimgw_config_reloads_total", Help: "Configuration reloads by result (success, failure).",
		}, []string{"result"}),
		InFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "apimgw_requests_in_flight", Help: "Requests being handled now.",
		}),
		BackendFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "apimgw_backend_failures_total",
			Help: "Requests whose call to a backend entity failed without an answer, by backend (BackendId) and last error reason (BackendConnectionFailure, Timeout).",
		}, []string{"backend", "last_error_reason"}),
	}
	reg.MustRegister(g.Requests, g.Duration, g.BackendDuration, g.CacheLookups, g.Rejections, g.Reloads, g.InFlight, g.BackendFailures)
	return g
}

// CodeClass turns a status code into "2xx".."5xx", or "none" for 0.
func CodeClass(code int) string {
	if code < 100 || code > 999 {
		return "none"
	}
	return codeClasses[code/100]
}

var codeClasses = [10]string{"0xx", "1xx", "2xx", "3xx", "4xx", "5xx", "6xx", "7xx", "8xx", "9xx"}

// Registry is a prometheus.Registry that remembers the collectors
// registered on it, so that every metric the gateway can export is listed
// by Describe even before it has a series (docs/metrics.md is checked
// against it).
type Registry struct {
	*prometheus.Registry
	mu         sync.Mutex
	collectors []prometheus.Collector
}

// NewTrackingRegistry returns NewRegistry's registry wrapped in a Registry.
func NewTrackingRegistry() *Registry {
	r := &Registry{Registry: prometheus.NewRegistry()}
	r.MustRegister(collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(collectors.MetricsScheduler)), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return r
}

// Register implements prometheus.Registerer.
func (r *Registry) Register(c prometheus.Collector) error {
	if err := r.Registry.Register(c); err != nil {
		return err
	}
	r.mu.Lock()
	r.collectors = append(r.collectors, c)
	r.mu.Unlock()
	return nil
}

// MustRegister implements prometheus.Registerer.
func (r *Registry) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

// Unregister implements prometheus.Registerer.
func (r *Registry) Unregister(c prometheus.Collector) bool {
	if !r.Registry.Unregister(c) {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, x := range r.collectors {
		if x == c {
			r.collectors = append(r.collectors[:i], r.collectors[i+1:]...)
			break
		}
	}
	return true
}

// Describe sends the descriptors of every collector registered now.
func (r *Registry) Describe(ch chan<- *prometheus.Desc) {
	r.mu.Lock()
	cs := slices.Clone(r.collectors)
	r.mu.Unlock()
	for _, c := range cs {
		c.Describe(ch)
	}
}
