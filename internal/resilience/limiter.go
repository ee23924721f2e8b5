package resilience

import (
	"fmt"
	"net/http"
	"sync"
)

// Limiter scopes.
const (
	// ScopeLimitConcurrency is the limit-concurrency policy: over the limit
	// APIM fails the request at once with 429 (it does not queue).
	ScopeLimitConcurrency = "limit-concurrency"
	// ScopeBackend is a backend entity's maxInFlight bulkhead (apimgw
	// extension): over the limit the request fails at once with 503, so one
	// slow backend cannot hold every gateway worker.
	ScopeBackend = "backend"
)

// LimitError is returned by Limiter.Acquire when key already has max
// requests in flight.
type LimitError struct {
	Scope string
	Key   string
	Max   int
}

// Error names the scope, key and limit.
func (e *LimitError) Error() string {
	return fmt.Sprintf("%s: %d requests already in flight for key %q", e.Scope, e.Max, e.Key)
}

// StatusCode is 429 for limit-concurrency (APIM's answer) and 503 for a
// backend bulkhead.
func (e *LimitError) StatusCode() int {
	if e.Scope == ScopeLimitConcurrency {
		return http.StatusTooManyRequests
	}
	return http.StatusServiceUnavailable
}

// Limiter is a keyed concurrency limiter (a bulkhead): at most max requests
// per key inside the guarded section at once, the rest refused immediately.
// Keys with nothing in flight take no memory. It is safe for concurrent use;
// one Limiter per scope is shared by every request of a gateway.
type Limiter struct {
	scope   string
	metrics *Metrics

	mu       sync.Mutex
	inFlight map[string]int
}

// NewLimiter returns an empty limiter for scope (ScopeLimitConcurrency or
// ScopeBackend). m may be nil.
func NewLimiter(scope string, m *Metrics) *Limiter {
	return &Limiter{scope: scope, metrics: m, inFlight: map[string]int{}}
}

// Acquire enters the section for key if fewer than max requests are in it,
// and returns the function that leaves it (call it exactly once; later calls
// are ignored). Over the limit it returns a *LimitError. A max below 1 lets
// nothing through.
func (l *Limiter) Acquire(key string, max int) (release func(), err error) {
	l.mu.Lock()
	n := l.inFlight[key]
	if n >= max {
		l.mu.Unlock()
		l.metrics.limitRejected(l.scope)
		return nil, &LimitError{Scope: l.scope, Key: key, Max: max}
	}
	l.inFlight[key] = n + 1
	l.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			if l.inFlight[key] <= 1 {
				delete(l.inFlight, key)
			} else {
				l.inFlight[key]--
			}
		})
	}, nil
}

// InFlight returns how many requests hold key now.
func (l *Limiter) InFlight(key string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.inFlight[key]
}
