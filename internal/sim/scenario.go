package sim

import (
	"fmt"
	"math"
	"time"
)

// Arrival patterns accepted in Scenario.Arrivals.
const (
	ArrivalsConstant = "constant" // evenly spaced requests at Rate
	ArrivalsPoisson  = "poisson"  // Poisson process at Rate
	ArrivalsBursts   = "bursts"   // Poisson at Rate, BurstRate during bursts
	ArrivalsDaily    = "daily"    // Poisson following a daily curve peaking at Rate
	ArrivalsLog      = "log"      // replayed from Scenario.Trace
)

// Latency distributions accepted in Scenario.LatencyDist.
const (
	LatencyFixed     = "fixed"     // every call takes Latency
	LatencyLogNormal = "lognormal" // log-normal with mean Latency and shape LatencySigma
	LatencyLog       = "log"       // backend times from Scenario.Trace
)

// NATGatewayPortsPerIP is the number of SNAT ports an Azure NAT gateway
// offers per public IP address (the seed guides round it to 64,000).
const NATGatewayPortsPerIP = 64512

// Scenario is one traffic pattern and set of mitigations to simulate. The
// zero value is not useful: start from DefaultScenario. Durations of zero
// mean "off" where the field says so.
type Scenario struct {
	// Rate is the request rate in requests/s: the constant rate, the base
	// rate between bursts, or the peak of the daily curve.
	Rate float64
	// Duration is the simulated time.
	Duration time.Duration
	// Arrivals is the arrival pattern, one of the Arrivals* constants.
	Arrivals string
	// BurstRate is the request rate during a burst (Arrivals "bursts").
	BurstRate float64
	// BurstEvery is the time from the start of one burst to the next; the
	// first burst starts at BurstEvery.
	BurstEvery time.Duration
	// BurstLength is how long each burst lasts.
	BurstLength time.Duration
	// DailyMin is the rate at the quietest hour (04:00) as a fraction of
	// Rate (Arrivals "daily"; the peak is at 16:00, the run starts at 00:00).
	DailyMin float64

	// Latency is the mean backend response time.
	Latency time.Duration
	// LatencyDist is the latency distribution, one of the Latency* constants.
	LatencyDist string
	// LatencySigma is the shape (standard deviation of the logarithm) of the
	// log-normal latency distribution.
	LatencySigma float64

	// Units is the number of gateway units sharing the traffic equally.
	Units int
	// PortsPerUnit is each unit's SNAT port budget per destination IP:port.
	PortsPerUnit int
	// Reclaim is how long a port stays taken after its connection closed.
	Reclaim time.Duration
	// Pooling reuses keep-alive connections instead of opening one per call.
	Pooling bool
	// MaxConns bounds each unit's connections per destination (pooling
	// only); requests beyond it wait for a free connection. 0 = unbounded.
	MaxConns int
	// IdleTimeout closes a pooled connection that was idle this long.
	IdleTimeout time.Duration
	// BackendIPs is the number of destination IP:ports the backend spreads
	// over; each has its own port budget.
	BackendIPs int
	// NATGatewayIPs is the number of public IPs of a NAT gateway in front of
	// the units; 0 means no NAT gateway (each unit has PortsPerUnit).
	NATGatewayIPs int
	// NATIdleTimeout is the NAT gateway's TCP idle timeout: an idle pooled
	// connection loses its port after this long.
	NATIdleTimeout time.Duration
	// CacheHitRatio is the fraction of requests answered from the cache.
	CacheHitRatio float64
	// RateLimit rejects (429) requests beyond this many per second over a
	// sliding one-second window, across all units; 0 = no limit.
	RateLimit float64
	// Timeout is the forward-request timeout; it bounds both the wait for a
	// pooled connection and the backend call.
	Timeout time.Duration
	// Retries is how many times a call failed by connection failure or
	// timeout is retried (APIM retry policy count).
	Retries int
	// RetryInterval is the wait before each retry.
	RetryInterval time.Duration
	// BreakerFailures trips a circuit breaker (per unit) after this many
	// failed calls within BreakerInterval; 0 = no breaker.
	BreakerFailures int
	// BreakerInterval is the breaker's failure-counting window.
	BreakerInterval time.Duration
	// BreakerTrip is how long a tripped breaker rejects calls (503).
	BreakerTrip time.Duration

	// Step is the simulation time step; 0 picks one from the latency and
	// duration.
	Step time.Duration
	// Seed seeds the random arrivals, so runs are reproducible.
	Seed uint64
	// Trace holds the arrivals and backend times replayed from a gateway log
	// (required by Arrivals "log" and LatencyDist "log").
	Trace *Trace
	// TraceFile names the log the Trace was read from, for reports.
	TraceFile string
}

// DefaultScenario returns the defaults of `apimgw simulate`: one Standard
// unit with 1,024 ports and a 4-minute reclaim, no pooling, APIM's 300 s
// forward-request timeout.
func DefaultScenario() Scenario {
	return Scenario{
		Rate:            10,
		Duration:        10 * time.Minute,
		Arrivals:        ArrivalsConstant,
		BurstEvery:      10 * time.Minute,
		BurstLength:     time.Minute,
		DailyMin:        0.2,
		Latency:         100 * time.Millisecond,
		LatencyDist:     LatencyFixed,
		LatencySigma:    0.5,
		Units:           1,
		PortsPerUnit:    1024,
		Reclaim:         4 * time.Minute,
		IdleTimeout:     50 * time.Second,
		BackendIPs:      1,
		NATIdleTimeout:  4 * time.Minute,
		Timeout:         300 * time.Second,
		RetryInterval:   time.Second,
		BreakerInterval: time.Minute,
		BreakerTrip:     30 * time.Second,
		Seed:            1,
	}
}

// FieldError is a scenario value that is out of range. Field is the
// option's name as spelled on the command line and in scenario files.
type FieldError struct {
	Field string
	Err   error
}

// Error implements error.
func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }

// Unwrap returns the underlying error.
func (e *FieldError) Unwrap() error { return e.Err }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Err: fmt.Errorf(format, args...)}
}

// Limits that keep a run bounded in memory and time.
const (
	maxDuration = 31 * 24 * time.Hour
	maxRetries  = 50 // APIM's retry count maximum
	maxRate     = 1e7
)

// Validate reports the first value that is out of range, as a *FieldError.
func (s *Scenario) Validate() error {
	switch {
	case !finite(s.Rate) || s.Rate < 0 || s.Rate > maxRate:
		return fieldErr("rate", "must be between 0 and %g requests/s, got %g", maxRate, s.Rate)
	case s.Duration <= 0 || s.Duration > maxDuration:
		return fieldErr("duration", "must be positive and at most %s, got %s", maxDuration, s.Duration)
	case s.Latency < 0 || s.Latency > time.Hour:
		return fieldErr("latency", "must be between 0 and 1h, got %s", s.Latency)
	case !finite(s.LatencySigma) || s.LatencySigma < 0 || s.LatencySigma > 4:
		return fieldErr("latency-sigma", "must be between 0 and 4, got %g", s.LatencySigma)
	case s.Units < 1 || s.Units > 1000:
		return fieldErr("units", "must be between 1 and 1000, got %d", s.Units)
	case s.PortsPerUnit < 1 || s.PortsPerUnit > 65535:
		return fieldErr("ports-per-unit", "must be between 1 and 65535, got %d", s.PortsPerUnit)
	case s.Reclaim < 0 || s.Reclaim > time.Hour:
		return fieldErr("reclaim", "must be between 0 and 1h, got %s", s.Reclaim)
	case s.MaxConns < 0:
		return fieldErr("max-conns", "must not be negative, got %d", s.MaxConns)
	case s.IdleTimeout < 0 || s.IdleTimeout > 2*time.Hour:
		return fieldErr("idle-timeout", "must be between 0 and 2h, got %s", s.IdleTimeout)
	case s.BackendIPs < 1 || s.BackendIPs > 1000:
		return fieldErr("backend-ips", "must be between 1 and 1000, got %d", s.BackendIPs)
	case s.NATGatewayIPs < 0 || s.NATGatewayIPs > 16:
		return fieldErr("nat-gateway-ips", "must be between 0 and 16 (Azure's maximum), got %d", s.NATGatewayIPs)
	case s.NATIdleTimeout < 0 || s.NATIdleTimeout > 120*time.Minute:
		return fieldErr("nat-idle-timeout", "must be between 0 and 120m, got %s", s.NATIdleTimeout)
	case !finite(s.CacheHitRatio) || s.CacheHitRatio < 0 || s.CacheHitRatio > 1:
		return fieldErr("cache-hit-ratio", "must be between 0 and 1, got %g", s.CacheHitRatio)
	case !finite(s.RateLimit) || s.RateLimit < 0:
		return fieldErr("rate-limit", "must not be negative, got %g", s.RateLimit)
	case s.Timeout <= 0 || s.Timeout > time.Hour:
		return fieldErr("timeout", "must be positive and at most 1h, got %s", s.Timeout)
	case s.Retries < 0 || s.Retries > maxRetries:
		return fieldErr("retries", "must be between 0 and %d, got %d", maxRetries, s.Retries)
	case s.RetryInterval < 0 || s.RetryInterval > time.Hour:
		return fieldErr("retry-interval", "must be between 0 and 1h, got %s", s.RetryInterval)
	case s.BreakerFailures < 0:
		return fieldErr("breaker-failures", "must not be negative, got %d", s.BreakerFailures)
	case s.BreakerFailures > 0 && (s.BreakerInterval <= 0 || s.BreakerInterval > time.Hour):
		return fieldErr("breaker-interval", "must be positive and at most 1h, got %s", s.BreakerInterval)
	case s.BreakerFailures > 0 && (s.BreakerTrip <= 0 || s.BreakerTrip > 24*time.Hour):
		return fieldErr("breaker-trip", "must be positive and at most 24h, got %s", s.BreakerTrip)
	case s.Step < 0 || s.Step > time.Minute:
		return fieldErr("step", "must be between 0 (automatic) and 1m, got %s", s.Step)
	case s.Step > 0 && s.Step < stepFloor(s):
		return fieldErr("step", "%s is too fine for this scenario (at least %s: at most %d steps, bounded memory)",
			s.Step, stepFloor(s), maxSteps)
	}
	switch s.Arrivals {
	case ArrivalsConstant, ArrivalsPoisson, ArrivalsDaily:
	case ArrivalsBursts:
		switch {
		case !finite(s.BurstRate) || s.BurstRate < 0 || s.BurstRate > maxRate:
			return fieldErr("burst-rate", "must be between 0 and %g requests/s, got %g", maxRate, s.BurstRate)
		case s.BurstEvery <= 0:
			return fieldErr("burst-every", "must be positive, got %s", s.BurstEvery)
		case s.BurstLength <= 0 || s.BurstLength > s.BurstEvery:
			return fieldErr("burst-length", "must be positive and at most burst-every (%s), got %s", s.BurstEvery, s.BurstLength)
		}
	case ArrivalsLog:
		if s.Trace == nil || len(s.Trace.Arrivals) == 0 {
			return fieldErr("arrivals", "%q needs a gateway log with requests (log)", ArrivalsLog)
		}
	default:
		return fieldErr("arrivals", "must be one of constant, poisson, bursts, daily, log; got %q", s.Arrivals)
	}
	if s.Arrivals == ArrivalsDaily && (!finite(s.DailyMin) || s.DailyMin < 0 || s.DailyMin > 1) {
		return fieldErr("daily-min", "must be between 0 and 1, got %g", s.DailyMin)
	}
	switch s.LatencyDist {
	case LatencyFixed, LatencyLogNormal:
	case LatencyLog:
		if s.Trace == nil || len(s.Trace.Latencies) == 0 {
			return fieldErr("latency-dist", "%q needs a gateway log with backend times (log)", LatencyLog)
		}
	default:
		return fieldErr("latency-dist", "must be one of fixed, lognormal, log; got %q", s.LatencyDist)
	}
	return nil
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }
