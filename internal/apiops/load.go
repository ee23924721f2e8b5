package apiops

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/apimgw/apimgw/internal/config"
	"github.com/apimgw/apimgw/internal/policy/policyxml"
)

// Options say what to load.
type Options struct {
	// Dir is the extractor's service folder.
	Dir string
	// Overlay is a gateway.yaml merged over the extract ("" for none).
	Overlay string
	// Overrides are configuration.<env>.yaml publisher override files,
	// deep-merged into the extract in order.
	Overrides []string
	// Placeholders fills every missing secret with a placeholder (a dry
	// run: validate, import) instead of failing.
	Placeholders bool
	// SecretsDir is a folder of secret files (a mounted Kubernetes
	// Secret); "" uses $APIMGW_SECRETS_DIR.
	SecretsDir string
	// LookupEnv reads environment variables; nil uses os.LookupEnv.
	LookupEnv func(string) (string, bool)
}

// Placeholder is a secret filled with a placeholder value.
type Placeholder struct {
	Kind, Name, Value string
}

// Result is a loaded extract.
type Result struct {
	// Config is validated and ready for gateway.Build.
	Config *config.Config
	// Ignored lists what was read and left out, and why.
	Ignored []Ignored
	// Placeholders lists the secrets filled with placeholders.
	Placeholders []Placeholder
	// Raw is the configuration before validation filled its defaults
	// (what import writes), as YAML.
	Raw *yaml.Node
}

// PlaceholderMark is in every placeholder value.
const PlaceholderMark = "apimgw-placeholder"

// Load reads the extract at o.Dir with its overrides and overlay.
func Load(o Options) (*Result, error) {
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, err
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return nil, &Error{File: o.Dir, Msg: "not an APIOps extract folder (the extractor's service folder, holding apis/, products/, ...)"}
	}
	if !looksLikeExtract(dir) {
		return nil, &Error{File: o.Dir, Msg: "holds neither apis/ nor any other APIOps collection folder nor policy.xml: give the extractor's service folder"}
	}
	ov, err := readOverrides(o.Overrides)
	if err != nil {
		return nil, err
	}
	x := &extract{root: dir, productAPIs: map[string][]string{}, versionSets: map[string]*resource{}}
	x.read()
	c := &converter{x: x, ov: ov, cfg: &config.Config{File: dir, Dir: dir}}
	c.convert()
	if len(x.errs) > 0 {
		return nil, x.errs
	}
	cfg := c.cfg
	if o.Overlay != "" {
		cfg, err = mergeOverlay(c.cfg, o.Overlay)
		if err != nil {
			return nil, err
		}
	}
	res := &Result{}
	if err := c.secrets(cfg, o, res); err != nil {
		return nil, err
	}
	res.Ignored = x.ignored
	c.substituteBackends(cfg)
	if len(x.errs) > 0 {
		return nil, x.errs
	}
	sortIDs(cfg)
	res.Raw = &yaml.Node{}
	if err := res.Raw.Encode(cfg); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	res.Config = cfg
	return res, nil
}

func looksLikeExtract(dir string) bool {
	if exists(filepath.Join(dir, "policy.xml")) {
		return true
	}
	for _, d := range []string{"apis", "products", "named values", "policy fragments", "backends", "version sets", "subscriptions", "loggers", "diagnostics"} {
		if exists(filepath.Join(dir, d)) {
			return true
		}
	}
	return false
}

// converter turns an extract into a config.Config.
type converter struct {
	x   *extract
	ov  *overrides
	cfg *config.Config
	// secretNV are the secret and Key Vault named values without a value,
	// by display name, with their resource.
	secretNV map[string]*resource
	// refs are the named values referenced by policies, fragments and
	// backends.
	refs map[string]bool
	// The information files of backends and subscriptions, by id, for
	// errors found later.
	backendFiles []backendFile
	subFiles     map[string]string
}

func decode(props map[string]any, v any) error {
	b, err := json.Marshal(props)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func (c *converter) convert() {
	cfg := c.cfg
	c.refs = map[string]bool{}
	c.subFiles = map[string]string{}
	if p := filepath.Join(c.x.root, "policy.xml"); exists(p) {
		cfg.Policy = c.policy(p, c.ov.get("policies", "policy"))
	} else if v, ok := c.ov.get("policies", "policy").policyValue(); ok {
		cfg.Policy = c.source(filepath.Join(c.x.root, "policy.xml"), v)
	}
	c.namedValues()
	c.fragments()
	c.versionSets()
	c.backends()
	for _, b := range c.cfg.Backends {
		if b.Pool != nil {
			for _, m := range b.Pool.Services {
				m.ID = canonical(c.cfg.Backends, m.ID)
			}
		}
	}
	c.products()
	c.apis()
	c.loggers()
	c.diagnostics()
	c.subscriptions()
}

// policy returns the policy file to compile for path: the file, or the
// content an override gives, and records its named value references.
func (c *converter) policy(path string, ov *override) string {
	if v, ok := ov.policyValue(); ok {
		return c.source(path, v)
	}
	if src, err := os.ReadFile(path); err == nil {
		c.noteRefs(src)
	}
	return path
}

// source records policy content given by an override, under a name
// that says so, and returns that name.
func (c *converter) source(path, content string) string {
	name := path + " (from " + strings.Join(c.ov.files, ", ") + ")"
	if c.cfg.PolicySources == nil {
		c.cfg.PolicySources = map[string][]byte{}
	}
	c.cfg.PolicySources[name] = []byte(content)
	c.noteRefs([]byte(content))
	return name
}

func (c *converter) noteRefs(src []byte) {
	for _, n := range policyxml.NamedValues(src) {
		c.refs[n] = true
	}
}

type nvProps struct {
	DisplayName string  `json:"displayName"`
	Value       *string `json:"value"`
	Secret      bool    `json:"secret"`
	KeyVault    *struct {
		SecretIdentifier string `json:"secretIdentifier"`
	} `json:"keyVault"`
}

// overlaid applies the overlay's entry for kind/name to r's properties and
// decodes them into a T; false, with the error recorded against r's file
// as what, when they do not decode.
func overlaid[T any](c *converter, kind, name string, r *resource, what string) (T, bool) {
	var p T
	c.ov.get(kind, name).apply(r.props)
	if err := decode(r.props, &p); err != nil {
		c.x.errorf(r.file, what, "%v", err)
		return p, false
	}
	return p, true
}

func (c *converter) namedValues() {
	c.cfg.NamedValues = map[string]string{}
	c.secretNV = map[string]*resource{}
	for _, r := range c.x.namedValues {
		p, ok := overlaid[nvProps](c, "namedValues", r.name, r, fmt.Sprintf("named value %q", r.name))
		if !ok {
			continue
		}
		name := p.DisplayName
		if name == "" {
			name = r.name
		}
		switch {
		case p.Value != nil:
			c.cfg.NamedValues[name] = *p.Value
		case p.Secret || p.KeyVault != nil:
			c.secretNV[name] = r
		default:
			c.cfg.NamedValues[name] = ""
		}
	}
}

func (c *converter) fragments() {
	for _, r := range c.x.fragments {
		ov := c.ov.get("policyFragments", r.name)
		ov.apply(r.props)
		path := filepath.Join(r.dir, "policy.xml")
		if v, ok := r.props["value"].(string); ok && !exists(path) {
			// v0–v5 kept the fragment in its information file.
			path = c.source(path, v)
		} else if !exists(path) {
			c.x.errorf(r.dir, fmt.Sprintf("policy fragment %q", r.name), "no policy.xml")
			continue
		} else if v, ok := ov.policyValue(); ok {
			path = c.source(path, v)
		} else {
			c.policy(path, nil)
		}
		if c.cfg.FragmentFiles == nil {
			c.cfg.FragmentFiles = map[string]string{}
		}
		c.cfg.FragmentFiles[r.name] = path
	}
}

type vsProps struct {
	DisplayName       string `json:"displayName"`
	VersioningScheme  string `json:"versioningScheme"`
	VersionQueryName  string `json:"versionQueryName"`
	VersionHeaderName string `json:"versionHeaderName"`
}

func (c *converter) versionSets() {
	add := func(name string, r *resource) {
		p, ok := overlaid[vsProps](c, "versionSets", name, r, fmt.Sprintf("version set %q", name))
		if !ok {
			return
		}
		switch strings.ToLower(p.VersioningScheme) {
		case "segment", "query", "header":
		default:
			c.x.errorf(r.file, fmt.Sprintf("version set %q", name), "versioningScheme must be Segment, Query or Header, got %q", p.VersioningScheme)
			return
		}
		if c.cfg.VersionSets == nil {
			c.cfg.VersionSets = map[string]*config.VersionSet{}
		}
		c.cfg.VersionSets[name] = &config.VersionSet{Name: p.DisplayName, Scheme: p.VersioningScheme,
			QueryName: p.VersionQueryName, HeaderName: p.VersionHeaderName}
	}
	names := make([]string, 0, len(c.x.versionSets))
	for k := range c.x.versionSets {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		r := c.x.versionSets[k]
		add(r.name, r)
	}
	// v0.x: apis/<display>/apiVersionSet.json, named by its "name" or by
	// the apiVersionSetId of the APIs beside it.
	for _, r := range c.x.v0VersionSets {
		name := r.name
		if name == "" {
			for _, a := range c.x.apis {
				if strings.HasPrefix(a.dir, r.dir+string(filepath.Separator)) {
					if id, _ := a.props["apiVersionSetId"].(string); id != "" {
						name = lastSegment(id)
						break
					}
				}
			}
		}
		if name == "" {
			c.x.ignore(r.file, "version set", filepath.Base(r.dir), "no API of the folder names it")
			continue
		}
		if _, dup := c.cfg.VersionSets[name]; !dup {
			add(lastSegment(name), r)
		}
	}
}

type backendProps struct {
	URL            string `json:"url"`
	Type           string `json:"type"`
	Protocol       string `json:"protocol"`
	Description    string `json:"description"`
	Title          string `json:"title"`
	CircuitBreaker *struct {
		Rules []struct {
			Name             string `json:"name"`
			FailureCondition struct {
				Count            int                  `json:"count"`
				Percentage       int                  `json:"percentage"`
				Interval         string               `json:"interval"`
				StatusCodeRanges []config.StatusRange `json:"statusCodeRanges"`
				ErrorReasons     []string             `json:"errorReasons"`
			} `json:"failureCondition"`
			TripDuration     string `json:"tripDuration"`
			AcceptRetryAfter bool   `json:"acceptRetryAfter"`
		} `json:"rules"`
	} `json:"circuitBreaker"`
	Pool *struct {
		Services []struct {
			ID       string `json:"id"`
			Priority int    `json:"priority"`
			Weight   int    `json:"weight"`
		} `json:"services"`
	} `json:"pool"`
	Credentials *struct {
		Header        map[string][]string `json:"header"`
		Query         map[string][]string `json:"query"`
		Authorization *struct {
			Scheme    string `json:"scheme"`
			Parameter string `json:"parameter"`
		} `json:"authorization"`
		CertificateIDs  []string `json:"certificateIds"`
		Certificate     []string `json:"certificate"`
		ManagedIdentity *struct {
			Enabled bool `json:"enabled"`
		} `json:"managedIdentity"`
	} `json:"credentials"`
	TLS *struct {
		ValidateCertificateChain *bool `json:"validateCertificateChain"`
		ValidateCertificateName  *bool `json:"validateCertificateName"`
	} `json:"tls"`
	Proxy *struct {
		URL      string `json:"url"`
		Username string `json:"username"`
		Password string `json:"password"`
	} `json:"proxy"`
}

func (c *converter) backends() {
	for _, r := range c.x.backends {
		what := fmt.Sprintf("backend %q", r.name)
		p, ok := overlaid[backendProps](c, "backends", r.name, r, what)
		if !ok {
			continue
		}
		b := &config.Backend{URL: p.URL, Description: p.Description}
		switch strings.ToLower(p.Type) {
		case "", "single":
		case "pool":
			b.Type = "pool"
			b.URL = ""
			if p.Pool == nil || len(p.Pool.Services) == 0 {
				c.x.errorf(r.file, what, "a Pool backend needs pool.services")
				continue
			}
			b.Pool = &config.Pool{}
			for _, s := range p.Pool.Services {
				b.Pool.Services = append(b.Pool.Services, &config.PoolService{ID: lastSegment(s.ID), Priority: s.Priority, Weight: s.Weight})
			}
		default:
			c.x.errorf(r.file, what, "type %q: apimgw runs Single and Pool backends", p.Type)
			continue
		}
		if cb := p.CircuitBreaker; cb != nil && len(cb.Rules) > 0 {
			b.CircuitBreaker = &config.CircuitBreaker{}
			for _, rule := range cb.Rules {
				cr := &config.CircuitBreakerRule{Name: rule.Name, AcceptRetryAfter: rule.AcceptRetryAfter}
				fc := rule.FailureCondition
				cr.FailureCondition = config.FailureCondition{Count: fc.Count, Percentage: fc.Percentage,
					StatusCodeRanges: fc.StatusCodeRanges, ErrorReasons: fc.ErrorReasons}
				for _, d := range []struct {
					s   string
					dst *config.Duration
					key string
				}{{fc.Interval, &cr.FailureCondition.Interval, "interval"}, {rule.TripDuration, &cr.TripDuration, "tripDuration"}} {
					if d.s == "" {
						continue
					}
					v, err := config.ParseDuration(d.s)
					if err != nil {
						c.x.errorf(r.file, what, "circuit breaker rule %q: %s %q: %v", rule.Name, d.key, d.s, err)
					}
					*d.dst = config.Duration(v)
				}
				b.CircuitBreaker.Rules = append(b.CircuitBreaker.Rules, cr)
			}
		}
		if cr := p.Credentials; cr != nil {
			join := func(m map[string][]string) map[string]string {
				if len(m) == 0 {
					return nil
				}
				out := map[string]string{}
				for k, v := range m {
					out[k] = strings.Join(v, ",")
				}
				return out
			}
			b.Credentials.Header = join(cr.Header)
			b.Credentials.Query = join(cr.Query)
			if a := cr.Authorization; a != nil && a.Scheme != "" {
				if b.Credentials.Header == nil {
					b.Credentials.Header = map[string]string{}
				}
				b.Credentials.Header["Authorization"] = strings.TrimSpace(a.Scheme + " " + a.Parameter)
			}
			for _, id := range cr.CertificateIDs {
				b.Credentials.CertificateIDs = append(b.Credentials.CertificateIDs, lastSegment(id))
			}
			b.Credentials.Certificate = cr.Certificate
			if cr.ManagedIdentity != nil && cr.ManagedIdentity.Enabled {
				c.x.errorf(r.file, what, "credentials.managedIdentity: apimgw cannot get an Azure managed identity token for a backend; use authentication-managed-identity in a policy (managedIdentity: in the overlay) or give credentials.header in the overlay")
			}
		}
		if t := p.TLS; t != nil {
			b.TLS = config.BackendTLS{ValidateCertificateChain: t.ValidateCertificateChain, ValidateCertificateName: t.ValidateCertificateName}
		}
		if px := p.Proxy; px != nil && px.URL != "" {
			b.Proxy = &config.BackendProxy{URL: px.URL, Username: px.Username, Password: px.Password}
		}
		for _, v := range backendStrings(b) {
			for _, n := range namesIn(v) {
				c.refs[n] = true
			}
		}
		if c.cfg.Backends == nil {
			c.cfg.Backends = map[string]*config.Backend{}
		}
		c.cfg.Backends[r.name] = b
		c.backendFiles = append(c.backendFiles, backendFile{r.name, r.file})
	}
}

// backendStrings are the backend's values that may hold {{named value}}.
func backendStrings(b *config.Backend) []string {
	out := []string{b.URL}
	for _, m := range []map[string]string{b.Credentials.Header, b.Credentials.Query} {
		for _, v := range m {
			out = append(out, v)
		}
	}
	if b.Proxy != nil {
		out = append(out, b.Proxy.URL, b.Proxy.Username, b.Proxy.Password)
	}
	return out
}

type backendFile struct{ id, file string }

// substituteBackends replaces {{named value}} in backend URLs and
// credentials (APIM resolves them there as in policies).
func (c *converter) substituteBackends(cfg *config.Config) {
	file := map[string]string{}
	for _, bf := range c.backendFiles {
		file[bf.id] = bf.file
	}
	for id, b := range cfg.Backends {
		where := file[id]
		if where == "" {
			where = cfg.File
		}
		sub := func(s string) string {
			if !strings.Contains(s, "{{") {
				return s
			}
			out, err := substitute(s, cfg.NamedValues)
			if err != nil {
				c.x.errorf(where, fmt.Sprintf("backend %q", id), "%v", err)
			}
			return out
		}
		b.URL = sub(b.URL)
		for _, m := range []map[string]string{b.Credentials.Header, b.Credentials.Query} {
			for k, v := range m {
				m[k] = sub(v)
			}
		}
		if b.Proxy != nil {
			b.Proxy.URL, b.Proxy.Username, b.Proxy.Password = sub(b.Proxy.URL), sub(b.Proxy.Username), sub(b.Proxy.Password)
		}
	}
}

// namesIn returns the names of the {{named values}} s references.
func namesIn(s string) []string {
	var out []string
	for {
		i := strings.Index(s, "{{")
		if i < 0 {
			return out
		}
		j := strings.Index(s[i:], "}}")
		if j < 0 {
			return out
		}
		out = append(out, strings.TrimSpace(s[i+2:i+j]))
		s = s[i+j+2:]
	}
}

// substitute replaces every {{name}} of s by its named value.
func substitute(s string, values map[string]string) (string, error) {
	var b strings.Builder
	var missing []string
	for {
		i := strings.Index(s, "{{")
		if i < 0 {
			b.WriteString(s)
			break
		}
		j := strings.Index(s[i:], "}}")
		if j < 0 {
			b.WriteString(s)
			break
		}
		name := strings.TrimSpace(s[i+2 : i+j])
		b.WriteString(s[:i])
		if v, ok := values[name]; ok {
			b.WriteString(v)
		} else {
			missing = append(missing, name)
		}
		s = s[i+j+2:]
	}
	if len(missing) > 0 {
		return b.String(), fmt.Errorf("named value %q is not defined", missing[0])
	}
	return b.String(), nil
}

type productProps struct {
	DisplayName          string `json:"displayName"`
	Description          string `json:"description"`
	State                string `json:"state"`
	SubscriptionRequired *bool  `json:"subscriptionRequired"`
}

func (c *converter) products() {
	for _, r := range c.x.products {
		ov := c.ov.get("products", r.name)
		ov.apply(r.props)
		var p productProps
		if err := decode(r.props, &p); err != nil {
			c.x.errorf(r.file, fmt.Sprintf("product %q", r.name), "%v", err)
			continue
		}
		pr := &config.Product{Name: p.DisplayName, Description: p.Description, State: p.State, SubscriptionRequired: p.SubscriptionRequired}
		if pf := filepath.Join(r.dir, "policy.xml"); exists(pf) {
			pr.Policy = c.policy(pf, ov.child("policies", "policy"))
		} else if v, ok := ov.child("policies", "policy").policyValue(); ok {
			pr.Policy = c.source(pf, v)
		}
		if c.cfg.Products == nil {
			c.cfg.Products = map[string]*config.Product{}
		}
		c.cfg.Products[r.name] = pr
	}
}

type apiProps struct {
	DisplayName                   string   `json:"displayName"`
	Path                          string   `json:"path"`
	ServiceURL                    string   `json:"serviceUrl"`
	Protocols                     []string `json:"protocols"`
	Type                          string   `json:"type"`
	APIType                       string   `json:"apiType"`
	SubscriptionRequired          *bool    `json:"subscriptionRequired"`
	SubscriptionKeyParameterNames *struct {
		Header string `json:"header"`
		Query  string `json:"query"`
	} `json:"subscriptionKeyParameterNames"`
	APIVersion      string `json:"apiVersion"`
	APIVersionSetID string `json:"apiVersionSetId"`
	APIRevision     string `json:"apiRevision"`
	IsCurrent       *bool  `json:"isCurrent"`
}

func (c *converter) apis() {
	// Products by API name (lower case, without ;rev=).
	products := map[string][]string{}
	var pnames []string
	for p := range c.x.productAPIs {
		pnames = append(pnames, p)
	}
	sort.Strings(pnames)
	prodName := map[string]string{}
	for _, r := range c.x.products {
		prodName[strings.ToLower(r.name)] = r.name
	}
	apiNames := map[string]bool{}
	for _, a := range c.x.apis {
		base, _, _ := strings.Cut(a.name, ";rev=")
		apiNames[strings.ToLower(base)] = true
	}
	for _, p := range pnames {
		for _, a := range c.x.productAPIs[p] {
			if !apiNames[strings.ToLower(a)] {
				c.x.ignore(filepath.Join(c.x.root, "products", prodName[p]), "product API link", prodName[p]+"/"+a, "the extract holds no API named "+a)
				continue
			}
			products[strings.ToLower(a)] = append(products[strings.ToLower(a)], prodName[p])
		}
	}
	// Current revisions first, so that a ;rev=N folder repeating the
	// current revision is recognised.
	current := map[string]string{} // base name (lower) → current revision
	type pending struct {
		a    *apiRes
		p    apiProps
		base string
		rev  string
	}
	var list []pending
	for _, a := range c.x.apis {
		ov := c.ov.get("apis", a.name)
		if ov != nil {
			delete(ov.props, "apiRevision")
			delete(ov.props, "isCurrent")
		}
		ov.apply(a.props)
		var p apiProps
		if err := decode(a.props, &p); err != nil {
			c.x.errorf(a.file, fmt.Sprintf("api %q", a.name), "%v", err)
			continue
		}
		base, rev, isRev := strings.Cut(a.name, ";rev=")
		if !isRev && p.IsCurrent != nil && !*p.IsCurrent {
			rev, isRev = p.APIRevision, true
		}
		if !isRev {
			r := p.APIRevision
			if r == "" {
				r = "1"
			}
			current[strings.ToLower(base)] = r
		}
		list = append(list, pending{a, p, base, rev})
	}
	seen := map[string]bool{}
	for _, it := range list {
		a, p := it.a, it.p
		id := it.base
		revision := p.APIRevision
		isCurrent := it.rev == ""
		if !isCurrent {
			revision = it.rev
			if current[strings.ToLower(it.base)] == it.rev {
				c.x.ignore(a.dir, "api revision", a.name, "repeats the current revision "+it.rev)
				continue
			}
			id = it.base + ";rev=" + it.rev
		}
		if seen[strings.ToLower(id)] {
			c.x.ignore(a.dir, "api", a.name, "a second folder for the same API")
			continue
		}
		seen[strings.ToLower(id)] = true
		what := fmt.Sprintf("api %q", a.name)
		api := &config.API{ID: id, Name: p.DisplayName, Path: p.Path, ServiceURL: p.ServiceURL,
			SubscriptionRequired: p.SubscriptionRequired, Version: p.APIVersion, Revision: revision}
		if api.SubscriptionRequired == nil {
			t := true
			api.SubscriptionRequired = &t
		}
		f := false
		api.ServiceURLFromOpenAPI = &f
		if !isCurrent {
			api.IsCurrent = &f
		}
		if k := p.SubscriptionKeyParameterNames; k != nil && (k.Header != "" || k.Query != "") {
			api.SubscriptionKeyParameterNames = &config.KeyParameterNames{Header: k.Header, Query: k.Query}
		}
		if p.APIVersionSetID != "" {
			api.VersionSet = canonical(c.cfg.VersionSets, lastSegment(p.APIVersionSetID))
			if _, ok := c.cfg.VersionSets[api.VersionSet]; !ok {
				c.x.errorf(a.file, what, "apiVersionSetId names version set %q, which the extract does not hold", api.VersionSet)
				continue
			}
		}
		api.Products = products[strings.ToLower(it.base)]
		ov := c.ov.get("apis", a.name)
		if a.policy != "" {
			api.Policy = c.policy(a.policy, ov.child("policies", "policy"))
		} else if v, ok := ov.child("policies", "policy").policyValue(); ok {
			api.Policy = c.source(filepath.Join(a.dir, "policy.xml"), v)
		}
		typ := strings.ToLower(p.Type)
		if typ == "" {
			typ = "http"
		}
		specExt := strings.ToLower(filepath.Ext(a.spec))
		openapi := specExt == ".yaml" || specExt == ".yml" || specExt == ".json"
		passthrough := false
		switch typ {
		case "http":
			switch {
			case openapi:
				api.OpenAPI = a.spec
			case a.spec != "":
				passthrough = true // a WADL-described API
			default:
				c.x.errorf(a.dir, what, "an HTTP API without a specification file (specification.yaml or .json): its operations are unknown")
				continue
			}
		case "soap", "graphql", "odata":
			passthrough = true
		case "websocket":
			api.Type = "websocket"
			if p := a.ops["onHandshake"]; p != "" {
				api.Operations = []*config.Operation{{ID: config.OnHandshake, Policy: c.policy(p, ov.child("operations", "onHandshake").child("policies", "policy"))}}
			}
		default:
			c.x.errorf(a.file, what, "type %q: apimgw runs http, soap, graphql, odata and websocket APIs", p.Type)
			continue
		}
		if passthrough {
			// Passed through by path: one operation for every method and
			// path, as a SOAP pass-through or GraphQL pass-through API.
			api.Operations = []*config.Operation{{ID: "passthrough", Name: "Pass-through", Method: "*", URLTemplate: "/*"}}
			for _, op := range a.opIDs {
				c.x.errorf(a.ops[op], what, "operation %q has a policy, but a %s API is passed through by path (apimgw does not read %s operations); move the policy to the API scope", op, typ, filepath.Base(a.spec))
			}
		} else if typ == "http" {
			for _, op := range a.opIDs {
				api.Operations = append(api.Operations, &config.Operation{ID: op,
					Policy: c.policy(a.ops[op], ov.child("operations", op).child("policies", "policy"))})
			}
		}
		c.cfg.Apis = append(c.cfg.Apis, api)
	}
}

type loggerProps struct {
	LoggerType string `json:"loggerType"`
}

func (c *converter) loggers() {
	for _, r := range c.x.loggers {
		p, ok := overlaid[loggerProps](c, "loggers", r.name, r, fmt.Sprintf("logger %q", r.name))
		if !ok {
			continue
		}
		if strings.EqualFold(p.LoggerType, "azureEventHub") {
			if c.cfg.Loggers == nil {
				c.cfg.Loggers = map[string]*config.Logger{}
			}
			// log-to-eventhub writes to standard output unless the
			// overlay's loggers: sends it to a file.
			c.cfg.Loggers[r.name] = &config.Logger{Type: "stdout"}
			continue
		}
		c.x.ignore(r.dir, "logger", r.name, fmt.Sprintf("%s logger: apimgw writes its own request log (logs: in the overlay)", p.LoggerType))
	}
}

type diagProps struct {
	Sampling *struct {
		SamplingType string   `json:"samplingType"`
		Percentage   *float64 `json:"percentage"`
	} `json:"sampling"`
}

func (c *converter) diagnostics() {
	var max *float64
	for _, r := range c.x.diagnostics {
		p, ok := overlaid[diagProps](c, "diagnostics", r.name, r, fmt.Sprintf("diagnostic %q", r.name))
		if !ok {
			continue
		}
		if p.Sampling == nil || p.Sampling.Percentage == nil {
			continue
		}
		pc := *p.Sampling.Percentage
		if pc < 0 || pc > 100 {
			c.x.errorf(r.file, fmt.Sprintf("diagnostic %q", r.name), "sampling.percentage must be 0 to 100, got %g", pc)
			continue
		}
		if max == nil || pc > *max {
			max = &pc
		}
	}
	if max != nil {
		s := *max / 100
		c.cfg.Logs.Sampling = &s
	}
}

type subProps struct {
	DisplayName string `json:"displayName"`
	Scope       string `json:"scope"`
	State       string `json:"state"`
}

func (c *converter) subscriptions() {
	for _, r := range c.x.subs {
		what := fmt.Sprintf("subscription %q", r.name)
		p, ok := overlaid[subProps](c, "subscriptions", r.name, r, what)
		if !ok {
			continue
		}
		s := &config.Subscription{ID: r.name, Name: p.DisplayName, State: p.State}
		scope := strings.TrimRight(p.Scope, "/")
		segs := strings.Split(scope, "/")
		switch {
		case len(segs) >= 1 && strings.EqualFold(segs[len(segs)-1], "apis"):
			s.AllAPIs = true
		case len(segs) >= 2 && strings.EqualFold(segs[len(segs)-2], "products"):
			s.Product = canonical(c.cfg.Products, segs[len(segs)-1])
			if _, ok := c.cfg.Products[s.Product]; !ok {
				c.x.errorf(r.file, what, "scope names product %q, which the extract does not hold", s.Product)
				continue
			}
		case len(segs) >= 2 && strings.EqualFold(segs[len(segs)-2], "apis"):
			s.API, _, _ = strings.Cut(segs[len(segs)-1], ";rev=")
			found := false
			for _, a := range c.cfg.Apis {
				if strings.EqualFold(a.ID, s.API) {
					s.API, found = a.ID, true
				}
			}
			if !found {
				c.x.errorf(r.file, what, "scope names API %q, which the extract does not hold", s.API)
				continue
			}
		default:
			c.x.errorf(r.file, what, "scope %q: want an ARM id ending /products/<p>, /apis/<a> or /apis", p.Scope)
			continue
		}
		c.subFiles[r.name] = r.file
		c.cfg.Subscriptions = append(c.cfg.Subscriptions, s)
	}
}

// canonical returns the key of m that equals name ignoring case (ARM
// names compare case-insensitively), or name.
func canonical[T any](m map[string]T, name string) string {
	if _, ok := m[name]; ok {
		return name
	}
	for k := range m {
		if strings.EqualFold(k, name) {
			return k
		}
	}
	return name
}

// sortIDs fills BackendIDs and ProductIDs (sorted; the overlay's order is
// kept for its own).
func sortIDs(cfg *config.Config) {
	fill := func(have []string, m map[string]bool) []string {
		in := map[string]bool{}
		var out []string
		for _, id := range have {
			if m[id] && !in[id] {
				in[id] = true
				out = append(out, id)
			}
		}
		var rest []string
		for id := range m {
			if !in[id] {
				rest = append(rest, id)
			}
		}
		sort.Strings(rest)
		return append(out, rest...)
	}
	b := map[string]bool{}
	for id := range cfg.Backends {
		b[id] = true
	}
	p := map[string]bool{}
	for id := range cfg.Products {
		p[id] = true
	}
	cfg.BackendIDs = fill(cfg.BackendIDs, b)
	cfg.ProductIDs = fill(cfg.ProductIDs, p)
}

// envName is the environment variable suffix for a name: upper case,
// every character other than A–Z and 0–9 an underscore.
func envName(name string) string {
	b := []byte(strings.ToUpper(name))
	for i, ch := range b {
		if !(ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9') {
			b[i] = '_'
		}
	}
	return string(b)
}
