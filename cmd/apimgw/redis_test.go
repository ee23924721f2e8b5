package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// startRedisServer runs redis-server on a free loopback port for the test
// (APIMGW_TEST_REDIS names an existing one instead; the kill-and-restart
// test needs its own). It skips only when neither is available.
func startRedisServer(t *testing.T, port int) (addr string, stop func()) {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server not on PATH and APIMGW_TEST_REDIS unset: apt-get install redis-server")
	}
	if port == 0 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port = l.Addr().(*net.TCPAddr).Port
		l.Close()
	}
	addr = "127.0.0.1:" + strconv.Itoa(port)
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	stop = func() {
		cmd.Process.Kill()
		<-done
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			fmt.Fprint(c, "PING\r\n")
			line, _ := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if strings.HasPrefix(line, "+PONG") {
				break
			}
		}
		if time.Now().After(deadline) {
			stop()
			t.Fatal("redis-server did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Cleanup(stop)
	return addr, stop
}

func redisGatewayConfig(redisAddr, backendURL, policy string) map[string]string {
	return map[string]string{
		"gateway.yaml": `
listen: 127.0.0.1:0
admin: 127.0.0.1:0
logs: {path: requests.log}
store:
  type: redis
  redis: {addr: ` + redisAddr + `, timeout: 200ms, healthCheckInterval: 200ms}
apis:
  - id: a
    path: a
    serviceUrl: ` + backendURL + `
    subscriptionRequired: false
    policy: api.xml
    operations: [{id: all, method: GET, urlTemplate: "/*"}]
`,
		"api.xml": policy,
	}
}

func getStatus(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestTwoReplicasShareOneRateLimit: two apimgw processes on one Redis
// enforce one rate-limit-by-key together, and share the response cache.
func TestTwoReplicasShareOneRateLimit(t *testing.T) {
	redisAddr, _ := startRedisServer(t, 0)
	var calls atomic.Int64
	backend := newCountingServer(t, &calls)
	policy := `<policies><inbound><base/>
  <choose><when condition="@(context.Request.Url.Path.EndsWith("/cached"))">
    <cache-lookup vary-by-developer="false" vary-by-developer-groups="false" caching-type="external" />
  </when><otherwise>
    <rate-limit-by-key calls="10" renewal-period="60" counter-key="shared" />
  </otherwise></choose>
</inbound><backend><base/></backend>
<outbound><base/><cache-store duration="60" /></outbound><on-error><base/></on-error></policies>`
	dir1 := writeFiles(t, redisGatewayConfig(redisAddr, backend, policy))
	dir2 := writeFiles(t, redisGatewayConfig(redisAddr, backend, policy))
	g1 := startServe(t, filepath.Join(dir1, "gateway.yaml"))
	g2 := startServe(t, filepath.Join(dir2, "gateway.yaml"))
	ok, limited := 0, 0
	for i := 0; i < 20; i++ {
		g := g1
		if i%2 == 1 {
			g = g2
		}
		switch code := getStatus(t, "http://"+g.data+"/a/limited"); code {
		case 200:
			ok++
		case 429:
			limited++
		default:
			t.Fatalf("status %d", code)
		}
	}
	if ok != 10 || limited != 10 {
		t.Fatalf("two replicas admitted %d and refused %d of 20 calls, want 10 and 10", ok, limited)
	}
	before := calls.Load()
	if getStatus(t, "http://"+g1.data+"/a/cached") != 200 || getStatus(t, "http://"+g2.data+"/a/cached") != 200 {
		t.Fatal("cached calls failed")
	}
	if got := calls.Load() - before; got != 1 {
		t.Fatalf("a response cached by replica 1 was not served by replica 2: %d backend calls", got)
	}
}

// TestRedisOutageLosesNoRequest: killing Redis mid-run does not fail a
// client request (limits fall back to local counting, the cache is
// bypassed), and the gateway uses Redis again when it returns.
func TestRedisOutageLosesNoRequest(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	redisAddr, stop := startRedisServer(t, port)
	var calls atomic.Int64
	backend := newCountingServer(t, &calls)
	policy := `<policies><inbound><base/>
  <rate-limit-by-key calls="100000" renewal-period="60" counter-key="@(context.Request.IpAddress)" />
  <cache-lookup-value key="v" variable-name="v" default-value="none" />
</inbound><backend><base/></backend><outbound><base/></outbound><on-error><base/></on-error></policies>`
	dir := writeFiles(t, redisGatewayConfig(redisAddr, backend, policy))
	g := startServe(t, filepath.Join(dir, "gateway.yaml"))
	for i := 0; i < 30; i++ {
		if i == 10 {
			stop()
		}
		if i == 20 {
			startRedisServer(t, port)
		}
		if code := getStatus(t, "http://"+g.data+"/a/x"); code != 200 {
			t.Fatalf("request %d during the Redis outage: status %d", i, code)
		}
		time.Sleep(20 * time.Millisecond)
	}
	g.stop(t)
	data, _ := os.ReadFile(filepath.Join(dir, "requests.log"))
	if n := strings.Count(string(data), `"ResponseCode":200`); n != 30 {
		t.Fatalf("%d successful log lines, want 30", n)
	}
}

func newCountingServer(t *testing.T, calls *atomic.Int64) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "ok")
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}
