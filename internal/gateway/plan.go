package gateway

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync/atomic"

	"gopkg.in/yaml.v3"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers"

	"github.com/apimgw/apimgw/internal/backend"
	"github.com/apimgw/apimgw/internal/config"
	"github.com/apimgw/apimgw/internal/expr"
	"github.com/apimgw/apimgw/internal/logs"
	"github.com/apimgw/apimgw/internal/policy"
	"github.com/apimgw/apimgw/internal/resilience"
)

// Plan is a compiled configuration: routes, subscriptions and the composed
// policy pipeline of every operation. It is immutable once built.
type Plan struct {
	Config *config.Config
	router *apiRouter
	subs   map[[32]byte]*subscriptionPlan
	env    *policy.Env
	// api pipelines without a product, used for on-error of requests that
	// fail before an operation is chosen.
	deployment *expr.Deployment
	// registry holds the breakers, pools, probes and retry budgets of this
	// configuration's backends.
	registry *resilience.Registry
	// certs are the configured client certificates.
	certs *policy.Certificates
	// outbound is the connection manager's settings for this
	// configuration, checked; its RootCAs verify backend certificates
	// (caCertificates with the system's roots; nil: the system's alone).
	outbound backend.Options
	// listenerCert is the TLS listener's certificate (tls:), nil without.
	listenerCert *tls.Certificate
	// apiCount and opCount are what Count reports.
	apiCount, opCount int
	// redact strips subscription keys and backend query credentials from
	// logged URLs.
	redact *logs.Redactor
}

type apiPlan struct {
	cfg         *config.API
	path        string
	ops         []*opPlan
	serviceURL  *url.URL
	backend     *policy.BackendEntity
	requireSub  bool
	products    map[string]bool
	expr        *expr.Api
	headerName  string
	queryName   string
	apiPipeline *policy.Pipeline // global + api scopes, for errors before an operation matches
	websocket   bool             // a WebSocket passthrough API
	// revision is the API's revision number; noncurrent says it is
	// reached only with ;rev=N. versionQuery or versionHeader, with
	// version, selects it among the APIs of one path (Query and Header
	// version sets).
	revision      string
	noncurrent    bool
	version       string
	versionQuery  string
	versionHeader string
	// opTree finds the operation of a request (newAPIRouter builds it).
	opTree *opNode
}

type opPlan struct {
	cfg       *config.Operation
	method    string
	tmpl      *template
	expr      *expr.Operation
	pipelines map[string]*policy.Pipeline // by product id; "" = no product
	pipeline  *policy.Pipeline            // pipelines[""], without a map lookup
	queryKeys []string
	spec      *policy.SpecOperation // the operation's OpenAPI definition, if any
	// bufferedLimit bounds what policies buffer of a request body;
	// requestLimit every request body (0: unbounded). Bytes.
	bufferedLimit, requestLimit int64
	// series are the metric series of the operation's successful
	// requests, resolved on first use (see Gateway.observe).
	series atomic.Pointer[opSeries]
}

type subscriptionPlan struct {
	cfg     *config.Subscription
	product *config.Product
	expr    *expr.Subscription
	exprPrd *expr.Product
	key     string
}

// BuildError lists every problem found compiling a configuration.
type BuildError struct{ Errs []error }

func (e *BuildError) Error() string {
	var b strings.Builder
	for i, err := range e.Errs {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(err.Error())
	}
	return b.String()
}

// Build compiles cfg into a Plan. env supplies the transport and services
// the policies use at request time and rm the resilience metrics (a zero Env
// and nil metrics for validation). The Plan's backend probes are not
// started: the gateway Starts them when it serves the plan.
func Build(cfg *config.Config, env *policy.Env, rm *resilience.Metrics) (*Plan, error) {
	p := &Plan{Config: cfg, env: env, subs: map[[32]byte]*subscriptionPlan{}}
	var errs []error
	errorf := func(pos config.Pos, format string, args ...any) {
		errs = append(errs, &config.Error{File: cfg.File, Line: pos.Line, Col: pos.Col, Msg: fmt.Sprintf(format, args...)})
	}
	p.certs = loadCertificates(cfg, errorf, env.Log)
	warnPortBudget(cfg, env.Log)
	if t := cfg.TLS; t != nil {
		// Loaded here, so that validate reports a broken pair with its
		// position; the listener serves this one (Serve).
		cert, err := tls.LoadX509KeyPair(cfg.Path(t.Cert), cfg.Path(t.Key))
		if err != nil {
			errorf(t.Pos, "tls: %v", err)
		}
		p.listenerCert = &cert
	}
	env.Services.Certificates = p.certs
	c := &policy.Compiler{
		Certificates:  p.certs,
		NamedValues:   cfg.NamedValues,
		FragmentsDir:  cfg.Path(cfg.Fragments),
		FragmentFiles: cfg.FragmentFiles,
		Sources:       cfg.PolicySources,
		BackendExists: func(id string) bool {
			_, ok := cfg.Backends[id]
			return ok
		},
	}
	if env.Backends == nil {
		env.Backends = map[string]*policy.BackendEntity{}
	}
	for _, id := range cfg.BackendIDs {
		b := cfg.Backends[id]
		if b.Type == "pool" {
			continue
		}
		u, err := url.Parse(b.URL)
		if err != nil {
			errorf(b.Pos, "backend %q: %v", id, err)
			continue
		}
		for _, tp := range b.Credentials.Certificate {
			if p.certs.FindByThumbprint(tp) == nil {
				errorf(b.Pos, "backend %q: credentials.certificate names thumbprint %q, which no configured certificate has", id, tp)
			}
		}
		env.Backends[id] = &policy.BackendEntity{ID: id, URL: u, Header: b.Credentials.Header, Query: b.Credentials.Query,
			ClientCert: backendCertificate(b, p.certs), Proxy: backendProxy(b)}
	}
	for _, id := range cfg.BackendIDs {
		if b := cfg.Backends[id]; b.Type == "pool" {
			env.Backends[id] = &policy.BackendEntity{ID: id}
		}
	}
	reg, err := resilience.NewRegistry(resilienceOptions(cfg, p.certs), env.Transport, nil, rm, env.Log)
	if err != nil {
		errs = append(errs, &config.Error{File: cfg.File, Msg: err.Error()})
	} else {
		p.registry = reg
		wireBackends(cfg, env, reg)
	}
	p.deployment = &expr.Deployment{
		Region:      cfg.Deployment.Region,
		ServiceName: cfg.Deployment.ServiceName,
		ServiceId:   cfg.Deployment.ServiceName,
		Gateway:     &expr.Gateway{Id: cfg.Deployment.GatewayID, IsSelfHosted: true, InstanceId: hostname()},
	}
	// context.Deployment.Certificates: every certificate uploaded to the
	// service, by thumbprint, as in APIM; the CA certificates among them are
	// what validate-client-certificate trusts besides the system's roots.
	cas := loadCACertificates(cfg, errorf)
	p.deployment.Certificates = deploymentCertificates(p.certs, cas)
	p.outbound = backendOptions(cfg, rootsWith(cas))
	// What the connection manager would refuse at start or reload fails
	// here too, so that validate says so (config checks the same with
	// positions; this catches what it might miss).
	if err := p.outbound.Validate(); err != nil {
		errorf(config.Pos{Line: 1, Col: 1}, "%v", err)
	}
	env.Services.TrustRoots = policy.TrustRoots(p.deployment)

	var global *policy.Scope
	if cfg.Policy != "" {
		global = c.CompileFile("global", cfg.Path(cfg.Policy))
	}
	productScopes := map[string]*policy.Scope{}
	for _, id := range cfg.ProductIDs {
		if pr := cfg.Products[id]; pr.Policy != "" {
			productScopes[id] = c.CompileFile("product", cfg.Path(pr.Policy))
		}
	}
	var apis []*apiPlan
	noBackendReported := map[string]bool{}
	for _, a := range cfg.Apis {
		ap := &apiPlan{
			cfg:        a,
			path:       a.Path,
			requireSub: a.SubscriptionRequired == nil || *a.SubscriptionRequired,
			products:   map[string]bool{},
			headerName: http.CanonicalHeaderKey(a.SubscriptionKeyParameterNames.Header),
			queryName:  a.SubscriptionKeyParameterNames.Query,
			websocket:  a.Type == "websocket",
			revision:   a.Revision,
			noncurrent: !a.Current(),
			version:    a.Version,
		}
		if ap.revision == "" {
			ap.revision = "1"
		}
		if vs := cfg.VersionSets[a.VersionSet]; vs != nil && a.Version != "" {
			switch vs.Scheme {
			case config.SchemeSegment:
				ap.path = strings.Trim(a.Path+"/"+a.Version, "/")
			case config.SchemeQuery:
				ap.versionQuery = vs.QueryName
			case config.SchemeHeader:
				ap.versionHeader = http.CanonicalHeaderKey(vs.HeaderName)
			}
		}
		for _, pid := range a.Products {
			ap.products[pid] = true
		}
		if a.ServiceURL != "" {
			ap.serviceURL, _ = url.Parse(a.ServiceURL)
		}
		if a.BackendID != "" {
			ap.backend = env.Backends[a.BackendID]
			if ap.backend != nil {
				ap.serviceURL = ap.backend.URL
			}
		}
		ap.expr = &expr.Api{
			Id: a.ID, Name: a.Name, Path: a.Path, Version: a.Version, IsCurrentRevision: !ap.noncurrent, Revision: ap.revision,
			Protocols: []string{"http", "https"}, SubscriptionKeyHeaderName: ap.headerName, SubscriptionKeyQueryParamName: ap.queryName,
		}
		if ap.serviceURL != nil {
			ap.expr.ServiceUrl = expr.FromURL(ap.serviceURL)
		}
		var apiScope *policy.Scope
		if a.Policy != "" {
			apiScope = c.CompileFile("api", cfg.Path(a.Policy))
		}
		ap.apiPipeline = policy.Compose(global, apiScope)
		ops := a.Operations
		var specs map[string]*policy.SpecOperation
		if a.OpenAPI != "" {
			more, sp, server, err := openAPIOperations(cfg.Path(a.OpenAPI))
			if err != nil {
				errorf(a.Pos, "api %q: openapi: %v", a.ID, err)
			}
			var unknown []string
			ops, unknown = mergeOperations(ops, more)
			for _, id := range unknown {
				errorf(a.Pos, "api %q: operation %q names no operation of %s (give method and urlTemplate, or an operationId of the file)", a.ID, id, a.OpenAPI)
			}
			specs = sp
			// As APIM's OpenAPI import: the first server is the
			// backend when the API names none.
			if ap.serviceURL == nil && a.BackendID == "" && server != "" && err == nil &&
				(a.ServiceURLFromOpenAPI == nil || *a.ServiceURLFromOpenAPI) {
				if u, perr := url.Parse(server); perr != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
					errorf(a.Pos, "api %q: openapi servers[0].url %q is not an absolute http(s) URL; give serviceUrl", a.ID, server)
				} else {
					ap.serviceURL = u
					ap.expr.ServiceUrl = expr.FromURL(u)
				}
			}
		}
		for _, o := range ops {
			t, err := parseTemplate(o.URLTemplate)
			if err != nil {
				errorf(o.Pos, "operation %q: urlTemplate %q: %v", o.ID, o.URLTemplate, err)
				continue
			}
			op := &opPlan{cfg: o, method: o.Method, tmpl: t, pipelines: map[string]*policy.Pipeline{}, spec: specs[o.ID],
				expr: &expr.Operation{Id: o.ID, Name: o.Name, Method: o.Method, UrlTemplate: o.URLTemplate}}
			op.bufferedLimit, op.requestLimit = bodyLimits(cfg, a, o)
			for _, q := range t.query {
				op.queryKeys = append(op.queryKeys, q.name)
			}
			var opScope *policy.Scope
			if o.Policy != "" {
				opScope = c.CompileFile("operation", cfg.Path(o.Policy))
			}
			op.pipelines[""] = policy.Compose(global, apiScope, opScope)
			for pid := range ap.products {
				op.pipelines[pid] = policy.Compose(global, productScopes[pid], apiScope, opScope)
			}
			op.pipeline = op.pipelines[""]
			if ap.serviceURL == nil && a.BackendID == "" && !noBackendReported[a.ID] {
				if why := noBackend(ap, o.ID, global, productScopes, apiScope, opScope); why != "" {
					noBackendReported[a.ID] = true
					errorf(a.Pos, "%s", why)
				}
			}
			ap.ops = append(ap.ops, op)
		}
		apis = append(apis, ap)
	}
	errs = append(errs, c.Errors()...)
	for _, s := range cfg.Subscriptions {
		sp := &subscriptionPlan{cfg: s, expr: &expr.Subscription{Id: s.ID, Name: s.Name, PrimaryKey: s.PrimaryKey, SecondaryKey: s.SecondaryKey}}
		if s.Product != "" {
			sp.product = cfg.Products[s.Product]
			sp.exprPrd = &expr.Product{Id: sp.product.ID, Name: sp.product.Name, State: sp.product.State,
				SubscriptionRequired: sp.product.SubscriptionRequired == nil || *sp.product.SubscriptionRequired}
		}
		for _, k := range []string{s.PrimaryKey, s.SecondaryKey} {
			if k != "" {
				// One plan per key, its context.Subscription.Key set, so a
				// request copies nothing.
				cp := *sp
				cp.key = k
				e := *sp.expr
				e.Key = k
				cp.expr = &e
				p.subs[sha256.Sum256([]byte(k))] = &cp
			}
		}
	}
	if len(errs) > 0 {
		if p.registry != nil {
			p.registry.Close()
		}
		sortErrors(errs)
		return nil, &BuildError{Errs: errs}
	}
	p.router = newAPIRouter(apis)
	for _, a := range apis {
		p.apiCount++
		p.opCount += len(a.ops)
	}
	// Every name a key or credential travels under, whichever API the
	// request turns out to be for (or none).
	p.redact = logs.NewRedactor()
	for _, a := range apis {
		p.redact.Add(a.queryName)
	}
	for _, id := range cfg.BackendIDs {
		for name := range cfg.Backends[id].Credentials.Query {
			p.redact.Add(name)
		}
	}
	env.Redactor = p.redact
	return p, nil
}

// Count returns how many APIs (each version and revision counted) and
// operations the plan serves.
func (p *Plan) Count() (apis, operations int) { return p.apiCount, p.opCount }

func sortErrors(errs []error) {
	sort.SliceStable(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return "apimgw"
	}
	return h
}

// openAPIOperations reads the operations of an OpenAPI 3 document, with
// each operation's definition (for the validate-* policies) by id.
func openAPIOperations(path string) ([]*config.Operation, map[string]*policy.SpecOperation, string, error) {
	doc, err := loadOpenAPI(path)
	if err != nil {
		return nil, nil, "", err
	}
	var ops []*config.Operation
	specs := map[string]*policy.SpecOperation{}
	for _, p := range doc.Paths.InMatchingOrder() {
		item := doc.Paths.Value(p)
		for method, o := range item.Operations() {
			id := o.OperationID
			if id == "" {
				id = strings.ToLower(method) + strings.NewReplacer("/", "-", "{", "", "}", "").Replace(p)
			}
			name := o.Summary
			if name == "" {
				name = id
			}
			ops = append(ops, &config.Operation{ID: id, Name: name, Method: method, URLTemplate: p})
			specs[id] = &policy.SpecOperation{Route: &routers.Route{Spec: doc, Path: p, PathItem: item, Method: method, Operation: o}}
		}
	}
	sort.SliceStable(ops, func(i, j int) bool { return ops[i].ID < ops[j].ID })
	server := ""
	if len(doc.Servers) > 0 && doc.Servers[0] != nil {
		server = doc.Servers[0].URL
		for name, v := range doc.Servers[0].Variables {
			if v != nil {
				server = strings.ReplaceAll(server, "{"+name+"}", v.Default)
			}
		}
	}
	return ops, specs, server, nil
}

// loadOpenAPI reads an OpenAPI 3 document, or a Swagger 2.0 one (JSON or
// YAML) converted to OpenAPI 3 as APIM's import does.
func loadOpenAPI(path string) (*openapi3.T, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var probe struct {
		Swagger string `yaml:"swagger"`
	}
	if bytes.Contains(data, []byte("swagger")) && yaml.Unmarshal(data, &probe) == nil && strings.HasPrefix(probe.Swagger, "2") {
		// YAML or JSON alike, through JSON: openapi2.T decodes JSON.
		var generic any
		if err := yaml.Unmarshal(data, &generic); err != nil {
			return nil, fmt.Errorf("swagger 2.0: %v", err)
		}
		js, err := json.Marshal(generic)
		if err != nil {
			return nil, fmt.Errorf("swagger 2.0: %v", err)
		}
		var doc2 openapi2.T
		if err := json.Unmarshal(js, &doc2); err != nil {
			return nil, fmt.Errorf("swagger 2.0: %v", err)
		}
		return openapi2conv.ToV3(&doc2)
	}
	loader := openapi3.NewLoader()
	return loader.LoadFromData(data)
}

// mergeOperations adds OpenAPI operations that the config does not list
// (an operation listed in the config, by id, wins: it may carry a policy).
// A listed operation with neither method nor urlTemplate names an OpenAPI
// operation by id and takes them from it; the ids of those that name none
// are returned.
func mergeOperations(cfg, more []*config.Operation) ([]*config.Operation, []string) {
	have := map[string]bool{}
	byID := map[string]*config.Operation{}
	for _, o := range more {
		byID[o.ID] = o
	}
	var unknown []string
	out := make([]*config.Operation, 0, len(cfg)+len(more))
	for _, o := range cfg {
		have[o.ID] = true
		if o.Method == "" && o.URLTemplate == "" {
			spec := byID[o.ID]
			if spec == nil {
				unknown = append(unknown, o.ID)
				continue
			}
			cp := *o
			cp.Method, cp.URLTemplate = spec.Method, spec.URLTemplate
			if cp.Name == "" || cp.Name == cp.ID {
				cp.Name = spec.Name
			}
			o = &cp
		}
		out = append(out, o)
	}
	for _, o := range more {
		if !have[o.ID] {
			out = append(out, o)
		}
	}
	return out, unknown
}

// matchOperation finds the most specific operation for method and path and
// fills params with its template parameters: among the operations whose
// method and template match, the best by template.better, the first in
// the API's order among equals. It walks the API's operation tree (see
// opNode) or, for an API of a few operations, tries each in turn.
func (a *apiPlan) matchOperation(method, path string, params map[string]string) *opPlan {
	var best *opPlan
	if a.opTree != nil {
		m := opMatch{method: method}
		a.opTree.walk(strings.TrimPrefix(path, "/"), &m)
		best = m.best
	} else {
		best = a.scanOperations(method, path)
	}
	if best != nil {
		best.tmpl.match(path, params)
	}
	return best
}

// scanOperations is matchOperation without the tree: every operation in
// turn, the best match kept (its parameters not filled in).
func (a *apiPlan) scanOperations(method, path string) *opPlan {
	var best *opPlan
	for _, op := range a.ops {
		if op.method != method && op.method != "*" {
			continue
		}
		if best != nil && !op.tmpl.better(best.tmpl) {
			continue
		}
		if op.tmpl.match(path, nil) {
			best = op
		}
	}
	return best
}

// Close releases what Build created (the resilience registry's probes).
// A Plan served by a Gateway is closed by the Gateway.
func (p *Plan) Close() {
	if p.registry != nil {
		p.registry.Close()
	}
}

// warnPortBudget warns, with snat.enforce on, about a host allowed more
// connections than the port budget: a burst then uses up the ports and
// fails, where a bound at or under the budget would have made it wait for a
// pooled connection (docs/outbound.md, "Size for real"). A naive backend
// (keepAlive: false) is left alone: it is there to exhaust the budget.
func warnPortBudget(cfg *config.Config, log *slog.Logger) {
	o := cfg.Outbound
	if log == nil || !o.SNAT.Enforce {
		return
	}
	usesGlobal := false // a pooled host bounded by outbound.maxConnsPerHost
	for _, h := range cfg.BackendHosts {
		if h.KeepAlive != nil && !*h.KeepAlive {
			continue
		}
		if h.MaxConnsPerHost == 0 {
			usesGlobal = true
		} else if h.MaxConnsPerHost > o.SNAT.Ports {
			log.Warn("a backend's maxConnsPerHost is above snat.ports with snat.enforce: a burst can use up the port budget instead of waiting for a connection",
				"host", h.Authority, "backends", h.Backends, "maxConnsPerHost", h.MaxConnsPerHost, "snatPorts", o.SNAT.Ports)
		}
	}
	for _, a := range cfg.Apis {
		if auth, err := config.Authority(a.ServiceURL); a.ServiceURL != "" && err == nil && cfg.BackendHosts[auth] == nil {
			usesGlobal = true
		}
	}
	if usesGlobal && o.MaxConnsPerHost > o.SNAT.Ports {
		log.Warn("outbound.maxConnsPerHost is above snat.ports with snat.enforce: a burst can use up the port budget instead of waiting for a connection",
			"maxConnsPerHost", o.MaxConnsPerHost, "snatPorts", o.SNAT.Ports)
	}
}

// bodyLimits are an operation's request body limits: its own, else its
// API's, else the limits section's.
func bodyLimits(cfg *config.Config, a *config.API, o *config.Operation) (buffered, request int64) {
	buffered, request = int64(cfg.Limits.BufferedBody), int64(cfg.Limits.RequestBody)
	if buffered == 0 {
		buffered = config.DefaultLimitBufferedBody
	}
	for _, l := range []*config.BodyLimits{a.Limits, o.Limits} {
		if l == nil {
			continue
		}
		if l.BufferedBody > 0 {
			buffered = int64(l.BufferedBody)
		}
		if l.RequestBody > 0 {
			request = int64(l.RequestBody)
		}
	}
	return buffered, request
}

// noBackend explains why calls to an operation of an API without serviceUrl
// or backend would all fail: no policy of a pipeline that can run it sets a
// backend (set-backend-service) or answers itself (return-response,
// mock-response). It returns "" when every such pipeline does.
func noBackend(ap *apiPlan, opID string, global *policy.Scope, products map[string]*policy.Scope, scopes ...*policy.Scope) string {
	answers := func(ss ...*policy.Scope) bool {
		for _, s := range ss {
			if s.Uses("set-backend-service") || s.Uses("return-response") || s.Uses("mock-response") {
				return true
			}
		}
		return false
	}
	common := append([]*policy.Scope{global}, scopes...)
	if answers(common...) {
		return ""
	}
	if !ap.requireSub || len(ap.products) == 0 {
		return fmt.Sprintf("api %q has no serviceUrl and no backend, and no policy of operation %q sets one with set-backend-service (or answers with return-response or mock-response): every call would fail with BackendConnectionFailure", ap.cfg.ID, opID)
	}
	for pid := range ap.products {
		if !answers(products[pid]) {
			return fmt.Sprintf("api %q has no serviceUrl and no backend, and no policy of operation %q for product %q sets one with set-backend-service (or answers with return-response or mock-response): every call would fail with BackendConnectionFailure", ap.cfg.ID, opID, pid)
		}
	}
	return ""
}
