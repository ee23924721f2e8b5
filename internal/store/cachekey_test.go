package store

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestResponseCacheKey(t *testing.T) {
	base := CacheKeyOptions{API: "orders", Operation: "get-order", Product: "starter",
		VaryByHeaders: []string{"Accept"}, VaryByQuery: []string{"version"}}
	req := func(target string, hdr ...string) *http.Request {
		r := httptest.NewRequest(http.MethodGet, target, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			r.Header.Add(hdr[i], hdr[i+1])
		}
		return r
	}
	ref := ResponseCacheKey(req("/orders/1?version=2&x=1", "Accept", "application/json"), base)
	if !strings.HasPrefix(ref, "r:orders:get-order:") {
		t.Fatalf("key %q lacks its namespace", ref)
	}
	same := []struct {
		name string
		r    *http.Request
		o    CacheKeyOptions
	}{
		{"other unlisted query parameter", req("/orders/1?version=2&x=9", "Accept", "application/json"), base},
		{"unlisted header", req("/orders/1?version=2", "Accept", "application/json", "X-Other", "1"), base},
		{"header name case", req("/orders/1?version=2", "Accept", "application/json"),
			CacheKeyOptions{API: "orders", Operation: "get-order", Product: "starter", VaryByHeaders: []string{"accept"}, VaryByQuery: []string{"version"}}},
	}
	for _, c := range same {
		if got := ResponseCacheKey(c.r, c.o); got != ref {
			t.Errorf("%s: key changed", c.name)
		}
	}
	differ := []struct {
		name string
		r    *http.Request
		o    CacheKeyOptions
	}{
		{"path", req("/orders/2?version=2", "Accept", "application/json"), base},
		{"vary-by query value", req("/orders/1?version=3", "Accept", "application/json"), base},
		{"vary-by header value", req("/orders/1?version=2", "Accept", "text/xml"), base},
		{"product", req("/orders/1?version=2", "Accept", "application/json"),
			CacheKeyOptions{API: "orders", Operation: "get-order", Product: "gold", VaryByHeaders: []string{"Accept"}, VaryByQuery: []string{"version"}}},
		{"developer", req("/orders/1?version=2", "Accept", "application/json"),
			CacheKeyOptions{API: "orders", Operation: "get-order", Product: "starter", Developer: "alice", VaryByHeaders: []string{"Accept"}, VaryByQuery: []string{"version"}}},
	}
	for _, c := range differ {
		if got := ResponseCacheKey(c.r, c.o); got == ref {
			t.Errorf("%s: key did not change", c.name)
		}
	}
	g1 := ResponseCacheKey(req("/x"), CacheKeyOptions{API: "a", Groups: []string{"g1", "g2"}})
	g2 := ResponseCacheKey(req("/x"), CacheKeyOptions{API: "a", Groups: []string{"g2", "g1"}})
	if g1 != g2 {
		t.Error("group order changed the key")
	}
	secret := ResponseCacheKey(req("/x", "Authorization", "Bearer secret-token"), CacheKeyOptions{API: "a", VaryByHeaders: []string{"Authorization"}})
	if strings.Contains(secret, "secret") {
		t.Errorf("header value leaked into the key %q", secret)
	}
	if ValueCacheKey("r:a:b:c") == "r:a:b:c" {
		t.Error("value keys share the response namespace")
	}
}

func TestCacheability(t *testing.T) {
	type tc struct {
		name    string
		method  string
		reqHdr  http.Header
		status  int
		respHdr http.Header
		rules   CacheRules
		lookup  bool // RequestCacheable
		store   bool // ResponseStorable
	}
	cases := []tc{
		{name: "plain GET 200", method: "GET", status: 200, lookup: true, store: true},
		{name: "POST", method: "POST", status: 200},
		{name: "HEAD", method: "HEAD", status: 200},
		{name: "GET 404", method: "GET", status: 404, lookup: true},
		{name: "GET 404 with cache-response", method: "GET", status: 404, rules: CacheRules{CacheResponse: true}, lookup: true, store: true},
		{name: "Authorization", method: "GET", reqHdr: http.Header{"Authorization": {"Bearer x"}}, status: 200},
		{name: "Authorization allowed", method: "GET", reqHdr: http.Header{"Authorization": {"Bearer x"}}, status: 200,
			rules: CacheRules{AllowPrivateResponseCaching: true}, lookup: true, store: true},
		{name: "request no-store", method: "GET", reqHdr: http.Header{"Cache-Control": {"no-store"}}, status: 200},
		{name: "response no-store", method: "GET", status: 200, respHdr: http.Header{"Cache-Control": {"max-age=60, No-Store"}}, lookup: true},
		{name: "response private", method: "GET", status: 200, respHdr: http.Header{"Cache-Control": {"private, max-age=60"}}, lookup: true},
		{name: "response private allowed", method: "GET", status: 200, respHdr: http.Header{"Cache-Control": {"private=\"x\""}},
			rules: CacheRules{AllowPrivateResponseCaching: true}, lookup: true, store: true},
		{name: "Set-Cookie", method: "GET", status: 200, respHdr: http.Header{"Set-Cookie": {"a=b"}}, lookup: true},
		{name: "Vary *", method: "GET", status: 200, respHdr: http.Header{"Vary": {"Accept, *"}}, lookup: true},
		{name: "public max-age", method: "GET", status: 200, respHdr: http.Header{"Cache-Control": {"public, max-age=60"}}, lookup: true, store: true},
	}
	for _, c := range cases {
		r := httptest.NewRequest(c.method, "/x", nil)
		for k, v := range c.reqHdr {
			r.Header[k] = v
		}
		if c.respHdr == nil {
			c.respHdr = http.Header{}
		}
		if got := RequestCacheable(r, c.rules); got != c.lookup {
			t.Errorf("%s: RequestCacheable %v, want %v", c.name, got, c.lookup)
		}
		if got := ResponseStorable(r, c.status, c.respHdr, c.rules); got != c.store {
			t.Errorf("%s: ResponseStorable %v, want %v", c.name, got, c.store)
		}
	}
}
