package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	alertsFile    = "../../deploy/prometheus/alerts.yaml"
	dashboardFile = "../../deploy/grafana/apimgw.json"
)

// needTool returns the path of a Prometheus binary. scripts/test installs
// the Debian package prometheus (promtool and prometheus); outside CI a
// machine without it skips, saying so.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s not on PATH in CI: scripts/test installs the Debian package prometheus", name)
		}
		t.Skipf("%s not on PATH: apt-get install prometheus (scripts/test installs it)", name)
	}
	return p
}

// TestPrometheusRules runs `promtool check rules` on the shipped alerting
// rules and `promtool test rules` on their unit tests.
func TestPrometheusRules(t *testing.T) {
	promtool := needTool(t, "promtool")
	for _, args := range [][]string{
		{"check", "rules", "alerts.yaml"},
		{"test", "rules", "alerts_test.yaml"},
	} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = filepath.Dir(alertsFile)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// dashboardExprs returns every PromQL expression of the Grafana dashboard,
// by panel title.
func dashboardExprs(t *testing.T) map[string][]string {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	out := map[string][]string{}
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			if tg.Expr == "" {
				t.Fatalf("panel %q has a target without expr", p.Title)
			}
			out[p.Title] = append(out[p.Title], tg.Expr)
		}
	}
	if len(out) < 10 {
		t.Fatalf("only %d panels with queries in %s", len(out), dashboardFile)
	}
	return out
}

// dashboardVars replaces the dashboard's template variables the way
// Grafana does for "All" and a 1 s scrape interval.
var dashboardVars = strings.NewReplacer(`"$job"`, `".+"`, `"$instance"`, `".+"`, "$__rate_interval", "10s")

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// promAPI GETs a Prometheus HTTP API path and decodes its data member.
func promAPI(base, path string, data any) error {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(base + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var env struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return fmt.Errorf("%s: %d %s", path, resp.StatusCode, body)
	}
	if env.Status != "success" {
		return fmt.Errorf("%s: %s", path, env.Error)
	}
	return json.Unmarshal(env.Data, data)
}

// snatIncidentConfig is examples/snat-incident/gateway.yaml adapted to the
// test: free loopback ports, the backend on backendPort, plus a Redis store
// and a second backend (with a circuit breaker) behind a cached and a
// rate-limited API, so that every panel of the dashboard has data.
func snatIncidentConfig(t *testing.T, backendPort, otherPort int, redisAddr string) map[string]string {
	t.Helper()
	b, err := os.ReadFile("../../examples/snat-incident/gateway.yaml")
	if err != nil {
		t.Fatal(err)
	}
	y := string(b)
	port := strconv.Itoa(backendPort)
	for old, repl := range map[string]string{
		"listen: 127.0.0.1:8080": "listen: 127.0.0.1:0",
		"admin: 127.0.0.1:9090":  "admin: 127.0.0.1:0",
		"localhost:9001":         "localhost:" + port,
		"127.0.0.1:9001":         "127.0.0.1:" + port,
		"\napis:\n": `
  guarded:
    url: http://127.0.0.1:` + strconv.Itoa(otherPort) + `
    circuitBreaker:
      rules:
        - name: failures
          failureCondition: {count: 5, interval: 1m, statusCodeRanges: [{min: 500, max: 599}]}
          tripDuration: 30s
apis:
  - id: cached
    path: cached
    backendId: guarded
    subscriptionRequired: false
    policy: cached.xml
    operations: [{id: all, method: GET, urlTemplate: "/*"}]
  - id: limited
    path: limited
    backendId: guarded
    subscriptionRequired: false
    policy: limited.xml
    operations: [{id: all, method: GET, urlTemplate: "/*"}]
`,
	} {
		if strings.Count(y, old) == 0 {
			t.Fatalf("examples/snat-incident/gateway.yaml no longer contains %q; adapt the test", old)
		}
		y = strings.ReplaceAll(y, old, repl)
	}
	y += "store:\n  type: redis\n  redis: {addr: " + redisAddr + "}\n"
	return map[string]string{
		"gateway.yaml": y,
		"cached.xml": `<policies>
  <inbound><base /><cache-lookup vary-by-developer="false" vary-by-developer-groups="false" downstream-caching-type="none" /></inbound>
  <backend><base /></backend>
  <outbound><base /><cache-store duration="60" /></outbound>
  <on-error><base /></on-error>
</policies>`,
		"limited.xml": `<policies>
  <inbound><base /><rate-limit-by-key calls="3" renewal-period="60" counter-key="@(context.Request.IpAddress)" /></inbound>
  <backend><base /></backend>
  <outbound><base /></outbound>
  <on-error><base /></on-error>
</policies>`,
	}
}

// startPrometheus runs a real Prometheus on loopback that scrapes target
// every second and evaluates rules every second.
func startPrometheus(t *testing.T, target, rules string) string {
	t.Helper()
	bin := needTool(t, "prometheus")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "alerts.yaml"), []byte(rules), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := `global: {scrape_interval: 1s, scrape_timeout: 900ms, evaluation_interval: 1s}
rule_files: [alerts.yaml]
scrape_configs:
  - job_name: apimgw
    static_configs: [{targets: ["` + target + `"]}]
`
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr,
		"--log.level=warn")
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("prometheus output:\n%s", stderr.String())
		}
	})
	base := "http://" + addr
	for deadline := time.Now().Add(20 * time.Second); ; {
		resp, err := http.Get(base + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return base
			}
		}
		select {
		case <-done:
			t.Fatalf("prometheus exited:\n%s", stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus not ready:\n%s", stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestPrometheusAlertsFire: a real Prometheus scrapes a real apimgw running
// the SNAT incident example against a slow loopback backend; the shipped
// SNAT and BackendConnectionFailure alerts reach "firing" (their for:
// durations shortened to 2 s, expressions unchanged), and every query of
// the shipped Grafana dashboard returns data.
func TestPrometheusAlertsFire(t *testing.T) {
	needTool(t, "prometheus")
	exprs := dashboardExprs(t)
	rulesText, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	rules := regexp.MustCompile(`(?m)^(\s+for:) \d+[smh]$`).ReplaceAllString(string(rulesText), "$1 2s")

	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(20 * time.Millisecond)
		io.WriteString(w, "slow ok\n")
	}))
	defer slow.Close()
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "other ok\n")
	}))
	defer other.Close()
	redisAddr, _ := startRedisServer(t, 0)
	dir := writeFiles(t, snatIncidentConfig(t, slow.Listener.Addr().(*net.TCPAddr).Port, other.Listener.Addr().(*net.TCPAddr).Port, redisAddr))
	gw := startServe(t, filepath.Join(dir, "gateway.yaml"))
	defer gw.stop(t)
	prom := startPrometheus(t, gw.admin, rules)

	client := &http.Client{Timeout: 5 * time.Second}
	get := func(path string) int {
		resp, err := client.Get("http://" + gw.data + path)
		if err != nil {
			t.Errorf("GET %s: %v", path, err)
			return 0
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	// Before the incident: the pooled backend opens its connection, the
	// cache fills, the rate limit rejects.
	for _, p := range []string{"/pooled/x", "/cached/item", "/cached/item", "/limited/a", "/limited/a", "/limited/a", "/limited/a"} {
		get(p)
	}
	// The incident: no keep-alive, a new port per request, 50 ports.
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				c := get("/naive/x")
				mu.Lock()
				codes[c]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if codes[502] < 20 || codes[200] < 40 {
		t.Fatalf("naive requests by status: %v, want ≈50 × 200 then 502 (budget 50)", codes)
	}
	if c := get("/pooled/x"); c != 200 {
		t.Fatalf("pooled after the incident: %d, want 200 (its connection is reused)", c)
	}

	// Keep traffic flowing (bounded) so that rates have samples.
	stop := make(chan struct{})
	var bg sync.WaitGroup
	bg.Add(1)
	go func() {
		defer bg.Done()
		tick := time.NewTicker(150 * time.Millisecond)
		defer tick.Stop()
		for end := time.Now().Add(45 * time.Second); time.Now().Before(end); {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			for _, p := range []string{"/pooled/x", "/naive/x", "/cached/item", "/limited/a"} {
				get(p)
			}
		}
	}()
	defer func() { close(stop); bg.Wait() }()

	want := map[string]bool{"ApimgwSNATPortsNearBudget": false, "ApimgwBackendConnectionFailures": false, "ApimgwSNATPortsExhausted": false}
	var last []byte
	deadline := time.Now().Add(40 * time.Second)
	for {
		var data struct {
			Alerts []struct {
				Labels map[string]string `json:"labels"`
				State  string            `json:"state"`
			} `json:"alerts"`
		}
		if err := promAPI(prom, "/api/v1/alerts", &data); err != nil {
			t.Fatal(err)
		}
		last, _ = json.Marshal(data.Alerts)
		for _, a := range data.Alerts {
			name := a.Labels["alertname"]
			if _, ok := want[name]; !ok || a.State != "firing" {
				continue
			}
			switch name {
			case "ApimgwBackendConnectionFailures":
				if a.Labels["api"] != "naive" {
					t.Errorf("%s fired for api %q, want naive", name, a.Labels["api"])
				}
			default:
				if a.Labels["destination"] != slow.Listener.Addr().String() {
					t.Errorf("%s fired for destination %q, want %s", name, a.Labels["destination"], slow.Listener.Addr())
				}
			}
			want[name] = true
		}
		all := true
		for _, ok := range want {
			all = all && ok
		}
		if all {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("alerts not firing: %v\n/api/v1/alerts: %s", want, last)
		}
		time.Sleep(250 * time.Millisecond)
	}
	for _, a := range []string{"ApimgwDown", "ApimgwRedisUnreachable"} {
		if bytes.Contains(last, []byte(`"alertname":"`+a+`"`)) {
			t.Errorf("%s is active with the gateway and Redis up: %s", a, last)
		}
	}

	// Every dashboard query returns data (a non-NaN sample).
	pending := map[string]string{}
	for title, es := range exprs {
		for _, e := range es {
			pending[dashboardVars.Replace(e)] = title
		}
	}
	for deadline := time.Now().Add(20 * time.Second); len(pending) > 0; {
		for q, title := range pending {
			var data struct {
				Result []struct {
					Value [2]any `json:"value"`
				} `json:"result"`
			}
			if err := promAPI(prom, "/api/v1/query?query="+url.QueryEscape(q), &data); err != nil {
				t.Fatalf("panel %q: %v", title, err)
			}
			for _, r := range data.Result {
				s, _ := r.Value[1].(string)
				if v, err := strconv.ParseFloat(s, 64); err == nil && !math.IsNaN(v) {
					delete(pending, q)
					break
				}
			}
		}
		if len(pending) == 0 {
			break
		}
		if time.Now().After(deadline) {
			for q, title := range pending {
				t.Errorf("dashboard panel %q: no data for %s", title, q)
			}
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
}
