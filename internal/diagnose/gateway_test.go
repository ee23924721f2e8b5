package diagnose

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// freeAddr returns a loopback address with a port that was free a moment
// ago (the admin listener must differ from the data plane's ":0").
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

var servingLine = regexp.MustCompile(`apimgw serving"? listen=(\S+) admin=(\S+)`)

// TestGatewaySNATEnforce produces real gateway logs: it builds and runs
// `apimgw serve` with keepAlive: false and snat.enforce: true against a
// loopback backend, sends a bounded burst of requests, and diagnoses the
// gateway's own log. It is skipped while cmd/apimgw does not build.
func TestGatewaySNATEnforce(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "apimgw")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/apimgw/apimgw/cmd/apimgw")
	if out, err := build.CombinedOutput(); err != nil {
		t.Skipf("apimgw does not build (yet): %v\n%s", err, out)
	}

	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(2 * time.Millisecond)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"id":1}`)
	}))
	defer backend.Close()

	const budget = 30
	logPath := filepath.Join(dir, "gateway.jsonl")
	config := fmt.Sprintf(`listen: 127.0.0.1:0
admin: %s
logs: {path: %q}
outbound:
  snat: {ports: %d, reclaim: 4m, enforce: true}
backends:
  orders:
    url: %s
    keepAlive: false
apis:
  - id: orders
    path: orders
    backendId: orders
    subscriptionRequired: false
    operations:
      - {id: get-order, method: GET, urlTemplate: "/orders/{id}"}
`, freeAddr(t), logPath, budget, backend.URL)
	cfgPath := filepath.Join(dir, "gateway.yaml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(bin, "serve", "-c", cfgPath)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	if keep := os.Getenv("DIAGNOSE_KEEP_GATEWAY_LOG"); keep != "" {
		defer func() { b, _ := os.ReadFile(logPath); os.WriteFile(keep, b, 0o600) }()
	}
	var errLog bytes.Buffer
	var mu sync.Mutex
	found := make(chan string, 1)
	done := make(chan error, 1)
	go func() { // owned by this test: ends when the gateway exits
		sc := bufio.NewScanner(stderr)
		sent := false
		for sc.Scan() {
			mu.Lock()
			errLog.WriteString(sc.Text() + "\n")
			mu.Unlock()
			if m := servingLine.FindStringSubmatch(sc.Text()); m != nil && !sent {
				found <- m[1]
				sent = true
			}
		}
		done <- cmd.Wait()
	}()
	stderrText := func() string { mu.Lock(); defer mu.Unlock(); return errLog.String() }
	var addr string
	select {
	case addr = <-found:
	case err := <-done:
		t.Fatalf("apimgw serve exited: %v\n%s", err, stderrText())
	case <-time.After(30 * time.Second):
		t.Fatalf("apimgw serve did not start\n%s", stderrText())
	}

	// A bounded burst in two waves 300 ms apart (so that the log spans
	// more than one of the report's finest bins, however fast the calls
	// are): 4 workers, 200 requests, at most 30 s.
	const total, workers, waves = 200, 4, 2
	client := &http.Client{Timeout: 5 * time.Second}
	codes := make(chan int, total)
	deadline := time.Now().Add(30 * time.Second)
	for wave := range waves {
		if wave > 0 {
			time.Sleep(300 * time.Millisecond)
		}
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := wave*total/waves + w; i < (wave+1)*total/waves && time.Now().Before(deadline); i += workers {
					resp, err := client.Get(fmt.Sprintf("http://%s/orders/orders/%d", addr, i))
					if err != nil {
						codes <- 0
						continue
					}
					resp.Body.Close()
					codes <- resp.StatusCode
				}
			}()
		}
		wg.Wait()
	}
	close(codes)
	count := map[int]int{}
	for c := range codes {
		count[c]++
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("apimgw serve did not stop\n%s", stderrText())
	}
	if count[200] == 0 || count[502] == 0 {
		t.Fatalf("responses %v: want some 200 and, past the %d-port budget, 502", count, budget)
	}

	r, err := AnalyzeFiles([]string{logPath}, Options{})
	if err != nil {
		t.Fatalf("diagnose the gateway log: %v\n%s", err, stderrText())
	}
	if r.Totals.BadLines != 0 {
		t.Errorf("gateway log has %d unreadable lines: %+v", r.Totals.BadLines, r.BadLines)
	}
	if r.Totals.Requests != int64(total) || r.Totals.BackendConnectionFailures != int64(count[502]) {
		t.Errorf("totals %+v, clients saw %v", r.Totals, count)
	}
	if r.Verdict != CauseSNATExhaustion || len(r.Incidents) == 0 {
		t.Fatalf("verdict %s, incidents %+v; want snat-exhaustion", r.Verdict, r.Incidents)
	}
	if r.Thresholds.PortsPerInstance != budget {
		t.Errorf("port budget %d, want the gateway's %d from LastErrorDetail", r.Thresholds.PortsPerInstance, budget)
	}
	if m := r.Incidents[0].Metrics; m.GatewaySNATShare != 1 {
		t.Errorf("gatewaySnatShare %v: every failure's LastErrorDetail names the port budget", m.GatewaySNATShare)
	}
	if got := r.Incidents[0].BackendURL; got != backend.URL {
		t.Errorf("incident backendUrl %q, want %q", got, backend.URL)
	}
	// The mitigations name the backend as the gateway's log does
	// (BackendId "orders"), not an entry made up from the URL's IP.
	if got := r.Incidents[0].BackendID; got != "orders" {
		t.Errorf("incident backendId %q, want orders", got)
	}
	for _, m := range r.Mitigations {
		if !strings.HasPrefix(m.Config, "backends:") {
			continue
		}
		if !strings.HasPrefix(m.Config, "backends:\n  orders:") || strings.Contains(m.Config, "url:") {
			t.Errorf("mitigation %s does not change the existing backend orders:\n%s", m.ID, m.Config)
		}
	}
	// The log spans seconds: the incident is clipped to its records and
	// the charts get second-scale bins, with data in more than one.
	first, last := r.Series.OneMinute[0].T, r.Window.End
	for _, in := range r.Incidents {
		if in.Start.Before(r.Window.Start) || in.End.After(last) || in.End.Before(in.Start) {
			t.Errorf("incident %s – %s outside the log's window %s – %s", in.Start, in.End, first, last)
		}
		if in.End.Sub(in.Start) > time.Minute {
			t.Errorf("incident %s – %s is longer than the %s log", in.Start, in.End, last.Sub(first))
		}
	}
	if r.Series.FineBinMs < 100 || r.Series.FineBinMs > 30_000 || len(r.Series.Fine) < 2 {
		t.Errorf("fine series: %d points of %d ms, want ≥ 2 points of 100 ms – 30 s", len(r.Series.Fine), r.Series.FineBinMs)
	}
	var fineTotal int64
	for _, p := range r.Series.Fine {
		fineTotal += p.Requests
	}
	if fineTotal != r.Totals.Requests {
		t.Errorf("fine series counts %d requests, totals %d", fineTotal, r.Totals.Requests)
	}
	var text, page bytes.Buffer
	if err := WriteText(&text, r); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`REQUESTS PER \d+ M?S`).Match(text.Bytes()) || !strings.Contains(text.String(), " orders:   # your existing backend") {
		t.Errorf("text report:\n%s", text.String())
	}
	if err := WriteHTML(&page, r); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(page.String(), "<rect x="); n < 4 {
		t.Errorf("HTML charts draw %d bars for a %d-request log", n, r.Totals.Requests)
	}
	t.Logf("clients saw %v; evidence: %q", count, r.Incidents[0].Evidence)
}
