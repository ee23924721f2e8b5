package gateway

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// TestFollowRedirects: forward-request follow-redirects="true" follows the
// backend's redirects within one call, as APIM's .NET client does (303
// and POST after 301/302 become GET; 307 keeps method and buffered body;
// no credentials to another host; at most 10 hops); without it the client
// gets the redirect.
func TestFollowRedirects(t *testing.T) {
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "other auth="+r.Header.Get("Authorization"))
	}))
	defer other.Close()
	var loops atomic.Int64
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/old":
			http.Redirect(w, r, "/new?x=1", http.StatusFound)
		case "/new":
			io.WriteString(w, "new "+r.Method+" "+r.URL.RawQuery+" auth="+r.Header.Get("Authorization"))
		case "/post303":
			http.Redirect(w, r, "/new", http.StatusSeeOther)
		case "/post307":
			http.Redirect(w, r, "/echo", http.StatusTemporaryRedirect)
		case "/echo":
			b, _ := io.ReadAll(r.Body)
			io.WriteString(w, r.Method+" "+string(b))
		case "/cross":
			http.Redirect(w, r, other.URL+"/x", http.StatusFound)
		case "/loop":
			loops.Add(1)
			http.Redirect(w, r, "/loop", http.StatusFound)
		}
	}))
	defer be.Close()
	follow := `<policies><inbound><base/></inbound><backend><forward-request follow-redirects="true" buffer-request-body="true" /></backend><outbound><base/></outbound><on-error><base/></on-error></policies>`
	h := start(t, map[string]string{
		"gateway.yaml": `
apis:
  - id: f
    path: f
    serviceUrl: ` + be.URL + `
    subscriptionRequired: false
    policy: follow.xml
    operations: [{id: all, method: "*", urlTemplate: "/*"}]
  - id: n
    path: n
    serviceUrl: ` + be.URL + `
    subscriptionRequired: false
    operations: [{id: all, method: "*", urlTemplate: "/*"}]
`,
		"follow.xml": follow,
	})
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(method, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, h.srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer t")
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, tc := range []struct {
		method, path, body string
		code               int
		want               string
	}{
		{"GET", "/f/old", "", 200, "new GET x=1 auth=Bearer t"},
		{"POST", "/f/old", "data", 200, "new GET x=1 auth=Bearer t"},
		{"POST", "/f/post303", "data", 200, "new GET  auth=Bearer t"},
		{"POST", "/f/post307", "data", 200, "POST data"},
		{"GET", "/f/cross", "", 200, "other auth="},
		{"GET", "/n/old", "", 302, ""},
	} {
		code, body := do(tc.method, tc.path, tc.body)
		if code != tc.code || (tc.want != "" && body != tc.want) {
			t.Errorf("%s %s: %d %q, want %d %q", tc.method, tc.path, code, body, tc.code, tc.want)
		}
	}
	if code, _ := do("GET", "/f/loop", ""); code != http.StatusFound || loops.Load() != 11 {
		t.Errorf("redirect loop: %d after %d requests, want the 11th answer, a 302", code, loops.Load())
	}
}
