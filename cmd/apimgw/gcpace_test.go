package main

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

var gogcMetric = regexp.MustCompile(`(?m)^go_gc_gogc_percent (\S+)$`)

// gogcOf reads the GOGC a running apimgw reports (go_gc_gogc_percent).
func gogcOf(t *testing.T, p *apimgwProc) int {
	t.Helper()
	resp, err := http.Get("http://" + p.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := gogcMetric.FindSubmatch(b)
	if m == nil {
		t.Fatalf("no go_gc_gogc_percent in /metrics")
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	return int(v)
}

// manyAPIs is a configuration of n APIs of 10 operations each.
func manyAPIs(n int) string {
	var b strings.Builder
	b.WriteString("listen: 127.0.0.1:0\nadmin: 127.0.0.1:0\nlogs: {path: /dev/null}\napis:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - id: svc-%d\n    path: svc-%d\n    serviceUrl: http://127.0.0.1:9\n    subscriptionRequired: false\n    operations:\n", i, i)
		for j := range 10 {
			fmt.Fprintf(&b, "      - {id: op-%d, method: GET, urlTemplate: \"/items/{id}/parts/%d\"}\n", j, j)
		}
	}
	return b.String()
}

// serve paces the collector (internal/gcpace): GOGC=400 with a small
// configuration; with 2,000 APIs of 10 operations (about 30 MB of live
// heap: 100 here), lower, toward Go's default, once the plan is built;
// GOGC in the environment wins.
func TestServeGCPace(t *testing.T) {
	dir := writeFiles(t, map[string]string{"small.yaml": manyAPIs(1), "large.yaml": manyAPIs(2000)})

	small := startServe(t, filepath.Join(dir, "small.yaml"))
	if g := gogcOf(t, small); g != 400 {
		t.Errorf("small configuration: GOGC %d, want 400", g)
	}
	small.stop(t)

	large := startServe(t, filepath.Join(dir, "large.yaml"))
	deadline := time.Now().Add(10 * time.Second)
	g := gogcOf(t, large)
	for g == 400 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		g = gogcOf(t, large)
	}
	t.Logf("2,000 APIs: GOGC %d", g)
	if g < 100 || g >= 400 {
		t.Errorf("2,000 APIs: GOGC %d, want under 400 and at least 100 (32 MiB of headroom over more than 8 MiB of live heap)", g)
	}
	large.stop(t)

	env := startApimgw(t, []string{"GOGC=150"}, "serve", "-c", filepath.Join(dir, "large.yaml"))
	time.Sleep(200 * time.Millisecond)
	if g := gogcOf(t, env); g != 150 {
		t.Errorf("GOGC=150 in the environment: GOGC %d", g)
	}
	env.stop(t)
}
