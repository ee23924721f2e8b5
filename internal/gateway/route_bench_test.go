package gateway

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/apimgw/apimgw/internal/config"
	"github.com/apimgw/apimgw/internal/policy"
)

// routeTable returns apis APIs of ops operations each, as an APIOps
// estate names them: "svc-0042/v1" with "/res3/{id}" (GET),
// "/res3/{id}/items" (POST) and so on, the last operation of each API a
// POST ".../{id}/items" whatever the number of operations.
func routeTable(tb testing.TB, apis, ops int) []*apiPlan {
	var out []*apiPlan
	for i := range apis {
		a := &apiPlan{path: fmt.Sprintf("svc-%04d/v1", i)}
		for j := range ops {
			raw := fmt.Sprintf("/res%d/{id}", j/2)
			method := "GET"
			if (ops-1-j)%2 == 0 {
				raw += "/items"
				method = "POST"
			}
			tm, err := parseTemplate(raw)
			if err != nil {
				tb.Fatal(err)
			}
			a.ops = append(a.ops, &opPlan{method: method, tmpl: tm})
		}
		out = append(out, a)
	}
	return out
}

// BenchmarkRoute measures finding the API and the operation of a request
// (with its template parameters) as the number of operations grows: 1; 10
// APIs × 10 operations; 100 × 10; 1,000 × 10. The request is for the last
// operation of the last API, the worst place for a scan. "index" is the
// gateway's router; "linear" the matcher it replaced (route_ref_test.go),
// for comparison.
// Run: go test -run XXX -bench Route -benchtime 200000x ./internal/gateway
func BenchmarkRoute(b *testing.B) {
	for _, size := range []struct{ apis, ops int }{{1, 1}, {10, 10}, {100, 10}, {1000, 10}} {
		apis := routeTable(b, size.apis, size.ops)
		r := newAPIRouter(apis)
		last := apis[len(apis)-1]
		lastOp := last.ops[len(last.ops)-1]
		path := "/" + last.path + strings.Replace(lastOp.tmpl.raw, "{id}", "42", 1)
		method := lastOp.method
		params := map[string]string{}
		n := size.apis * size.ops
		b.Run(fmt.Sprintf("index/ops=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				clear(params)
				a, rest, _ := r.matchRequest(path, nil, nil)
				if a == nil || a.matchOperation(method, rest, params) != lastOp {
					b.Fatalf("%s %s: no match", method, path)
				}
			}
		})
		b.Run(fmt.Sprintf("linear/ops=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				clear(params)
				a, rest, _ := refMatchRequest(r, path, nil, nil)
				if a == nil || refMatchOperation(a, method, rest, params) != lastOp {
					b.Fatalf("%s %s: no match", method, path)
				}
			}
		})
	}
}

// buildPlan builds the plan of apis APIs of ops operations each (as
// routeTable names them), through config.Load and Build, as serve does.
func buildPlan(tb testing.TB, apis, ops int) *Plan {
	var y strings.Builder
	y.WriteString("apis:\n")
	for i := range apis {
		fmt.Fprintf(&y, "  - id: svc-%04d\n    path: svc-%04d/v1\n    serviceUrl: http://127.0.0.1:1\n    subscriptionRequired: false\n    operations:\n", i, i)
		for j := range ops {
			raw, method := fmt.Sprintf("/res%d/{id}", j/2), "GET"
			if (ops-1-j)%2 == 0 {
				raw, method = raw+"/items", "POST"
			}
			fmt.Fprintf(&y, "      - {id: op%d, method: %s, urlTemplate: %q}\n", j, method, raw)
		}
	}
	dir := tb.TempDir()
	path := filepath.Join(dir, "gateway.yaml")
	if err := os.WriteFile(path, []byte(y.String()), 0o644); err != nil {
		tb.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		tb.Fatal(err)
	}
	p, err := Build(cfg, &policy.Env{}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

func heapAfterGC() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkPlanMemory reports what a plan holds per operation: the heap in
// use with a plan of 1,000 APIs × 10 operations built, less that with a
// plan of one API of 10 operations, divided by the 9,990 more operations
// (the configuration it was built from included). Each iteration builds
// both plans; the figure is the mean.
// Run: go test -run XXX -bench PlanMemory -benchtime 3x ./internal/gateway
func BenchmarkPlanMemory(b *testing.B) {
	var total float64
	for b.Loop() {
		base := heapAfterGC()
		small := buildPlan(b, 1, 10)
		withSmall := heapAfterGC()
		big := buildPlan(b, 1000, 10)
		withBig := heapAfterGC()
		if _, n := small.Count(); n != 10 {
			b.Fatalf("small plan: %d operations", n)
		}
		if _, n := big.Count(); n != 10000 {
			b.Fatalf("big plan: %d operations", n)
		}
		small.Close()
		big.Close()
		total += (float64(withBig-withSmall) - float64(withSmall-base)) / float64(1000*10-10)
	}
	b.ReportMetric(total/float64(b.N), "heapB/operation")
	b.ReportMetric(0, "ns/op")
}
