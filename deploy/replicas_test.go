package deploy

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// buildApimgw compiles the gateway from the repository root once.
var buildApimgw = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "apimgw-deploy-bin")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "apimgw")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/apimgw")
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/apimgw: %v\n%s", err, out)
	}
	return bin, nil
})

func startRedis(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server not on PATH: apt-get install redis-server (scripts/test installs it)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	addr := "127.0.0.1:" + strconv.Itoa(port)
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-done })
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			fmt.Fprint(c, "PING\r\n")
			line, _ := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if strings.HasPrefix(line, "+PONG") {
				return addr
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("redis-server did not start")
		}
	}
}

var servingLine = regexp.MustCompile(`apimgw serving"? listen=(\S+) admin=(\S+)`)

type gateway struct {
	cmd         *exec.Cmd
	data, admin string
	log         *bytes.Buffer
	mu          *sync.Mutex
	done        chan error
}

func startGateway(t *testing.T, bin, config string) *gateway {
	t.Helper()
	cmd := exec.Command(bin, "serve", "-c", config)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	g := &gateway{cmd: cmd, log: &bytes.Buffer{}, mu: &sync.Mutex{}, done: make(chan error, 1)}
	found := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			g.mu.Lock()
			g.log.WriteString(sc.Text() + "\n")
			g.mu.Unlock()
			if m := servingLine.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m:
				default:
				}
			}
		}
		g.done <- cmd.Wait()
	}()
	t.Cleanup(func() { cmd.Process.Kill() })
	select {
	case m := <-found:
		g.data, g.admin = m[1], m[2]
	case err := <-g.done:
		t.Fatalf("apimgw serve exited: %v\n%s", err, g.logs())
	case <-time.After(20 * time.Second):
		t.Fatalf("apimgw serve did not start\n%s", g.logs())
	}
	return g
}

func (g *gateway) logs() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.log.String()
}

func get(t *testing.T, url string, header ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestReplicasShareOneLimit runs three real apimgw processes with the
// configuration the chart renders (gateway.yaml, policies and secrets as a
// pod sees them in /etc/apimgw) against one real redis-server, only the
// addresses changed to loopback: the rate limit of the "limited" API (10
// calls a minute per subscription) holds for the fleet, not per replica.
func TestReplicasShareOneLimit(t *testing.T) {
	redisAddr := startRedis(t)
	bin, err := buildApimgw()
	if err != nil {
		t.Fatal(err)
	}
	objs := decodeAll(t, render(t))
	dir := t.TempDir()
	gatewayFiles(t, objs, dir)

	// The pod's gateway.yaml with loopback addresses: listen and admin on
	// free ports, Redis at the test's server. Everything else unchanged.
	cfgPath := filepath.Join(dir, "gateway.yaml")
	src, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(src, &cfg); err != nil {
		t.Fatal(err)
	}
	store := cfg["store"].(map[string]any)
	if store["type"] != "redis" {
		t.Fatalf("the chart's default store is %v, want redis", store["type"])
	}
	store["redis"].(map[string]any)["addr"] = redisAddr
	cfg["listen"], cfg["admin"] = "127.0.0.1:0", "127.0.0.1:0"
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, cfgPath, string(out))
	if out, err := exec.Command(bin, "validate", "-c", cfgPath).CombinedOutput(); err != nil {
		t.Fatalf("apimgw validate on the chart's configuration: %v\n%s", err, out)
	}

	var fleet []*gateway
	for i := 0; i < 3; i++ {
		fleet = append(fleet, startGateway(t, bin, cfgPath))
	}
	if code, body := get(t, "http://"+fleet[0].data+"/hello"); code != 200 || body != "Hello from apimgw on Kubernetes" {
		t.Fatalf("GET /hello: %d %q", code, body)
	}
	if code, _ := get(t, "http://"+fleet[1].data+"/limited/x"); code != 401 {
		t.Fatalf("without a subscription key: %d, want 401", code)
	}
	// The key comes from the Secret (secrets/demo-primary-key).
	admitted := make([]int, len(fleet))
	refused := make([]int, len(fleet))
	for i := 0; i < 30; i++ {
		k := i % len(fleet)
		switch code, body := get(t, "http://"+fleet[k].data+"/limited/x", "Ocp-Apim-Subscription-Key", "demo-key-1"); code {
		case 200:
			admitted[k]++
		case 429:
			refused[k]++
		default:
			t.Fatalf("call %d on replica %d: %d %s", i, k, code, body)
		}
	}
	total := admitted[0] + admitted[1] + admitted[2]
	if total != 10 {
		t.Fatalf("the fleet admitted %d of 30 calls (per replica %v, refused %v), want 10: the limit is not shared", total, admitted, refused)
	}
	for k := range fleet {
		if admitted[k] == 0 || refused[k] == 0 {
			t.Errorf("replica %d admitted %d and refused %d: every replica should have done both", k, admitted[k], refused[k])
		}
	}
	// The secondary key is the same subscription: refused too.
	if code, _ := get(t, "http://"+fleet[2].data+"/limited/x", "Ocp-Apim-Subscription-Key", "demo-key-2"); code != 429 {
		t.Errorf("secondary key after the limit: %d, want 429", code)
	}
	for _, g := range fleet {
		g.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-g.done:
			if err != nil {
				t.Errorf("apimgw exited with %v after SIGTERM\n%s", err, g.logs())
			}
		case <-time.After(30 * time.Second):
			t.Errorf("apimgw did not stop on SIGTERM")
		}
	}
}
