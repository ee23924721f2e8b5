package gateway

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apimgw/apimgw/internal/config"
	"github.com/apimgw/apimgw/internal/policy"
)

// tagBackend answers with its tag and the path it was called with.
func tagBackend(t *testing.T, tag string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(tag + " " + r.URL.Path))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestVersionSetsAndRevisions(t *testing.T) {
	be := map[string]*httptest.Server{}
	for _, tag := range []string{"orig", "seg1", "q1", "q2", "h1", "rev1", "rev2"} {
		be[tag] = tagBackend(t, tag)
	}
	api := func(id, path, vs, version, url string, extra string) string {
		return `
  - id: "` + id + `"
    path: ` + path + `
    versionSet: "` + vs + `"
    version: "` + version + `"
    serviceUrl: ` + url + `
    subscriptionRequired: false
    operations: [{id: all, method: GET, urlTemplate: "/*"}]` + extra
	}
	cfg := `
versionSets:
  seg: {scheme: Segment}
  qry: {scheme: query}
  hdr: {scheme: Header, headerName: X-Ver}
apis:` +
		api("seg-orig", "s", "seg", "", be["orig"].URL, "") +
		api("seg-v1", "s", "seg", "v1", be["seg1"].URL, "") +
		api("q-v1", "q", "qry", "v1", be["q1"].URL, "") +
		api("q-v2", "q", "qry", "v2", be["q2"].URL, "") +
		api("h-v1", "h", "hdr", "v1", be["h1"].URL, "") + `
  - id: r
    path: r
    revision: "1"
    serviceUrl: ` + be["rev1"].URL + `
    subscriptionRequired: false
    operations: [{id: all, method: GET, urlTemplate: "/*"}]
  - id: "r;rev=2"
    path: r
    revision: "2"
    isCurrent: false
    serviceUrl: ` + be["rev2"].URL + `
    subscriptionRequired: false
    operations: [{id: all, method: GET, urlTemplate: "/*"}]
`
	h := start(t, map[string]string{"gateway.yaml": cfg})
	cases := []struct {
		path   string
		header map[string]string
		status int
		want   string
	}{
		{"/s/x", nil, 200, "orig /x"},
		{"/s/v1/x", nil, 200, "seg1 /x"},
		{"/s/V1/x", nil, 200, "seg1 /x"},
		{"/q/x?api-version=v1", nil, 200, "q1 /x"},
		{"/q/x?api-version=v2", nil, 200, "q2 /x"},
		{"/q/x", nil, 404, ""},
		{"/h/x", map[string]string{"X-Ver": "v1"}, 200, "h1 /x"},
		{"/h/x", nil, 404, ""},
		{"/r/x", nil, 200, "rev1 /x"},
		{"/r;rev=2/x", nil, 200, "rev2 /x"},
		{"/r;rev=1/x", nil, 200, "rev1 /x"},
		{"/r;rev=3/x", nil, 404, ""},
	}
	for _, c := range cases {
		resp, body := h.do("GET", c.path, nil, c.header)
		if resp.StatusCode != c.status || c.want != "" && body != c.want {
			t.Errorf("GET %s %v: %d %q, want %d %q", c.path, c.header, resp.StatusCode, body, c.status, c.want)
		}
	}
}

func TestVersionSetValidation(t *testing.T) {
	for _, c := range []struct{ yaml, want string }{
		{`
versionSets: {v: {scheme: Path}}
apis: [{id: a, path: a, serviceUrl: "http://127.0.0.1:1", operations: [{id: o, method: GET, urlTemplate: /}]}]
`, "scheme must be Segment, Query or Header"},
		{`
apis: [{id: a, path: a, versionSet: nope, serviceUrl: "http://127.0.0.1:1", operations: [{id: o, method: GET, urlTemplate: /}]}]
`, `names unknown versionSet "nope"`},
		{`
apis:
  - {id: a, path: a, serviceUrl: "http://127.0.0.1:1", operations: [{id: o, method: GET, urlTemplate: /}]}
  - {id: b, path: a, isCurrent: false, serviceUrl: "http://127.0.0.1:1", operations: [{id: o, method: GET, urlTemplate: /}]}
`, "needs revision"},
	} {
		err := loadErr(t, c.yaml)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want %q", err, c.want)
		}
	}
}

func TestOpenAPIServersAndOperationByID(t *testing.T) {
	be := tagBackend(t, "spec")
	spec := `openapi: 3.0.1
info: {title: t, version: "1"}
servers: [{url: "` + be.URL + `/base"}]
paths:
  /items/{id}:
    get: {operationId: getItem, responses: {"200": {description: ok}}}
  /items:
    post: {operationId: addItem, responses: {"200": {description: ok}}}
`
	h := start(t, map[string]string{
		"spec.yaml": spec,
		"op.xml":    `<policies><inbound><base/><return-response><set-status code="299"/></return-response></inbound><backend><base/></backend><outbound><base/></outbound><on-error><base/></on-error></policies>`,
		"gateway.yaml": `
apis:
  - id: a
    path: a
    subscriptionRequired: false
    openapi: spec.yaml
    operations: [{id: addItem, policy: op.xml}]
`})
	if resp, body := h.do("GET", "/a/items/7", nil, nil); resp.StatusCode != 200 || body != "spec /base/items/7" {
		t.Errorf("GET: %d %q, want the servers[0].url backend", resp.StatusCode, body)
	}
	if resp, _ := h.do("POST", "/a/items", nil, nil); resp.StatusCode != 299 {
		t.Errorf("POST: %d, want 299 from the policy attached by id", resp.StatusCode)
	}
	err := loadErr(t, `
apis:
  - {id: a, path: a, openapi: spec.yaml, operations: [{id: nosuch}]}
`, "spec.yaml", spec)
	if err == nil || !strings.Contains(err.Error(), `operation "nosuch" names no operation`) {
		t.Errorf("error %v, want the unknown operation id named", err)
	}
}

func TestSwagger2(t *testing.T) {
	be := tagBackend(t, "sw")
	h := start(t, map[string]string{
		"spec.json": `{"swagger": "2.0", "info": {"title": "t", "version": "1"}, "paths": {"/ping": {"get": {"operationId": "ping", "responses": {"200": {"description": "ok"}}}}}}`,
		"gateway.yaml": `
apis:
  - {id: a, path: a, serviceUrl: "` + be.URL + `", subscriptionRequired: false, openapi: spec.json}
`})
	if resp, body := h.do("GET", "/a/ping", nil, nil); resp.StatusCode != 200 || body != "sw /ping" {
		t.Errorf("GET: %d %q", resp.StatusCode, body)
	}
	if resp, _ := h.do("GET", "/a/pong", nil, nil); resp.StatusCode != 404 {
		t.Errorf("GET /a/pong: %d, want 404", resp.StatusCode)
	}
}

// loadErr writes gateway.yaml (and name, content pairs) into a temp dir,
// loads and builds it, and returns the error.
func loadErr(t *testing.T, yaml string, more ...string) error {
	t.Helper()
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("gateway.yaml", yaml)
	for i := 0; i+1 < len(more); i += 2 {
		write(more[i], more[i+1])
	}
	cfg, err := config.Load(filepath.Join(dir, "gateway.yaml"))
	if err != nil {
		return err
	}
	p, err := Build(cfg, &policy.Env{}, nil)
	if err == nil {
		p.Close()
	}
	return err
}
