package gateway

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/apimgw/apimgw/internal/config"
	"github.com/apimgw/apimgw/internal/logs"
)

// FuzzServeHTTP sends arbitrary methods, paths, queries and keys through
// routing, the subscription check and a policy that reads them: the gateway
// must answer every request with a valid status and never panic.
func FuzzServeHTTP(f *testing.F) {
	dir := f.TempDir()
	os.WriteFile(filepath.Join(dir, "gateway.yaml"), []byte(`
subscriptions: [{id: s, primaryKey: key-1, allApis: true}]
apis:
  - id: a
    path: a
    serviceUrl: http://backend.invalid/base
    policy: api.xml
    operations:
      - {id: item, method: GET, urlTemplate: "/items/{id}?v={version}"}
      - {id: files, method: "*", urlTemplate: "/files/{*path}"}
  - id: root
    path: ""
    serviceUrl: http://backend.invalid
    subscriptionRequired: false
    operations: [{id: all, method: "*", urlTemplate: "/*"}]
`), 0o644)
	os.WriteFile(filepath.Join(dir, "api.xml"), []byte(`<policies><inbound><base/>
<set-header name="X-Id" exists-action="override"><value>@(context.Request.MatchedParameters.GetValueOrDefault("id", "") + context.Request.Url.Query.GetValueOrDefault("v", ""))</value></set-header>
<rewrite-uri template="/x/{id}/{path}" />
</inbound></policies>`), 0o644)
	cfg, err := config.Load(filepath.Join(dir, "gateway.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	g, err := New(cfg, Options{Logs: logs.NewWriter(io.Discard, nil, 1)})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { g.Close() })
	g.plan.Load().env.Transport = cannedTransport{}
	for _, seed := range [][3]string{
		{"GET", "/a/items/1", "v=2&subscription-key=key-1"},
		{"POST", "/a/files/x/y%2Fz", ""},
		{"GET", "/%zz", "a=%zz"},
		{"DELETE", "//a//items//", "subscription-key="},
		{"GET", "/a/files/..%2f..%2fadmin", "Subscription-Key=key-1"},
		{"GET", "/a/files/x/%2e%2e/..%5c..%5cy#f", "q=1#f"},
	} {
		f.Add(seed[0], seed[1], seed[2], "key-1")
	}
	f.Fuzz(func(t *testing.T, method, path, query, key string) {
		if !validToken(method) || len(path) == 0 || path[0] != '/' {
			return
		}
		u := &url.URL{Path: path, RawQuery: query}
		r := httptest.NewRequest("GET", "http://gw.local/", nil)
		r.Method, r.URL = method, u
		r.RemoteAddr = "127.0.0.1:1"
		r.Header.Set("Ocp-Apim-Subscription-Key", key)
		w := httptest.NewRecorder()
		g.ServeHTTP(w, r)
		if w.Code < 100 || w.Code > 599 {
			t.Fatalf("status %d", w.Code)
		}
		if w.Code == http.StatusInternalServerError {
			t.Fatalf("500 for %s %q ?%q: %s", method, path, query, w.Body.String())
		}
	})
}

func validToken(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if c <= ' ' || c >= 0x7f || c == '(' || c == ')' || c == '<' || c == '>' || c == '@' || c == ',' || c == ';' || c == ':' || c == '\\' || c == '"' || c == '/' || c == '[' || c == ']' || c == '?' || c == '=' || c == '{' || c == '}' {
			return false
		}
	}
	return true
}
