package backend

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// reapInterval is how often idle connections past their timeout are closed.
// Reuse checks the timeout too, so this only bounds how long they linger.
const reapInterval = 500 * time.Millisecond

// defaultPruneAfter is how long an unused, empty pool is kept: addresses a
// host no longer resolves to, hosts no longer configured.
const defaultPruneAfter = 10 * time.Minute

// Manager is the outbound connection manager: an http.RoundTripper that
// keeps one pool per backend authority and destination IP:port and a port
// ledger per destination. It is safe for concurrent use; build it with
// NewManager and stop it with Close.
type Manager struct {
	log    *slog.Logger
	sink   *slogSink
	dialer *net.Dialer
	// lookup resolves a host name: its addresses and their TTL (0: unknown).
	lookup   func(ctx context.Context, host string) ([]netip.Addr, time.Duration, error)
	reg      prometheus.Registerer
	coll     *collector
	waitHist *prometheus.HistogramVec

	opts  atomic.Pointer[Options]
	hosts atomic.Pointer[hostTable] // copy on write

	mu      sync.Mutex // guards the fields below and writes to hosts
	pools   map[poolKey]*pool
	order   []*pool
	ledgers map[string]*PortLedger
	closed  bool
	// retired holds the connection counts of dropped pools whose metric
	// series (destination, host) other pools still export, so the
	// exported counters never go back.
	retired map[seriesKey]retiredCounts

	// pruneAfter is how long a pool no current host uses must have been
	// empty before it is dropped (with its metrics).
	pruneAfter time.Duration

	stop context.CancelFunc
	done chan struct{}
}

// hostKey and poolKey carry the thumbprint of the client certificate a
// request presents ("" for none): connections made with different
// certificates are never shared.
// The proxy's key is there too: connections through a proxy are the
// proxy's.
type hostKey struct{ scheme, host, cert, proxy string }

type poolKey struct{ scheme, authority, addr, cert, proxy string }

// hostTable holds the host entries by hostKey and, for requests without
// a client certificate or a proxy (most), also by the URL's host alone,
// a lookup that hashes one short string instead of four.
type hostTable struct {
	byKey map[hostKey]*hostEntry
	plain [2]map[string]*hostEntry // http, https
}

func emptyHostTable() *hostTable {
	return &hostTable{byKey: map[hostKey]*hostEntry{}, plain: [2]map[string]*hostEntry{{}, {}}}
}

// plainIndex is the index in hostTable.plain of a URL scheme, -1 for
// none.
func plainIndex(scheme string) int {
	switch scheme {
	case "http":
		return 0
	case "https":
		return 1
	}
	return -1
}

// seriesKey is what the connection metrics are labelled by: pools for the
// same destination and host (with different client certificates, say) are
// summed.
type seriesKey struct{ addr, host string }

type retiredCounts struct{ opened, closed uint64 }

// NewManager builds a Manager from o (zero fields take the defaults),
// registers its metrics on reg (nil: no metrics) and starts the goroutine
// that closes idle connections. log may be nil.
func NewManager(o Options, reg prometheus.Registerer, log *slog.Logger) (*Manager, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Manager{
		log:        log,
		sink:       &slogSink{log: log},
		dialer:     &net.Dialer{KeepAlive: 30 * time.Second},
		lookup:     newResolver().lookup,
		reg:        reg,
		pools:      map[poolKey]*pool{},
		ledgers:    map[string]*PortLedger{},
		pruneAfter: defaultPruneAfter,
		done:       make(chan struct{}),
	}
	m.waitHist = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "apimgw_backend_wait_seconds",
		Help:    "Time requests waited for a backend connection, per destination IP:port.",
		Buckets: []float64{0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30},
	}, []string{"destination", "host"})
	m.coll = newCollector(m)
	if reg != nil {
		if err := reg.Register(m.waitHist); err != nil {
			return nil, fmt.Errorf("register backend metrics: %w", err)
		}
		if err := reg.Register(m.coll); err != nil {
			reg.Unregister(m.waitHist)
			return nil, fmt.Errorf("register backend metrics: %w", err)
		}
	}
	m.opts.Store(&o)
	m.hosts.Store(emptyHostTable())
	ctx, cancel := context.WithCancel(context.Background())
	m.stop = cancel
	go m.reapLoop(ctx)
	return m, nil
}

// Update applies a new configuration (a reload). Pools, their connections
// and the port ledgers are kept, so ports in the reclaim window keep
// counting; connections whose protocol or TLS settings changed are closed
// once idle.
func (m *Manager) Update(o Options) error {
	o, err := o.withDefaults()
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errManagerClosed
	}
	m.opts.Store(&o)
	for _, l := range m.ledgers {
		l.configure(o.SNAT)
	}
	for _, p := range m.order {
		old := p.cfg.Load()
		p.configure(m.poolConfig(&o, p.scheme, old.serverName, old))
	}
	m.hosts.Store(emptyHostTable())
	return nil
}

// poolConfig derives one pool's config from the options. old, if not nil,
// is the pool's current config: its generation is kept unless existing
// connections can no longer serve.
func (m *Manager) poolConfig(o *Options, scheme, serverName string, old *poolConfig) *poolConfig {
	authority := old.authority
	h := o.Hosts[authority]
	cfg := &poolConfig{
		maxConns:       cmp.Or(h.MaxConnsPerHost, o.MaxConnsPerHost),
		maxIdle:        cmp.Or(h.MaxIdleConnsPerHost, o.MaxIdleConnsPerHost),
		idleTimeout:    cmp.Or(h.IdleConnTimeout, o.IdleConnTimeout),
		connectTimeout: o.ConnectTimeout,
		keepAlive:      h.keepAlive(),
		protocol:       h.protocol(),
		host:           h,
		authority:      authority,
		serverName:     serverName,
		cert:           old.cert,
		gen:            old.gen,
	}
	if !cfg.keepAlive {
		cfg.maxIdle = 0
	}
	if scheme == "https" {
		cfg.tls = &tls.Config{
			ServerName:         serverName,
			RootCAs:            o.RootCAs,
			InsecureSkipVerify: h.TLSInsecureSkipVerify, //nolint:gosec // the user's explicit choice per backend
			MinVersion:         tls.VersionTLS12,
		}
		if h.TLSSkipNameCheck && !h.TLSInsecureSkipVerify {
			// The chain is verified here, without the host name.
			cfg.tls.InsecureSkipVerify = true //nolint:gosec // replaced by verifyChain
			cfg.tls.VerifyConnection = verifyChain(o.RootCAs)
		}
		if cfg.protocol == ProtocolHTTP1 {
			cfg.tls.NextProtos = []string{"http/1.1"}
		}
		if c := cfg.cert; c != nil {
			cfg.tls.Certificates = []tls.Certificate{c.cert}
		}
	}
	if old.protocol != "" && !old.host.equalTransport(h) {
		cfg.gen++
	}
	return cfg
}

// RoundTrip implements http.RoundTripper. req.URL must be absolute (http
// or https); the request's context bounds the wait for a connection, the
// exchange and the reading of the body. Bodies are streamed both ways. Every
// error is an *Error.
func (m *Manager) RoundTrip(req *http.Request) (*http.Response, error) {
	return m.RoundTripInto(req, nil)
}

// RoundTripInto is RoundTrip reading an HTTP/1.1 response into rb (see
// ResponseBuffer) instead of allocating it; rb may be nil.
func (m *Manager) RoundTripInto(req *http.Request, rb *ResponseBuffer) (*http.Response, error) {
	ctx := req.Context()
	if req.URL == nil {
		closeBody(req)
		return nil, &Error{Reason: ReasonBackendConnectionFailure, Message: MsgUnableToConnect, Err: errors.New("request has no URL")}
	}
	var cc *ClientCert
	if req.URL.Scheme == "https" {
		cc = ClientCertOf(ctx)
	}
	px := ProxyOf(ctx)
	if px != nil && req.URL.Scheme == "http" && wantsUpgrade(req) {
		px = px.tunnelled()
	}
	e, err := m.entry(req.URL, cc, px)
	if err != nil {
		closeBody(req)
		return nil, err
	}
	var tried []*pool
	for {
		p, err := e.pick(ctx, tried)
		if err != nil {
			closeBody(req)
			return nil, err
		}
		var resp *http.Response
		if p.cfg.Load().protocol != ProtocolHTTP1 {
			resp, err = p.roundTripH2(ctx, req)
		} else {
			resp, err = p.roundTrip(ctx, req, rb)
		}
		if err == nil {
			return resp, nil
		}
		// A connection that could not be established sent nothing: the
		// host's next address may serve the request.
		tried = append(tried, p)
		if !errors.Is(err, errConnect) || ctx.Err() != nil || len(tried) >= e.destinations() {
			closeBody(req)
			return nil, err
		}
	}
}

// entry returns the host entry for u's scheme and authority, the client
// certificate cc and the proxy px (nil: none).
func (m *Manager) entry(u *url.URL, cc *ClientCert, px *Proxy) (*hostEntry, error) {
	plain := -1
	if cc == nil && px == nil {
		plain = plainIndex(u.Scheme)
		if plain >= 0 {
			if e, ok := m.hosts.Load().plain[plain][u.Host]; ok {
				return e, nil
			}
		}
	}
	k := hostKey{u.Scheme, u.Host, cc.thumbprint(), px.key()}
	if e, ok := m.hosts.Load().byKey[k]; ok {
		return e, nil
	}
	var port string
	switch u.Scheme {
	case "http":
		port = "80"
	case "https":
		port = "443"
	default:
		return nil, &Error{Reason: ReasonBackendConnectionFailure, Message: MsgUnableToConnect,
			Err: fmt.Errorf("unsupported backend URL scheme %q", u.Scheme)}
	}
	hostname := strings.ToLower(u.Hostname())
	if hostname == "" {
		return nil, &Error{Reason: ReasonBackendConnectionFailure, Message: MsgUnableToConnect,
			Err: fmt.Errorf("backend URL %q has no host", safeURL(u))}
	}
	if p := u.Port(); p != "" {
		port = p
	}
	authority := net.JoinHostPort(hostname, port)

	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, &Error{Reason: ReasonBackendConnectionFailure, Message: MsgUnableToConnect, Err: errManagerClosed}
	}
	t := m.hosts.Load()
	cur := t.byKey
	if e, ok := cur[k]; ok {
		return e, nil
	}
	o := m.opts.Load()
	e := &hostEntry{m: m, scheme: u.Scheme, authority: authority, hostname: hostname, serverName: hostname, port: port, opts: o.Hosts[authority], cert: cc, proxy: px}
	if px != nil {
		// Connections go to the proxy: resolve it, not the backend.
		e.hostname, e.port = px.hostPort()
		e.opts.Addresses = nil
	}
	// Another spelling of the same authority shares the entry.
	for _, other := range cur {
		if other.scheme == e.scheme && other.authority == authority && other.cert.thumbprint() == cc.thumbprint() && other.proxy.key() == px.key() {
			e = other
			break
		}
	}
	if e.pools.Load() == nil {
		if err := e.fixedAddresses(); err != nil {
			return nil, err
		}
	}
	next := &hostTable{byKey: make(map[hostKey]*hostEntry, len(cur)+1), plain: t.plain}
	for kk, v := range cur {
		next.byKey[kk] = v
	}
	next.byKey[k] = e
	if plain >= 0 {
		next.plain[plain] = make(map[string]*hostEntry, len(t.plain[plain])+1)
		for h, v := range t.plain[plain] {
			next.plain[plain][h] = v
		}
		next.plain[plain][u.Host] = e
	}
	m.hosts.Store(next)
	return e, nil
}

// poolFor returns the pool of one authority and destination, creating it
// (and the destination's ledger) on first use. m.mu must be held.
func (m *Manager) poolFor(e *hostEntry, addr string) *pool {
	k := poolKey{e.scheme, e.authority, addr, e.cert.thumbprint(), e.proxy.key()}
	if p, ok := m.pools[k]; ok {
		return p
	}
	o := m.opts.Load()
	l, ok := m.ledgers[addr]
	if !ok {
		l = newPortLedger(o.SNAT, time.Now)
		m.ledgers[addr] = l
	}
	p := &pool{
		scheme: e.scheme,
		host:   e.authority,
		addr:   addr,
		cert:   e.cert,
		proxy:  e.proxy,
		ledger: l,
		dialer: m.dialer,
		wait:   m.waitHist.WithLabelValues(addr, e.authority),
		log:    m.sink,
	}
	p.configure(m.poolConfig(o, e.scheme, e.serverName, &poolConfig{authority: e.authority, cert: e.cert}))
	m.pools[k] = p
	m.order = append(m.order, p)
	m.log.Debug("backend pool created", "host", e.authority, "destination", addr)
	return p
}

// Stats returns a snapshot of every pool, ordered by host and destination.
func (m *Manager) Stats() []DestinationStats {
	m.mu.Lock()
	ps := slices.Clone(m.order)
	m.mu.Unlock()
	out := make([]DestinationStats, 0, len(ps))
	for _, p := range ps {
		out = append(out, p.stats())
	}
	slices.SortFunc(out, func(a, b DestinationStats) int {
		return cmp.Or(cmp.Compare(a.Host, b.Host), cmp.Compare(a.Destination, b.Destination), cmp.Compare(a.ClientCertificate, b.ClientCertificate))
	})
	return out
}

// Close stops the Manager: idle connections are closed, queued requests
// fail, connections in use close when their response body is finished, and
// the metrics are unregistered. Close is idempotent.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	ps := slices.Clone(m.order)
	m.hosts.Store(emptyHostTable())
	m.mu.Unlock()
	m.stop()
	<-m.done
	for _, p := range ps {
		p.shutdown()
	}
	if m.reg != nil {
		m.reg.Unregister(m.coll)
		m.reg.Unregister(m.waitHist)
	}
	return nil
}

func (m *Manager) reapLoop(ctx context.Context) {
	defer close(m.done)
	t := time.NewTicker(reapInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			m.mu.Lock()
			ps := slices.Clone(m.order)
			m.mu.Unlock()
			for _, p := range ps {
				p.reap(now)
			}
			m.prune(now)
		}
	}
}

// prune drops the pools that no current host entry uses and that have
// had no connection, request or waiter for pruneAfter, and the ledgers
// that no pool uses and that hold no port, so address churn (DNS changes,
// reloads) does not accumulate state and metric series.
func (m *Manager) prune(now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	live := map[*pool]bool{}
	for _, e := range m.hosts.Load().byKey {
		if ps := e.pools.Load(); ps != nil {
			for _, p := range *ps {
				live[p] = true
			}
		}
	}
	kept := m.order[:0]
	var dropped []*pool
	for _, p := range m.order {
		if !live[p] && p.emptyFor(now) >= m.pruneAfter {
			dropped = append(dropped, p)
			continue
		}
		kept = append(kept, p)
	}
	if len(dropped) == 0 {
		return
	}
	clear(m.order[len(kept):])
	m.order = kept
	used := map[string]bool{}
	series := map[seriesKey]bool{}
	for _, p := range kept {
		used[p.addr] = true
		series[seriesKey{p.addr, p.host}] = true
	}
	for _, p := range dropped {
		delete(m.pools, poolKey{p.scheme, p.host, p.addr, p.cert.thumbprint(), p.proxy.key()})
		if k := (seriesKey{p.addr, p.host}); series[k] {
			if m.retired == nil {
				m.retired = map[seriesKey]retiredCounts{}
			}
			r := m.retired[k]
			r.opened += p.opened.Load()
			r.closed += p.closedN.Load()
			m.retired[k] = r
		} else {
			delete(m.retired, k) // the series ends with its last pool
			m.waitHist.DeleteLabelValues(p.addr, p.host)
		}
		p.shutdown()
		if l := m.ledgers[p.addr]; !used[p.addr] && l != nil && l.Snapshot().Held == 0 {
			delete(m.ledgers, p.addr)
		}
		m.log.Debug("backend pool dropped", "host", p.host, "destination", p.addr)
	}
}

// hostEntry is one backend authority as requests name it: the pools of
// the destinations it resolves to.
type hostEntry struct {
	m         *Manager
	scheme    string
	authority string
	hostname  string // resolved and dialled: the backend's, or its proxy's
	// serverName is the backend's host name, for TLS.
	serverName string
	proxy      *Proxy
	port       string
	opts       HostOptions
	cert       *ClientCert // presented in TLS handshakes; nil: none
	fixed      bool

	mu         sync.Mutex // serialises resolution
	pools      atomic.Pointer[[]*pool]
	resolvedAt atomic.Int64 // unix nanoseconds
	ttl        atomic.Int64 // of the last resolution's records; 0: unknown
	next       atomic.Uint32
}

// fixedAddresses sets the pools of a host whose addresses need no DNS:
// configured addresses or an IP literal. m.mu must be held.
func (e *hostEntry) fixedAddresses() error {
	var addrs []string
	switch {
	case len(e.opts.Addresses) > 0:
		addrs = e.opts.Addresses
	default:
		ip, err := netip.ParseAddr(e.hostname)
		if err != nil {
			return nil // a name: resolved on first use
		}
		addrs = []string{net.JoinHostPort(ip.Unmap().String(), e.port)}
	}
	ps := make([]*pool, 0, len(addrs))
	for _, a := range addrs {
		ps = append(ps, e.m.poolFor(e, a))
	}
	e.fixed = true
	e.pools.Store(&ps)
	return nil
}

// pick returns the pool of the destination with the fewest requests in
// flight, resolving the host name first if needed. Destinations in tried,
// and those whose last connection attempt failed recently, are passed over
// while others remain.
func (e *hostEntry) pick(ctx context.Context, tried []*pool) (*pool, error) {
	psp := e.pools.Load()
	if psp == nil || (!e.fixed && e.stale()) {
		var err error
		if psp, err = e.resolve(ctx, psp == nil); err != nil {
			return nil, err
		}
	}
	ps := *psp
	if len(ps) == 1 && len(tried) == 0 {
		return ps[0], nil
	}
	now := time.Now().UnixNano()
	start := int(e.next.Add(1))
	var best *pool
	var bestN int64
	bestDown := true
	for i := range ps {
		p := ps[(start+i)%len(ps)]
		if slices.Contains(tried, p) {
			continue
		}
		down, n := p.isDown(now), p.active.Load()
		if best == nil || (bestDown && !down) || (down == bestDown && n < bestN) {
			best, bestN, bestDown = p, n, down
		}
	}
	if best == nil {
		return nil, &Error{Reason: ReasonBackendConnectionFailure, Message: MsgUnableToConnect,
			Err: fmt.Errorf("no destination of %s left to try", e.authority)}
	}
	return best, nil
}

// destinations returns how many addresses the host has now.
func (e *hostEntry) destinations() int {
	if ps := e.pools.Load(); ps != nil {
		return len(*ps)
	}
	return 0
}

// resolve looks the host name up again. A request that finds a lookup in
// progress while older results exist uses those (must == false).
func (e *hostEntry) resolve(ctx context.Context, must bool) (*[]*pool, error) {
	if must {
		e.mu.Lock()
	} else if !e.mu.TryLock() {
		return e.pools.Load(), nil
	}
	defer e.mu.Unlock()
	cur := e.pools.Load()
	if cur != nil && !e.stale() {
		return cur, nil
	}
	ips, ttl, err := e.m.lookup(ctx, e.hostname)
	if err == nil && len(ips) == 0 {
		err = errors.New("no addresses")
	}
	if err != nil {
		if cur != nil {
			e.m.log.Warn("backend host re-resolution failed; keeping previous addresses", "host", e.authority, "error", err)
			e.resolvedAt.Store(time.Now().UnixNano())
			return cur, nil
		}
		return nil, newError(ctx, "The remote name could not be resolved: '"+e.hostname+"'", fmt.Errorf("resolve %s: %w", e.hostname, err))
	}
	addrs := make([]string, 0, len(ips))
	for _, ip := range ips {
		addrs = append(addrs, net.JoinHostPort(ip.Unmap().String(), e.port))
	}
	slices.Sort(addrs)
	addrs = slices.Compact(addrs)
	e.m.mu.Lock()
	ps := make([]*pool, 0, len(addrs))
	for _, a := range addrs {
		ps = append(ps, e.m.poolFor(e, a))
	}
	e.m.mu.Unlock()
	e.pools.Store(&ps)
	e.ttl.Store(int64(ttl))
	e.resolvedAt.Store(time.Now().UnixNano())
	return &ps, nil
}

// stale reports whether the host's addresses are due to be resolved
// again: their TTL has passed, or DNSRefresh if that is shorter or the TTL
// is unknown.
func (e *hostEntry) stale() bool {
	after := refreshAfter(time.Duration(e.ttl.Load()), e.m.opts.Load().DNSRefresh)
	return time.Since(time.Unix(0, e.resolvedAt.Load())) >= after
}

// slogSink logs port exhaustion, at most once per destination every
// exhaustionLogEvery, so an incident does not flood the log, and stuck
// HTTP/2 connections (see pool.unstick).
type slogSink struct {
	log *slog.Logger
}

const exhaustionLogEvery = 10 * time.Second

func (s *slogSink) exhausted(p *pool, snap LedgerSnapshot) {
	if !p.ledger.warnDue(time.Now(), exhaustionLogEvery) {
		return
	}
	s.log.Warn("SNAT port budget exhausted: new backend connection refused",
		"reason", ReasonBackendConnectionFailure, "destination", p.addr, "host", p.host,
		"portsHeld", snap.Held, "portBudget", snap.Budget, "refusedTotal", snap.Exhausted)
}

func (s *slogSink) h2Stuck(p *pool, waiting uint64) {
	s.log.Warn("HTTP/2 backend connection stuck: requests not sent for a whole reaper pass (the backend lowered its concurrent-stream limit, or stopped reading); connection retired, its waiting requests released",
		"destination", p.addr, "host", p.host, "waiting", waiting)
}

func (s *slogSink) h2Unresponsive(p *pool, timeout time.Duration) {
	s.log.Warn("HTTP/2 backend connection unresponsive: nothing came for connectTimeout with requests in flight, nor within connectTimeout of a PING; connection closed, its requests failed (those that may be sent twice are sent again)",
		"destination", p.addr, "host", p.host, "connectTimeout", timeout)
}

// verifyChain checks a backend's certificate chain against roots (nil: the
// system's) for server authentication, but not the host name.
func verifyChain(roots *x509.CertPool) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("the backend sent no certificate")
		}
		inter := x509.NewCertPool()
		for _, c := range cs.PeerCertificates[1:] {
			inter.AddCert(c)
		}
		_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
		return err
	}
}
