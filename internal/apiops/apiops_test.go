package apiops

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apimgw/apimgw/internal/config"
	"github.com/apimgw/apimgw/internal/gateway"
	"github.com/apimgw/apimgw/internal/logs"
	"github.com/apimgw/apimgw/internal/policy"
)

// tagged is a loopback backend answering its tag, the path and the
// headers the policies set.
func tagged(t *testing.T, tag string) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{"tag": tag, "path": r.URL.Path,
			"op": r.Header.Get("X-Op"), "fragment": r.Header.Get("X-Fragment")})
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// writeOverlay writes an overlay giving each API id the backend url.
func writeOverlay(t *testing.T, apis map[string]string, extra string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("apis:\n")
	for id, u := range apis {
		b.WriteString("  - {id: \"" + id + "\", serviceUrl: \"" + u + "\"}\n")
	}
	b.WriteString(extra)
	p := filepath.Join(t.TempDir(), "overlay.yaml")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// serveResult serves a loaded extract in process.
func serveResult(t *testing.T, cfg *config.Config) string {
	t.Helper()
	g, err := gateway.New(cfg, gateway.Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Logs: logs.NewWriter(io.Discard, nil, 1)})
	if err != nil {
		t.Fatalf("gateway: %v", err)
	}
	srv := httptest.NewServer(g)
	t.Cleanup(func() {
		srv.Close()
		g.Close()
	})
	return srv.URL
}

func get(t *testing.T, url string, header map[string]string) (int, map[string]string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]string
	json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

// The legacy layouts (extractor v0.x and v2–v5) hold the same Pet Store:
// an Original and a v2 Segment version, a revision 2, a product linked by
// apis.json, a fragment kept in its information file, an operation policy
// using a named value.
func TestLegacyLayouts(t *testing.T) {
	for _, dir := range []string{"testdata/v0/apim-artifacts", "testdata/v25/artifacts"} {
		t.Run(dir, func(t *testing.T) {
			orig, v2, rev2 := tagged(t, "orig"), tagged(t, "v2"), tagged(t, "rev2")
			ov := writeOverlay(t, map[string]string{"petstore": orig, "petstore-v2": v2, "petstore;rev=2": rev2},
				"subscriptions: [{id: public-sub, primaryKey: k1}]\n")
			res, err := Load(Options{Dir: dir, Overlay: ov})
			if err != nil {
				t.Fatal(err)
			}
			cfg := res.Config
			if len(cfg.Apis) != 3 || len(cfg.VersionSets) != 1 || cfg.VersionSets["pets-vs"] == nil {
				t.Fatalf("apis %d, version sets %v", len(cfg.Apis), cfg.VersionSets)
			}
			for _, a := range cfg.Apis {
				if a.ID != "petstore;rev=2" && (len(a.Products) != 1 || a.Products[0] != "public") {
					t.Errorf("api %s products %v, want [public]", a.ID, a.Products)
				}
			}
			base := serveResult(t, cfg)
			for path, want := range map[string]map[string]string{
				"/pets/pets":          {"tag": "orig", "path": "/pets", "op": "p1", "fragment": "pet"},
				"/pets/v2/pets":       {"tag": "v2", "path": "/pets", "op": "p1", "fragment": "pet"},
				"/pets;rev=2/pets":    {"tag": "rev2", "path": "/pets", "op": "", "fragment": ""},
				"/pets/v2;rev=1/pets": {"tag": "v2", "path": "/pets", "op": "p1", "fragment": "pet"},
			} {
				code, got := get(t, base+path, nil)
				if code != 200 {
					t.Errorf("GET %s: %d", path, code)
					continue
				}
				for k, v := range want {
					if got[k] != v {
						t.Errorf("GET %s: %s %q, want %q", path, k, got[k], v)
					}
				}
			}
		})
	}
}

// The v6 and v7 layouts of the same service load to the same
// configuration (v7: relative ARM ids, tags/<t>/apis/<a> links, no
// system groups).
func TestV6AndV7LoadAlike(t *testing.T) {
	load := func(dir string) *Result {
		res, err := Load(Options{Dir: dir, Placeholders: true})
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		return res
	}
	a, b := load("testdata/v6/apimartifacts"), load("testdata/v7/artifacts")
	if len(a.Config.Apis) != len(b.Config.Apis) || len(a.Config.Apis) != 15 {
		t.Fatalf("apis %d and %d, want 15", len(a.Config.Apis), len(b.Config.Apis))
	}
	for i := range a.Config.Apis {
		x, y := a.Config.Apis[i], b.Config.Apis[i]
		if x.ID != y.ID || x.Path != y.Path || x.VersionSet != y.VersionSet || x.Version != y.Version || strings.Join(x.Products, ",") != strings.Join(y.Products, ",") {
			t.Errorf("api %d: v6 %+v, v7 %+v", i, x, y)
		}
	}
	pool := b.Config.Backends["orders-pool"]
	if pool == nil || pool.Type != "pool" || len(pool.Pool.Services) != 2 || pool.Pool.Services[0].ID != "pool-member-1" || pool.Pool.Services[1].Priority != 2 {
		t.Errorf("v7 pool (relative ids): %+v", pool)
	}
	cb := a.Config.Backends["pool-member-1"].CircuitBreaker
	if cb == nil || len(cb.Rules) != 1 || cb.Rules[0].TripDuration.D().Minutes() != 1 || cb.Rules[0].FailureCondition.Interval.D().Minutes() != 1 {
		t.Errorf("circuit breaker: %+v", cb)
	}
	if s := a.Config.Logs.Sampling; s == nil || *s != 1 {
		t.Errorf("logs.sampling from the service diagnostic: %v", s)
	}
	if l := a.Config.Loggers["eh-logger"]; l == nil || l.Type != "stdout" {
		t.Errorf("Event Hub logger: %+v", l)
	}
	for _, s := range a.Config.Subscriptions {
		switch s.ID {
		case "starter-sub":
			if s.Product != "starter" || s.State != "active" {
				t.Errorf("starter-sub: %+v", s)
			}
		case "all-access":
			if !s.AllAPIs {
				t.Errorf("all-access: %+v", s)
			}
		case "echo-only":
			if s.API != "echo-api" {
				t.Errorf("echo-only: %+v", s)
			}
		default:
			t.Errorf("unexpected subscription %s (the suspended one has no key and is left out)", s.ID)
		}
	}
	if nv := a.Config.NamedValues["greeting"]; nv != "hello & 'welcome'" {
		t.Errorf("named value with .NET escapes: %q", nv)
	}
}

// configuration.<env>.yaml deep-merges over the extract, matching by
// resource name, children under their parents.
func TestPublisherOverrides(t *testing.T) {
	be := tagged(t, "over")
	ovFile := filepath.Join(t.TempDir(), "configuration.prod.yaml")
	os.WriteFile(ovFile, []byte(`
namedValues:
  - name: 66672b71a3f2c9d2e4f1a001
    properties: {value: prod-tag}
  - name: 66672b71a3f2c9d2e4f1a002
    properties: {value: prod-backend-key}
apis:
  - name: echo-api
    properties:
      serviceUrl: `+be+`
      apiRevision: "9"
      subscriptionKeyParameterNames: {header: X-Prod-Key}
    operations:
      - name: getStatus
        policies:
          - name: policy
            properties:
              format: rawxml
              value: <policies><inbound><base/><return-response><set-body>prod {{global-tag}}</set-body></return-response></inbound><backend><base/></backend><outbound><base/></outbound><on-error><base/></on-error></policies>
backends:
  - name: pool-member-1
    properties:
      circuitBreaker:
        rules:
          - {name: r, failureCondition: {count: 3, interval: PT30S, statusCodeRanges: [{min: 500, max: 599}]}, tripDuration: PT10S}
`), 0o644)
	res, err := Load(Options{Dir: "testdata/v6/apimartifacts", Overrides: []string{ovFile}, Placeholders: true})
	if err != nil {
		t.Fatal(err)
	}
	cfg := res.Config
	if cfg.NamedValues["global-tag"] != "prod-tag" || cfg.NamedValues["backend-key"] != "prod-backend-key" {
		t.Errorf("named values: %v", cfg.NamedValues)
	}
	var echo *config.API
	for _, a := range cfg.Apis {
		if a.ID == "echo-api" {
			echo = a
		}
	}
	if echo.ServiceURL != be || echo.Revision != "1" || echo.SubscriptionKeyParameterNames.Header != "X-Prod-Key" {
		t.Errorf("echo-api after overrides: serviceUrl %q revision %q (apiRevision is not overridable) keys %+v", echo.ServiceURL, echo.Revision, echo.SubscriptionKeyParameterNames)
	}
	if r := cfg.Backends["pool-member-1"].CircuitBreaker.Rules[0]; r.FailureCondition.Count != 3 || r.TripDuration.D().Seconds() != 10 {
		t.Errorf("circuit breaker override: %+v", r)
	}
	base := serveResult(t, cfg)
	req, _ := http.NewRequest("GET", base+"/echo/status", nil)
	req.Header.Set("X-Prod-Key", res.Placeholders[len(res.Placeholders)-1].Value)
	for _, p := range res.Placeholders {
		if p.Name == "starter-sub" {
			req.Header.Set("X-Prod-Key", p.Value)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "prod prod-tag" {
		t.Errorf("operation policy replaced by the override: %d %q", resp.StatusCode, body)
	}

	// An extractor configuration file is refused with the reason.
	bad := filepath.Join(t.TempDir(), "configuration.extractor.yaml")
	os.WriteFile(bad, []byte("apiNames: [echo-api]\n"), 0o644)
	if _, err := Load(Options{Dir: "testdata/v6/apimartifacts", Overrides: []string{bad}, Placeholders: true}); err == nil || !strings.Contains(err.Error(), "configuration.extractor.yaml") {
		t.Errorf("extractor configuration as overrides: %v", err)
	}
}

// Secrets come from the overlay, the environment or the secrets folder;
// missing ones are listed together.
func TestSecrets(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "subscription.starter-sub.primaryKey"), []byte("file-key\n"), 0o600)
	ov := writeOverlay(t, nil, "namedValues: {backend-key: overlay-secret}\nsubscriptions: [{id: echo-only, primaryKey: ov-key}]\n")
	env := map[string]string{SubscriptionKeyEnv("all-access", "PRIMARY"): "env-key"}
	res, err := Load(Options{Dir: "testdata/v6/apimartifacts", Overlay: ov, SecretsDir: dir,
		LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]string{}
	for _, s := range res.Config.Subscriptions {
		keys[s.ID] = s.PrimaryKey
	}
	if keys["starter-sub"] != "file-key" || keys["all-access"] != "env-key" || res.Config.NamedValues["backend-key"] != "overlay-secret" {
		t.Errorf("keys %v, backend-key %q", keys, res.Config.NamedValues["backend-key"])
	}
	if got := res.Config.Backends["orders-backend"].Credentials.Header["x-backend-key"]; got != "overlay-secret" {
		t.Errorf("backend credentials header %q, want the named value substituted", got)
	}
	_, err = Load(Options{Dir: "testdata/v6/apimartifacts", LookupEnv: func(string) (string, bool) { return "", false }})
	if err == nil {
		t.Fatal("no error without secrets")
	}
	for _, want := range []string{"4 secret(s) missing", `named value "backend-key"`, `subscription "all-access"`, `subscription "starter-sub"`,
		"APIMGW_NAMED_VALUE_BACKEND_KEY", "APIMGW_SUBSCRIPTION_ALL_ACCESS_PRIMARY_KEY", "subscription.starter-sub.primaryKey", "overlay"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestErrorsNameFileResourceAndWhy(t *testing.T) {
	cases := []struct {
		files map[string]string
		want  string
	}{
		{map[string]string{"apis/a/apiInformation.json": `{"properties": {"path": "a"}}`},
			`apis/a: api "a": an HTTP API without a specification file`},
		{map[string]string{"apis/a/apiInformation.json": `{"properties": {"path": "a", "type": "grpc"}}`},
			`apis/a/apiInformation.json: api "a": type "grpc"`},
		{map[string]string{"apis/a/apiInformation.json": `{"properties": {"path": "a", "apiVersionSetId": "/apiVersionSets/nope"}}`, "apis/a/specification.yaml": "openapi: 3.0.1\ninfo: {title: t, version: '1'}\npaths: {}\n"},
			`apis/a/apiInformation.json: api "a": apiVersionSetId names version set "nope"`},
		{map[string]string{"backends/b/backendInformation.json": `{"properties": {"url": "https://x.example", "credentials": {"managedIdentity": {"enabled": true, "resource": "api://x"}}}}`},
			`backends/b/backendInformation.json: backend "b": credentials.managedIdentity`},
		{map[string]string{"backends/b/backendInformation.json": `{"properties": {"url": "https://x.example", "circuitBreaker": {"rules": [{"name": "r", "failureCondition": {"count": 1, "interval": "one minute"}, "tripDuration": "PT1M"}]}}}`},
			`backends/b/backendInformation.json: backend "b": circuit breaker rule "r": interval "one minute"`},
		{map[string]string{"subscriptions/s/subscriptionInformation.json": `{"properties": {"scope": "/products/nope", "state": "active"}}`},
			`subscriptions/s/subscriptionInformation.json: subscription "s": scope names product "nope"`},
		{map[string]string{"named values/n/namedValueInformation.json": `{"properties": `},
			`named values/n/namedValueInformation.json: not a JSON information file`},
		{map[string]string{"apis/a/apiInformation.json": `{"properties": {"path": "a", "type": "soap"}}`, "apis/a/specification.wsdl": "<x/>", "apis/a/operations/Op/policy.xml": "<policies/>"},
			`apis/a/operations/Op/policy.xml: api "a": operation "Op" has a policy, but a soap API is passed through by path`},
	}
	for _, c := range cases {
		dir := t.TempDir()
		for name, content := range c.files {
			p := filepath.Join(dir, name)
			os.MkdirAll(filepath.Dir(p), 0o755)
			os.WriteFile(p, []byte(content), 0o644)
		}
		_, err := Load(Options{Dir: dir, Placeholders: true})
		if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, c.want[:strings.Index(c.want, ":")])+c.want[strings.Index(c.want, ":"):]) {
			t.Errorf("error %v\nwant %s", err, c.want)
		}
	}
	if _, err := Load(Options{Dir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "service folder") {
		t.Errorf("empty folder: %v", err)
	}
}

// An API whose subscription key header is Authorization, and one whose
// serviceUrl is "" with a policy choosing the backend.
func TestAuthorizationKeyAndEmptyServiceURL(t *testing.T) {
	be := tagged(t, "auth")
	dir := t.TempDir()
	files := map[string]string{
		"apis/auth/apiInformation.json":                `{"properties": {"path": "auth", "serviceUrl": "` + be + `", "subscriptionRequired": true, "subscriptionKeyParameterNames": {"header": "Authorization", "query": "key"}}}`,
		"apis/auth/specification.yaml":                 "openapi: 3.0.1\ninfo: {title: t, version: '1'}\npaths:\n  /x:\n    get: {operationId: x, responses: {'200': {description: OK}}}\n",
		"apis/open/apiInformation.json":                `{"properties": {"path": "open", "serviceUrl": "", "subscriptionRequired": false}}`,
		"apis/open/specification.yaml":                 "openapi: 3.0.1\ninfo: {title: t, version: '1'}\nservers: [{url: 'https://apim.example/open'}]\npaths:\n  /y:\n    get: {operationId: y, responses: {'200': {description: OK}}}\n",
		"apis/open/policy.xml":                         `<policies><inbound><base/><set-backend-service base-url="` + be + `/via-policy"/></inbound><backend><base/></backend><outbound><base/></outbound><on-error><base/></on-error></policies>`,
		"subscriptions/s/subscriptionInformation.json": `{"properties": {"scope": "/apis", "state": "active"}}`,
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(content), 0o644)
	}
	res, err := Load(Options{Dir: dir, LookupEnv: func(k string) (string, bool) {
		return "the-key", k == SubscriptionKeyEnv("s", "PRIMARY")
	}})
	if err != nil {
		t.Fatal(err)
	}
	base := serveResult(t, res.Config)
	if code, _ := get(t, base+"/auth/x", map[string]string{"Ocp-Apim-Subscription-Key": "the-key"}); code != 401 {
		t.Errorf("default header name: %d, want 401", code)
	}
	if code, got := get(t, base+"/auth/x", map[string]string{"Authorization": "the-key"}); code != 200 || got["tag"] != "auth" {
		t.Errorf("Authorization key: %d %v", code, got)
	}
	if code, got := get(t, base+"/open/y", nil); code != 200 || got["path"] != "/via-policy/y" {
		t.Errorf("empty serviceUrl, backend from the policy: %d %v", code, got)
	}
}

func TestOverlayTypoIsAnError(t *testing.T) {
	ov := writeOverlay(t, map[string]string{"echo-apii": "http://127.0.0.1:1"}, "")
	_, err := Load(Options{Dir: "testdata/v6/apimartifacts", Overlay: ov, Placeholders: true})
	if err == nil || !strings.Contains(err.Error(), `api "echo-apii": overrides no API of the extract`) || !strings.Contains(err.Error(), ov) {
		t.Errorf("overlay with a mistyped API id: %v", err)
	}
}

// Import's output, with a policy replaced by an override file and
// placeholders, is a gateway.yaml that loads, compiles and serves what
// the extract serves.
func TestExportRoundTrip(t *testing.T) {
	ovFile := filepath.Join(t.TempDir(), "configuration.test.yaml")
	os.WriteFile(ovFile, []byte(`
apis:
  - name: echo-api
    operations:
      - name: getStatus
        policies:
          - name: policy
            properties: {value: "<policies><inbound><base/><return-response><set-body>overridden</set-body></return-response></inbound><backend><base/></backend><outbound><base/></outbound><on-error><base/></on-error></policies>"}
`), 0o644)
	res, err := Load(Options{Dir: "testdata/v6/apimartifacts", Overrides: []string{ovFile}, Placeholders: true})
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	file, err := Export(res, out)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(file)
	if err != nil {
		y, _ := os.ReadFile(file)
		t.Fatalf("imported gateway.yaml: %v\n%s", err, y)
	}
	p1, err := gateway.Build(res.Config, &policy.Env{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p1.Close()
	p2, err := gateway.Build(cfg, &policy.Env{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close()
	a1, o1 := p1.Count()
	a2, o2 := p2.Count()
	if a1 != a2 || o1 != o2 {
		t.Errorf("extract %d APIs %d operations, import %d and %d", a1, o1, a2, o2)
	}
	if _, err := os.Stat(filepath.Join(out, "policies", "override-1.xml")); err != nil {
		t.Errorf("the override's policy is not written: %v", err)
	}
	if _, err := os.Stat(filepath.Join(out, "fragments", "add-fragment-header.xml")); err != nil {
		t.Errorf("fragment not written: %v", err)
	}
	base := serveResult(t, cfg)
	var key string
	for _, p := range res.Placeholders {
		if p.Name == "starter-sub" {
			key = p.Value
		}
	}
	req, _ := http.NewRequest("GET", base+"/echo/status", nil)
	req.Header.Set("Ocp-Apim-Subscription-Key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "overridden" {
		t.Errorf("imported override policy: %d %q", resp.StatusCode, body)
	}
}
