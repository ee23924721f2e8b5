package config

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Config is a loaded and validated gateway.yaml. Names follow APIM's resource
// properties so an APIM user recognises them (SPEC §2).
type Config struct {
	// File is the absolute path the configuration was loaded from; Dir is its
	// directory, against which every relative path below is resolved.
	File string `yaml:"-"`
	Dir  string `yaml:"-"`

	Listen        string              `yaml:"listen"`
	TLS           *TLS                `yaml:"tls"`
	Admin         string              `yaml:"-"`     // the admin listen address: AdminSettings.Listen after loading
	AdminSettings AdminSettings       `yaml:"admin"` // "admin: host:port", or a mapping
	Policy        string              `yaml:"policy"`
	Fragments     string              `yaml:"fragments"`
	NamedValues   map[string]string   `yaml:"namedValues"`
	Deployment    Deployment          `yaml:"deployment"`
	Logs          Logs                `yaml:"logs"`
	Store         Store               `yaml:"store"`
	Outbound      Outbound            `yaml:"outbound"`
	Backends      map[string]*Backend `yaml:"backends"`
	Products      map[string]*Product `yaml:"products"`
	Subscriptions []*Subscription     `yaml:"subscriptions"`
	Apis          []*API              `yaml:"apis"`
	Shutdown      Shutdown            `yaml:"shutdown"`
	// Limits bound what a client may make the data plane hold (limits.go).
	Limits Limits `yaml:"limits"`
	// Loggers are log-to-eventhub targets, by logger-id (local sinks).
	Loggers map[string]*Logger `yaml:"loggers"`
	// ManagedIdentity is the local equivalent of Azure managed identity for
	// authentication-managed-identity.
	ManagedIdentity *ManagedIdentity `yaml:"managedIdentity"`
	// Certificates are client certificates the gateway presents to
	// backends (APIM's certificate entities), by id.
	Certificates map[string]*Certificate `yaml:"certificates"`
	// CACertificates are the authorities client certificates are checked
	// against (validate-client-certificate).
	CACertificates []*CACertificate `yaml:"caCertificates"`
	// VersionSets are APIM API version sets, by id: how the APIs that
	// name one (versionSet:) are told apart by version.
	VersionSets map[string]*VersionSet `yaml:"versionSets"`
	// FragmentFiles maps a fragment id to its file, for fragments not
	// kept as <id>.xml in the fragments folder (an APIOps extract's
	// "policy fragments/<id>/policy.xml"). Set by code, not by the file.
	FragmentFiles map[string]string `yaml:"-"`
	// PolicySources holds policy and fragment content by path, used
	// instead of reading the file (a policy replaced by an APIOps
	// override). Set by code, not by the file.
	PolicySources map[string][]byte `yaml:"-"`

	// BackendIDs and ProductIDs list the map keys in file order.
	BackendIDs []string `yaml:"-"`
	ProductIDs []string `yaml:"-"`
	// BackendHosts holds, per backend authority ("host:port", default
	// port filled in, lower case), the connection settings of the single
	// backends whose url is on it, merged by validation.
	BackendHosts map[string]*BackendHost `yaml:"-"`
}

// BackendHost is the connection settings of one backend authority. They
// belong to host:port, not to a backend: every backend (and every
// serviceUrl) on it shares its pools. A setting given by one backend
// applies to all of them; two backends may not give one differently.
type BackendHost struct {
	Authority string
	// Backends are the ids of the backends on it, in file order.
	Backends            []string
	Addresses           []string
	KeepAlive           *bool
	Protocol            string
	MaxConnsPerHost     int
	MaxIdleConnsPerHost int
	IdleConnTimeout     Duration
	TLS                 BackendTLS
}

// TLS configures the data-plane listener for HTTPS.
type TLS struct {
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
	// NegotiateClientCertificate asks clients for a certificate (not
	// required, not verified by the listener): validate-client-certificate
	// and context.Request.Certificate see it. APIM's hostname property.
	NegotiateClientCertificate bool `yaml:"negotiateClientCertificate"`
	Pos                        Pos
}

// CACertificate is an APIM CA certificate entity: a PEM file of one or more
// certificate authorities that validate-client-certificate trusts besides
// the system's roots.
type CACertificate struct {
	Path string `yaml:"path"`
	Pos  Pos
}

// Deployment is what context.Deployment shows to expressions.
type Deployment struct {
	Region      string `yaml:"region"`
	ServiceName string `yaml:"serviceName"`
	GatewayID   string `yaml:"gatewayId"`
}

// Logs configures the request log (SPEC §5).
type Logs struct {
	Path     string   `yaml:"path"`     // "-" = stdout (default)
	Sampling *float64 `yaml:"sampling"` // 0..1, default 1
	Pos      Pos
}

// Store selects where counters and the external cache live.
type Store struct {
	Type   string      `yaml:"type"` // memory (default) | redis
	Redis  Redis       `yaml:"redis"`
	Memory MemoryStore `yaml:"memory"`
	Pos    Pos
}

// MemoryStore sizes the embedded store (also Redis's local fallback).
type MemoryStore struct {
	MaxBytes    int64 `yaml:"maxBytes"`    // cache bound, default 64 MiB
	MaxCounters int   `yaml:"maxCounters"` // live counters bound, default 1,000,000
}

// Redis is the Redis shared by every replica of the gateway.
type Redis struct {
	Addr                string   `yaml:"addr"`
	Username            string   `yaml:"username"`
	Password            string   `yaml:"password"`
	DB                  int      `yaml:"db"`
	DialTimeout         Duration `yaml:"dialTimeout"`
	Timeout             Duration `yaml:"timeout"`
	PoolSize            int      `yaml:"poolSize"`
	HealthCheckInterval Duration `yaml:"healthCheckInterval"`
	// FallbackReplicas is how many replicas share the limits: while Redis
	// is down each limits locally to ceil(limit / FallbackReplicas).
	FallbackReplicas int `yaml:"fallbackReplicas"`
}

// Outbound is connection management towards backends (SPEC §4).
type Outbound struct {
	MaxConnsPerHost     int      `yaml:"maxConnsPerHost"`
	MaxIdleConnsPerHost int      `yaml:"maxIdleConnsPerHost"`
	IdleConnTimeout     Duration `yaml:"idleConnTimeout"`
	ConnectTimeout      Duration `yaml:"connectTimeout"`
	// DNSRefresh is the longest a backend host's addresses are used
	// before it is resolved again (sooner when its records' TTL is
	// shorter); 0 means the default, 30s.
	DNSRefresh Duration `yaml:"dnsRefresh"`
	SNAT       SNAT     `yaml:"snat"`
}

// SNAT is the per-destination port budget the gateway accounts against.
type SNAT struct {
	Ports   int      `yaml:"ports"`
	Reclaim Duration `yaml:"reclaim"`
	Enforce bool     `yaml:"enforce"`
}

// Backend is an APIM backend entity: one service URL, or a pool of backends.
type Backend struct {
	ID          string   `yaml:"-"`
	Type        string   `yaml:"type"` // single (default) | pool
	URL         string   `yaml:"url"`
	Description string   `yaml:"description"`
	Addresses   []string `yaml:"addresses"`
	KeepAlive   *bool    `yaml:"keepAlive"`
	Protocol    string   `yaml:"protocol"` // http1 (default) | h2 | h2c
	MaxInFlight int      `yaml:"maxInFlight"`
	// MaxConnsPerHost, MaxIdleConnsPerHost and IdleConnTimeout override
	// the outbound section's values for this backend (apimgw extension).
	MaxConnsPerHost     int         `yaml:"maxConnsPerHost"`
	MaxIdleConnsPerHost int         `yaml:"maxIdleConnsPerHost"`
	IdleConnTimeout     Duration    `yaml:"idleConnTimeout"`
	TLS                 BackendTLS  `yaml:"tls"`
	Credentials         Credentials `yaml:"credentials"`
	// Proxy routes every call to the backend through an HTTP proxy, as
	// APIM's backend proxy property.
	Proxy          *BackendProxy   `yaml:"proxy"`
	CircuitBreaker *CircuitBreaker `yaml:"circuitBreaker"`
	RetryBudget    *RetryBudget    `yaml:"retryBudget"`
	HealthProbe    *HealthProbe    `yaml:"healthProbe"`
	Pool           *Pool           `yaml:"pool"`
	Pos            Pos
}

// BackendProxy is an HTTP forward proxy (url http://host:port) with
// optional Basic credentials.
type BackendProxy struct {
	URL      string `yaml:"url"`
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	Pos      Pos
}

// BackendTLS configures TLS towards a backend.
type BackendTLS struct {
	ValidateCertificateChain *bool `yaml:"validateCertificateChain"`
	ValidateCertificateName  *bool `yaml:"validateCertificateName"`
}

// Credentials are headers and query parameters added to every call to the
// backend, and the client certificate presented to it, as APIM's backend
// credentials.
type Credentials struct {
	Header map[string]string `yaml:"header"`
	Query  map[string]string `yaml:"query"`
	// CertificateIDs and Certificate (thumbprints) name the client
	// certificate from certificates; apimgw presents one per backend.
	CertificateIDs []string `yaml:"certificateIds"`
	Certificate    []string `yaml:"certificate"`
}

// Certificate is an APIM certificate entity: a client certificate and its
// private key, as PEM files (cert, key) or one PKCS#12 file (pfx, with
// password if it has one).
type Certificate struct {
	ID       string `yaml:"-"`
	Cert     string `yaml:"cert"`
	Key      string `yaml:"key"`
	PFX      string `yaml:"pfx"`
	Password string `yaml:"password"`
	Pos      Pos
}

// RetryBudget bounds the retries sent to a backend (apimgw extension):
// at most Ratio extra requests from retries, with MinPerSecond always
// allowed, counted over Window.
type RetryBudget struct {
	Ratio        float64  `yaml:"ratio"`
	MinPerSecond float64  `yaml:"minPerSecond"`
	Window       Duration `yaml:"window"`
}

// CircuitBreaker is APIM's backend circuit breaker.
type CircuitBreaker struct {
	Rules []*CircuitBreakerRule `yaml:"rules"`
}

// CircuitBreakerRule trips the breaker when its failure condition is met.
type CircuitBreakerRule struct {
	Name             string           `yaml:"name"`
	FailureCondition FailureCondition `yaml:"failureCondition"`
	TripDuration     Duration         `yaml:"tripDuration"`
	AcceptRetryAfter bool             `yaml:"acceptRetryAfter"`
	Pos              Pos
}

// FailureCondition counts failures within Interval.
type FailureCondition struct {
	Count            int           `yaml:"count"`
	Percentage       int           `yaml:"percentage"`
	MinRequests      int           `yaml:"minRequests"`
	Interval         Duration      `yaml:"interval"`
	StatusCodeRanges []StatusRange `yaml:"statusCodeRanges"`
	ErrorReasons     []string      `yaml:"errorReasons"`
}

// StatusRange is an inclusive range of HTTP status codes.
type StatusRange struct {
	Min int `yaml:"min"`
	Max int `yaml:"max"`
}

// HealthProbe is an active health check (an apimgw extension).
type HealthProbe struct {
	Path               string        `yaml:"path"`
	Interval           Duration      `yaml:"interval"`
	Timeout            Duration      `yaml:"timeout"`
	HealthyThreshold   int           `yaml:"healthyThreshold"`
	UnhealthyThreshold int           `yaml:"unhealthyThreshold"`
	ExpectedStatus     []StatusRange `yaml:"expectedStatus"`
}

// Pool lists the backends of a load-balanced pool.
type Pool struct {
	Services []*PoolService `yaml:"services"`
	// SessionAffinity enables cookie-based affinity as APIM does.
	SessionAffinity *SessionAffinity `yaml:"sessionAffinity"`
}

// PoolService is one member of a pool.
type PoolService struct {
	ID       string `yaml:"id"`
	Priority int    `yaml:"priority"`
	Weight   int    `yaml:"weight"`
	Pos      Pos
}

// SessionAffinity configures sticky sessions by cookie.
type SessionAffinity struct {
	Cookie string `yaml:"cookie"`
}

// Product groups APIs for subscriptions.
type Product struct {
	ID                   string `yaml:"-"`
	Name                 string `yaml:"name"`
	Description          string `yaml:"description"`
	SubscriptionRequired *bool  `yaml:"subscriptionRequired"`
	State                string `yaml:"state"` // published (default) | notPublished
	Policy               string `yaml:"policy"`
	Pos                  Pos
}

// Subscription is a consumer's access to a product (or one API, or all APIs).
type Subscription struct {
	ID           string `yaml:"id"`
	Name         string `yaml:"name"`
	PrimaryKey   string `yaml:"primaryKey"`
	SecondaryKey string `yaml:"secondaryKey"`
	Product      string `yaml:"product"`
	API          string `yaml:"api"`     // scope: one API instead of a product
	AllAPIs      bool   `yaml:"allApis"` // scope: every API (APIM's all-access subscription)
	State        string `yaml:"state"`   // active (default) | suspended | cancelled | expired | submitted | rejected
	User         string `yaml:"user"`
	Pos          Pos
}

// API is an APIM API: a public path prefix, a backend and its operations.
type API struct {
	ID   string `yaml:"id"`
	Name string `yaml:"name"`
	// Type is "http" (default) or "websocket": a WebSocket passthrough API
	// whose one operation, onHandshake, the gateway creates.
	Type                          string             `yaml:"type"`
	Path                          string             `yaml:"path"`
	ServiceURL                    string             `yaml:"serviceUrl"`
	BackendID                     string             `yaml:"backendId"`
	SubscriptionRequired          *bool              `yaml:"subscriptionRequired"`
	SubscriptionKeyParameterNames *KeyParameterNames `yaml:"subscriptionKeyParameterNames"`
	Products                      []string           `yaml:"products"`
	Policy                        string             `yaml:"policy"`
	OpenAPI                       string             `yaml:"openapi"`
	Version                       string             `yaml:"version"`
	Operations                    []*Operation       `yaml:"operations"`
	// VersionSet names the version set the API is a version of (with
	// Version its version; an empty Version is the "Original").
	VersionSet string `yaml:"versionSet"`
	// Revision is the API's revision number (default 1). IsCurrent false
	// makes it a non-current revision, reached only at path;rev=N.
	Revision  string `yaml:"revision"`
	IsCurrent *bool  `yaml:"isCurrent"`
	// ServiceURLFromOpenAPI false keeps the OpenAPI file's servers[0].url
	// from becoming the backend of an API without serviceUrl (an APIM
	// export lists the APIM gateway there, not the backend).
	ServiceURLFromOpenAPI *bool       `yaml:"serviceUrlFromOpenapi"`
	Limits                *BodyLimits `yaml:"limits"`
	Pos                   Pos
}

// VersionSet is an APIM API version set: its versioning scheme, Segment
// (the version is the path segment after the API path), Query
// (?QueryName=version) or Header (HeaderName: version).
type VersionSet struct {
	ID         string `yaml:"-"`
	Name       string `yaml:"name"`
	Scheme     string `yaml:"scheme"`
	QueryName  string `yaml:"queryName"`
	HeaderName string `yaml:"headerName"`
	Pos        Pos
}

// Current reports whether the API is the current revision.
func (a *API) Current() bool { return a.IsCurrent == nil || *a.IsCurrent }

// KeyParameterNames renames the subscription key header and query parameter.
type KeyParameterNames struct {
	Header string `yaml:"header"`
	Query  string `yaml:"query"`
}

// Operation is one method + URL template of an API.
type Operation struct {
	ID          string `yaml:"id"`
	Name        string `yaml:"name"`
	Method      string `yaml:"method"`
	URLTemplate string `yaml:"urlTemplate"`
	Policy      string `yaml:"policy"`
	Pos         Pos

	Limits *BodyLimits `yaml:"limits"`
}

// Logger is where log-to-eventhub writes: a file (one message per line) or
// standard output.
type Logger struct {
	Type string `yaml:"type"` // file | stdout
	Path string `yaml:"path"`
	Pos  Pos
}

// ManagedIdentity says how authentication-managed-identity gets a token on
// a machine that has no Azure managed identity: from a command (run with the
// resource in APIMGW_RESOURCE and the client id in APIMGW_CLIENT_ID, printing
// the token), a file, or an environment variable. Tokens are cached for
// CacheFor.
type ManagedIdentity struct {
	Command  []string `yaml:"command"`
	File     string   `yaml:"file"`
	Env      string   `yaml:"env"`
	CacheFor Duration `yaml:"cacheFor"`
	Pos      Pos
}

// Shutdown bounds the graceful drain on SIGTERM.
type Shutdown struct {
	Timeout Duration `yaml:"timeout"`
}

// Load reads, decodes and validates the file at path. Every problem found is
// returned together as an ErrorList of file:line:col errors.
func Load(path string) (*Config, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(abs)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(abs, data)
}

// Parse decodes and validates data as the configuration file named file.
func Parse(file string, data []byte) (*Config, error) {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if err.Error() == "EOF" {
			return nil, ErrorList{{File: file, Msg: "empty configuration"}}
		}
		return nil, ErrorList{yamlSyntaxError(file, err)}
	}
	if errs := expandSecretRefs(file, &root); len(errs) > 0 {
		return nil, errs
	}
	d := &decoder{file: file}
	cfg := &Config{File: file, Dir: filepath.Dir(file)}
	d.decode(&root, reflect.ValueOf(cfg).Elem())
	if len(d.errs) > 0 {
		return nil, d.errs
	}
	cfg.BackendIDs = mapKeysInOrder(&root, "backends")
	cfg.ProductIDs = mapKeysInOrder(&root, "products")
	v := &validator{cfg: cfg, file: file, top: topLevelPositions(&root)}
	v.validate()
	if len(v.errs) > 0 {
		sort.SliceStable(v.errs, func(i, j int) bool {
			a, b := v.errs[i], v.errs[j]
			return a.Line < b.Line || a.Line == b.Line && a.Col < b.Col
		})
		return nil, v.errs
	}
	return cfg, nil
}

// ParseUnvalidated decodes data as the configuration file named file
// without validating it or filling defaults: for a configuration assembled
// from several sources (an APIOps extract and an overlay file), validated
// once complete with Validate.
func ParseUnvalidated(file string, data []byte) (*Config, error) {
	var root yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&root); err != nil {
		if err.Error() == "EOF" {
			return &Config{File: file, Dir: filepath.Dir(file)}, nil
		}
		return nil, ErrorList{yamlSyntaxError(file, err)}
	}
	d := &decoder{file: file}
	cfg := &Config{File: file, Dir: filepath.Dir(file)}
	d.decode(&root, reflect.ValueOf(cfg).Elem())
	if len(d.errs) > 0 {
		return nil, d.errs
	}
	cfg.BackendIDs = mapKeysInOrder(&root, "backends")
	cfg.ProductIDs = mapKeysInOrder(&root, "products")
	return cfg, nil
}

// Validate checks an assembled configuration and fills its defaults, as
// Parse does for a file. BackendIDs and ProductIDs must list every key of
// Backends and Products.
func (c *Config) Validate() error {
	v := &validator{cfg: c, file: c.File, top: map[string]Pos{}}
	v.validate()
	if len(v.errs) > 0 {
		return v.errs
	}
	return nil
}

// yamlSyntaxError turns yaml.v3's "yaml: line N: msg" into a positioned error.
func yamlSyntaxError(file string, err error) *Error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	var line int
	if n, _ := fmt.Sscanf(msg, "line %d:", &line); n == 1 {
		_, rest, _ := strings.Cut(msg, ":")
		return &Error{File: file, Line: line, Col: 1, Msg: strings.TrimSpace(rest)}
	}
	return &Error{File: file, Msg: msg}
}

// topLevelPositions maps each top-level key to the position of its value.
func topLevelPositions(root *yaml.Node) map[string]Pos {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	pos := map[string]Pos{}
	if n.Kind != yaml.MappingNode {
		return pos
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		pos[n.Content[i].Value] = Pos{Line: n.Content[i+1].Line, Col: n.Content[i+1].Column}
	}
	return pos
}

func mapKeysInOrder(root *yaml.Node, key string) []string {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key && n.Content[i+1].Kind == yaml.MappingNode {
			var keys []string
			m := n.Content[i+1]
			for j := 0; j+1 < len(m.Content); j += 2 {
				keys = append(keys, m.Content[j].Value)
			}
			return keys
		}
	}
	return nil
}

// Path resolves p relative to the configuration file's directory.
func (c *Config) Path(p string) string {
	if p == "" || filepath.IsAbs(p) || p == "-" {
		return p
	}
	return filepath.Join(c.Dir, p)
}

// AdminSettings configure the admin listener (/metrics, /healthz, /readyz,
// POST /reload, /debug/pprof). "admin: 127.0.0.1:9090" is the listen
// address alone.
type AdminSettings struct {
	Listen string `yaml:"listen"`
	// AllowedHosts are host names, besides localhost, IP literals and the
	// listen host, that POST /reload and /debug/pprof accept in Host (a
	// DNS rebinding defence).
	AllowedHosts []string `yaml:"allowedHosts"`
	// Pprof serves /debug/pprof (off by default).
	Pprof bool `yaml:"pprof"`
	// ReloadToken, or the environment variable ReloadTokenEnv names, is
	// the bearer token POST /reload requires (none: no token asked).
	// After loading, ReloadToken holds the effective token.
	ReloadToken    string `yaml:"reloadToken"`
	ReloadTokenEnv string `yaml:"reloadTokenEnv"`
	Pos            Pos
}

// decodeScalar takes "admin: host:port".
func (a *AdminSettings) decodeScalar(s string) error {
	a.Listen = s
	return nil
}

// BodyLimits override Limits' body limits for an API or an operation.
type BodyLimits struct {
	BufferedBody ByteSize `yaml:"bufferedBody"`
	RequestBody  ByteSize `yaml:"requestBody"`
	Pos          Pos
}
