package config

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Defaults applied by validation when a key is absent.
const (
	DefaultListen              = "127.0.0.1:8080"
	DefaultAdmin               = "127.0.0.1:9090"
	DefaultMaxConnsPerHost     = 256
	DefaultMaxIdleConnsPerHost = 256
	DefaultIdleConnTimeout     = 50 * time.Second
	DefaultConnectTimeout      = 10 * time.Second
	DefaultSNATPorts           = 1024
	DefaultSNATReclaim         = 4 * time.Minute
	DefaultShutdownTimeout     = 30 * time.Second
)

type validator struct {
	cfg  *Config
	file string
	errs ErrorList
	top  map[string]Pos // top-level keys' value positions
}

// at is the position of a top-level key's value, or 1:1 when the key is
// absent (a default).
func (v *validator) at(key string) Pos {
	if p, ok := v.top[key]; ok {
		return p
	}
	return Pos{1, 1}
}

func (v *validator) errorf(p Pos, format string, args ...any) {
	v.errs = append(v.errs, &Error{File: v.file, Line: p.Line, Col: p.Col, Msg: fmt.Sprintf(format, args...)})
}

func (v *validator) validate() {
	c := v.cfg
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.AdminSettings.Listen != "" {
		c.Admin = c.AdminSettings.Listen
	}
	if c.Admin == "" {
		c.Admin = DefaultAdmin
	}
	v.validateAdmin()
	for key, addr := range map[string]string{"listen": c.Listen, "admin": c.Admin} {
		if _, port, err := net.SplitHostPort(addr); err != nil {
			v.errorf(v.at(key), "%s %q: want host:port (127.0.0.1:8080, :8080): %v", key, addr, strings.TrimPrefix(err.Error(), "address "+addr+": "))
		} else if _, err := net.LookupPort("tcp", port); err != nil {
			v.errorf(v.at(key), "%s %q: port %q is not a port number (0 to 65535) or service name", key, addr, port)
		}
	}
	if c.Admin == c.Listen && !strings.HasSuffix(c.Listen, ":0") {
		v.errorf(v.at("admin"), "admin must not share the data-plane address %s", c.Listen)
	}
	if c.TLS != nil && (c.TLS.Cert == "" || c.TLS.Key == "") {
		v.errorf(c.TLS.Pos, "tls needs both cert and key")
	}
	if c.Logs.Path == "" {
		c.Logs.Path = "-"
	}
	if s := c.Logs.Sampling; s != nil && (*s < 0 || *s > 1) {
		v.errorf(c.Logs.Pos, "logs.sampling must be between 0 and 1, got %g", *s)
	}
	switch c.Store.Type {
	case "":
		c.Store.Type = "memory"
	case "memory":
	case "redis":
		if c.Store.Redis.Addr == "" {
			v.errorf(c.Store.Pos, "store.type redis needs store.redis.addr")
		}
	default:
		v.errorf(c.Store.Pos, "store.type must be memory or redis, got %q", c.Store.Type)
	}
	o := &c.Outbound
	if o.MaxConnsPerHost == 0 {
		o.MaxConnsPerHost = DefaultMaxConnsPerHost
	}
	if o.MaxIdleConnsPerHost == 0 {
		o.MaxIdleConnsPerHost = DefaultMaxIdleConnsPerHost
	}
	if o.IdleConnTimeout == 0 {
		o.IdleConnTimeout = Duration(DefaultIdleConnTimeout)
	}
	if o.ConnectTimeout == 0 {
		o.ConnectTimeout = Duration(DefaultConnectTimeout)
	}
	if o.SNAT.Ports == 0 {
		o.SNAT.Ports = DefaultSNATPorts
	}
	if o.SNAT.Reclaim == 0 {
		o.SNAT.Reclaim = Duration(DefaultSNATReclaim)
	}
	if o.MaxConnsPerHost < 0 || o.MaxIdleConnsPerHost < 0 || o.SNAT.Ports < 0 || o.DNSRefresh < 0 {
		v.errorf(Pos{1, 1}, "outbound limits must not be negative")
	}
	if c.Shutdown.Timeout == 0 {
		c.Shutdown.Timeout = Duration(DefaultShutdownTimeout)
	}
	for id, l := range c.Loggers {
		switch l.Type {
		case "stdout":
		case "file":
			if l.Path == "" {
				v.errorf(l.Pos, "logger %q of type file needs path", id)
			}
		default:
			v.errorf(l.Pos, "logger %q: type must be file or stdout, got %q", id, l.Type)
		}
	}
	if mi := c.ManagedIdentity; mi != nil {
		n := 0
		if len(mi.Command) > 0 {
			n++
		}
		if mi.File != "" {
			n++
		}
		if mi.Env != "" {
			n++
		}
		if n != 1 {
			v.errorf(mi.Pos, "managedIdentity needs exactly one of command, file or env")
		}
		if mi.CacheFor == 0 {
			mi.CacheFor = Duration(5 * time.Minute)
		}
	}
	v.limits()
	v.certificates()
	v.backends()
	v.backendHosts()
	v.products()
	v.versionSets()
	v.apis()
	v.subscriptions()
}

func validURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("scheme must be http or https")
	}
	if u.Host == "" {
		return fmt.Errorf("no host")
	}
	return nil
}

func (v *validator) certificates() {
	for _, ca := range v.cfg.CACertificates {
		if ca != nil && ca.Path == "" {
			v.errorf(ca.Pos, "caCertificates entry needs path")
		}
	}
	for id, c := range v.cfg.Certificates {
		if c == nil {
			continue
		}
		c.ID = id
		pem, pfx := c.Cert != "" || c.Key != "", c.PFX != ""
		switch {
		case pem == pfx:
			v.errorf(c.Pos, "certificate %q needs cert and key (PEM files) or pfx (a PKCS#12 file)", id)
		case pem && (c.Cert == "" || c.Key == ""):
			v.errorf(c.Pos, "certificate %q needs both cert and key", id)
		case pem && c.Password != "":
			v.errorf(c.Pos, "certificate %q: password is for pfx", id)
		}
	}
}

func (v *validator) backends() {
	for _, id := range v.cfg.BackendIDs {
		b := v.cfg.Backends[id]
		if b == nil {
			continue
		}
		b.ID = id
		switch b.Type {
		case "", "single", "Single":
			b.Type = "single"
			b.URL = wsToHTTP(b.URL) // a WebSocket backend: its handshake goes over HTTP
			if b.URL == "" {
				v.errorf(b.Pos, "backend %q needs url", id)
			} else if err := validURL(b.URL); err != nil {
				v.errorf(b.Pos, "backend %q: invalid url %q: %v", id, b.URL, err)
			}
			if b.Pool != nil {
				v.errorf(b.Pos, "backend %q: pool is only for type: pool", id)
			}
		case "pool", "Pool":
			b.Type = "pool"
			if b.Pool == nil || len(b.Pool.Services) == 0 {
				v.errorf(b.Pos, "backend %q of type pool needs pool.services", id)
				break
			}
			seen := map[string]bool{}
			for _, s := range b.Pool.Services {
				m, ok := v.cfg.Backends[s.ID]
				switch {
				case s.ID == "":
					v.errorf(s.Pos, "pool service needs id")
				case !ok:
					v.errorf(s.Pos, "pool %q names unknown backend %q", id, s.ID)
				case m.Type == "pool" || m.Type == "Pool":
					v.errorf(s.Pos, "pool %q: member %q is itself a pool", id, s.ID)
				case seen[s.ID]:
					v.errorf(s.Pos, "pool %q lists %q twice", id, s.ID)
				}
				seen[s.ID] = true
				if s.Priority == 0 {
					s.Priority = 1
				}
				if s.Weight == 0 {
					s.Weight = 1
				}
				if s.Priority < 0 || s.Weight < 0 {
					v.errorf(s.Pos, "pool service priority and weight must be positive")
				}
			}
		default:
			v.errorf(b.Pos, "backend %q: type must be single or pool, got %q", id, b.Type)
		}
		if px := b.Proxy; px != nil {
			if u, err := url.Parse(px.URL); err != nil || u.Scheme != "http" || u.Host == "" {
				v.errorf(px.Pos, "backend %q: proxy.url %q: want http://host:port (the gateway talks plain HTTP to the proxy)", id, px.URL)
			}
		}
		cr := &b.Credentials
		for i, ref := range cr.CertificateIDs {
			// APIM writes a certificate's resource id; its last segment is
			// the certificate's name.
			if j := strings.LastIndex(ref, "/certificates/"); j >= 0 {
				ref = ref[j+len("/certificates/"):]
				cr.CertificateIDs[i] = ref
			}
			if _, ok := v.cfg.Certificates[ref]; !ok {
				v.errorf(b.Pos, "backend %q: credentials.certificateIds names unknown certificate %q", id, ref)
			}
		}
		if len(cr.CertificateIDs)+len(cr.Certificate) > 1 {
			v.errorf(b.Pos, "backend %q: credentials name %d client certificates; apimgw presents one per backend", id, len(cr.CertificateIDs)+len(cr.Certificate))
		}
		if len(cr.CertificateIDs)+len(cr.Certificate) > 0 && b.Type == "pool" {
			v.errorf(b.Pos, "backend %q: a pool's members carry the client certificates", id)
		}
		if b.MaxConnsPerHost < 0 || b.MaxIdleConnsPerHost < 0 || b.IdleConnTimeout < 0 {
			v.errorf(b.Pos, "backend %q: maxConnsPerHost, maxIdleConnsPerHost and idleConnTimeout must not be negative", id)
		}
		for _, a := range b.Addresses {
			if _, err := netip.ParseAddrPort(a); err != nil {
				v.errorf(b.Pos, "backend %q: address %q must be ip:port (an IP address, not a host name: addresses are what the url's host resolves to)", id, a)
			}
		}
		switch b.Protocol {
		case "", "http1":
		case "h2", "h2c":
			if b.KeepAlive != nil && !*b.KeepAlive {
				v.errorf(b.Pos, "backend %q: keepAlive: false (a new connection per request) is for protocol http1; HTTP/2 sends many requests over one connection", id)
			}
		default:
			v.errorf(b.Pos, "backend %q: protocol must be http1, h2 or h2c, got %q", id, b.Protocol)
		}
		if cb := b.CircuitBreaker; cb != nil {
			for i, r := range cb.Rules {
				fc := r.FailureCondition
				if r.Name == "" {
					r.Name = fmt.Sprintf("rule%d", i+1)
				}
				if (fc.Count <= 0) == (fc.Percentage <= 0) {
					v.errorf(r.Pos, "circuit breaker rule %q needs exactly one of failureCondition.count or failureCondition.percentage", r.Name)
				}
				if fc.Percentage > 100 {
					v.errorf(r.Pos, "circuit breaker rule %q: percentage must be at most 100", r.Name)
				}
				if fc.Interval <= 0 {
					v.errorf(r.Pos, "circuit breaker rule %q needs failureCondition.interval", r.Name)
				}
				if r.TripDuration <= 0 {
					v.errorf(r.Pos, "circuit breaker rule %q needs tripDuration", r.Name)
				}
				for _, sr := range fc.StatusCodeRanges {
					if sr.Min < 100 || sr.Max > 599 || sr.Min > sr.Max {
						v.errorf(r.Pos, "circuit breaker rule %q: bad status code range %d-%d", r.Name, sr.Min, sr.Max)
					}
				}
			}
		}
		if hp := b.HealthProbe; hp != nil {
			if hp.Path == "" || !strings.HasPrefix(hp.Path, "/") {
				v.errorf(b.Pos, "backend %q: healthProbe.path must start with /", id)
			}
			if hp.Interval == 0 {
				hp.Interval = Duration(10 * time.Second)
			}
			if hp.Timeout == 0 {
				hp.Timeout = Duration(2 * time.Second)
			}
			if hp.HealthyThreshold == 0 {
				hp.HealthyThreshold = 2
			}
			if hp.UnhealthyThreshold == 0 {
				hp.UnhealthyThreshold = 3
			}
			if len(hp.ExpectedStatus) == 0 {
				hp.ExpectedStatus = []StatusRange{{200, 399}}
			}
			if hp.Timeout > hp.Interval {
				v.errorf(b.Pos, "backend %q: healthProbe.timeout %s must be at most the interval %s", id, hp.Timeout.D(), hp.Interval.D())
			}
		}
	}
}

// Authority is "host:port" of a backend URL, lower case, with the scheme's
// default port filled in: the key of Config.BackendHosts.
func Authority(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", err
	}
	port := u.Port()
	if port == "" {
		port = "80"
		if strings.EqualFold(u.Scheme, "https") {
			port = "443"
		}
	}
	return net.JoinHostPort(strings.ToLower(u.Hostname()), port), nil
}

// backendHosts merges the connection settings of the backends that share
// an authority into Config.BackendHosts. Before, the last backend's
// settings replaced the others' whole (a second backend without addresses
// dropped the first one's). A setting one backend gives applies to the
// host; two backends giving it different values is an error, since one of
// them would silently not get its own. Certificate validation is the
// exception: leaving it out means validating, so one backend cannot turn
// it off for another.
func (v *validator) backendHosts() {
	hosts := map[string]*BackendHost{}
	setBy := map[string]string{} // authority + " " + key: the backend that gave it
	clashed := map[string]bool{} // authorities whose settings were found not to go together
	for _, id := range v.cfg.BackendIDs {
		b := v.cfg.Backends[id]
		if b == nil || b.Type != "single" || validURL(b.URL) != nil {
			continue
		}
		auth, err := Authority(b.URL)
		if err != nil {
			continue
		}
		h := hosts[auth]
		if h == nil {
			h = &BackendHost{Authority: auth}
			hosts[auth] = h
		}
		h.Backends = append(h.Backends, id)
		// merge records that b gives key the value mine; same reports
		// whether the host's value so far, theirs, equals it.
		merge := func(key string, mine, theirs any, same bool, set func()) {
			by, given := setBy[auth+" "+key]
			switch {
			case !given:
				setBy[auth+" "+key] = id
				set()
			case !same:
				v.errorf(b.Pos, "backend %q sets %s %v for %s, where backend %q has %v: connection settings belong to host:port and are shared by every backend on it; give them the same value, or set it in one backend only (to compare settings side by side, reach the same server under another name, such as localhost and 127.0.0.1: each name has its own settings and pools, and the IP:port's port budget stays shared)",
					id, key, mine, auth, by, theirs)
			}
		}
		if len(b.Addresses) > 0 {
			merge("addresses", b.Addresses, h.Addresses, sameSet(h.Addresses, b.Addresses), func() { h.Addresses = b.Addresses })
		}
		if k := b.KeepAlive; k != nil {
			merge("keepAlive", *k, h.KeepAlive != nil && *h.KeepAlive, h.KeepAlive != nil && *h.KeepAlive == *k, func() { h.KeepAlive = k })
		}
		if p := protocolOf(b); p != "" {
			merge("protocol", p, h.Protocol, h.Protocol == p, func() { h.Protocol = p })
		}
		if n := b.MaxConnsPerHost; n != 0 {
			merge("maxConnsPerHost", n, h.MaxConnsPerHost, h.MaxConnsPerHost == n, func() { h.MaxConnsPerHost = n })
		}
		if n := b.MaxIdleConnsPerHost; n != 0 {
			merge("maxIdleConnsPerHost", n, h.MaxIdleConnsPerHost, h.MaxIdleConnsPerHost == n, func() { h.MaxIdleConnsPerHost = n })
		}
		if d := b.IdleConnTimeout; d != 0 {
			merge("idleConnTimeout", d.D(), h.IdleConnTimeout.D(), h.IdleConnTimeout == d, func() { h.IdleConnTimeout = d })
		}
		// Settings given by different backends must also make sense
		// together.
		if h.KeepAlive != nil && !*h.KeepAlive && (h.Protocol == "h2" || h.Protocol == "h2c") && !clashed[auth] {
			clashed[auth] = true
			v.errorf(b.Pos, "backend %q: %s gets keepAlive false from backend %q and protocol %s from backend %q: a new connection per request is for http1; HTTP/2 sends many requests over one connection",
				id, auth, setBy[auth+" keepAlive"], h.Protocol, setBy[auth+" protocol"])
		}
		// Every backend states its certificate validation: leaving it
		// out means validating.
		chain, name := validates(b.TLS.ValidateCertificateChain), validates(b.TLS.ValidateCertificateName)
		merge("tls.validateCertificateChain", chain, validates(h.TLS.ValidateCertificateChain), validates(h.TLS.ValidateCertificateChain) == chain, func() { h.TLS.ValidateCertificateChain = &chain })
		merge("tls.validateCertificateName", name, validates(h.TLS.ValidateCertificateName), validates(h.TLS.ValidateCertificateName) == name, func() { h.TLS.ValidateCertificateName = &name })
	}
	v.cfg.BackendHosts = hosts
}

// validates reads a validateCertificate* setting: absent means true.
func validates(b *bool) bool { return b == nil || *b }

// protocolOf is a backend's protocol as the connection manager takes it:
// h2 on an http:// url is h2c; "" means unset (http1).
func protocolOf(b *Backend) string {
	if b.Protocol == "h2" && strings.HasPrefix(strings.ToLower(b.URL), "http://") {
		return "h2c"
	}
	return b.Protocol
}

// sameSet reports whether a and b hold the same strings, in any order.
func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	n := map[string]int{}
	for _, s := range a {
		n[s]++
	}
	for _, s := range b {
		if n[s]--; n[s] < 0 {
			return false
		}
	}
	return true
}

func (v *validator) products() {
	for _, id := range v.cfg.ProductIDs {
		p := v.cfg.Products[id]
		if p == nil {
			v.cfg.Products[id] = &Product{ID: id, Name: id}
			continue
		}
		p.ID = id
		if p.Name == "" {
			p.Name = id
		}
		switch p.State {
		case "":
			p.State = "published"
		case "published", "notPublished":
		default:
			v.errorf(p.Pos, "product %q: state must be published or notPublished", id)
		}
	}
}

// NormalizePath trims slashes so API paths compare as APIM does.
func NormalizePath(p string) string { return strings.Trim(strings.TrimSpace(p), "/") }

// OnHandshake is the operation of a WebSocket API, as APIM names it.
const OnHandshake = "onHandshake"

// apiType checks an API's type. A WebSocket API takes a ws:// or wss://
// serviceUrl (kept as http:// or https://, what the handshake is sent
// over) and has one operation, onHandshake (GET /), which the gateway
// creates when it is not listed.
func (v *validator) apiType(a *API) {
	switch strings.ToLower(a.Type) {
	case "", "http":
		a.Type = "http"
		return
	case "websocket":
		a.Type = "websocket"
	default:
		v.errorf(a.Pos, "api %q: type must be http or websocket, got %q", a.ID, a.Type)
		return
	}
	a.ServiceURL = wsToHTTP(a.ServiceURL)
	if a.OpenAPI != "" {
		v.errorf(a.Pos, "api %q: a WebSocket API has no OpenAPI definition", a.ID)
	}
	switch len(a.Operations) {
	case 0:
		a.Operations = []*Operation{{ID: OnHandshake, Pos: a.Pos}}
	case 1:
	default:
		v.errorf(a.Pos, "api %q: a WebSocket API has one operation, %s", a.ID, OnHandshake)
		return
	}
	op := a.Operations[0]
	if op.ID != OnHandshake {
		v.errorf(op.Pos, "api %q: the operation of a WebSocket API is %s, got %q", a.ID, OnHandshake, op.ID)
	}
	if op.Method == "" {
		op.Method = http.MethodGet
	}
	if op.URLTemplate == "" {
		op.URLTemplate = "/"
	}
	if op.Method != http.MethodGet || op.URLTemplate != "/" {
		v.errorf(op.Pos, "api %q: %s is GET /", a.ID, OnHandshake)
	}
}

// wsToHTTP maps a ws:// or wss:// URL to the http:// or https:// URL its
// opening handshake is sent to; other URLs are returned as they are.
func wsToHTTP(u string) string {
	switch {
	case len(u) >= 5 && strings.EqualFold(u[:5], "ws://"):
		return "http://" + u[5:]
	case len(u) >= 6 && strings.EqualFold(u[:6], "wss://"):
		return "https://" + u[6:]
	}
	return u
}

func (v *validator) apis() {
	ids := map[string]bool{}
	paths := map[string]string{}
	for _, a := range v.cfg.Apis {
		if a.ID == "" {
			v.errorf(a.Pos, "api needs id")
			continue
		}
		if ids[a.ID] {
			v.errorf(a.Pos, "duplicate api id %q", a.ID)
		}
		ids[a.ID] = true
		if a.Name == "" {
			a.Name = a.ID
		}
		a.Path = NormalizePath(a.Path)
		key := v.routeKey(a)
		if other, dup := paths[key]; dup {
			v.errorf(a.Pos, "api %q uses path %q already used by api %q", a.ID, a.Path, other)
		}
		paths[key] = a.ID
		v.apiType(a)
		if a.ServiceURL != "" {
			if err := validURL(a.ServiceURL); err != nil {
				v.errorf(a.Pos, "api %q: invalid serviceUrl %q: %v", a.ID, a.ServiceURL, err)
			}
		}
		if a.BackendID != "" {
			if _, ok := v.cfg.Backends[a.BackendID]; !ok {
				v.errorf(a.Pos, "api %q names unknown backend %q", a.ID, a.BackendID)
			}
		}
		for _, p := range a.Products {
			if _, ok := v.cfg.Products[p]; !ok {
				v.errorf(a.Pos, "api %q names unknown product %q", a.ID, p)
			}
		}
		if a.SubscriptionKeyParameterNames == nil {
			a.SubscriptionKeyParameterNames = &KeyParameterNames{}
		}
		if a.SubscriptionKeyParameterNames.Header == "" {
			a.SubscriptionKeyParameterNames.Header = "Ocp-Apim-Subscription-Key"
		}
		if a.SubscriptionKeyParameterNames.Query == "" {
			a.SubscriptionKeyParameterNames.Query = "subscription-key"
		}
		if len(a.Operations) == 0 && a.OpenAPI == "" {
			v.errorf(a.Pos, "api %q has no operations: list operations or give an openapi file", a.ID)
		}
		opIDs := map[string]bool{}
		for _, op := range a.Operations {
			if op.ID == "" {
				v.errorf(op.Pos, "operation of api %q needs id", a.ID)
				continue
			}
			if opIDs[op.ID] {
				v.errorf(op.Pos, "api %q: duplicate operation id %q", a.ID, op.ID)
			}
			opIDs[op.ID] = true
			if op.Name == "" {
				op.Name = op.ID
			}
			if op.Method == "" && op.URLTemplate == "" && a.OpenAPI != "" {
				// An operation of the OpenAPI file named by id alone (to
				// attach a policy): the gateway takes the rest from it.
				continue
			}
			op.Method = strings.ToUpper(op.Method)
			if !validMethod(op.Method) {
				v.errorf(op.Pos, "operation %q: invalid method %q", op.ID, op.Method)
			}
			if !strings.HasPrefix(op.URLTemplate, "/") {
				v.errorf(op.Pos, "operation %q: urlTemplate must start with /, got %q", op.ID, op.URLTemplate)
			}
		}
	}
}

func validMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodTrace, "*":
		return true
	}
	return false
}

func (v *validator) subscriptions() {
	ids := map[string]bool{}
	keys := map[string]string{}
	apis := map[string]bool{}
	for _, a := range v.cfg.Apis {
		apis[a.ID] = true
	}
	for _, s := range v.cfg.Subscriptions {
		if s.ID == "" {
			v.errorf(s.Pos, "subscription needs id")
			continue
		}
		if ids[s.ID] {
			v.errorf(s.Pos, "duplicate subscription id %q", s.ID)
		}
		ids[s.ID] = true
		if s.Name == "" {
			s.Name = s.ID
		}
		if s.PrimaryKey == "" {
			v.errorf(s.Pos, "subscription %q needs primaryKey", s.ID)
		}
		for _, k := range []string{s.PrimaryKey, s.SecondaryKey} {
			if k == "" {
				continue
			}
			if other, dup := keys[k]; dup {
				v.errorf(s.Pos, "subscription %q reuses a key of subscription %q", s.ID, other)
			}
			keys[k] = s.ID
		}
		scopes := 0
		if s.Product != "" {
			scopes++
			if _, ok := v.cfg.Products[s.Product]; !ok {
				v.errorf(s.Pos, "subscription %q names unknown product %q", s.ID, s.Product)
			}
		}
		if s.API != "" {
			scopes++
			if !apis[s.API] {
				v.errorf(s.Pos, "subscription %q names unknown api %q", s.ID, s.API)
			}
		}
		if s.AllAPIs {
			scopes++
		}
		if scopes != 1 {
			v.errorf(s.Pos, "subscription %q needs exactly one scope: product, api or allApis", s.ID)
		}
		switch s.State {
		case "":
			s.State = "active"
		case "active", "suspended", "cancelled", "expired", "submitted", "rejected":
		default:
			v.errorf(s.Pos, "subscription %q: unknown state %q", s.ID, s.State)
		}
	}
}

// Versioning schemes of a version set, as APIM spells them.
const (
	SchemeSegment = "Segment"
	SchemeQuery   = "Query"
	SchemeHeader  = "Header"
)

// Defaults of a version set's query parameter and header names.
const (
	DefaultVersionQueryName  = "api-version"
	DefaultVersionHeaderName = "Api-Version"
)

func (v *validator) versionSets() {
	for id, vs := range v.cfg.VersionSets {
		if vs == nil {
			vs = &VersionSet{}
			v.cfg.VersionSets[id] = vs
		}
		vs.ID = id
		if vs.Name == "" {
			vs.Name = id
		}
		switch strings.ToLower(vs.Scheme) {
		case "segment":
			vs.Scheme = SchemeSegment
		case "query":
			vs.Scheme = SchemeQuery
			if vs.QueryName == "" {
				vs.QueryName = DefaultVersionQueryName
			}
		case "header":
			vs.Scheme = SchemeHeader
			if vs.HeaderName == "" {
				vs.HeaderName = DefaultVersionHeaderName
			}
		default:
			v.errorf(vs.Pos, "versionSet %q: scheme must be Segment, Query or Header, got %q", id, vs.Scheme)
		}
	}
}

// routeKey is what two APIs may not share: path, version (and how it is
// told apart) and, for a non-current revision, the revision.
func (v *validator) routeKey(a *API) string {
	key := a.Path + "\x00" + a.Version
	if a.VersionSet != "" {
		vs, ok := v.cfg.VersionSets[a.VersionSet]
		if !ok {
			v.errorf(a.Pos, "api %q names unknown versionSet %q", a.ID, a.VersionSet)
		} else if vs.Scheme == SchemeSegment && a.Version != "" {
			key = strings.Trim(a.Path+"/"+a.Version, "/") + "\x00"
		}
	}
	if a.Revision != "" {
		if n, err := strconv.Atoi(a.Revision); err != nil || n < 1 {
			v.errorf(a.Pos, "api %q: revision must be a positive number, got %q", a.ID, a.Revision)
		}
	}
	if !a.Current() {
		if a.Revision == "" {
			v.errorf(a.Pos, "api %q: a non-current revision (isCurrent: false) needs revision", a.ID)
		}
		key += "\x00rev=" + a.Revision
	}
	return strings.ToLower(key)
}

// validateAdmin checks the admin section and resolves its reload token.
func (v *validator) validateAdmin() {
	a := &v.cfg.AdminSettings
	a.Listen = v.cfg.Admin
	pos := a.Pos
	if pos == (Pos{}) {
		pos = v.at("admin")
	}
	for _, h := range a.AllowedHosts {
		if h == "" || strings.ContainsAny(h, "/ :@") {
			v.errorf(pos, "admin.allowedHosts: %q is not a host name (no port, scheme or path)", h)
		}
	}
	if a.ReloadTokenEnv != "" {
		if a.ReloadToken != "" {
			v.errorf(pos, "admin: give reloadToken or reloadTokenEnv, not both")
		}
		a.ReloadToken = os.Getenv(a.ReloadTokenEnv)
		if a.ReloadToken == "" {
			v.errorf(pos, "admin.reloadTokenEnv: environment variable %s is not set or empty", a.ReloadTokenEnv)
		}
	}
}
