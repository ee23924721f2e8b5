package gateway

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"net/url"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/apimgw/apimgw/internal/backend"
	"github.com/apimgw/apimgw/internal/config"
	"github.com/apimgw/apimgw/internal/httpserver"
	"github.com/apimgw/apimgw/internal/logs"
	"github.com/apimgw/apimgw/internal/metrics"
	"github.com/apimgw/apimgw/internal/policy"
	"github.com/apimgw/apimgw/internal/resilience"
	"github.com/apimgw/apimgw/internal/store"
)

// Gateway is a running data plane built from a configuration. It is an
// http.Handler; Serve runs it on its listeners.
type Gateway struct {
	plan       atomic.Pointer[Plan]
	backends   *backend.Manager
	store      store.Store
	cache      *store.ResponseCache
	logs       *logs.Writer
	sinks      map[string]io.Writer
	closeSinks func()
	tokens     *tokenSource
	metrics    *metrics.Gateway
	registry   *metrics.Registry
	rmetrics   *resilience.Metrics
	log        *slog.Logger
	now        func() time.Time
	bufs       sync.Pool
	exchanges  sync.Pool // of *exchange
	reloadMu   sync.Mutex
	closed     atomic.Bool
	// background is work requests left running (send-one-way-request);
	// Close waits for it, bounded.
	background sync.WaitGroup
	// draining is set when shutdown starts: /readyz then answers 503 so
	// load balancers stop sending new requests while in-flight ones finish.
	draining atomic.Bool
	// sessions are the WebSocket connections being relayed.
	sessions sessions
	// load, when set, loads the configuration on reload instead of
	// reading the file (ServeOptions.Load).
	load func() (*config.Config, error)
}

// Options are the parts of a Gateway that do not come from the config file.
type Options struct {
	Log *slog.Logger
	// Logs overrides the request log writer (tests); nil opens cfg.Logs.
	Logs *logs.Writer
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// New builds a Gateway from a validated configuration.
func New(cfg *config.Config, o Options) (*Gateway, error) {
	g := &Gateway{log: o.Log, now: o.Now, registry: metrics.NewTrackingRegistry()}
	if g.log == nil {
		g.log = slog.Default()
	}
	if g.now == nil {
		g.now = time.Now
	}
	g.bufs.New = func() any { b := make([]byte, 32<<10); return &b }
	g.exchanges.New = newExchange
	g.metrics = metrics.New(g.registry)
	g.registry.MustRegister(newCertCollector(g))
	rm, err := resilience.NewMetrics(g.registry)
	if err != nil {
		return nil, err
	}
	g.rmetrics = rm
	// The plan, built below, reads caCertificates; until then the system's
	// roots serve (no backend has been called yet).
	mgr, err := backend.NewManager(backendOptions(cfg, nil), g.registry, g.log)
	if err != nil {
		return nil, err // its errors name the outbound setting
	}
	g.backends = mgr
	st, err := store.New(storeConfig(cfg), g.registry, g.log)
	if err != nil {
		mgr.Close()
		return nil, fmt.Errorf("store: %w", err)
	}
	g.store, g.cache = st, store.NewResponseCache(st, 0)
	if g.sinks, g.closeSinks, err = openLoggers(cfg); err != nil {
		mgr.Close()
		st.Close()
		return nil, err
	}
	g.tokens = newTokenSource(cfg)
	plan, err := Build(cfg, g.env(), g.rmetrics)
	if err == nil {
		if err = mgr.Update(plan.outbound); err != nil {
			plan.registry.Close()
		}
	}
	if err != nil {
		mgr.Close()
		st.Close()
		return nil, err
	}
	plan.registry.Start()
	g.plan.Store(plan)
	g.logs = o.Logs
	if g.logs == nil {
		sampling := 1.0
		if cfg.Logs.Sampling != nil {
			sampling = *cfg.Logs.Sampling
		}
		w, err := logs.Open(cfg.Path(cfg.Logs.Path), sampling)
		if err != nil {
			mgr.Close()
			st.Close()
			plan.Close()
			return nil, err
		}
		g.logs = w
	}
	return g, nil
}

// env is the policy environment of a new plan.
func (g *Gateway) env() *policy.Env {
	env := &policy.Env{Transport: g.backends, Log: g.log, Now: g.now,
		Services: policy.Services{Store: g.store, Responses: g.cache, Registerer: g.registry, Loggers: g.sinks, Background: &g.background}}
	if g.tokens != nil {
		env.Services.Token = g.tokens.Token
	}
	return env
}

// storeConfig maps the store section to the store package's configuration.
func storeConfig(cfg *config.Config) store.Config {
	s := cfg.Store
	return store.Config{
		Type:   s.Type,
		Memory: store.MemoryConfig{MaxBytes: s.Memory.MaxBytes, MaxCounters: s.Memory.MaxCounters},
		Redis: store.RedisConfig{
			Addr: s.Redis.Addr, Username: s.Redis.Username, Password: s.Redis.Password, DB: s.Redis.DB,
			DialTimeout: s.Redis.DialTimeout.D(), Timeout: s.Redis.Timeout.D(), PoolSize: s.Redis.PoolSize,
			HealthCheckInterval: s.Redis.HealthCheckInterval.D(), FallbackReplicas: s.Redis.FallbackReplicas,
		},
	}
}

// backendOptions maps the outbound and backends sections to the connection
// manager's options.
// roots verify backend certificates (nil: the system's).
func backendOptions(cfg *config.Config, roots *x509.CertPool) backend.Options {
	o := cfg.Outbound
	opts := backend.Options{
		MaxConnsPerHost:     o.MaxConnsPerHost,
		MaxIdleConnsPerHost: o.MaxIdleConnsPerHost,
		IdleConnTimeout:     o.IdleConnTimeout.D(),
		ConnectTimeout:      o.ConnectTimeout.D(),
		DNSRefresh:          o.DNSRefresh.D(),
		SNAT:                backend.SNAT{Ports: o.SNAT.Ports, Reclaim: o.SNAT.Reclaim.D(), Enforce: o.SNAT.Enforce},
		Hosts:               map[string]backend.HostOptions{},
		RootCAs:             roots,
	}
	for authority, h := range cfg.BackendHosts {
		opts.Hosts[authority] = backend.HostOptions{
			Addresses:             h.Addresses,
			KeepAlive:             h.KeepAlive,
			Protocol:              h.Protocol,
			TLSInsecureSkipVerify: h.TLS.ValidateCertificateChain != nil && !*h.TLS.ValidateCertificateChain,
			TLSSkipNameCheck:      h.TLS.ValidateCertificateName != nil && !*h.TLS.ValidateCertificateName,
			MaxConnsPerHost:       h.MaxConnsPerHost,
			MaxIdleConnsPerHost:   h.MaxIdleConnsPerHost,
			IdleConnTimeout:       h.IdleConnTimeout.D(),
		}
	}
	return opts
}

// Reload swaps in a new configuration. A configuration that does not build
// is refused and the current one keeps serving.
func (g *Gateway) Reload(cfg *config.Config) error {
	g.reloadMu.Lock()
	defer g.reloadMu.Unlock()
	plan, err := Build(cfg, g.env(), g.rmetrics)
	if err == nil {
		if err = g.backends.Update(plan.outbound); err != nil {
			plan.registry.Close()
		}
	}
	if err != nil {
		g.metrics.Reloads.WithLabelValues("failure").Inc()
		return err
	}
	oldPlan := g.plan.Load()
	old := oldPlan.Config
	if old.Listen != cfg.Listen || old.Admin != cfg.Admin || old.Logs.Path != cfg.Logs.Path || old.Store.Type != cfg.Store.Type || old.Store.Redis != cfg.Store.Redis {
		g.log.Warn("listen, admin, logs and store changes take effect on restart")
	}
	plan.registry.Inherit(oldPlan.registry)
	plan.registry.Start()
	g.plan.Store(plan)
	oldPlan.registry.Close()
	g.metrics.Reloads.WithLabelValues("success").Inc()
	return nil
}

// ReloadFile loads path and reloads it (or, when the gateway was served
// with ServeOptions.Load, loads the configuration that way).
func (g *Gateway) ReloadFile(path string) error {
	load := g.load
	if load == nil {
		load = func() (*config.Config, error) { return config.Load(path) }
	}
	cfg, err := load()
	if err != nil {
		g.metrics.Reloads.WithLabelValues("failure").Inc()
		return err
	}
	if err := g.Reload(cfg); err != nil {
		return err
	}
	releaseLoadGarbage()
	return nil
}

// releaseLoadGarbage collects what loading a configuration left behind
// (the YAML and policy trees, the OpenAPI documents: tens of MB for an
// estate of thousands of operations) and returns it to the operating
// system now, instead of letting the process hold it as idle heap until
// the runtime's background scavenger gets to it. Called after a file load
// succeeds, never on the request path.
func releaseLoadGarbage() { debug.FreeOSMemory() }

// Config returns the configuration being served.
func (g *Gateway) Config() *config.Config { return g.plan.Load().Config }

// Registry is the Prometheus registry the gateway's metrics live on.
func (g *Gateway) Registry() *prometheus.Registry { return g.registry.Registry }

// MetricDescs lists every metric the gateway's own collectors can export,
// series or not yet (custom emit-metric counters included, once built).
func (g *Gateway) MetricDescs() []*prometheus.Desc {
	ch := make(chan *prometheus.Desc, 64)
	go func() { g.registry.Describe(ch); close(ch) }()
	var out []*prometheus.Desc
	for d := range ch {
		out = append(out, d)
	}
	return out
}

// Backends is the outbound connection manager.
func (g *Gateway) Backends() *backend.Manager { return g.backends }

// Close releases connections and flushes the request log.
func (g *Gateway) Close() error {
	if !g.closed.CompareAndSwap(false, true) {
		return nil
	}
	// Let fire-and-forget calls finish (each is bounded by its timeout).
	done := make(chan struct{})
	go func() { g.background.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(g.Config().Shutdown.Timeout.D()):
		g.log.Warn("closing with send-one-way-request calls still in flight")
	}
	g.sessions.closeAll()
	g.plan.Load().registry.Close()
	g.closeSinks()
	return errors.Join(g.backends.Close(), g.store.Close(), g.logs.Close())
}

// AdminHandler serves /healthz, /readyz, /metrics, POST /reload and (with
// admin.pprof) /debug/pprof. configPath is the file POST /reload reads.
// The read-only endpoints answer any Host, for Kubernetes probes and
// Prometheus, which address them by IP or service name; the others are
// guarded (adminGuard) and reload may require a bearer token.
func (g *Gateway) AdminHandler(configPath string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		state := "ready"
		if g.draining.Load() {
			state = "draining"
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		status := map[string]any{"status": state, "backends": g.plan.Load().registry.Status(), "destinations": g.backends.Stats()}
		json.NewEncoder(w).Encode(status)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(g.registry.Registry, promhttp.HandlerOpts{}))
	// Profiling, on the admin listener only (never the data port), and
	// only when admin.pprof asks for it.
	pprofOn := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if !g.Config().AdminSettings.Pprof {
				http.NotFound(w, r)
				return
			}
			h(w, r)
		}
	}
	mux.HandleFunc("GET /debug/pprof/", g.adminGuard(pprofOn(pprof.Index)))
	mux.HandleFunc("GET /debug/pprof/profile", g.adminGuard(pprofOn(pprof.Profile)))
	mux.HandleFunc("GET /debug/pprof/trace", g.adminGuard(pprofOn(pprof.Trace)))
	mux.HandleFunc("POST /reload", g.adminGuard(func(w http.ResponseWriter, r *http.Request) {
		if token := g.Config().AdminSettings.ReloadToken; token != "" {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(token)) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="apimgw-admin"`)
				http.Error(w, "reload needs the admin bearer token", http.StatusUnauthorized)
				return
			}
		}
		if err := g.ReloadFile(configPath); err != nil {
			g.log.Error("reload refused", "err", err)
			http.Error(w, err.Error(), http.StatusUnprocessableEntity)
			return
		}
		g.log.Info("configuration reloaded", "file", configPath)
		fmt.Fprintln(w, "reloaded")
	}))
	return mux
}

// adminGuard refuses, for the admin endpoints that change state or reveal
// the process (POST /reload, /debug/pprof), what a browser can be made to
// send: a Host that is a foreign name (DNS rebinding: a page on
// evil.example whose name now resolves to 127.0.0.1), and cross-origin
// requests (Origin from another origin, Sec-Fetch-Site other than
// same-origin or none). IP literals, localhost and the configured names
// pass, so that scripts, kubectl port-forward and probes keep working.
func (g *Gateway) adminGuard(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s := &g.Config().AdminSettings
		if !adminHostAllowed(r.Host, s) {
			g.log.Warn("admin request refused: foreign Host", "host", r.Host, "path", r.URL.Path, "remote", r.RemoteAddr)
			http.Error(w, "admin: Host not allowed (add it to admin.allowedHosts)", http.StatusForbidden)
			return
		}
		if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
			g.log.Warn("admin request refused: cross-site", "sec-fetch-site", site, "path", r.URL.Path, "remote", r.RemoteAddr)
			http.Error(w, "admin: cross-origin requests are refused", http.StatusForbidden)
			return
		}
		if origin := r.Header.Get("Origin"); origin != "" {
			u, err := url.Parse(origin)
			if err != nil || u.Host == "" || !strings.EqualFold(u.Host, r.Host) {
				g.log.Warn("admin request refused: cross-origin", "origin", origin, "path", r.URL.Path, "remote", r.RemoteAddr)
				http.Error(w, "admin: cross-origin requests are refused", http.StatusForbidden)
				return
			}
		}
		h(w, r)
	}
}

// adminHostAllowed reports whether a request's Host names the admin
// listener: empty (HTTP/1.0), an IP literal, localhost, the listen host,
// or one of allowedHosts; any port.
func adminHostAllowed(hostport string, s *config.AdminSettings) bool {
	if hostport == "" {
		return true
	}
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if _, err := netip.ParseAddr(host); err == nil {
		// A rebinding attack needs a name the attacker controls; an
		// address is what probes and scrapers send.
		return true
	}
	if strings.EqualFold(host, "localhost") || hasSuffixFold(host, ".localhost") {
		return true // browsers resolve it to loopback themselves (RFC 6761)
	}
	if lh, _, err := net.SplitHostPort(s.Listen); err == nil && lh != "" && strings.EqualFold(host, strings.Trim(lh, "[]")) {
		return true
	}
	for _, a := range s.AllowedHosts {
		if strings.EqualFold(host, strings.TrimSuffix(a, ".")) {
			return true
		}
	}
	return false
}

// ServeOptions control Serve.
type ServeOptions struct {
	ConfigPath string
	Log        *slog.Logger
	// Reload delivers reload requests (SIGHUP).
	Reload <-chan struct{}
	// Ready is called with the bound data and admin addresses.
	Ready func(data, admin net.Addr)
	// Load, when set, loads the configuration, at start and on every
	// reload, instead of reading ConfigPath (an APIOps extract with its
	// overlay); ConfigPath then only names it in logs.
	Load func() (*config.Config, error)
}

// dataServer is the data-plane listener's server, whichever it is.
type dataServer struct {
	serve    func() error
	shutdown func(context.Context) error
	close    func() error
}

// limitedServer is a data-plane server with the client-facing limits of
// the limits section (not reloadable: they apply from the next start).
func limitedServer(l config.Limits) *httpserver.Server {
	return &httpserver.Server{
		ReadHeaderTimeout:      l.HeaderTimeout.D(),
		IdleTimeout:            l.IdleTimeout.D(),
		MaxHeaderBytes:         int(l.Head),
		MaxURLBytes:            int(l.URL),
		MaxHeaderLineBytes:     int(l.HeaderLine),
		MaxHeaders:             l.Headers,
		BodyGrace:              l.BodyGrace.D(),
		BodyMinRate:            int(l.BodyMinRate),
		MaxConns:               l.MaxConnections,
		AllowUnderscoreHeaders: l.UnderscoresInHeaders,
	}
}

// Serve loads the configuration, runs the gateway until ctx is done, then
// stops accepting, drains in-flight requests (up to shutdown.timeout) and
// releases everything.
func Serve(ctx context.Context, o ServeOptions) error {
	load := o.Load
	if load == nil {
		load = func() (*config.Config, error) { return config.Load(o.ConfigPath) }
	}
	cfg, err := load()
	if err != nil {
		return err
	}
	log := o.Log
	if log == nil {
		log = slog.Default()
	}
	g, err := New(cfg, Options{Log: log})
	if err != nil {
		return err
	}
	g.load = o.Load
	defer g.Close()
	releaseLoadGarbage()
	dataLn, err := httpserver.Listen(cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	adminLn, err := httpserver.Listen(cfg.Admin)
	if err != nil {
		dataLn.Close()
		return fmt.Errorf("admin listen %s: %w", cfg.Admin, err)
	}
	// HTTP/1.x is served by the lean httpserver, cleartext and TLS alike;
	// on the TLS listener, clients that choose HTTP/2 by ALPN are handed to
	// net/http's server after the handshake.
	var data dataServer
	h1 := limitedServer(cfg.Limits)
	h1.Handler, h1.ErrorLog = g, log
	if cfg.TLS != nil {
		h1.TLSConfig = &tls.Config{
			// The pair Build loaded (and checked), not read a second time.
			Certificates: []tls.Certificate{*g.plan.Load().listenerCert},
			NextProtos:   []string{"h2", "http/1.1"},
		}
		if cfg.TLS.NegotiateClientCertificate {
			// Asked for, not required nor verified here: policies decide
			// (validate-client-certificate), as in APIM.
			h1.TLSConfig.ClientAuth = tls.RequestClientCert
			h1.TLSConfig.MinVersion = tls.VersionTLS12
		}
		h2 := newH2Server(g, log, h1, dataLn.Addr())
		data = dataServer{
			serve:    func() error { go h2.serve(); return h1.Serve(dataLn) },
			shutdown: h2.shutdownWith(h1.Shutdown),
			close:    func() error { h2.hs.Close(); return h1.Close() },
		}
	} else {
		data = dataServer{serve: func() error { return h1.Serve(dataLn) }, shutdown: h1.Shutdown, close: h1.Close}
	}
	admin := &http.Server{Handler: g.AdminHandler(o.ConfigPath), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 2)
	go func() { errc <- data.serve() }()
	go func() { errc <- admin.Serve(adminLn) }()
	log.Info("apimgw serving", "listen", dataLn.Addr().String(), "admin", adminLn.Addr().String(), "config", cfg.File)
	if o.Ready != nil {
		o.Ready(dataLn.Addr(), adminLn.Addr())
	}
	var serveErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-o.Reload:
			if err := g.ReloadFile(o.ConfigPath); err != nil {
				log.Error("reload refused; the previous configuration keeps serving", "err", err)
			} else {
				log.Info("configuration reloaded", "file", o.ConfigPath)
			}
		case err := <-errc:
			if !errors.Is(err, http.ErrServerClosed) {
				serveErr = err
			}
			break loop
		}
	}
	timeout := g.Config().Shutdown.Timeout.D()
	log.Info("shutting down", "drain", timeout.String())
	g.draining.Store(true)
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := data.shutdown(sctx); err != nil {
		log.Warn("drain incomplete", "err", err)
		data.close()
	}
	admin.Shutdown(sctx)
	return serveErr
}
