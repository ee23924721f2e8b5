package gateway

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/apimgw/apimgw/internal/expr"
)

// refMatchRequest is the router as it was before the index: every API in
// turn, longest path first. The property tests hold the index to it.
func refMatchRequest(r *apiRouter, path string, query *expr.Query, header http.Header) (*apiPlan, string, string) {
	p := strings.TrimPrefix(path, "/")
	for _, a := range r.apis {
		rest := p
		if a.path != "" {
			if !hasPrefixFold(p, a.path) {
				continue
			}
			rest = p[len(a.path):]
		}
		rev := ""
		if r.revisions && strings.HasPrefix(rest, ";rev=") {
			end := strings.IndexByte(rest, '/')
			if end < 0 {
				end = len(rest)
			}
			rev, rest = rest[len(";rev="):end], rest[end:]
		}
		if a.path != "" && rest != "" && rest[0] != '/' {
			continue
		}
		prefix := a.path
		if rev != "" {
			prefix = p[:len(p)-len(rest)]
		}
		chosen := a
		if r.groups != nil {
			if g := r.groups[strings.ToLower(a.path)]; g != nil {
				chosen = selectAPI(g, rev, query, header)
				if chosen == nil {
					return nil, "", ""
				}
			}
		}
		if a.path == "" && rev == "" {
			return chosen, "/" + p, ""
		}
		if rest == "" {
			rest = "/"
		} else if rest[0] != '/' {
			rest = "/" + rest
		}
		return chosen, rest, prefix
	}
	return nil, "", ""
}

// refMatchOperation is operation matching as it was before the index:
// every operation in turn.
func refMatchOperation(a *apiPlan, method, path string, params map[string]string) *opPlan {
	best := a.scanOperations(method, path)
	if best != nil {
		best.tmpl.match(path, params)
	}
	return best
}

// Segments drawn from a small alphabet, in several cases and with
// non-ASCII runes that fold together (K, the Kelvin sign; s, the long s),
// so that prefixes, case folding and boundaries collide often.
var randSegs = []string{"a", "A", "b", "ab", "aB", "k", "\u212a", "s", "\u017f", "é", "É", "x.json", "X.JSON", "", "v1", "V1", "\xff", "\xfe"}

func randSeg(rng *rand.Rand) string { return randSegs[rng.IntN(len(randSegs))] }

func randPath(rng *rand.Rand, maxSegs int) string {
	n := rng.IntN(maxSegs + 1)
	parts := make([]string, n)
	for i := range parts {
		parts[i] = randSeg(rng)
	}
	return strings.Join(parts, "/")
}

func randTemplate(rng *rand.Rand) string {
	n := rng.IntN(4)
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteByte('/')
		switch rng.IntN(6) {
		case 0:
			fmt.Fprintf(&b, "{p%d}", i)
		case 1:
			fmt.Fprintf(&b, "{p%d}.json", i)
		case 2:
			fmt.Fprintf(&b, "%s{p%d}", randSeg(rng), i)
		default:
			s := randSeg(rng)
			if s == "" && i == n-1 {
				s = "a"
			}
			b.WriteString(s)
		}
	}
	switch rng.IntN(5) {
	case 0:
		b.WriteString("/*")
	case 1:
		b.WriteString("/{*rest}")
	case 2:
		if b.Len() > 0 {
			b.WriteString("/")
		}
	}
	if b.Len() == 0 {
		b.WriteString("/")
	}
	if rng.IntN(6) == 0 {
		b.WriteString("?q={query}")
	}
	return b.String()
}

func randRequestPath(rng *rand.Rand, apis []*apiPlan) string {
	var b strings.Builder
	b.WriteByte('/')
	if rng.IntN(4) != 0 && len(apis) > 0 {
		b.WriteString(apis[rng.IntN(len(apis))].path)
		if rng.IntN(4) == 0 {
			fmt.Fprintf(&b, ";rev=%d", 1+rng.IntN(3))
		}
		if rng.IntN(2) == 0 {
			b.WriteByte('/')
		}
	}
	b.WriteString(randPath(rng, 4))
	if rng.IntN(5) == 0 {
		b.WriteByte('/')
	}
	return b.String()
}

func randAPIs(t *testing.T, rng *rand.Rand) []*apiPlan {
	var apis []*apiPlan
	methods := []string{"GET", "POST", "*"}
	for range 1 + rng.IntN(8) {
		a := &apiPlan{path: randPath(rng, 3)}
		switch rng.IntN(6) {
		case 0:
			a.revision, a.noncurrent = fmt.Sprint(1+rng.IntN(3)), true
		case 1:
			a.versionQuery, a.version = "api-version", "v1"
		case 2:
			a.versionHeader, a.version = "X-Ver", "v1"
		}
		for range rng.IntN(12) {
			raw := randTemplate(rng)
			tm, err := parseTemplate(raw)
			if err != nil {
				t.Fatalf("generated template %q: %v", raw, err)
			}
			a.ops = append(a.ops, &opPlan{method: methods[rng.IntN(len(methods))], tmpl: tm})
		}
		apis = append(apis, a)
	}
	return apis
}

// The indexed router and operation tree choose what trying every API and
// every operation in turn chose, with the same rest, prefix and
// parameters, on random APIs, templates and paths.
func TestRouteMatchesReference(t *testing.T) {
	seed := rand.Uint64()
	rng := rand.New(rand.NewPCG(seed, 21))
	queries := []*expr.Query{nil, expr.ParseQuery("api-version=v1"), expr.ParseQuery("api-version=V1")}
	headers := []http.Header{nil, {"X-Ver": {"v1"}}}
	for round := range 4000 {
		apis := randAPIs(t, rng)
		// Half the rounds index every API and operation; the others
		// try few in turn, as the gateway does.
		r := newAPIRouter(apis)
		if round%2 == 0 {
			r = newAPIRouterIndexed(apis, 0)
		}
		for range 30 {
			path := randRequestPath(rng, apis)
			q, h := queries[rng.IntN(len(queries))], headers[rng.IntN(len(headers))]
			ga, grest, gprefix := r.matchRequest(path, q, h)
			wa, wrest, wprefix := refMatchRequest(r, path, q, h)
			if ga != wa || grest != wrest || gprefix != wprefix {
				t.Fatalf("seed %d round %d: %q: got %p %q %q, want %p %q %q (apis %s)", seed, round, path, ga, grest, gprefix, wa, wrest, wprefix, describe(apis))
			}
			if ga == nil {
				continue
			}
			for _, m := range []string{"GET", "POST", "PUT"} {
				gp, wp := map[string]string{}, map[string]string{}
				gop := ga.matchOperation(m, grest, gp)
				wop := refMatchOperation(ga, m, grest, wp)
				if gop != wop || !reflect.DeepEqual(gp, wp) {
					t.Fatalf("seed %d round %d: %s %q in %q: got %v %v, want %v %v (ops %s)", seed, round, m, grest, ga.path, opName(gop), gp, opName(wop), wp, describeOps(ga))
				}
			}
		}
	}
}

func opName(op *opPlan) string {
	if op == nil {
		return "<nil>"
	}
	return op.method + " " + op.tmpl.raw
}

func describe(apis []*apiPlan) string {
	var s []string
	for _, a := range apis {
		s = append(s, fmt.Sprintf("%q(rev %q nc %v vq %q vh %q)", a.path, a.revision, a.noncurrent, a.versionQuery, a.versionHeader))
	}
	return strings.Join(s, ", ")
}

func describeOps(a *apiPlan) string {
	var s []string
	for _, op := range a.ops {
		s = append(s, opName(op))
	}
	return strings.Join(s, ", ")
}

// Every pair of strings strings.EqualFold takes for equal has one foldKey,
// and no other pair does.
func TestFoldKeyIsEqualFold(t *testing.T) {
	rng := rand.New(rand.NewPCG(rand.Uint64(), 7))
	runes := []rune{'a', 'A', 'k', 'K', '\u212a', 's', 'S', '\u017f', 'é', 'É', 'σ', 'Σ', 'ς', '/', '1', 'ß', 'ẞ', 0xfffd}
	gen := func() string {
		var b strings.Builder
		for range rng.IntN(4) {
			if rng.IntN(10) == 0 {
				b.WriteByte(0xff)
				continue
			}
			b.WriteRune(runes[rng.IntN(len(runes))])
		}
		return b.String()
	}
	for range 200000 {
		x, y := gen(), gen()
		if strings.EqualFold(x, y) != (foldKey(x) == foldKey(y)) {
			t.Fatalf("%q %q: EqualFold %v, foldKeys %q %q", x, y, strings.EqualFold(x, y), foldKey(x), foldKey(y))
		}
	}
}

// A node of more literal branches than a list holds (a map then), with
// request segments in other cases and non-ASCII runes that fold.
func TestRouteManyLiterals(t *testing.T) {
	a := &apiPlan{path: "many"}
	var paths []string
	for i := range 3 * litListMax {
		for _, raw := range []string{fmt.Sprintf("/Lit%d", i), fmt.Sprintf("/lit%d/{id}", i), fmt.Sprintf("/\u212a%d/{*rest}", i)} {
			tm, err := parseTemplate(raw)
			if err != nil {
				t.Fatal(err)
			}
			a.ops = append(a.ops, &opPlan{method: "GET", tmpl: tm})
		}
		paths = append(paths, fmt.Sprintf("/LIT%d", i), fmt.Sprintf("/lit%d/7", i), fmt.Sprintf("/k%d/x/y", i), fmt.Sprintf("/K%d", i), fmt.Sprintf("/\u212a%d/", i), fmt.Sprintf("/nope%d", i))
	}
	newAPIRouter([]*apiPlan{a})
	if a.opTree == nil || a.opTree.litMap == nil {
		t.Fatal("want the operation tree's root to hold its literal branches in a map")
	}
	for _, p := range paths {
		gp, wp := map[string]string{}, map[string]string{}
		got, want := a.matchOperation("GET", p, gp), refMatchOperation(a, "GET", p, wp)
		if got != want || !reflect.DeepEqual(gp, wp) {
			t.Errorf("%s: got %s %v, want %s %v", p, opName(got), gp, opName(want), wp)
		}
		if strings.HasPrefix(p, "/lit") && got == nil {
			t.Errorf("%s: no operation", p)
		}
	}
}

// FuzzRouteMatchesReference sends arbitrary paths and methods through the
// indexed router and the linear matcher, over random tables drawn from the
// fuzzer's seed: both must choose the same API, rest, prefix, operation and
// parameters.
func FuzzRouteMatchesReference(f *testing.F) {
	f.Add(uint64(1), "/a/b", "GET")
	f.Add(uint64(2), "/A;rev=2/x.json/", "POST")
	f.Add(uint64(3), "/\u212a/\u017f/\xff//", "*")
	f.Fuzz(func(t *testing.T, seed uint64, path, method string) {
		rng := rand.New(rand.NewPCG(seed, 21))
		apis := randAPIs(t, rng)
		for _, linear := range []int{0, linearMax} {
			r := newAPIRouterIndexed(apis, linear) // indexes the APIs' operations anew
			ga, grest, gprefix := r.matchRequest(path, nil, nil)
			wa, wrest, wprefix := refMatchRequest(r, path, nil, nil)
			if ga != wa || grest != wrest || gprefix != wprefix {
				t.Fatalf("%q: got %p %q %q, want %p %q %q (apis %s)", path, ga, grest, gprefix, wa, wrest, wprefix, describe(apis))
			}
			if ga == nil {
				continue
			}
			gp, wp := map[string]string{}, map[string]string{}
			gop, wop := ga.matchOperation(method, grest, gp), refMatchOperation(ga, method, grest, wp)
			if gop != wop || !reflect.DeepEqual(gp, wp) {
				t.Fatalf("%s %q: got %v %v, want %v %v (ops %s)", method, grest, opName(gop), gp, opName(wop), wp, describeOps(ga))
			}
		}
	})
}

// A plan of many APIs (built as serve builds it) routes each request to
// its API and operation, whatever the case of the path.
func TestRouteLargePlan(t *testing.T) {
	p := buildPlan(t, 60, 10)
	defer p.Close()
	for i := range 60 {
		for j := range 10 {
			path, method := fmt.Sprintf("/svc-%04d/v1/res%d/%d", i, j/2, i*10+j), "GET"
			if (10-1-j)%2 == 0 {
				path, method = path+"/items", "POST"
			}
			if j%3 == 0 {
				path = strings.ToUpper(path)
			}
			params := map[string]string{}
			a, rest, prefix := p.router.matchRequest(path, nil, nil)
			if a == nil {
				t.Fatalf("%s %s: no API", method, path)
			}
			op := a.matchOperation(method, rest, params)
			if a.cfg.ID != fmt.Sprintf("svc-%04d", i) || !strings.EqualFold(prefix, a.path) || op == nil || op.cfg.ID != fmt.Sprintf("op%d", j) || params["id"] != fmt.Sprint(i*10+j) {
				t.Fatalf("%s %s: api %s prefix %q op %s params %v", method, path, a.cfg.ID, prefix, opName(op), params)
			}
		}
	}
	if a, _, _ := p.router.matchRequest("/svc-0061/v1/res0/1", nil, nil); a != nil {
		t.Errorf("an API that does not exist: got %s", a.cfg.ID)
	}
	a, rest, _ := p.router.matchRequest("/svc-0001/v1/res0/1/2", nil, nil)
	if a == nil || a.matchOperation("GET", rest, map[string]string{}) != nil {
		t.Errorf("a path no template matches: got an operation")
	}
}
