package gateway

// The hostile-client suite, gateway side: requests and backends that
// behave as an attacker (or a broken peer) would, over raw sockets on
// loopback, checked by status, by what the backend saw and by log fields.

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apimgw/apimgw/internal/config"
	"github.com/apimgw/apimgw/internal/logs"
	"github.com/apimgw/apimgw/internal/testnet"
)

// rawExchange sends req (raw bytes) to addr on a new connection and reads
// one response. The response body is read whole.
func rawExchange(t *testing.T, addr, req string) (*http.Response, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("%q: %v", req, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// hostileServers serves h's gateway on apimgw's own server and on
// net/http's, and returns their addresses (host:port) by name.
func hostileServers(h *harness) map[string]string {
	out := map[string]string{}
	for name, base := range h.servers() {
		out[name] = strings.TrimPrefix(base, "http://")
	}
	return out
}

// TestPathTraversalStaysInBase: dot-segments, encoded or not, resolve
// before routing; one that would climb above the root is a 400 that
// reaches no backend; a backslash-hidden one too; a fragment is cut off.
// The path forwarded always lies under the serviceUrl's base.
func TestPathTraversalStaysInBase(t *testing.T) {
	be, seenBy := echoBackend(t)
	h := start(t, map[string]string{
		"gateway.yaml": `
apis:
  - id: a
    path: a
    serviceUrl: ` + be.URL + `/base
    subscriptionRequired: false
    operations:
      - {id: rw, method: GET, urlTemplate: "/rw", policy: rw.xml}
      - {id: all, method: GET, urlTemplate: "/*"}
`,
		"rw.xml": inbound(`<rewrite-uri template="@(&quot;/../../&quot; + context.Request.Url.Query.GetValueOrDefault(&quot;p&quot;, &quot;&quot;))" />`),
	})
	cases := []struct {
		target string
		status int
		path   string // the backend's path, "" when it must not be called
		query  string
	}{
		{"/a/..%2f..%2fadmin", 400, "", ""},
		{"/a/..%2F..%2Fadmin", 400, "", ""},
		{"/a/%2e%2e/%2e%2e/admin", 400, "", ""},
		{"/a/%2E%2E/%2E%2E/admin", 400, "", ""},
		{"/a/../../admin", 400, "", ""},
		{"/a/x/..%2f..%2f..%2fadmin", 400, "", ""},
		{"/a/..%5c..%5cadmin", 400, "", ""},
		{"/a/x/.%5cadmin", 400, "", ""},
		{"/a/..", 404, "", ""}, // resolves to "/", which is no API
		{"/a/x/../y", 200, "/base/y", ""},
		{"/a/x/%2e%2e/y", 200, "/base/y", ""},
		{"/a/x/./y/.", 200, "/base/x/y/", ""},
		{"/a/b/..%2fc", 200, "/base/c", ""},
		{"/a/x#frag", 200, "/base/x", ""},
		{"/a/x?q=1#frag", 200, "/base/x", "q=1"},
		{"/a/x%23y", 200, "/base/x#y", ""}, // an encoded '#' is data
		{"/a/rw?p=admin", 200, "/base/admin", "p=admin"},
	}
	for name, addr := range hostileServers(h) {
		for _, c := range cases {
			before := len(seenBy())
			resp, body := rawExchange(t, addr, "GET "+c.target+" HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n")
			if resp.StatusCode != c.status {
				t.Errorf("%s: GET %s: status %d, want %d (%s)", name, c.target, resp.StatusCode, c.status, body)
				continue
			}
			got := seenBy()[before:]
			if c.path == "" {
				if len(got) != 0 {
					t.Errorf("%s: GET %s reached the backend as %q", name, c.target, got[0].Path)
				}
				if c.status == 400 {
					wantAPIMError(t, resp, body, 400, msgBadPath)
				}
				continue
			}
			if len(got) != 1 || got[0].Path != c.path || got[0].Query != c.query {
				t.Errorf("%s: GET %s: backend saw %+v, want path %q query %q", name, c.target, got, c.path, c.query)
			}
		}
	}
	for _, r := range h.records() {
		if r.ResponseCode == 400 && (r.ApiId != "" || r.BackendUrl != "" || r.IsRequestSuccess) {
			t.Errorf("log of a refused path: %+v", r)
		}
	}
}

// TestClientFaultsNeverTripBreaker: request bodies that break on the
// client's side — a malformed chunk size, an upload abandoned half-way —
// are answered 400 (or logged 499, the client being gone) as
// ClientConnectionFailure, and no circuit breaker counts them: after more
// of them than the breaker's threshold, a normal request still reaches the
// backend.
func TestClientFaultsNeverTripBreaker(t *testing.T) {
	be, calls, _ := countingBackend(t, "b", func(int) int { return 200 })
	h := start(t, map[string]string{
		"gateway.yaml": `
backends:
  b:
    url: ` + be.URL + `
    circuitBreaker:
      rules:
        - name: two-failures
          failureCondition: {count: 2, interval: 1m, statusCodeRanges: [{min: 500, max: 599}], errorReasons: [BackendConnectionFailure, Timeout, ClientConnectionFailure]}
          tripDuration: 1m
apis:
  - id: a
    path: a
    backendId: b
    subscriptionRequired: false
    operations:
      - {id: up, method: POST, urlTemplate: "/*"}
      - {id: retried, method: PUT, urlTemplate: "/*", policy: retry.xml}
`,
		"retry.xml": `<policies><inbound><base/></inbound><backend><retry condition="@(true)" count="3" interval="0"><forward-request/></retry></backend><outbound><base/></outbound><on-error><base/></on-error></policies>`,
	})
	const n = 4 // twice the breaker's count
	for name, addr := range hostileServers(h) {
		for i := 0; i < n; i++ {
			for _, method := range []string{"POST", "PUT"} {
				// A chunk size that is not hex, after a first good chunk.
				resp, body := rawExchange(t, addr, method+" /a/x HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\nxx\r\n0\r\n\r\n")
				if resp.StatusCode != 400 {
					t.Errorf("%s: %s bad chunk size: status %d (%s)", name, method, resp.StatusCode, body)
				}
				// Content-Length promises more than the client sends.
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				io.WriteString(c, method+" /a/x HTTP/1.1\r\nHost: gw\r\nContent-Length: 100000\r\n\r\n"+strings.Repeat("x", 40000))
				time.Sleep(20 * time.Millisecond)
				c.Close()
			}
		}
		if resp, body := rawExchange(t, addr, "POST /a/x HTTP/1.1\r\nHost: gw\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"); resp.StatusCode != 200 {
			t.Fatalf("%s: a normal request after client faults: %d %s (the breaker opened)", name, resp.StatusCode, body)
		}
	}
	recs := h.records()
	faults := map[int]int{}
	for _, r := range recs {
		switch {
		case r.ResponseCode == 200:
		case r.ResponseCode == 400 || r.ResponseCode == 499:
			faults[r.ResponseCode]++
			if r.LastErrorReason != "ClientConnectionFailure" {
				t.Errorf("client fault logged as %q: %+v", r.LastErrorReason, r)
			}
		default:
			t.Errorf("unexpected log line: %+v", r)
		}
	}
	if faults[400] != 2*2*n || faults[499] != 2*2*n {
		t.Errorf("client faults logged: %v, want %d each of 400 and 499", faults, 2*2*n)
	}
	if got := calls.Load(); got < 2 {
		t.Errorf("backend saw %d complete requests", got)
	}
}

// brokenBackend answers every request with head and then body, and closes
// the connection without finishing it.
func brokenBackend(t *testing.T, head, body string) string {
	return testnet.RawServer(t, 10*time.Second, func(c net.Conn) {
		br := bufio.NewReader(c)
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		io.WriteString(c, head+body)
		time.Sleep(50 * time.Millisecond)
	})
}

// TestTruncatedBackendBodyAbortsClient: a backend body that breaks —
// closed mid-chunk, a bad chunk size, short of its Content-Length — never
// reaches the client as complete: the client's connection (or HTTP/2
// stream) is cut without the terminating chunk, and the log says
// BackendConnectionFailure with the bytes that were sent.
func TestTruncatedBackendBodyAbortsClient(t *testing.T) {
	big := strings.Repeat("b", 40<<10) // past the servers' write buffers
	backends := []struct{ name, head, body string }{
		{"closed mid-chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "a000\r\n" + big + "\r\n5\r\nhel"},
		{"bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "a000\r\n" + big + "\r\nzz\r\nhello\r\n0\r\n\r\n"},
		{"short of Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 50000\r\n\r\n", big},
		{"small, closed mid-chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "5\r\nhello\r\n5\r\nhe"},
	}
	yaml := "apis:\n"
	for i, b := range backends {
		yaml += fmt.Sprintf("  - {id: b%d, path: b%d, serviceUrl: \"http://%s\", subscriptionRequired: false, operations: [{id: get, method: GET, urlTemplate: \"/*\"}]}\n",
			i, i, brokenBackend(t, b.head, b.body))
	}
	h := start(t, map[string]string{"gateway.yaml": yaml})
	dir := t.TempDir()
	pool := writeCert(t, dir)
	secure := serveConfig(t, dir, "listen: 127.0.0.1:0\nadmin: 127.0.0.1:0\ntls: {cert: cert.pem, key: key.pem}\nlogs: {path: "+filepath.Join(dir, "tls.log")+"}\n"+yaml)
	h2 := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
	defer h2.CloseIdleConnections()

	for name, addr := range hostileServers(h) {
		for i, b := range backends {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			c.SetDeadline(time.Now().Add(10 * time.Second))
			fmt.Fprintf(c, "GET /b%d/x HTTP/1.1\r\nHost: gw\r\n\r\n", i)
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err == nil {
				var got []byte
				got, err = io.ReadAll(resp.Body)
				if err == nil {
					t.Errorf("%s, backend %s: the client got a complete %d-byte body (%v)", name, b.name, len(got), resp.TransferEncoding)
				}
			}
			c.Close()
		}
	}
	for i, b := range backends {
		resp, err := h2.Get(fmt.Sprintf("https://%s/b%d/x", strings.Replace(secure, "127.0.0.1", "localhost", 1), i))
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil {
				t.Errorf("HTTP/2 (TLS listener), backend %s: the client got a complete body", b.name)
			} else if resp.ProtoMajor != 2 {
				t.Errorf("HTTP/2 listener answered %s", resp.Proto)
			}
		}
	}
	recs := h.records()
	if len(recs) != 2*len(backends) {
		t.Fatalf("%d log lines, want %d", len(recs), 2*len(backends))
	}
	for _, r := range recs {
		if r.LastErrorReason != "BackendConnectionFailure" || r.IsRequestSuccess || r.BackendResponseCode != 200 {
			t.Errorf("log of a truncated body: %+v", r)
		}
		if strings.HasPrefix(r.Url, "http://gw/b3/") && r.ResponseSize != 7 && r.ResponseSize != 0 {
			t.Errorf("ResponseSize %d for the 7 body bytes sent", r.ResponseSize)
		}
		if !strings.HasPrefix(r.Url, "http://gw/b3/") && r.ResponseSize < int64(len(big))/2 {
			t.Errorf("ResponseSize %d, want the bytes sent (about %d): %+v", r.ResponseSize, len(big), r)
		}
	}
}

// startLogged is start with the gateway's slog output (trace, warnings)
// kept in slogOut.
func startLogged(t *testing.T, files map[string]string) (h *harness, slogOut *syncBuffer) {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := config.Load(filepath.Join(dir, "gateway.yaml"))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	h = &harness{t: t, logs: &syncBuffer{}, dir: dir}
	slogOut = &syncBuffer{}
	h.lw = logs.NewWriter(h.logs, nil, 1)
	g, err := New(cfg, Options{Logs: h.lw, Log: slog.New(slog.NewJSONHandler(slogOut, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatalf("gateway: %v", err)
	}
	h.gw = g
	h.srv = httptest.NewServer(g)
	t.Cleanup(func() {
		h.srv.Close()
		g.Close()
	})
	return h, slogOut
}

// TestKeysNeverReachTheLog: subscription keys (any casing, the names APIs
// give them, on paths that match no API, with invalid keys, refused
// paths), backend query credentials and user information in backend URLs
// appear in no request log field, and not in trace output or the
// gateway's warnings either.
func TestKeysNeverReachTheLog(t *testing.T) {
	be, _ := echoBackend(t)
	beURL := strings.TrimPrefix(be.URL, "http://")
	h, slogOut := startLogged(t, map[string]string{
		"gateway.yaml": `
products:
  p: {subscriptionRequired: true}
subscriptions:
  - {id: s1, name: S1, primaryKey: SECRET-valid-key, product: p, state: active}
backends:
  cred:
    url: http://user:SECRET-password@` + beURL + `
    credentials: {query: {code: SECRET-function-key}}
apis:
  - id: open
    path: open
    serviceUrl: ` + be.URL + `
    subscriptionRequired: false
    policy: trace.xml
    operations: [{id: all, method: GET, urlTemplate: "/*"}]
  - id: keyed
    path: keyed
    serviceUrl: ` + be.URL + `
    products: [p]
    subscriptionKeyParameterNames: {header: X-Api-Key, query: apikey}
    operations: [{id: all, method: GET, urlTemplate: "/*"}]
  - id: std
    path: std
    serviceUrl: ` + be.URL + `
    products: [p]
    operations: [{id: all, method: GET, urlTemplate: "/*"}]
  - id: cred
    path: cred
    backendId: cred
    subscriptionRequired: false
    operations: [{id: all, method: GET, urlTemplate: "/*"}]
  - id: dead
    path: dead
    serviceUrl: http://` + deadAddr(t) + `/base
    subscriptionRequired: false
    policy: oneway.xml
    operations: [{id: all, method: GET, urlTemplate: "/*"}]
`,
		"trace.xml":  `<policies><inbound><base/><trace source="t" severity="information"><message>@(context.Request.OriginalUrl.ToString())</message><metadata name="h" value="@(context.Request.OriginalUrl.Query.GetValueOrDefault(&quot;subscription-key&quot;, &quot;&quot;))"/></trace></inbound><backend><base/></backend><outbound><base/></outbound><on-error><base/></on-error></policies>`,
		"oneway.xml": `<policies><inbound><base/><send-one-way-request mode="new" timeout="2"><set-url>@("http://` + deadAddr(t) + `/hook?subscription-key=SECRET-oneway&amp;x=1")</set-url><set-method>GET</set-method></send-one-way-request></inbound><backend><base/></backend><outbound><base/></outbound><on-error><base/></on-error></policies>`,
	})
	targets := []string{
		"/nowhere?subscription-key=SECRET-a",
		"/nowhere?Subscription-Key=SECRET-b&x=1",
		"/nowhere?x=1&SUBSCRIPTION-KEY=SECRET-c",
		"/nowhere?subscription%2Dkey=SECRET-d",
		"/nowhere?apikey=SECRET-e",
		"/nowhere?ApiKey=SECRET-f",
		"/keyed/x?apikey=SECRET-valid-key",
		"/keyed/x?apikey=SECRET-g",
		"/keyed/x?APIKEY=SECRET-h",
		"/std/x?subscription-key=SECRET-valid-key",
		"/std/x?subscription-key=SECRET-i",
		"/std/x?Subscription-Key=SECRET-j&subscription-key=SECRET-valid-key",
		"/open/x?subscription-key=SECRET-k",
		"/open/..%2f..%2fx?subscription-key=SECRET-l",
		"/cred/x?y=1",
		"/dead/x?subscription-key=SECRET-m",
	}
	for _, target := range targets {
		resp, body := rawExchange(t, strings.TrimPrefix(h.srv.URL, "http://"), "GET "+target+" HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n")
		if resp.StatusCode == 0 {
			t.Fatalf("%s: %s", target, body)
		}
	}
	recs := h.records()
	if len(recs) != len(targets) {
		t.Fatalf("%d log lines for %d requests", len(recs), len(targets))
	}
	for _, r := range recs {
		if !strings.HasPrefix(r.Url, "http://gw/") {
			t.Errorf("Url %q", r.Url)
		}
	}
	// The one-way call to a dead address fails in the background.
	waitUntil(t, func() bool { return strings.Contains(slogOut.String(), "send-one-way-request failed") })
	for name, out := range map[string]string{"request log": h.logs.String(), "slog": slogOut.String()} {
		if strings.Contains(out, "SECRET") {
			for _, line := range strings.Split(out, "\n") {
				if strings.Contains(line, "SECRET") {
					t.Errorf("%s carries a secret: %s", name, line)
				}
			}
		}
	}
	if !strings.Contains(slogOut.String(), `"source":"t"`) {
		t.Errorf("no trace output: %s", slogOut.String())
	}
	if !strings.Contains(h.logs.String(), `"BackendUrl":"http://`+beURL+`/x?y=1"`) {
		t.Errorf("the credentials backend's URL is not logged without its secrets: %s", h.logs.String())
	}
}

// TestAdminPortChecks: POST /reload and /debug/pprof refuse a foreign
// Host (DNS rebinding) and cross-origin requests, reload asks for the
// bearer token when one is configured, pprof is served only when asked
// for, and /healthz, /readyz and /metrics keep answering probes and
// scrapers that address the pod by IP or by a service name. The string
// form "admin: host:port" still loads.
func TestAdminPortChecks(t *testing.T) {
	t.Setenv("APIMGW_TEST_RELOAD_TOKEN", "s3cret-token")
	h := start(t, map[string]string{"gateway.yaml": `
admin:
  listen: 127.0.0.1:0
  allowedHosts: [apimgw-admin.internal]
  reloadTokenEnv: APIMGW_TEST_RELOAD_TOKEN
apis: []
`})
	admin := httptest.NewServer(h.gw.AdminHandler(filepath.Join(h.dir, "gateway.yaml")))
	defer admin.Close()
	port := admin.URL[strings.LastIndexByte(admin.URL, ':')+1:]
	do := func(method, path, host string, hdr map[string]string) int {
		t.Helper()
		req, _ := http.NewRequest(method, admin.URL+path, nil)
		req.Host = host
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	bearer := map[string]string{"Authorization": "Bearer s3cret-token"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{"Authorization": "Bearer s3cret-token"}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	cases := []struct {
		method, path, host string
		hdr                map[string]string
		want               int
	}{
		// Probes and scrapers: pod IP, service name, anything.
		{"GET", "/healthz", "10.244.1.7:" + port, nil, 200},
		{"GET", "/readyz", "10.244.1.7:" + port, nil, 200},
		{"GET", "/metrics", "10.244.1.7:" + port, nil, 200},
		{"GET", "/metrics", "apimgw.monitoring.svc:" + port, nil, 200},
		{"GET", "/healthz", "[fd00::7]:" + port, nil, 200},
		// Reload: the token, then the Host and origin checks.
		{"POST", "/reload", "127.0.0.1:" + port, nil, 401},
		{"POST", "/reload", "127.0.0.1:" + port, map[string]string{"Authorization": "Bearer wrong"}, 401},
		{"POST", "/reload", "127.0.0.1:" + port, bearer, 200},
		{"POST", "/reload", "localhost:19090", bearer, 200},
		{"POST", "/reload", "[::1]:" + port, bearer, 200},
		{"POST", "/reload", "10.244.1.7:" + port, bearer, 200},
		{"POST", "/reload", "apimgw-admin.internal:" + port, bearer, 200},
		{"POST", "/reload", "evil.example:" + port, bearer, 403},
		{"POST", "/reload", "evil.example", bearer, 403},
		{"POST", "/reload", "127.0.0.1.evil.example:" + port, bearer, 403},
		{"POST", "/reload", "127.0.0.1:" + port, with("Origin", "http://evil.example"), 403},
		{"POST", "/reload", "127.0.0.1:" + port, with("Origin", "null"), 403},
		{"POST", "/reload", "127.0.0.1:" + port, with("Sec-Fetch-Site", "cross-site"), 403},
		{"POST", "/reload", "127.0.0.1:" + port, with("Sec-Fetch-Site", "same-site"), 403},
		{"POST", "/reload", "127.0.0.1:" + port, with("Origin", "http://127.0.0.1:"+port, "Sec-Fetch-Site", "same-origin"), 200},
		// pprof is off unless configured.
		{"GET", "/debug/pprof/", "127.0.0.1:" + port, nil, 404},
		{"GET", "/debug/pprof/heap", "127.0.0.1:" + port, nil, 404},
	}
	for _, c := range cases {
		if got := do(c.method, c.path, c.host, c.hdr); got != c.want {
			t.Errorf("%s %s Host %s %v: %d, want %d", c.method, c.path, c.host, c.hdr, got, c.want)
		}
	}

	// pprof on, by a reload (the token stays asked for).
	os.WriteFile(filepath.Join(h.dir, "gateway.yaml"), []byte("admin: {listen: 127.0.0.1:0, pprof: true, reloadTokenEnv: APIMGW_TEST_RELOAD_TOKEN}\napis: []\n"), 0o644)
	if got := do("POST", "/reload", "127.0.0.1:"+port, bearer); got != 200 {
		t.Fatalf("reload: %d", got)
	}
	for _, c := range []struct {
		host string
		hdr  map[string]string
		want int
	}{
		{"127.0.0.1:" + port, nil, 200},
		{"localhost:" + port, nil, 200},
		{"evil.example:" + port, nil, 403},
		{"apimgw-admin.internal:" + port, nil, 403}, // no longer allowed
		{"127.0.0.1:" + port, map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"127.0.0.1:" + port, map[string]string{"Origin": "http://evil.example"}, 403},
	} {
		if got := do("GET", "/debug/pprof/", c.host, c.hdr); got != c.want {
			t.Errorf("GET /debug/pprof/ Host %s %v: %d, want %d", c.host, c.hdr, got, c.want)
		}
	}

	// The string form, and a token variable that is not set.
	for yaml, wantErr := range map[string]string{
		"admin: 127.0.0.1:9191\n":                                                                     "",
		"admin: {listen: 127.0.0.1:9191, pprof: true}\n":                                              "",
		"admin: {reloadTokenEnv: APIMGW_TEST_NO_SUCH_VARIABLE}\n":                                     "APIMGW_TEST_NO_SUCH_VARIABLE is not set",
		"admin: {allowedHosts: [\"http://x\"]}\n":                                                     "not a host name",
		"admin: {listen: 127.0.0.1:9191, reloadToken: a, reloadTokenEnv: APIMGW_TEST_RELOAD_TOKEN}\n": "not both",
	} {
		cfg, err := config.Parse(filepath.Join(h.dir, "x.yaml"), []byte(yaml))
		switch {
		case wantErr == "" && err != nil:
			t.Errorf("%q: %v", yaml, err)
		case wantErr == "" && cfg.Admin != "127.0.0.1:9191":
			t.Errorf("%q: admin %q", yaml, cfg.Admin)
		case wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr)):
			t.Errorf("%q: error %v, want %q", yaml, err, wantErr)
		}
	}
}

// TestBackendHeaderHygiene: trailer fields a backend must not send
// (framing, routing, authentication, ...: RFC 9110 §6.5.1) do not reach
// the client while the others do; an HTTP/1.0 response carrying
// Transfer-Encoding (here with Content-Length) has faulty framing, and its
// connection is closed, never pooled (RFC 9112 §6.1).
func TestBackendHeaderHygiene(t *testing.T) {
	trailers := testnet.RawServer(t, 10*time.Second, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			if _, err := http.ReadRequest(br); err != nil {
				return
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum, Content-Length\r\n\r\n"+
				"5\r\nhello\r\n0\r\nX-Checksum: abc\r\nContent-Length: 999\r\nHost: evil.example\r\nTransfer-Encoding: gzip\r\n"+
				"Set-Cookie: session=stolen\r\nAuthorization: Bearer x\r\nContent-Type: text/evil\r\n\r\n")
		}
	})
	var conns atomic.Int64
	http10 := testnet.RawServer(t, 10*time.Second, func(c net.Conn) {
		conns.Add(1)
		br := bufio.NewReader(c)
		for {
			if _, err := http.ReadRequest(br); err != nil {
				return
			}
			io.WriteString(c, "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\nhello")
		}
	})
	h := start(t, map[string]string{"gateway.yaml": `
apis:
  - {id: t, path: t, serviceUrl: "http://` + trailers + `", subscriptionRequired: false, operations: [{id: get, method: GET, urlTemplate: "/*"}]}
  - {id: o, path: o, serviceUrl: "http://` + http10 + `", subscriptionRequired: false, operations: [{id: get, method: GET, urlTemplate: "/*"}]}
`})
	for name, base := range h.servers() {
		resp, err := http.Get(base + "/t/x")
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || string(b) != "hello" {
			t.Fatalf("%s: body %q %v", name, b, err)
		}
		if resp.Trailer.Get("X-Checksum") != "abc" {
			t.Errorf("%s: the allowed trailer field is missing: %v", name, resp.Trailer)
		}
		for _, k := range []string{"Content-Length", "Host", "Transfer-Encoding", "Set-Cookie", "Authorization", "Content-Type"} {
			if v := resp.Trailer.Values(k); len(v) > 0 {
				t.Errorf("%s: forbidden trailer %s: %q reached the client", name, k, v)
			}
		}
		if ct := resp.Header.Get("Content-Type"); ct == "text/evil" {
			t.Errorf("%s: a trailer became a header field", name)
		}
	}
	for i := 0; i < 3; i++ {
		if resp, body := h.do("GET", "/o/x", nil, nil); resp.StatusCode != 200 || body != "hello" {
			t.Fatalf("HTTP/1.0 backend: %d %q", resp.StatusCode, body)
		}
	}
	if n := conns.Load(); n != 3 {
		t.Errorf("the HTTP/1.0 backend saw %d connections for 3 requests: a connection with faulty framing was pooled", n)
	}
}

// TestBufferedBodyLimit: a request body a policy buffers (an expression's
// Body.As<string>(), set-body, validate-content) beyond limits.bufferedBody
// is answered 413 with APIM's error body, whatever its framing; an API or
// an operation may raise or lower the limit; a body that is only streamed
// is not bounded by it, but by requestBody when that is set, before a byte
// is read when Content-Length says so.
func TestBufferedBodyLimit(t *testing.T) {
	be, seenBy := echoBackend(t)
	const reads = `<policies><inbound><base/><set-variable name="b" value="@(context.Request.Body.As&lt;string&gt;(preserveContent: true))" /></inbound><backend><base/></backend><outbound><base/></outbound><on-error><base/></on-error></policies>`
	h := start(t, map[string]string{
		"gateway.yaml": `
limits: {bufferedBody: 1KiB}
apis:
  - id: a
    path: a
    serviceUrl: ` + be.URL + `
    subscriptionRequired: false
    operations:
      - {id: expr, method: POST, urlTemplate: /expr, policy: reads.xml}
      - {id: setbody, method: POST, urlTemplate: /setbody, policy: setbody.xml}
      - {id: validate, method: POST, urlTemplate: /validate, policy: validate.xml}
      - {id: stream, method: POST, urlTemplate: /stream}
      - {id: big, method: POST, urlTemplate: /big, policy: reads.xml, limits: {bufferedBody: 8KiB}}
  - id: b
    path: b
    serviceUrl: ` + be.URL + `
    subscriptionRequired: false
    limits: {bufferedBody: 4096, requestBody: 3KiB}
    policy: reads.xml
    operations:
      - {id: all, method: POST, urlTemplate: /*}
  - id: s
    path: s
    serviceUrl: ` + be.URL + `
    subscriptionRequired: false
    limits: {requestBody: 1KiB}
    operations:
      - {id: all, method: POST, urlTemplate: /*}
`,
		"reads.xml":    reads,
		"setbody.xml":  `<policies><inbound><base/><set-body>@(context.Request.Body.As&lt;string&gt;() + "!")</set-body></inbound><backend><base/></backend><outbound><base/></outbound><on-error><base/></on-error></policies>`,
		"validate.xml": `<policies><inbound><base/><validate-content unspecified-content-type-action="ignore" max-size="102400" size-exceeded-action="prevent" errors-variable-name="e" /></inbound><backend><base/></backend><outbound><base/></outbound><on-error><base/></on-error></policies>`,
	})
	addr := strings.TrimPrefix(h.srv.URL, "http://")
	post := func(path string, size int, chunked bool) (*http.Response, string) {
		body := strings.Repeat("x", size)
		if chunked {
			return rawExchange(t, addr, fmt.Sprintf("POST %s HTTP/1.1\r\nHost: gw\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n", path, size, body))
		}
		return rawExchange(t, addr, fmt.Sprintf("POST %s HTTP/1.1\r\nHost: gw\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s", path, size, body))
	}
	cases := []struct {
		path   string
		size   int
		status int
	}{
		{"/a/expr", 1024, 200},
		{"/a/expr", 1025, 413},
		{"/a/expr", 64 << 10, 413},
		{"/a/setbody", 512, 200},
		{"/a/setbody", 2048, 413},
		{"/a/validate", 512, 200},
		{"/a/validate", 2048, 413},
		{"/a/stream", 64 << 10, 200}, // streamed: not bounded by bufferedBody
		{"/a/big", 6 << 10, 200},     // the operation's own limit
		{"/a/big", 9 << 10, 413},
		{"/b/x", 2048, 200}, // the API's limit
		{"/b/x", 3073, 413}, // the API's requestBody
		{"/s/x", 1024, 200},
		{"/s/x", 1025, 413},
		{"/s/x", 64 << 10, 413},
	}
	for _, c := range cases {
		for _, chunked := range []bool{false, true} {
			before := len(seenBy())
			resp, body := post(c.path, c.size, chunked)
			if resp.StatusCode != c.status {
				t.Errorf("POST %s %d bytes (chunked %v): %d, want %d: %s", c.path, c.size, chunked, resp.StatusCode, c.status, body)
				continue
			}
			if c.status == 413 {
				wantAPIMError(t, resp, body, 413, msgTooLarge)
				if c.path == "/s/x" && !chunked && len(seenBy()) != before {
					t.Errorf("POST %s with Content-Length %d reached the backend", c.path, c.size)
				}
			}
		}
	}
	for _, r := range h.records() {
		if r.ResponseCode == 413 && (r.LastErrorReason != "RequestEntityTooLarge" || r.BackendResponseCode != 0 && r.BackendResponseCode != 413) {
			t.Errorf("log of a 413: %+v", r)
		}
	}
}

// uploadTenTimes posts an 8 MB body to path 10 times on each of h's
// servers (apimgw's and net/http's), with a client that keeps connections
// alive, and gives each answer, read whole, to check. Every answer must
// say Connection: close: the server has not read the upload to its end,
// and a client that took the connection for its next request would lose
// that one.
func uploadTenTimes(t *testing.T, h *harness, path string, check func(name string, i int, resp *http.Response, body string)) {
	t.Helper()
	upload := bytes.Repeat([]byte("x"), 8<<20)
	for name, base := range h.servers() {
		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
		for i := range 10 {
			resp, err := client.Post(base+path, "application/octet-stream", bytes.NewReader(upload))
			if err != nil {
				t.Fatalf("%s, upload %d: %v", name, i, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			check(name, i, resp, string(body))
			if !resp.Close {
				t.Fatalf("%s, upload %d: no Connection: close with the upload unread", name, i)
			}
		}
		client.CloseIdleConnections()
	}
}

// TestRejectedUploadGetsTheAPIMAnswer: an 8 MB upload without the
// subscription key its API requires gets APIM's 401 every time, before the
// gateway reads the body, on apimgw's server as on net/http's (the
// reference). A server that closes with the upload unread makes the
// kernel reset the connection, and the client can lose the answer with it:
// apimgw's server lingers, reading and dropping the rest.
func TestRejectedUploadGetsTheAPIMAnswer(t *testing.T) {
	be, seenBy := echoBackend(t)
	h := start(t, map[string]string{"gateway.yaml": `
apis:
  - id: a
    path: a
    serviceUrl: ` + be.URL + `
    operations:
      - {id: up, method: POST, urlTemplate: /up}
`})
	uploadTenTimes(t, h, "/a/up", func(_ string, _ int, resp *http.Response, body string) {
		wantAPIMError(t, resp, body, 401, msgMissingKey)
	})
	if n := len(seenBy()); n != 0 {
		t.Fatalf("%d uploads reached the backend", n)
	}
}

// TestBackendAnswersUploadEarly: a backend that answers an upload before
// reading it (a 413 of its own, closing the connection) has its answer
// reach the client, as APIM's forward-request returns the backend's
// response, on apimgw's server as on net/http's (the reference).
func TestBackendAnswersUploadEarly(t *testing.T) {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		io.WriteString(w, "too big for the backend")
	}))
	defer be.Close()
	h := start(t, map[string]string{"gateway.yaml": `
apis:
  - id: a
    path: a
    serviceUrl: ` + be.URL + `
    subscriptionRequired: false
    operations:
      - {id: up, method: POST, urlTemplate: /up}
`})
	uploadTenTimes(t, h, "/a/up", func(name string, i int, resp *http.Response, body string) {
		if resp.StatusCode != http.StatusRequestEntityTooLarge || body != "too big for the backend" {
			t.Fatalf("%s, upload %d: %d %q", name, i, resp.StatusCode, body)
		}
	})
}
