package config

import (
	"strings"
	"testing"
	"time"
)

func TestParseErrorsArePositioned(t *testing.T) {
	cases := []struct {
		name, yaml string
		want       []string
	}{
		{"unknown key", "listen: a:1\nlisen: b\n", []string{`gateway.yaml:2:1: unknown key "lisen"`}},
		{"nested unknown key", "outbound:\n  snat: {ports: 10, reclaimm: 3s}\n", []string{`gateway.yaml:2:21: unknown key "reclaimm"`}},
		{"wrong type", "outbound:\n  maxConnsPerHost: many\n", []string{`gateway.yaml:2:20: expected an integer, got "many"`}},
		{"bad duration", "outbound:\n  idleConnTimeout: soon\n", []string{`gateway.yaml:2:20: invalid duration "soon"`}},
		{"duplicate key", "listen: a:1\nlisten: a:2\n", []string{`gateway.yaml:2:1: duplicate key "listen"`}},
		{"dangling product", "subscriptions:\n  - {id: s, primaryKey: k, product: nope}\n", []string{`gateway.yaml:2:5: subscription "s" names unknown product "nope"`}},
		{"dangling backend", "apis:\n  - {id: a, path: a, backendId: nope, operations: [{id: o, method: GET, urlTemplate: /}]}\n", []string{`api "a" names unknown backend "nope"`}},
		{"pool member", "backends:\n  p:\n    type: pool\n    pool: {services: [{id: ghost}]}\n", []string{`gateway.yaml:4:23: pool "p" names unknown backend "ghost"`}},
		{"no operations", "apis:\n  - {id: a, path: a}\n", []string{`api "a" has no operations`}},
		{"bad method", "apis:\n  - {id: a, path: a, operations: [{id: o, method: FETCH, urlTemplate: /}]}\n", []string{`invalid method "FETCH"`}},
		{"duplicate path", "apis:\n  - {id: a, path: x, operations: [{id: o, method: GET, urlTemplate: /}]}\n  - {id: b, path: /x/, operations: [{id: o, method: GET, urlTemplate: /}]}\n", []string{`api "b" uses path "x" already used by api "a"`}},
		{"reused key", "subscriptions:\n  - {id: a, primaryKey: k, allApis: true}\n  - {id: b, primaryKey: k, allApis: true}\n", []string{`subscription "b" reuses a key of subscription "a"`}},
		{"breaker rule", "backends:\n  b:\n    url: http://x\n    circuitBreaker: {rules: [{failureCondition: {interval: 1m}}]}\n", []string{"needs exactly one of failureCondition.count", "needs tripDuration"}},
		{"keepAlive off over HTTP/2", "backends:\n  b:\n    url: http://x\n    protocol: h2c\n    keepAlive: false\n", []string{`gateway.yaml:3:5: backend "b": keepAlive: false (a new connection per request) is for protocol http1`}},
		{"api type", "apis:\n  - {id: a, type: soap, path: a, operations: [{id: o, method: GET, urlTemplate: /}]}\n", []string{`gateway.yaml:2:5: api "a": type must be http or websocket, got "soap"`}},
		{"websocket operations", "apis:\n  - {id: w, type: websocket, path: w, serviceUrl: \"ws://x\", operations: [{id: send, method: POST, urlTemplate: /}]}\n", []string{`the operation of a WebSocket API is onHandshake, got "send"`, `onHandshake is GET /`}},
		{"websocket openapi", "apis:\n  - {id: w, type: websocket, path: w, serviceUrl: \"wss://x\", openapi: o.yaml}\n", []string{`a WebSocket API has no OpenAPI definition`}},
		{"certificate", "certificates:\n  c: {cert: a.crt, pfx: a.pfx}\n", []string{`gateway.yaml:2:6: certificate "c" needs cert and key (PEM files) or pfx`}},
		{"unknown credentials certificate", "backends:\n  b:\n    url: https://x\n    credentials: {certificateIds: [nope]}\n", []string{`backend "b": credentials.certificateIds names unknown certificate "nope"`}},
		{"backend limits", "backends:\n  b: {url: \"http://x\", maxConnsPerHost: -1}\n", []string{`gateway.yaml:2:6: backend "b": maxConnsPerHost, maxIdleConnsPerHost and idleConnTimeout must not be negative`}},
		{"backend proxy", "backends:\n  b:\n    url: http://x\n    proxy: {url: \"https://p:443\"}\n", []string{`gateway.yaml:4:12: backend "b": proxy.url "https://p:443": want http://host:port`}},
		{"host settings differ", "backends:\n  a: {url: \"http://X:80/v1\", keepAlive: false}\n  b: {url: \"http://x/v2\", keepAlive: true, maxConnsPerHost: 4}\n  c: {url: \"http://x\", maxConnsPerHost: 8, addresses: [\"127.0.0.2:80\"]}\n", []string{
			`gateway.yaml:3:6: backend "b" sets keepAlive true for x:80, where backend "a" has false: connection settings belong to host:port`,
			`gateway.yaml:4:6: backend "c" sets maxConnsPerHost 8 for x:80, where backend "b" has 4`}},
		{"host settings that do not go together", "backends:\n  a: {url: \"http://x:1\", keepAlive: false}\n  b: {url: \"http://x:1/v2\", protocol: h2c}\n", []string{
			`gateway.yaml:3:6: backend "b": x:1 gets keepAlive false from backend "a" and protocol h2c from backend "b"`}},
		{"listen address", "listen: nonsense\nadmin: \"127.0.0.1:99999\"\n", []string{
			`gateway.yaml:1:9: listen "nonsense": want host:port`, `gateway.yaml:2:8: admin "127.0.0.1:99999": port "99999" is not a port number`}},
		{"address not an IP", "backends:\n  a: {url: \"http://x:1\", addresses: [\"host.example:80\"]}\n", []string{
			`gateway.yaml:2:6: backend "a": address "host.example:80" must be ip:port`}},
		{"validation off for a host", "backends:\n  a: {url: \"https://x\"}\n  b:\n    url: https://x:443/\n    tls: {validateCertificateChain: false}\n", []string{
			`gateway.yaml:4:5: backend "b" sets tls.validateCertificateChain false for x:443, where backend "a" has true`}},
		{"yaml syntax", "listen: [a\n", []string{"gateway.yaml:"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("/cfg/gateway.yaml", []byte(c.yaml))
			if err == nil {
				t.Fatalf("want an error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestBackendHostsMerged(t *testing.T) {
	cfg, err := Parse("/cfg/gateway.yaml", []byte(`
backends:
  a: {url: "http://orders.internal:9001/v1", addresses: ["127.0.0.2:9001", "127.0.0.3:9001"], keepAlive: false}
  b: {url: "http://ORDERS.internal:9001/v2", addresses: ["127.0.0.3:9001", "127.0.0.2:9001"], idleConnTimeout: 5s}
  c: {url: "http://orders.internal:9001", protocol: http1}
  e: {url: "http://other", protocol: h2}
  p: {type: pool, pool: {services: [{id: a}, {id: e}]}}
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.BackendHosts) != 2 {
		t.Fatalf("hosts %v, want orders.internal:9001 and other:80", cfg.BackendHosts)
	}
	h := cfg.BackendHosts["orders.internal:9001"]
	if h == nil {
		t.Fatalf("no orders.internal:9001 in %v", cfg.BackendHosts)
	}
	if strings.Join(h.Backends, ",") != "a,b,c" {
		t.Errorf("backends %v", h.Backends)
	}
	if len(h.Addresses) != 2 || h.KeepAlive == nil || *h.KeepAlive || h.IdleConnTimeout.D() != 5*time.Second {
		t.Errorf("merged settings %+v: want a's addresses and keepAlive false, b's idle timeout", h)
	}
	if o := cfg.BackendHosts["other:80"]; o == nil || o.Protocol != "h2c" {
		t.Errorf("other:80 %+v: h2 on http:// is h2c", o)
	}
}

func TestParseDefaultsAndDurations(t *testing.T) {
	cfg, err := Parse("/cfg/gateway.yaml", []byte(`
outbound:
  snat: {enforce: true}
backends:
  b:
    url: http://127.0.0.1:9001
    circuitBreaker:
      rules:
        - {failureCondition: {count: 3, interval: PT1M}, tripDuration: PT30S}
apis:
  - {id: a, path: /orders/, serviceUrl: "http://x", operations: [{id: o, method: get, urlTemplate: "/{id}"}]}
`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != DefaultListen || cfg.Admin != DefaultAdmin || cfg.Logs.Path != "-" || cfg.Store.Type != "memory" {
		t.Errorf("defaults: %+v", cfg)
	}
	o := cfg.Outbound
	if o.MaxConnsPerHost != 256 || o.SNAT.Ports != 1024 || o.SNAT.Reclaim.D() != 4*time.Minute || !o.SNAT.Enforce {
		t.Errorf("outbound defaults: %+v", o)
	}
	r := cfg.Backends["b"].CircuitBreaker.Rules[0]
	if r.FailureCondition.Interval.D() != time.Minute || r.TripDuration.D() != 30*time.Second || r.Name != "rule1" {
		t.Errorf("rule: %+v", r)
	}
	a := cfg.Apis[0]
	if a.Path != "orders" || a.Operations[0].Method != "GET" || a.SubscriptionKeyParameterNames.Header != "Ocp-Apim-Subscription-Key" {
		t.Errorf("api: %+v", a)
	}
	if cfg.Path("p.xml") != "/cfg/p.xml" {
		t.Errorf("Path: %s", cfg.Path("p.xml"))
	}
}

func TestISODurations(t *testing.T) {
	for in, want := range map[string]time.Duration{"PT1M": time.Minute, "PT30S": 30 * time.Second, "P1D": 24 * time.Hour, "PT1H30M": 90 * time.Minute, "PT0.5S": 500 * time.Millisecond, "4m": 4 * time.Minute} {
		got, err := ParseDuration(in)
		if err != nil || got != want {
			t.Errorf("%s: %v %v, want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"P", "PT", "P1H", "PTXS", "1 minute"} {
		if _, err := ParseDuration(bad); err == nil {
			t.Errorf("%s: want an error", bad)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("listen: a:1\napis:\n  - {id: a, path: a, operations: [{id: o, method: GET, urlTemplate: /}]}\n"))
	f.Add([]byte("backends: {b: {type: pool, pool: {services: [{id: b}]}}}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("f.yaml", data)
		if err == nil && cfg == nil {
			t.Fatal("nil config without error")
		}
	})
}

// A WebSocket API gets its onHandshake operation, and ws:// and wss://
// URLs are the http:// and https:// URLs their handshakes go to.
func TestWebSocketAPI(t *testing.T) {
	cfg, err := Parse("/cfg/gateway.yaml", []byte("backends:\n  b: {url: \"wss://chat.example:8443/hub\"}\napis:\n  - {id: w, type: websocket, path: w, serviceUrl: \"ws://x:81/s\"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.Apis[0]
	if a.Type != "websocket" || a.ServiceURL != "http://x:81/s" || len(a.Operations) != 1 {
		t.Fatalf("api: %+v", a)
	}
	if op := a.Operations[0]; op.ID != OnHandshake || op.Method != "GET" || op.URLTemplate != "/" {
		t.Errorf("operation: %+v", op)
	}
	if u := cfg.Backends["b"].URL; u != "https://chat.example:8443/hub" {
		t.Errorf("backend url %q", u)
	}
}
