package sim

import "time"

// Result is the outcome of one simulation run.
type Result struct {
	// Scenario is the scenario that was run.
	Scenario Scenario
	// Step is the time step the run used.
	Step time.Duration
	// Interval is the time covered by each point of Series.
	Interval time.Duration
	// Summary holds the run's totals and port figures.
	Summary Summary
	// Series is the run over time, one point per Interval.
	Series []Point
}

// Summary holds a run's totals. Request counts are over all units and
// destinations; port and connection figures are per destination IP:port
// (summed over the units sharing it), to compare with PortBudget.
type Summary struct {
	// Requests is the number of requests that arrived.
	Requests int64 `json:"requests"`
	// Succeeded is Requests minus Failed.
	Succeeded int64 `json:"succeeded"`
	// Failed counts requests that got no backend answer, whatever the
	// reason: the sum of the four counts below.
	Failed int64 `json:"failed"`
	// ConnectionFailures are requests whose last attempt could not get a
	// port (BackendConnectionFailure, 502).
	ConnectionFailures int64 `json:"connectionFailures"`
	// Timeouts are requests whose last attempt, or wait for a pooled
	// connection, hit the timeout (504).
	Timeouts int64 `json:"timeouts"`
	// CircuitOpen are requests rejected by an open circuit breaker (503).
	CircuitOpen int64 `json:"circuitOpen"`
	// Throttled are requests rejected by the rate limit (429).
	Throttled int64 `json:"throttled"`
	// CacheHits are requests answered from the cache.
	CacheHits int64 `json:"cacheHits"`
	// Attempts counts calls towards the backend, retries included.
	Attempts int64 `json:"attempts"`
	// Retries counts the attempts that were retries.
	Retries int64 `json:"retries"`
	// PortBudget is the number of ports each destination IP:port has.
	PortBudget int `json:"portBudget"`
	// Destinations is the number of destination IP:ports (backend IPs).
	Destinations int `json:"destinations"`
	// PeakPortsInUse is the most ports held at once on one destination.
	PeakPortsInUse float64 `json:"peakPortsInUse"`
	// SteadyPortsInUse is the mean ports held over the last quarter.
	SteadyPortsInUse float64 `json:"steadyPortsInUse"`
	// PeakConnections is the most connections open at once on one destination.
	PeakConnections float64 `json:"peakConnections"`
	// PeakQueued is the most requests waiting at once for a pooled connection.
	PeakQueued float64 `json:"peakQueued"`
	// SustainableRate is the request rate (requests/s, whole gateway) the
	// port budget carries at steady state: budget / (latency + reclaim)
	// per destination without pooling, min(budget, max-conns) / latency
	// with it; nil when unbounded (no latency, or everything cached).
	SustainableRate *float64 `json:"sustainableRate"`
	// FirstExhaustionSeconds is when a connection first failed for want of a
	// port, in seconds from the start; nil when the budget was never reached.
	FirstExhaustionSeconds *float64 `json:"firstExhaustionSeconds"`
}

// Point is the run over one interval of the series.
type Point struct {
	// T is the interval's start, in seconds from the start of the run.
	T float64 `json:"t"`
	// PortsInUse is the mean ports held on one destination IP:port.
	PortsInUse float64 `json:"portsInUse"`
	// MaxPortsInUse is the most ports held on one destination IP:port.
	MaxPortsInUse float64 `json:"maxPortsInUse"`
	// Connections is the mean connections open to one destination IP:port.
	Connections float64 `json:"connections"`
	// Queued is the mean number of requests waiting for a pooled connection.
	Queued float64 `json:"queued"`
	// Requests is the number of requests that arrived in the interval.
	Requests int64 `json:"requests"`
	// Failed is the number of requests that failed in the interval.
	Failed int64 `json:"failed"`
}
