package main

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// copyTree copies the folder src to dst.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if info.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// reply is what the tagged test backends answer.
type reply struct {
	Tag    string            `json:"tag"`
	Path   string            `json:"path"`
	Query  string            `json:"query"`
	Header map[string]string `json:"header"`
}

// wsEchoBackend completes WebSocket handshakes and echoes lines upper-cased.
func wsEchoBackend(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("Sec-WebSocket-Key")
		if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") || key == "" {
			http.Error(w, "not a WebSocket handshake", http.StatusBadRequest)
			return
		}
		sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
		w.Header().Set("Upgrade", "websocket")
		w.Header().Set("Connection", "Upgrade")
		w.Header().Set("Sec-WebSocket-Accept", base64.StdEncoding.EncodeToString(sum[:]))
		w.WriteHeader(http.StatusSwitchingProtocols)
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		for {
			line, err := rw.ReadString('\n')
			if err != nil {
				return
			}
			rw.WriteString(strings.ToUpper(line))
			rw.Flush()
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// apiopsBackends starts one loopback backend per tag; "m1" answers 500
// (the failing pool member). calls counts the calls per tag.
func apiopsBackends(t *testing.T, tags ...string) (map[string]string, func(tag string) int64) {
	urls := map[string]string{}
	counts := map[string]*atomic.Int64{}
	for _, tag := range tags {
		n := &atomic.Int64{}
		counts[tag] = n
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n.Add(1)
			io.Copy(io.Discard, r.Body)
			rep := reply{Tag: tag, Path: r.URL.Path, Query: r.URL.RawQuery, Header: map[string]string{}}
			for _, h := range []string{"X-Global", "X-Fragment", "X-Product", "X-Api", "X-Check", "X-Backend-Key", "Authorization"} {
				rep.Header[h] = r.Header.Get(h)
			}
			w.Header().Set("Content-Type", "application/json")
			if tag == "m1" {
				w.WriteHeader(http.StatusInternalServerError)
			}
			json.NewEncoder(w).Encode(rep)
		}))
		t.Cleanup(srv.Close)
		urls[tag] = srv.URL
	}
	return urls, func(tag string) int64 { return counts[tag].Load() }
}

const (
	starterKey = "starter-key-0123456789"
	allKey     = "all-access-key-9876543210"
	backendKey = "bk-secret-value"
	echoKey    = "echo-only-key-555"
)

// apiopsFixture copies the v6 fixture extract into a temp folder and
// writes an overlay pointing every API and backend at loopback backends,
// with the secrets supplied three ways: the overlay (starter-sub's key),
// an environment variable (backend-key) and a secrets folder file
// (all-access's key). It returns the extract folder, the overlay, the
// environment and the call counter.
func apiopsFixture(t *testing.T) (dir, overlay string, env []string, calls func(string) int64) {
	t.Helper()
	urls, calls := apiopsBackends(t, "echo", "echo2", "orig", "v1", "ob", "b1", "b2", "inv1", "m1", "m2", "keyed", "root", "soap", "gql", "sw")
	ws := wsEchoBackend(t)
	work := t.TempDir()
	dir = filepath.Join(work, "apimartifacts")
	copyTree(t, filepath.Join("..", "..", "internal", "apiops", "testdata", "v6", "apimartifacts"), dir)
	secrets := filepath.Join(work, "secrets")
	os.MkdirAll(secrets, 0o755)
	os.WriteFile(filepath.Join(secrets, "subscription.all-access.primaryKey"), []byte(allKey+"\n"), 0o600)
	overlay = filepath.Join(work, "overlay.yaml")
	ov := `listen: 127.0.0.1:0
admin: 127.0.0.1:0
logs: {path: ` + filepath.Join(work, "requests.log") + `}
subscriptions:
  - {id: starter-sub, primaryKey: ` + starterKey + `}
  - {id: echo-only, primaryKey: ` + echoKey + `}
backends:
  orders-backend: {url: "` + urls["ob"] + `"}
  pool-member-1: {url: "` + urls["m1"] + `"}
  pool-member-2: {url: "` + urls["m2"] + `"}
apis:
  - {id: echo-api, serviceUrl: "` + urls["echo"] + `"}
  - {id: "echo-api;rev=2", serviceUrl: "` + urls["echo2"] + `"}
  - {id: orders, serviceUrl: "` + urls["orig"] + `"}
  - {id: orders-v1, serviceUrl: "` + urls["v1"] + `"}
  - {id: billing-v1, serviceUrl: "` + urls["b1"] + `"}
  - {id: billing-v2, serviceUrl: "` + urls["b2"] + `"}
  - {id: inventory-v1, serviceUrl: "` + urls["inv1"] + `"}
  - {id: keyed-api, serviceUrl: "` + urls["keyed"] + `"}
  - {id: root-api, serviceUrl: "` + urls["root"] + `"}
  - {id: soap-api, serviceUrl: "` + urls["soap"] + `"}
  - {id: graphql-api, serviceUrl: "` + urls["gql"] + `"}
  - {id: swagger-api, serviceUrl: "` + urls["sw"] + `"}
  - {id: ws-api, serviceUrl: "ws://` + strings.TrimPrefix(ws, "http://") + `"}
`
	if err := os.WriteFile(overlay, []byte(ov), 0o644); err != nil {
		t.Fatal(err)
	}
	env = []string{"APIMGW_NAMED_VALUE_BACKEND_KEY=" + backendKey, "APIMGW_SECRETS_DIR=" + secrets}
	return dir, overlay, env, calls
}

type call struct {
	method, path string
	header       map[string]string
}

func (p *apimgwProc) do(t *testing.T, c call) (int, string) {
	t.Helper()
	req, err := http.NewRequest(c.method, "http://"+p.data+c.path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", c.method, c.path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (p *apimgwProc) reply(t *testing.T, c call) (int, reply) {
	t.Helper()
	code, body := p.do(t, c)
	var r reply
	json.Unmarshal([]byte(body), &r)
	return code, r
}

// checkFixtureRoutes calls each operation of the v6 fixture.
func checkFixtureRoutes(t *testing.T, p *apimgwProc, calls func(string) int64) {
	t.Helper()
	starter := map[string]string{"Ocp-Apim-Subscription-Key": starterKey}
	// A subscription-required API: APIM's 401 without a key.
	code, body := p.do(t, call{"GET", "/echo/items/1", nil})
	if code != 401 || !strings.Contains(body, "Access denied due to missing subscription key") {
		t.Errorf("no key: %d %s, want APIM's 401", code, body)
	}
	if code, _ := p.do(t, call{"GET", "/echo/items/1", map[string]string{"Ocp-Apim-Subscription-Key": "wrong"}}); code != 401 {
		t.Errorf("wrong key: %d, want 401", code)
	}
	before := calls("echo")
	code, r := p.reply(t, call{"GET", "/echo/items/1", starter})
	want := map[string]string{"X-Global": "g1", "X-Fragment": "frag-g1", "X-Product": "starter", "X-Api": "echo", "X-Check": "no"}
	if code != 200 || r.Tag != "echo" || r.Path != "/items/1" {
		t.Errorf("GET /echo/items/1 with key: %d %+v", code, r)
	}
	for k, v := range want {
		if r.Header[k] != v {
			t.Errorf("GET /echo/items/1: backend saw %s %q, want %q (global, fragment, product and API policies)", k, r.Header[k], v)
		}
	}
	if calls("echo") != before+1 {
		t.Errorf("echo backend called %d times, want 1", calls("echo")-before)
	}
	if code, r := p.reply(t, call{"POST", "/echo/items", starter}); code != 200 || r.Tag != "echo" || r.Path != "/items" {
		t.Errorf("POST /echo/items: %d %+v", code, r)
	}
	// A subscription scoped to one API: its API only, no product policy.
	echoOnly := map[string]string{"Ocp-Apim-Subscription-Key": echoKey}
	if code, r := p.reply(t, call{"GET", "/echo/items/2", echoOnly}); code != 200 || r.Tag != "echo" || r.Header["X-Product"] != "" {
		t.Errorf("API-scoped subscription on its API: %d %+v", code, r)
	}
	if code, _ := p.do(t, call{"GET", "/keyed/hello", map[string]string{"api-key": echoKey}}); code != 401 {
		t.Errorf("API-scoped subscription on another API: %d, want 401", code)
	}
	if code, body := p.do(t, call{"GET", "/echo/status", starter}); code != 200 || body != "status-ok g1" {
		t.Errorf("GET /echo/status: %d %q, want the operation policy with the named value", code, body)
	}
	if code, _ := p.do(t, call{"DELETE", "/echo/items/1", starter}); code != 404 {
		t.Errorf("DELETE /echo/items/1 (no such operation): %d, want 404", code)
	}
	// Revision 2 at ;rev=2.
	if code, r := p.reply(t, call{"GET", "/echo;rev=2/items/5", starter}); code != 200 || r.Tag != "echo2" || r.Path != "/items/5" {
		t.Errorf("GET /echo;rev=2/items/5: %d %+v, want revision 2's backend", code, r)
	}
	// Segment versions.
	for path, tag := range map[string]string{"/orders/orders": "orig", "/orders/v1/orders": "v1", "/orders/v2/orders": "ob"} {
		code, r := p.reply(t, call{"GET", path, nil})
		if code != 200 || r.Tag != tag || r.Path != "/orders" {
			t.Errorf("GET %s: %d %+v, want %s", path, code, r, tag)
		}
		if tag == "ob" && (r.Header["X-Backend-Key"] != backendKey || r.Header["Authorization"] != "Basic b3JkZXJzOnB3" || r.Query != "code=g1") {
			t.Errorf("orders-backend credentials: header %q, authorization %q, query %q; want the secret named value from the environment, the authorization scheme and parameter, the query with the named value",
				r.Header["X-Backend-Key"], r.Header["Authorization"], r.Query)
		}
	}
	// Query versions.
	for q, tag := range map[string]string{"2024-01-01": "b1", "2025-01-01": "b2"} {
		if code, r := p.reply(t, call{"GET", "/billing/invoices?api-version=" + q, nil}); code != 200 || r.Tag != tag {
			t.Errorf("billing api-version=%s: %d %+v, want %s", q, code, r, tag)
		}
	}
	// Header version.
	if code, r := p.reply(t, call{"GET", "/inventory/stock", map[string]string{"X-Api-Version": "v1"}}); code != 200 || r.Tag != "inv1" {
		t.Errorf("inventory X-Api-Version v1: %d %+v", code, r)
	}
	if code, _ := p.do(t, call{"GET", "/inventory/stock", nil}); code != 404 {
		t.Errorf("inventory without version header: %d, want 404", code)
	}
	// Renamed key names, an all-APIs subscription from the secrets folder.
	if code, r := p.reply(t, call{"GET", "/keyed/hello", map[string]string{"api-key": allKey}}); code != 200 || r.Tag != "keyed" {
		t.Errorf("keyed with api-key: %d %+v", code, r)
	}
	if code, r := p.reply(t, call{"GET", "/keyed/hello?code=" + allKey, nil}); code != 200 || r.Tag != "keyed" || r.Query != "" {
		t.Errorf("keyed with ?code=: %d %+v (the key is not forwarded)", code, r)
	}
	if code, _ := p.do(t, call{"GET", "/keyed/hello", map[string]string{"Ocp-Apim-Subscription-Key": allKey}}); code != 401 {
		t.Errorf("keyed with the default header name: %d, want 401", code)
	}
	// The root API's outbound Liquid template: {{body.tag}} is Liquid's,
	// not a named value.
	if code, r := p.reply(t, call{"GET", "/root-hello", nil}); code != 200 || r.Tag != "root" || r.Query != "liquid" {
		t.Errorf("GET /root-hello through the Liquid template: %d %+v", code, r)
	}
	for _, c := range []struct{ method, path, tag, rest string }{
		{"GET", "/root-hello", "root", "/root-hello"},
		{"POST", "/soap/", "soap", "/"},
		{"POST", "/graphql", "gql", "/"},
		{"GET", "/sw/ping", "sw", "/ping"},
	} {
		if code, r := p.reply(t, call{c.method, c.path, nil}); code != 200 || r.Tag != c.tag || r.Path != c.rest {
			t.Errorf("%s %s: %d %+v, want %s %s", c.method, c.path, code, r, c.tag, c.rest)
		}
	}
	// The WebSocket API: the handshake is relayed, then the session.
	conn, err := net.Dial("tcp", p.data)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(conn, "GET /chat HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Sec-WebSocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Errorf("WebSocket handshake: %v %v", resp, err)
	} else {
		io.WriteString(conn, "hello\n")
		if line, err := br.ReadString('\n'); err != nil || line != "HELLO\n" {
			t.Errorf("WebSocket session: %q %v", line, err)
		}
	}
	// The pool: its first member fails, its breaker trips, the second
	// member answers.
	m1, m2 := calls("m1"), calls("m2")
	if code, r := p.reply(t, call{"GET", "/pooled/api/work", nil}); code != 500 || r.Tag != "m1" {
		t.Errorf("pool first call: %d %+v, want the failing priority-1 member", code, r)
	}
	for i := 0; i < 3; i++ {
		if code, r := p.reply(t, call{"GET", "/pooled/api/work", nil}); code != 200 || r.Tag != "m2" {
			t.Errorf("pool call %d after the breaker tripped: %d %+v, want member 2", i+2, code, r)
		}
	}
	if calls("m1")-m1 != 1 || calls("m2")-m2 != 3 {
		t.Errorf("pool members called %d and %d times, want 1 and 3", calls("m1")-m1, calls("m2")-m2)
	}
}

func TestServeAPIOpsEndToEnd(t *testing.T) {
	dir, overlay, env, calls := apiopsFixture(t)
	p := startApimgw(t, env, "serve", "--apiops", dir, "-c", overlay)
	checkFixtureRoutes(t, p, calls)

	// Reload re-reads the folder: SIGHUP picks up a changed policy.
	status := filepath.Join(dir, "apis", "echo-api", "operations", "getStatus", "policy.xml")
	src, _ := os.ReadFile(status)
	os.WriteFile(status, bytes.Replace(src, []byte("status-ok"), []byte("status-new"), 1), 0o644)
	p.cmd.Process.Signal(syscall.SIGHUP)
	starter := map[string]string{"Ocp-Apim-Subscription-Key": starterKey}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body := p.do(t, call{"GET", "/echo/status", starter})
		if body == "status-new g1" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after SIGHUP: %q, want the changed policy\n%s", body, p.stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A folder that fails keeps the old plan: POST /reload says why.
	info := filepath.Join(dir, "apis", "keyed-api", "apiInformation.json")
	os.WriteFile(info, []byte("{not json"), 0o644)
	resp, err := http.Post("http://"+p.admin+"/reload", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(body), "keyed-api") || !strings.Contains(string(body), "apiInformation.json") {
		t.Errorf("reload of a broken folder: %d %q, want 422 naming the file", resp.StatusCode, body)
	}
	if code, _ := p.do(t, call{"GET", "/keyed/hello", map[string]string{"api-key": allKey}}); code != 200 {
		t.Errorf("after a refused reload: %d, want the old plan serving", code)
	}
}

func TestValidateAPIOps(t *testing.T) {
	dir, overlay, env, _ := apiopsFixture(t)
	run := func(env []string, args ...string) (int, string, string) {
		cmd := exec.Command(binary, args...)
		cmd.Env = append(os.Environ(), env...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return code, out.String(), errb.String()
	}
	code, out, errs := run(env, "validate", "--apiops", dir, "-c", overlay, "-v")
	if code != 0 || !strings.Contains(out, ": OK (15 APIs, 19 operations, 2 products, 4 backends, 3 subscriptions") {
		t.Fatalf("validate: %d %q %q", code, out, errs)
	}
	for _, want := range []string{`collection "tags"`, `collection "groups"`, `collection "gateways"`, `logger "appinsights"`,
		`api revision "echo-api;rev=1"`, `subscription "old-sub"`, `"Logger-Credentials--66672b71a3f2c9d2e4f1a004"`} {
		if !strings.Contains(out, "ignored ") || !strings.Contains(out, want) {
			t.Errorf("validate -v does not list %s as ignored:\n%s", want, out)
		}
	}
	// Without the secrets: one error naming every missing one and the
	// three ways.
	code, out, errs = run(nil, "validate", "--apiops", dir)
	if code != 1 || !strings.Contains(errs, "4 secret(s) missing") || !strings.Contains(errs, "APIMGW_NAMED_VALUE_BACKEND_KEY") ||
		!strings.Contains(errs, "APIMGW_SUBSCRIPTION_STARTER_SUB_PRIMARY_KEY") || !strings.Contains(errs, "subscription.all-access.primaryKey") ||
		!strings.Contains(errs, "overlay") {
		t.Errorf("missing secrets: %d %q %q", code, out, errs)
	}
	if code, out, _ := run(nil, "validate", "--apiops", dir, "--secrets=placeholder"); code != 0 || !strings.Contains(out, "OK (15 APIs") {
		t.Errorf("validate --secrets=placeholder: %d %q", code, out)
	}
	// serve refuses placeholders.
	if code, _, errs := run(nil, "serve", "--apiops", dir, "--secrets=placeholder"); code != 2 || !strings.Contains(errs, "placeholder") {
		t.Errorf("serve --secrets=placeholder: %d %q, want refused", code, errs)
	}
	// What cannot run is an error naming the file, the resource and why.
	os.WriteFile(filepath.Join(dir, "apis", "graphql-api", "operations", "q", "policy.xml"), nil, 0o644)
	os.MkdirAll(filepath.Join(dir, "apis", "grpc-api"), 0o755)
	os.WriteFile(filepath.Join(dir, "apis", "grpc-api", "apiInformation.json"), []byte(`{"properties": {"path": "g", "type": "grpc"}}`), 0o644)
	code, _, errs = run(env, "validate", "--apiops", dir, "-c", overlay)
	if code != 1 || !strings.Contains(errs, filepath.Join("grpc-api", "apiInformation.json")+`: api "grpc-api": type "grpc"`) {
		t.Errorf("grpc API: %d %q, want an error naming file, API and why", code, errs)
	}
}

func TestImportAPIOpsServesTheSameRoutes(t *testing.T) {
	dir, overlay, env, calls := apiopsFixture(t)
	out := filepath.Join(t.TempDir(), "imported")
	cmd := exec.Command(binary, "import", "apiops", dir, "-o", out, "-c", overlay)
	cmd.Env = append(os.Environ(), env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("import: %v\n%s", err, b)
	}
	if b, err := exec.Command(binary, "validate", "-c", filepath.Join(out, "gateway.yaml")).CombinedOutput(); err != nil || !strings.Contains(string(b), "OK (15 APIs, 4 backends, 2 products, 3 subscriptions)") {
		t.Fatalf("validate -c imported gateway.yaml: %v\n%s", err, b)
	}
	// The imported gateway.yaml and the extract serve the same routes:
	// the same checks pass against both, and both report the same counts
	// in their request logs' terms (API and operation ids).
	viaImport := startApimgw(t, nil, "serve", "-c", filepath.Join(out, "gateway.yaml"))
	checkFixtureRoutes(t, viaImport, calls)
	viaAPIOps := startApimgw(t, env, "serve", "--apiops", dir, "-c", overlay)
	checkFixtureRoutes(t, viaAPIOps, calls)

	// With placeholders, each is marked in the output.
	out2 := filepath.Join(t.TempDir(), "dry")
	if b, err := exec.Command(binary, "import", "apiops", dir, "-o", out2, "--secrets=placeholder").CombinedOutput(); err != nil {
		t.Fatalf("import --secrets=placeholder: %v\n%s", err, b)
	}
	y, _ := os.ReadFile(filepath.Join(out2, "gateway.yaml"))
	// backend-key, the keys of starter-sub, echo-only and all-access;
	// backend-key also where the backend's credentials use it.
	marked := 0
	for _, line := range strings.Split(string(y), "\n") {
		if strings.Contains(line, "apimgw-placeholder") {
			if !strings.Contains(line, "# PLACEHOLDER") {
				t.Errorf("placeholder not marked: %s", line)
			}
			marked++
		}
	}
	if marked != 5 {
		t.Errorf("%d placeholder values, want 5:\n%s", marked, y)
	}
}
