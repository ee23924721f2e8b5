package gateway

import (
	"net"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// documentedMetrics parses the tables of docs/metrics.md: metric name (or
// a "prefix_*" wildcard) → the labels its row lists.
func documentedMetrics(t *testing.T) map[string][]string {
	t.Helper()
	b, err := os.ReadFile("../../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("^\\| `([a-z_*<>]+)` \\| [a-z]+ \\|([^|]*)\\|")
	tick := regexp.MustCompile("`([a-z_]+)`")
	out := map[string][]string{}
	for _, line := range strings.Split(string(b), "\n") {
		m := row.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		var labels []string
		for _, l := range tick.FindAllStringSubmatch(m[2], -1) {
			labels = append(labels, l[1])
		}
		out[m[1]] = labels
	}
	if len(out) < 20 {
		t.Fatalf("docs/metrics.md: only %d metric rows parsed", len(out))
	}
	return out
}

var descRE = regexp.MustCompile(`fqName: "([^"]+)".*variableLabels: \{([^}]*)\}`)

// registered returns the metric names and variable labels of every
// collector on g's registry.
func registered(t *testing.T, g *Gateway) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, d := range g.MetricDescs() {
		m := descRE.FindStringSubmatch(d.String())
		if m == nil {
			t.Fatalf("cannot parse descriptor %s", d)
		}
		var labels []string
		if m[2] != "" {
			labels = strings.Split(m[2], ",")
		}
		out[m[1]] = labels
	}
	return out
}

func checkDocumented(t *testing.T, docs, reg map[string][]string) {
	t.Helper()
	for name, labels := range reg {
		doc, ok := docs[name]
		if !ok {
			for pat := range docs {
				if p, wild := strings.CutSuffix(pat, "*"); wild && strings.HasPrefix(name, p) {
					ok = true
					doc = nil
					labels = nil // wildcard rows describe a family
					break
				}
			}
		}
		if !ok {
			t.Errorf("metric %s (labels %v) is registered but not listed in docs/metrics.md", name, labels)
			continue
		}
		for _, l := range labels {
			if !slices.Contains(doc, l) {
				t.Errorf("docs/metrics.md: %s lists labels %v, the collector has %v", name, doc, labels)
				break
			}
		}
		if len(doc) != len(labels) && labels != nil {
			t.Errorf("docs/metrics.md: %s lists labels %v, the collector has %v", name, doc, labels)
		}
	}
}

var redisMetrics = []string{"apimgw_store_redis_up", "apimgw_store_errors_total", "apimgw_store_fallback_total"}

// TestMetricsDocumented: every collector a running gateway registers,
// with the memory store and with a Redis store, is in docs/metrics.md with
// its labels; every apimgw_ metric the docs list is registered by one of
// the two; the Redis metrics exist only when Redis is configured.
func TestMetricsDocumented(t *testing.T) {
	docs := documentedMetrics(t)
	be, _, _ := countingBackend(t, "b", func(int) int { return 200 })
	base := `
backends:
  b:
    url: ` + be.URL + `
apis:
  - id: a
    path: a
    backendId: b
    subscriptionRequired: false
    operations: [{id: all, method: GET, urlTemplate: "/*"}]
`
	mem := start(t, map[string]string{"gateway.yaml": base})
	memReg := registered(t, mem.gw)

	// A Redis that does not answer still configures the Redis store (the
	// gateway starts in its fallback mode).
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	red := start(t, map[string]string{"gateway.yaml": "store:\n  type: redis\n  redis: {addr: " + addr + ", dialTimeout: 100ms, timeout: 100ms}\n" + base})
	redReg := registered(t, red.gw)

	checkDocumented(t, docs, memReg)
	checkDocumented(t, docs, redReg)
	for _, name := range redisMetrics {
		if _, ok := memReg[name]; ok {
			t.Errorf("%s registered by a gateway without Redis", name)
		}
		if _, ok := redReg[name]; !ok {
			t.Errorf("%s not registered by a gateway with a Redis store", name)
		}
	}
	for name := range docs {
		if !strings.HasPrefix(name, "apimgw_") || strings.HasSuffix(name, "*") {
			continue
		}
		if _, ok := memReg[name]; !ok {
			if _, ok := redReg[name]; !ok {
				t.Errorf("docs/metrics.md lists %s, which no gateway registers", name)
			}
		}
	}
	// What /metrics serves follows: no Redis series without Redis.
	mfs, err := mem.gw.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if slices.Contains(redisMetrics, mf.GetName()) {
			t.Errorf("memory-store gateway exports %s", mf.GetName())
		}
	}
	mfs, err = red.gw.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	up := false
	for _, mf := range mfs {
		if mf.GetName() == "apimgw_store_redis_up" {
			up = true
			if v := mf.GetMetric()[0].GetGauge().GetValue(); v != 0 {
				t.Errorf("apimgw_store_redis_up = %v with Redis unreachable, want 0", v)
			}
		}
	}
	if !up {
		t.Error("Redis gateway does not export apimgw_store_redis_up")
	}
}
