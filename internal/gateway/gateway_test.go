package gateway

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/apimgw/apimgw/internal/config"
	"github.com/apimgw/apimgw/internal/httpserver"
	"github.com/apimgw/apimgw/internal/logs"
	"github.com/apimgw/apimgw/internal/testnet"
)

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct{ testnet.Buffer }

func (s *syncBuffer) records(t *testing.T) []logs.Record {
	var out []logs.Record
	for _, line := range strings.Split(strings.TrimSpace(s.String()), "\n") {
		if line == "" {
			continue
		}
		var r logs.Record
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("bad log line %q: %v", line, err)
		}
		out = append(out, r)
	}
	return out
}

type harness struct {
	t    *testing.T
	gw   *Gateway
	srv  *httptest.Server
	logs *syncBuffer
	lw   *logs.Writer
	dir  string
}

// start writes files (name → content) into a temp dir, loads gateway.yaml
// from it and serves the gateway on loopback.
func start(t *testing.T, files map[string]string) *harness {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := config.Load(filepath.Join(dir, "gateway.yaml"))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	h := &harness{t: t, logs: &syncBuffer{}, dir: dir}
	h.lw = logs.NewWriter(h.logs, nil, 1)
	g, err := New(cfg, Options{Logs: h.lw})
	if err != nil {
		t.Fatalf("gateway: %v", err)
	}
	h.gw = g
	h.srv = httptest.NewServer(g)
	t.Cleanup(func() {
		h.srv.Close()
		g.Close()
	})
	return h
}

// servers also serves the gateway with its own HTTP/1.1 server (the one
// `apimgw serve` uses for cleartext) beside the harness's net/http one, and
// returns both base URLs by server name.
func (h *harness) servers() map[string]string {
	h.t.Helper()
	ln := listen(h.t)
	srv := &httpserver.Server{Handler: h.gw}
	go srv.Serve(ln)
	h.t.Cleanup(func() { srv.Close() })
	return map[string]string{"net/http": h.srv.URL, "httpserver": "http://" + ln.Addr().String()}
}

// records waits for the requests in flight to finish (a client has its
// response before the gateway writes the log line), flushes the request
// log and returns its lines.
func (h *harness) records() []logs.Record {
	inFlight := func() float64 {
		var m dto.Metric
		h.gw.metrics.InFlight.Write(&m)
		return m.GetGauge().GetValue()
	}
	for deadline := time.Now().Add(5 * time.Second); inFlight() > 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	h.lw.Flush()
	return h.logs.records(h.t)
}

func (h *harness) do(method, path string, body io.Reader, header map[string]string) (*http.Response, string) {
	h.t.Helper()
	req, err := http.NewRequest(method, h.srv.URL+path, body)
	if err != nil {
		h.t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp, string(b)
}

// echoBackend answers with what it received as JSON.
type seen struct {
	Method string
	Path   string
	Query  string
	Header http.Header
	Body   string
}

func echoBackend(t *testing.T) (*httptest.Server, func() []seen) {
	var mu sync.Mutex
	var got []seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s := seen{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: string(b)}
		mu.Lock()
		got = append(got, s)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Backend", "echo")
		json.NewEncoder(w).Encode(s)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []seen {
		mu.Lock()
		defer mu.Unlock()
		return append([]seen(nil), got...)
	}
}

func wantAPIMError(t *testing.T, resp *http.Response, body string, status int, message string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d (body %s)", resp.StatusCode, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var e struct {
		StatusCode int    `json:"statusCode"`
		Message    string `json:"message"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("body %q is not APIM's JSON error: %v", body, err)
	}
	if e.StatusCode != status || e.Message != message {
		t.Errorf("body %+v, want statusCode %d message %q", e, status, message)
	}
}

// openAPI is the gateway.yaml of one API "a" at /a, open to anonymous
// callers, with policy api.xml and one catch-all operation for method.
func openAPI(serviceURL, method string) string {
	return `
apis:
  - id: a
    path: a
    serviceUrl: ` + serviceURL + `
    subscriptionRequired: false
    policy: api.xml
    operations: [{id: all, method: ` + method + `, urlTemplate: "/*"}]
`
}

func TestRoutingAndSubscriptions(t *testing.T) {
	be, seenBy := echoBackend(t)
	h := start(t, map[string]string{"gateway.yaml": `
products:
  gold: {name: Gold}
  silver: {name: Silver}
subscriptions:
  - {id: alice, primaryKey: k-alice-1, secondaryKey: k-alice-2, product: gold}
  - {id: bob, primaryKey: k-bob, product: silver}
  - {id: carol, primaryKey: k-carol, product: gold, state: suspended}
apis:
  - id: orders
    path: orders
    serviceUrl: ` + be.URL + `/api
    products: [gold]
    operations:
      - {id: get-order, method: GET, urlTemplate: "/orders/{id}"}
      - {id: list, method: GET, urlTemplate: "/orders"}
  - id: open
    path: open
    serviceUrl: ` + be.URL + `
    subscriptionRequired: false
    subscriptionKeyParameterNames: {header: X-Key, query: key}
    operations:
      - {id: all, method: "*", urlTemplate: "/*"}
`})
	cases := []struct {
		name, method, path string
		header             map[string]string
		status             int
		message            string
	}{
		{"no api", "GET", "/nope", nil, 404, "Resource not found"},
		{"no operation", "DELETE", "/orders/orders/1", map[string]string{"Ocp-Apim-Subscription-Key": "k-alice-1"}, 404, "Resource not found"},
		{"missing key", "GET", "/orders/orders/1", nil, 401, msgMissingKey},
		{"invalid key", "GET", "/orders/orders/1", map[string]string{"Ocp-Apim-Subscription-Key": "nope"}, 401, msgInvalidKey},
		{"suspended", "GET", "/orders/orders/1", map[string]string{"Ocp-Apim-Subscription-Key": "k-carol"}, 401, msgInvalidKey},
		{"other product", "GET", "/orders/orders/1", map[string]string{"Ocp-Apim-Subscription-Key": "k-bob"}, 401, msgInvalidKey},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, body := h.do(c.method, c.path, nil, c.header)
			wantAPIMError(t, resp, body, c.status, c.message)
		})
	}
	if n := len(seenBy()); n != 0 {
		t.Fatalf("rejected requests reached the backend %d times", n)
	}

	// Primary key in the header, secondary in the query: both accepted and
	// both removed before forwarding.
	resp, _ := h.do("GET", "/orders/orders/42?x=1", nil, map[string]string{"Ocp-Apim-Subscription-Key": "k-alice-1"})
	if resp.StatusCode != 200 {
		t.Fatalf("valid key: status %d", resp.StatusCode)
	}
	resp, _ = h.do("GET", "/orders/orders/42?subscription-key=k-alice-2&x=1", nil, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("secondary key in query: status %d", resp.StatusCode)
	}
	resp, _ = h.do("GET", "/open/anything/here?key=whatever", nil, map[string]string{"X-Key": "bad"})
	if resp.StatusCode != 200 {
		t.Fatalf("open API with a bad key: status %d", resp.StatusCode)
	}
	got := seenBy()
	if len(got) != 3 {
		t.Fatalf("backend saw %d requests, want 3", len(got))
	}
	for i, s := range got[:2] {
		if s.Path != "/api/orders/42" || s.Query != "x=1" {
			t.Errorf("request %d: backend got %s?%s, want /api/orders/42?x=1", i, s.Path, s.Query)
		}
		if s.Header.Get("Ocp-Apim-Subscription-Key") != "" {
			t.Errorf("request %d: subscription key header forwarded", i)
		}
		if s.Header.Get("X-Forwarded-For") != "127.0.0.1" || s.Header.Get("X-Forwarded-Proto") != "http" || s.Header.Get("X-Forwarded-Host") == "" {
			t.Errorf("request %d: X-Forwarded-* = %v", i, s.Header)
		}
	}
	if got[2].Path != "/anything/here" || got[2].Query != "" || got[2].Header.Get("X-Key") != "" {
		t.Errorf("open api: backend got %+v", got[2])
	}

	recs := h.records()
	if len(recs) != len(cases)+3 {
		t.Fatalf("%d log lines, want %d", len(recs), len(cases)+3)
	}
	last := recs[len(recs)-3]
	if last.ApiId != "orders" || last.OperationId != "get-order" || last.ApimSubscriptionId != "alice" || last.ProductId != "gold" ||
		last.ResponseCode != 200 || last.BackendResponseCode != 200 || !last.IsRequestSuccess || !strings.HasSuffix(last.BackendUrl, "/api/orders/42?x=1") {
		t.Errorf("log line: %+v", last)
	}
	for _, r := range recs {
		line, _ := json.Marshal(r)
		if strings.Contains(string(line), "k-alice") {
			t.Errorf("log line leaks a subscription key: %s", line)
		}
	}
	if recs[2].LastErrorReason != "SubscriptionKeyNotFound" || recs[3].LastErrorReason != "SubscriptionKeyInvalid" {
		t.Errorf("401 reasons: %q, %q", recs[2].LastErrorReason, recs[3].LastErrorReason)
	}
}

func TestScopeCompositionAndPolicies(t *testing.T) {
	be, seenBy := echoBackend(t)
	h := start(t, map[string]string{
		"gateway.yaml": `
policy: global.xml
products:
  gold: {policy: product.xml}
subscriptions:
  - {id: alice, primaryKey: k1, product: gold}
apis:
  - id: shop
    path: shop
    serviceUrl: ` + be.URL + `
    products: [gold]
    policy: api.xml
    operations:
      - {id: item, method: GET, urlTemplate: "/items/{id}", policy: op.xml}
      - {id: create, method: POST, urlTemplate: "/items"}
`,
		"global.xml": `<policies>
  <inbound><set-header name="X-Trail" exists-action="append"><value>global</value></set-header></inbound>
  <backend><forward-request timeout="10"/></backend>
  <outbound><set-header name="X-Out" exists-action="append"><value>global</value></set-header></outbound>
  <on-error/>
</policies>`,
		"product.xml": `<policies>
  <inbound><base/><set-header name="X-Trail" exists-action="append"><value>product</value></set-header></inbound>
  <outbound><base/><set-header name="X-Out" exists-action="append"><value>product</value></set-header></outbound>
</policies>`,
		"api.xml": `<policies>
  <inbound><set-header name="X-Trail" exists-action="append"><value>api-first</value></set-header><base/></inbound>
  <backend><base/></backend>
  <outbound><base/></outbound>
</policies>`,
		"op.xml": `<policies>
  <inbound>
    <base/>
    <set-header name="X-Trail" exists-action="append"><value>operation</value></set-header>
    <set-query-parameter name="expand" exists-action="override"><value>true</value></set-query-parameter>
    <set-header name="X-Item" exists-action="override"><value>@(context.Request.MatchedParameters["id"])</value></set-header>
    <rewrite-uri template="/v2/things/{id}" />
    <set-variable name="started" value="@(context.Request.Method)" />
  </inbound>
  <backend><base/></backend>
  <outbound>
    <base/>
    <set-header name="X-Var" exists-action="override"><value>@((string)context.Variables["started"])</value></set-header>
    <set-header name="X-Backend" exists-action="delete" />
  </outbound>
</policies>`,
	})
	resp, body := h.do("GET", "/shop/items/7?q=a", nil, map[string]string{"Ocp-Apim-Subscription-Key": "k1"})
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	s := seenBy()[0]
	if got := strings.Join(s.Header["X-Trail"], ","); got != "api-first,global,product,operation" {
		t.Errorf("inbound order %q, want api-first,global,product,operation", got)
	}
	if s.Path != "/v2/things/7" || s.Query != "q=a&expand=true" {
		t.Errorf("backend got %s?%s", s.Path, s.Query)
	}
	if s.Header.Get("X-Item") != "7" {
		t.Errorf("X-Item %q", s.Header.Get("X-Item"))
	}
	if recs := h.records(); !strings.HasSuffix(recs[0].Url, "/shop/items/7?q=a") {
		t.Errorf("log Url %q, want the client's URL (not the rewritten one)", recs[0].Url)
	}
	if got := strings.Join(resp.Header["X-Out"], ","); got != "global,product" {
		t.Errorf("outbound X-Out %q", got)
	}
	if resp.Header.Get("X-Var") != "GET" || resp.Header.Get("X-Backend") != "" {
		t.Errorf("outbound headers: %v", resp.Header)
	}

	// POST streams the body through unchanged.
	payload := strings.Repeat("0123456789", 10000)
	resp, _ = h.do("POST", "/shop/items", strings.NewReader(payload), map[string]string{"Ocp-Apim-Subscription-Key": "k1"})
	if resp.StatusCode != 200 {
		t.Fatalf("post status %d", resp.StatusCode)
	}
	if got := seenBy()[1]; got.Body != payload || got.Method != "POST" {
		t.Errorf("backend got %d bytes via %s", len(got.Body), got.Method)
	}
}

func TestReturnResponseChooseAndOnError(t *testing.T) {
	dead := deadAddr(t)
	h := start(t, map[string]string{
		"gateway.yaml": `
apis:
  - id: a
    path: a
    serviceUrl: http://` + dead + `
    subscriptionRequired: false
    policy: api.xml
    operations:
      - {id: all, method: GET, urlTemplate: "/*"}
      - {id: mock, method: POST, urlTemplate: "/mock", policy: mock.xml}
`,
		"api.xml": `<policies>
  <inbound>
    <choose>
      <when condition="@(context.Request.Headers.GetValueOrDefault("x-tier","") == "gold")">
        <return-response>
          <set-status code="418" reason="Teapot" />
          <set-header name="Content-Type" exists-action="override"><value>text/plain</value></set-header>
          <set-body>gold path</set-body>
        </return-response>
      </when>
    </choose>
    <base/>
  </inbound>
  <backend><base/></backend>
  <outbound><base/></outbound>
  <on-error>
    <set-header name="X-Reason" exists-action="override"><value>@(context.LastError.Reason)</value></set-header>
    <set-header name="X-Source" exists-action="override"><value>@(context.LastError.Source + "/" + context.LastError.Section)</value></set-header>
  </on-error>
</policies>`,
		"mock.xml": `<policies><inbound><base/><mock-response status-code="201" content-type="application/json"/></inbound><backend><base/></backend><outbound><base/></outbound><on-error><base/></on-error></policies>`,
	})
	resp, body := h.do("GET", "/a/x", nil, map[string]string{"X-Tier": "gold"})
	if resp.StatusCode != 418 || body != "gold path" || resp.Header.Get("Content-Type") != "text/plain" {
		t.Fatalf("return-response: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	resp, body = h.do("POST", "/a/mock", strings.NewReader("{}"), nil)
	if resp.StatusCode != 201 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("mock-response: %d %q", resp.StatusCode, body)
	}
	// A dead backend: 502 with APIM's body, on-error saw LastError.
	resp, body = h.do("GET", "/a/x", nil, nil)
	if resp.StatusCode != 502 || resp.Header.Get("X-Reason") != "BackendConnectionFailure" || resp.Header.Get("X-Source") != "forward-request/backend" {
		t.Fatalf("dead backend: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	wantAPIMError(t, resp, body, 502, "Bad Gateway")
	recs := h.records()
	last := recs[len(recs)-1]
	if last.LastErrorReason != "BackendConnectionFailure" || last.LastErrorSource != "forward-request" || last.LastErrorSection != "backend" ||
		last.LastErrorMessage == "" || last.IsRequestSuccess || last.ResponseCode != 502 || last.BackendResponseCode != 0 {
		t.Errorf("log line for the dead backend: %+v", last)
	}
}

func TestBackendTimeoutIs504(t *testing.T) {
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(release)
	h := start(t, map[string]string{
		"gateway.yaml": `
apis:
  - id: a
    path: a
    serviceUrl: ` + slow.URL + `
    subscriptionRequired: false
    policy: api.xml
    operations:
      - {id: all, method: GET, urlTemplate: "/*"}
`,
		"api.xml": `<policies><inbound><base/></inbound><backend><forward-request timeout-ms="200"/></backend><outbound><base/></outbound><on-error><base/></on-error></policies>`,
	})
	start := time.Now()
	resp, body := h.do("GET", "/a/slow", nil, nil)
	if resp.StatusCode != 504 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("timeout took %v", d)
	}
	recs := h.records()
	if r := recs[len(recs)-1]; r.LastErrorReason != "Timeout" {
		t.Errorf("log line: %+v", r)
	}
}

func TestReloadRefusesBadConfigAndKeepsServing(t *testing.T) {
	h := start(t, map[string]string{
		"gateway.yaml": `
apis:
  - id: a
    path: a
    subscriptionRequired: false
    policy: api.xml
    operations: [{id: all, method: GET, urlTemplate: "/*"}]
`,
		"api.xml": `<policies><inbound><return-response><set-status code="200"/><set-body>v1</set-body></return-response></inbound></policies>`,
	})
	_, body := h.do("GET", "/a/", nil, nil)
	if body != "v1" {
		t.Fatalf("body %q", body)
	}
	bad := filepath.Join(h.dir, "api.xml")
	os.WriteFile(bad, []byte(`<policies><inbound><frobnicate/></inbound></policies>`), 0o644)
	err := h.gw.ReloadFile(filepath.Join(h.dir, "gateway.yaml"))
	if err == nil || !strings.Contains(err.Error(), "api.xml:1:20: unknown policy <frobnicate>") {
		t.Fatalf("reload error %v", err)
	}
	if _, body = h.do("GET", "/a/", nil, nil); body != "v1" {
		t.Fatalf("after a refused reload the old config must serve, got %q", body)
	}
	os.WriteFile(bad, []byte(`<policies><inbound><return-response><set-body>v2</set-body></return-response></inbound></policies>`), 0o644)
	if err := h.gw.ReloadFile(filepath.Join(h.dir, "gateway.yaml")); err != nil {
		t.Fatal(err)
	}
	if _, body = h.do("GET", "/a/", nil, nil); body != "v2" {
		t.Fatalf("after reload got %q", body)
	}
}

// deadAddr returns a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// listen opens a loopback listener closed at the end of the test.
func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}
