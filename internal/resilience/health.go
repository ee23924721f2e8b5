package resilience

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Health probe defaults, used for zero ProbeOptions fields.
const (
	DefaultProbeInterval           = 10 * time.Second
	DefaultProbeTimeout            = 2 * time.Second
	DefaultProbeHealthyThreshold   = 2
	DefaultProbeUnhealthyThreshold = 3
	// probeBodyLimit bounds how much of a probe response is read (so the
	// connection can be reused) before it is closed.
	probeBodyLimit = 64 << 10
)

// ProbeOptions configure the active health probe of one backend
// (healthProbe in gateway.yaml; an apimgw extension, APIM has none).
type ProbeOptions struct {
	// Path is requested with GET on the backend's URL, e.g. "/health".
	Path string
	// Interval is the time between the starts of two probes.
	Interval time.Duration
	// Timeout bounds one probe; a probe that times out failed.
	Timeout time.Duration
	// HealthyThreshold is how many consecutive successes bring an unhealthy
	// backend back into rotation.
	HealthyThreshold int
	// UnhealthyThreshold is how many consecutive failures take a healthy
	// backend out of rotation.
	UnhealthyThreshold int
	// ExpectedStatus lists the statuses that count as success; empty means
	// 200-299.
	ExpectedStatus []StatusRange
	// Context, if not nil, derives each probe's context: it adds what the
	// backend's own requests carry, such as its TLS client certificate.
	Context func(context.Context) context.Context
}

// sameProbe reports whether two probe settings probe alike (Context is a
// function and compares by what the gateway built it from, not here).
func sameProbe(a, b ProbeOptions) bool {
	a.Context, b.Context = nil, nil
	return reflect.DeepEqual(a, b)
}

// WithDefaults returns o with zero fields set to the defaults.
func (o ProbeOptions) WithDefaults() ProbeOptions {
	if o.Interval == 0 {
		o.Interval = DefaultProbeInterval
	}
	if o.Timeout == 0 {
		o.Timeout = min(DefaultProbeTimeout, o.Interval)
	}
	if o.HealthyThreshold == 0 {
		o.HealthyThreshold = DefaultProbeHealthyThreshold
	}
	if o.UnhealthyThreshold == 0 {
		o.UnhealthyThreshold = DefaultProbeUnhealthyThreshold
	}
	if len(o.ExpectedStatus) == 0 {
		o.ExpectedStatus = []StatusRange{{Min: 200, Max: 299}}
	}
	return o
}

// Validate reports the first invalid field of o (after defaults), named as
// in gateway.yaml.
func (o ProbeOptions) Validate() error {
	o = o.WithDefaults()
	switch {
	case !strings.HasPrefix(o.Path, "/"):
		return fmt.Errorf("healthProbe.path: %q must start with /", o.Path)
	case o.Interval < 0:
		return errors.New("healthProbe.interval: must be positive")
	case o.Timeout < 0 || o.Timeout > o.Interval:
		return fmt.Errorf("healthProbe.timeout: %s must be positive and at most the interval %s", o.Timeout, o.Interval)
	case o.HealthyThreshold < 0:
		return errors.New("healthProbe.healthyThreshold: must be positive")
	case o.UnhealthyThreshold < 0:
		return errors.New("healthProbe.unhealthyThreshold: must be positive")
	}
	for i, sr := range o.ExpectedStatus {
		if sr.Min < 100 || sr.Max > 599 || sr.Min > sr.Max {
			return fmt.Errorf("healthProbe.expectedStatus[%d]: {min: %d, max: %d} is not a range within 100..599", i, sr.Min, sr.Max)
		}
	}
	return nil
}

// ProbeStatus is the probe state of one backend, for /readyz detail.
type ProbeStatus struct {
	Healthy              bool      `json:"healthy"`
	URL                  string    `json:"url"`
	ConsecutiveSuccesses int       `json:"consecutiveSuccesses"`
	ConsecutiveFailures  int       `json:"consecutiveFailures"`
	LastProbe            time.Time `json:"lastProbe,omitzero"`
	LastStatusCode       int       `json:"lastStatusCode,omitempty"`
	LastError            string    `json:"lastError,omitempty"`
}

// HealthChecker probes backends in the background and says which are
// healthy. Backends start healthy (traffic is not held back while the first
// probes run) and change state after the configured number of consecutive
// results. Probes go through the RoundTripper given to NewHealthChecker (the
// gateway's pooled outbound transport), so they reuse its connections and
// count against its limits like any request. Build with NewHealthChecker,
// Add backends, Start, and Close when done.
type HealthChecker struct {
	rt      http.RoundTripper
	clock   Clock
	metrics *Metrics
	log     *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.RWMutex
	targets map[string]*target
	started bool
	closed  bool
}

type target struct {
	id      string
	url     *url.URL
	opts    ProbeOptions
	healthy atomic.Bool

	mu     sync.Mutex
	status ProbeStatus
}

// NewHealthChecker returns a checker that sends probes through rt. m and
// log may be nil; a nil clock is the system clock.
func NewHealthChecker(rt http.RoundTripper, clock Clock, m *Metrics, log *slog.Logger) *HealthChecker {
	if rt == nil {
		rt = http.DefaultTransport
	}
	if clock == nil {
		clock = SystemClock{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &HealthChecker{rt: rt, clock: clock, metrics: m, log: log, ctx: ctx, cancel: cancel,
		targets: map[string]*target{}}
}

// Add registers the probe of backend id whose URL is baseURL; the probe
// requests baseURL's path joined with opts.Path. Adding to a started checker
// starts probing at once.
func (h *HealthChecker) Add(id, baseURL string, opts ProbeOptions) error {
	if err := opts.Validate(); err != nil {
		return fmt.Errorf("backend %s: %w", id, err)
	}
	opts = opts.WithDefaults()
	base, err := url.Parse(baseURL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return fmt.Errorf("backend %s: health probe: url %q is not an absolute http(s) URL", id, baseURL)
	}
	ref, err := url.Parse(opts.Path)
	if err != nil {
		return fmt.Errorf("backend %s: healthProbe.path: %w", id, err)
	}
	u := *base
	u.Path = strings.TrimSuffix(base.Path, "/") + ref.Path
	u.RawPath = ""
	u.RawQuery = ref.RawQuery
	u.Fragment = ""
	t := &target{id: id, url: &u, opts: opts}
	t.healthy.Store(true)
	t.status = ProbeStatus{Healthy: true, URL: u.String()}

	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return fmt.Errorf("backend %s: health checker is closed", id)
	}
	if _, dup := h.targets[id]; dup {
		return fmt.Errorf("backend %s: health probe already added", id)
	}
	h.targets[id] = t
	h.metrics.setHealth(id, true)
	if h.started {
		h.wg.Add(1)
		go h.run(t)
	}
	return nil
}

// Start begins probing every added backend, each in its own goroutine,
// first probe immediately. Calling it again does nothing.
func (h *HealthChecker) Start() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.started || h.closed {
		return
	}
	h.started = true
	for _, t := range h.targets {
		h.wg.Add(1)
		go h.run(t)
	}
}

// Close stops the probes and waits for the goroutines to end (an in-flight
// probe is cancelled).
func (h *HealthChecker) Close() {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	h.cancel()
	h.wg.Wait()
}

// Healthy reports whether backend id may take traffic. A backend without a
// probe is always healthy.
func (h *HealthChecker) Healthy(id string) bool {
	h.mu.RLock()
	t := h.targets[id]
	h.mu.RUnlock()
	return t == nil || t.healthy.Load()
}

// Status returns the probe state of every probed backend, by backend id.
func (h *HealthChecker) Status() map[string]ProbeStatus {
	h.mu.RLock()
	targets := maps.Clone(h.targets)
	h.mu.RUnlock()
	out := make(map[string]ProbeStatus, len(targets))
	for id, t := range targets {
		t.mu.Lock()
		out[id] = t.status
		t.mu.Unlock()
	}
	return out
}

// inherit copies the probe state of backend id from prev, so a reload keeps
// an unhealthy backend out of rotation.
func (h *HealthChecker) inherit(prev *HealthChecker, id string) {
	prev.mu.RLock()
	old := prev.targets[id]
	prev.mu.RUnlock()
	h.mu.RLock()
	t := h.targets[id]
	h.mu.RUnlock()
	if old == nil || t == nil {
		return
	}
	old.mu.Lock()
	st := old.status
	old.mu.Unlock()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.status = st
	t.healthy.Store(st.Healthy)
	h.metrics.setHealth(id, st.Healthy)
}

func (h *HealthChecker) run(t *target) {
	defer h.wg.Done()
	for {
		start := h.clock.Now()
		h.probeOnce(t)
		wait := t.opts.Interval - h.clock.Now().Sub(start)
		if h.ctx.Err() != nil || Sleep(h.ctx, h.clock, wait) != nil {
			return
		}
	}
}

func (h *HealthChecker) probeOnce(t *target) {
	code, err := h.send(t)
	if h.ctx.Err() != nil {
		return // shutting down: a cancelled probe says nothing about the backend
	}
	ok := err == nil
	if ok {
		ok = false
		for _, sr := range t.opts.ExpectedStatus {
			if sr.Contains(code) {
				ok = true
				break
			}
		}
		if !ok {
			err = fmt.Errorf("unexpected status %d", code)
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	st := &t.status
	st.LastProbe = h.clock.Now()
	st.LastStatusCode = code
	st.LastError = ""
	if ok {
		st.ConsecutiveSuccesses++
		st.ConsecutiveFailures = 0
	} else {
		st.LastError = err.Error()
		st.ConsecutiveFailures++
		st.ConsecutiveSuccesses = 0
	}
	switch {
	case st.Healthy && st.ConsecutiveFailures >= t.opts.UnhealthyThreshold:
		st.Healthy = false
	case !st.Healthy && st.ConsecutiveSuccesses >= t.opts.HealthyThreshold:
		st.Healthy = true
	default:
		return
	}
	t.healthy.Store(st.Healthy)
	h.metrics.setHealth(t.id, st.Healthy)
	if st.Healthy {
		h.log.Info("backend healthy again", "backend", t.id, "url", st.URL, "consecutiveSuccesses", st.ConsecutiveSuccesses)
	} else {
		h.log.Warn("backend unhealthy, removed from rotation", "backend", t.id, "url", st.URL,
			"consecutiveFailures", st.ConsecutiveFailures, "lastError", st.LastError)
	}
}

// send performs one probe request and returns the status code.
func (h *HealthChecker) send(t *target) (int, error) {
	ctx, cancel := context.WithTimeout(h.ctx, t.opts.Timeout)
	defer cancel()
	if t.opts.Context != nil {
		ctx = t.opts.Context(ctx)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.url.String(), nil)
	if err != nil {
		return 0, fmt.Errorf("build probe request: %w", err)
	}
	req.Header.Set("User-Agent", "apimgw-health-probe")
	resp, err := h.rt.RoundTrip(req)
	if err != nil {
		return 0, fmt.Errorf("probe %s: %w", t.url.Redacted(), err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, probeBodyLimit))
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}
