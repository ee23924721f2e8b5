package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/apimgw/apimgw/internal/logs"
	"github.com/apimgw/apimgw/internal/testnet"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "apimgw-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "apimgw")
	if runtime.GOOS == "windows" {
		binary += ".exe"
	}
	// The binary as it ships: scripts/build (Go's poller serving
	// goroutines in epoll's order, X25519 keys from tables), on Linux,
	// where the poller change applies.
	build := exec.Command("go", "build", "-o", binary, ".")
	if runtime.GOOS == "linux" {
		build = exec.Command("../../scripts/build", "-o", binary, ".")
	}
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build apimgw:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

var servingLine = regexp.MustCompile(`apimgw serving"? listen=(\S+) admin=(\S+)`)

// apimgwProc is a running `apimgw serve` started with any arguments.
type apimgwProc struct {
	cmd         *exec.Cmd
	data, admin string
	stderr      *testnet.Buffer
	done        chan error    // the exit, once
	exited      chan struct{} // closed on exit
}

func startApimgw(t *testing.T, env []string, args ...string) *apimgwProc {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &apimgwProc{cmd: cmd, stderr: &testnet.Buffer{}, done: make(chan error, 1), exited: make(chan struct{})}
	found := make(chan [2]string, 1)
	go func() {
		sc := bufio.NewScanner(pipe)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			p.stderr.Write([]byte(line + "\n"))
			if m := servingLine.FindStringSubmatch(line); m != nil && !sent {
				found <- [2]string{m[1], m[2]}
				sent = true
			}
		}
		p.done <- cmd.Wait()
		close(p.exited)
	}()
	select {
	case addrs := <-found:
		p.data, p.admin = addrs[0], addrs[1]
	case err := <-p.done:
		t.Fatalf("apimgw %v exited: %v\n%s", args, err, p.stderr)
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("apimgw %v did not start\n%s", args, p.stderr)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
		}
	})
	return p
}

// startServe runs `apimgw serve -c config`.
func startServe(t *testing.T, config string) *apimgwProc {
	t.Helper()
	return startApimgw(t, nil, "serve", "-c", config)
}

func (p *apimgwProc) stop(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("apimgw serve exited with %v\n%s", err, p.stderr)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("apimgw serve did not stop on SIGTERM")
	}
}

func TestServeEndToEnd(t *testing.T) {
	var hits atomic.Int64
	release := make(chan struct{})
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path == "/slow" {
			<-release
		}
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "backend saw %s %s", r.Method, r.URL.Path)
	}))
	defer backend.Close()
	dir := writeFiles(t, map[string]string{
		"gateway.yaml": `
listen: 127.0.0.1:0
admin: 127.0.0.1:0
logs: {path: requests.log}
subscriptions:
  - {id: alice, primaryKey: secret-key-1, allApis: true}
apis:
  - id: echo
    path: echo
    serviceUrl: ` + backend.URL + `
    operations:
      - {id: any, method: GET, urlTemplate: "/*"}
`,
	})
	p := startServe(t, filepath.Join(dir, "gateway.yaml"))

	get := func(path, key string) (int, string) {
		req, _ := http.NewRequest("GET", "http://"+p.data+path, nil)
		if key != "" {
			req.Header.Set("Ocp-Apim-Subscription-Key", key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/echo/hello", "secret-key-1"); code != 200 || body != "backend saw GET /hello" {
		t.Fatalf("proxy: %d %q", code, body)
	}
	if code, _ := get("/echo/hello", ""); code != 401 {
		t.Fatalf("missing key: %d", code)
	}
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		resp, err := http.Get("http://" + p.admin + path)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("admin %s: %v %v", path, resp, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if path == "/metrics" && !strings.Contains(string(b), `apimgw_requests_total{api="echo"`) {
			t.Errorf("metrics lack apimgw_requests_total for echo:\n%s", b)
		}
	}

	// An in-flight request finishes after SIGTERM (graceful drain).
	slow := make(chan int, 1)
	go func() {
		code, _ := get("/echo/slow", "secret-key-1")
		slow <- code
	}()
	deadline := time.Now().Add(5 * time.Second)
	for hits.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	time.Sleep(200 * time.Millisecond)
	// While draining, readiness fails so load balancers stop routing here.
	if resp, err := http.Get("http://" + p.admin + "/readyz"); err != nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/readyz while draining: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	close(release)
	if code := <-slow; code != 200 {
		t.Fatalf("in-flight request during shutdown: %d", code)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, p.stderr)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("did not stop")
	}

	data, err := os.ReadFile(filepath.Join(dir, "requests.log"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d log lines, want 3:\n%s", len(lines), data)
	}
	var first logs.Record
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	if first.ApiId != "echo" || first.ResponseCode != 200 || first.BackendResponseCode != 200 || first.ApimSubscriptionId != "alice" ||
		first.CorrelationId == "" || first.CallerIpAddress != "127.0.0.1" || !first.IsRequestSuccess || first.Method != "GET" {
		t.Errorf("log line: %s", lines[0])
	}
	if strings.Contains(string(data), "secret-key-1") {
		t.Error("the request log contains a subscription key")
	}
}

func TestValidate(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"gateway.yaml": `
apis:
  - id: a
    path: a
    policy: bad.xml
    operations: [{id: x, method: GET, urlTemplate: "/x"}]
`,
		"bad.xml":   "<policies>\n  <inbound>\n    <set-header name=\"a\"><value>@(context.Request.Nope)</value></set-header>\n    <frob />\n  </inbound>\n</policies>\n",
		"typo.yaml": "listen: 127.0.0.1:1\napiz: []\n",
		"budget.yaml": "outbound: {maxConnsPerHost: 64, snat: {ports: 20, enforce: true}}\n" +
			"apis: [{id: a, path: a, serviceUrl: \"http://127.0.0.1:9\", operations: [{id: x, method: GET, urlTemplate: /x}]}]\n",
	})
	run := func(args ...string) (int, string, string) {
		cmd := exec.Command(binary, args...)
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
	code, _, stderr := run("validate", "-c", filepath.Join(dir, "gateway.yaml"))
	if code != 1 || !strings.Contains(stderr, "bad.xml:4:5: unknown policy <frob>") || !regexp.MustCompile(`bad\.xml:3:\d+: `).MatchString(stderr) {
		t.Errorf("validate bad policy: exit %d\n%s", code, stderr)
	}
	code, stdout, stderr := run("validate", "-c", filepath.Join(dir, "budget.yaml"))
	if code != 0 || !strings.Contains(stdout, "OK") || !strings.Contains(stderr, "level=WARN") || !strings.Contains(stderr, "above snat.ports") {
		t.Errorf("validate with a warning: exit %d, want 0 with the warning on stderr\n%s%s", code, stdout, stderr)
	}
	code, _, stderr = run("validate", "-c", filepath.Join(dir, "typo.yaml"))
	if code != 1 || !strings.Contains(stderr, "typo.yaml:2:1: unknown key \"apiz\"") {
		t.Errorf("validate typo: exit %d\n%s", code, stderr)
	}
	examples, _ := filepath.Glob("../../examples/*/gateway.yaml")
	if len(examples) < 3 {
		t.Fatalf("examples: %v", examples)
	}
	for _, ex := range examples {
		if code, stdout, stderr = run("validate", "-c", ex); code != 0 || !strings.Contains(stdout, "OK") || stderr != "" {
			t.Errorf("validate %s: exit %d, want 0 and no warning\n%s%s", ex, code, stdout, stderr)
		}
	}
	if code, _, _ = run("nonsense"); code != 2 {
		t.Errorf("unknown command: exit %d, want 2", code)
	}
	if code, stdout, _ = run("version"); code != 0 || !strings.HasPrefix(stdout, "apimgw ") {
		t.Errorf("version: %d %q", code, stdout)
	}
}

func TestQuickstartServes(t *testing.T) {
	src, err := os.ReadFile("../../examples/quickstart/gateway.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	abs, _ := filepath.Abs("../../examples/quickstart/policies")
	cfg := strings.NewReplacer("127.0.0.1:8080", "127.0.0.1:0", "127.0.0.1:9090", "127.0.0.1:0", "policies/", abs+"/").Replace(string(src))
	os.WriteFile(filepath.Join(dir, "gateway.yaml"), []byte(cfg), 0o644)
	p := startServe(t, filepath.Join(dir, "gateway.yaml"))
	resp, err := http.Get("http://" + p.data + "/hello/Ada")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"Hello from apimgw, Ada!"`) {
		t.Fatalf("hello: %d %s", resp.StatusCode, b)
	}
	req, _ := http.NewRequest("GET", "http://"+p.data+"/orders/orders/42", nil)
	req.Header.Set("Ocp-Apim-Subscription-Key", "demo-key-1")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"subscription": "demo"`) {
		t.Fatalf("orders: %d %s %v", resp.StatusCode, b, resp.Header)
	}
	p.stop(t)
}
