package gateway

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/apimgw/apimgw/internal/expr"
)

// template is a compiled APIM URL template such as "/orders/{id}",
// "/files/{*path}", "/*" or "/search?q={query}".
type template struct {
	raw   string
	segs  []tmplSeg
	query []queryParam
	// score orders matches: more literal segments win, then fewer
	// parameters, then no catch-all.
	literals, params int
	catchAll         bool
}

type tmplSeg struct {
	lit            string // literal segment (compared case-insensitively)
	param          string // parameter name when the segment holds {name}
	prefix, suffix string // literal text around the parameter in the segment
	catchAll       bool   // {*name} or *: matches the rest of the path
}

type queryParam struct{ name, param string }

// parseTemplate compiles an operation's urlTemplate.
func parseTemplate(raw string) (*template, error) {
	t := &template{raw: raw}
	p, q, _ := strings.Cut(raw, "?")
	if !strings.HasPrefix(p, "/") {
		return nil, fmt.Errorf("urlTemplate must start with /")
	}
	seen := map[string]bool{}
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	for i, s := range parts {
		if s == "" && i == len(parts)-1 {
			break // trailing slash or the root template "/"
		}
		last := i == len(parts)-1
		if s == "*" {
			if !last {
				return nil, fmt.Errorf("wildcard * must be the last segment")
			}
			t.segs = append(t.segs, tmplSeg{catchAll: true})
			t.catchAll = true
			continue
		}
		open := strings.IndexByte(s, '{')
		if open < 0 {
			if strings.ContainsAny(s, "}") {
				return nil, fmt.Errorf("unbalanced } in segment %q", s)
			}
			t.segs = append(t.segs, tmplSeg{lit: s})
			t.literals++
			continue
		}
		close := strings.IndexByte(s, '}')
		if close < open || strings.Count(s, "{") != 1 || strings.Count(s, "}") != 1 {
			return nil, fmt.Errorf("segment %q: use one {parameter} per segment", s)
		}
		name := s[open+1 : close]
		seg := tmplSeg{prefix: s[:open], suffix: s[close+1:]}
		if strings.HasPrefix(name, "*") {
			if !last || seg.prefix != "" || seg.suffix != "" {
				return nil, fmt.Errorf("catch-all {%s} must be a whole, last segment", name)
			}
			name = name[1:]
			seg.catchAll = true
			t.catchAll = true
		}
		if !validParamName(name) {
			return nil, fmt.Errorf("invalid parameter name %q", name)
		}
		if seen[strings.ToLower(name)] {
			return nil, fmt.Errorf("parameter %q used twice", name)
		}
		seen[strings.ToLower(name)] = true
		seg.param = name
		t.segs = append(t.segs, seg)
		t.params++
	}
	if q != "" {
		for _, kv := range strings.Split(q, "&") {
			k, v, _ := strings.Cut(kv, "=")
			if k == "" {
				return nil, fmt.Errorf("empty query parameter in template")
			}
			qp := queryParam{name: k}
			if strings.HasPrefix(v, "{") && strings.HasSuffix(v, "}") {
				qp.param = v[1 : len(v)-1]
				if !validParamName(qp.param) || seen[strings.ToLower(qp.param)] {
					return nil, fmt.Errorf("invalid or repeated query parameter name %q", qp.param)
				}
				seen[strings.ToLower(qp.param)] = true
			}
			t.query = append(t.query, qp)
		}
	}
	return t, nil
}

func validParamName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r == '_' || r == '-' || r == '.' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// match matches path (relative to the API, starting with "/"). With params
// nil it only tests; callers fill params (which may then be written even on
// a mismatch) only for a template they know matches.
func (t *template) match(path string, params map[string]string) bool {
	rest := strings.TrimPrefix(path, "/")
	for _, seg := range t.segs {
		if seg.catchAll {
			if seg.param != "" && params != nil {
				params[seg.param] = rest
			}
			return true
		}
		if rest == "" {
			return false
		}
		var s string
		s, rest, _ = strings.Cut(rest, "/")
		if seg.param == "" {
			if !strings.EqualFold(s, seg.lit) {
				return false
			}
			continue
		}
		if len(s) <= len(seg.prefix)+len(seg.suffix) || !hasPrefixFold(s, seg.prefix) || !hasSuffixFold(s, seg.suffix) {
			return false
		}
		if params != nil {
			params[seg.param] = s[len(seg.prefix) : len(s)-len(seg.suffix)]
		}
	}
	return rest == ""
}

func hasPrefixFold(s, p string) bool { return len(s) >= len(p) && strings.EqualFold(s[:len(p)], p) }
func hasSuffixFold(s, p string) bool {
	return len(s) >= len(p) && strings.EqualFold(s[len(s)-len(p):], p)
}

// better reports whether t is a more specific match than o.
func (t *template) better(o *template) bool {
	if t.literals != o.literals {
		return t.literals > o.literals
	}
	if t.catchAll != o.catchAll {
		return !t.catchAll
	}
	return t.params < o.params
}

// apiRouter finds the API whose path is the longest prefix of a request path.
// It looks the request path's prefixes that end at a segment boundary up
// in a map keyed by the case-folded API path, longest first, so its cost
// grows with the length of the request path, not with the number of APIs.
type apiRouter struct {
	apis []*apiPlan // sorted by path length, longest first
	// groups holds, when some APIs share a path (versions told apart by
	// query or header, revisions), the APIs of each shared path, by path
	// lower-cased; nil when every API has a path of its own.
	groups map[string][]*apiPlan
	// revisions is set when a non-current revision exists, so that
	// ;rev=N is looked for.
	revisions bool
	// byPath holds the entries of apis by foldKey of their path (in the
	// order of apis); root is the API of path "", if any; maxLen is the
	// longest API path, in bytes.
	byPath map[string][]routeEntry
	root   *routeEntry
	maxLen int
	// entries are the entries of apis, in order, for a router of few
	// APIs, which tries each in turn (cheaper than the map for a few).
	entries []routeEntry
}

// linearMax is the number of APIs (of a router) or operations (of an API)
// up to which trying each in turn is cheaper than the index.
const linearMax = 4

// routeEntry is an API of the router with its group (nil when it has its
// path alone).
type routeEntry struct {
	api   *apiPlan
	group []*apiPlan
}

func newAPIRouter(apis []*apiPlan) *apiRouter { return newAPIRouterIndexed(apis, linearMax) }

// newAPIRouterIndexed is newAPIRouter with the number of APIs or
// operations up to which they are tried in turn (0: index them always).
func newAPIRouterIndexed(apis []*apiPlan, linear int) *apiRouter {
	sorted := append([]*apiPlan(nil), apis...)
	sort.SliceStable(sorted, func(i, j int) bool { return len(sorted[i].path) > len(sorted[j].path) })
	r := &apiRouter{}
	byPath := map[string][]*apiPlan{}
	for _, a := range sorted {
		k := strings.ToLower(a.path)
		if len(byPath[k]) == 0 {
			r.apis = append(r.apis, a)
		}
		byPath[k] = append(byPath[k], a)
		if a.noncurrent {
			r.revisions = true
		}
	}
	for k, g := range byPath {
		if len(g) > 1 || g[0].noncurrent || g[0].versionQuery != "" || g[0].versionHeader != "" {
			if r.groups == nil {
				r.groups = map[string][]*apiPlan{}
			}
			r.groups[k] = g
		}
	}
	for _, a := range sorted {
		a.index(linear)
	}
	if len(r.apis) <= linear {
		for _, a := range r.apis {
			e := routeEntry{api: a}
			if r.groups != nil {
				e.group = r.groups[strings.ToLower(a.path)]
			}
			r.entries = append(r.entries, e)
		}
		return r
	}
	r.byPath = make(map[string][]routeEntry, len(r.apis))
	for _, a := range r.apis {
		e := routeEntry{api: a}
		if r.groups != nil {
			e.group = r.groups[strings.ToLower(a.path)]
		}
		if a.path == "" {
			if r.root == nil {
				r.root = &e
			}
			continue
		}
		k := foldKey(a.path)
		r.byPath[k] = append(r.byPath[k], e)
		r.maxLen = max(r.maxLen, len(a.path))
	}
	return r
}

// match returns the API and the path relative to it (always starting with
// "/"), or nil. It is matchRequest for a request without query or headers.
func (r *apiRouter) match(path string) (*apiPlan, string) {
	a, rest, _ := r.matchRequest(path, nil, nil)
	return a, rest
}

// find returns the entry of the longest API path that prefixes p (case
// folded) and ends where p ends, at a "/" or, with revisions, at ";rev=";
// the root API when none does; nil without a root API.
func (r *apiRouter) find(p string) *routeEntry {
	if r.byPath == nil {
		for i := range r.entries {
			e := &r.entries[i]
			if r.boundary(p, e.api.path) {
				return e
			}
		}
		return nil
	}
	// The common case, a path that is its own foldKey as far as API
	// paths go: look its prefixes up as they are.
	var found *routeEntry
	end := min(len(p), r.maxLen)
	for i := 0; i <= end; i++ {
		if i > 0 && (i == len(p) || p[i] == '/' || r.revisions && p[i] == ';' && strings.HasPrefix(p[i:], ";rev=")) {
			if e := entryOfLen(r.byPath[p[:i]], i); e != nil {
				found = e
			}
		}
		if i == len(p) {
			break
		}
		if c := p[i]; c >= utf8.RuneSelf || 'A' <= c && c <= 'Z' {
			return r.findFolded(p)
		}
	}
	if found == nil {
		return r.root
	}
	return found
}

// entryOfLen is the entry of es whose API path is n bytes long (the
// prefix that was looked up), nil when there is none.
func entryOfLen(es []routeEntry, n int) *routeEntry {
	for j := range es {
		if len(es[j].api.path) == n {
			return &es[j]
		}
	}
	return nil
}

// findFolded is find for a path with upper-case letters or non-ASCII
// runes: it looks up the foldKey of its prefixes.
func (r *apiRouter) findFolded(p string) *routeEntry {
	var buf [128]byte
	key := buf[:0]
	// same: p[:i] is its own foldKey so far (key is not built).
	same := true
	var found *routeEntry
	end := min(len(p), r.maxLen)
	for i := 0; i <= end; {
		if i > 0 && (i == len(p) || p[i] == '/' || r.revisions && strings.HasPrefix(p[i:], ";rev=")) {
			k := p[:i]
			var es []routeEntry
			if same {
				es = r.byPath[k]
			} else {
				es = r.byPath[string(key)]
			}
			if e := entryOfLen(es, i); e != nil {
				found = e
			}
		}
		if i == len(p) {
			break
		}
		c := p[i]
		if c < utf8.RuneSelf {
			if 'A' <= c && c <= 'Z' {
				if same {
					key, same = append(key, p[:i]...), false
				}
				c += 'a' - 'A'
			}
			if !same {
				key = append(key, c)
			}
			i++
			continue
		}
		ru, n := utf8.DecodeRuneInString(p[i:])
		f := foldRune(ru)
		if same && (f != ru || ru == utf8.RuneError) {
			key, same = append(key, p[:i]...), false
		}
		if !same {
			key = utf8.AppendRune(key, f)
		}
		i += n
	}
	if found == nil {
		return r.root
	}
	return found
}

// boundary reports whether API path ap selects p: it is "" or it prefixes
// p (case folded), up to p's end, a "/" or, with revisions, ";rev=".
func (r *apiRouter) boundary(p, ap string) bool {
	if ap == "" {
		return true
	}
	if !hasPrefixFold(p, ap) {
		return false
	}
	rest := p[len(ap):]
	return rest == "" || rest[0] == '/' || r.revisions && strings.HasPrefix(rest, ";rev=")
}

// matchRequest returns the API of a request, the path relative to it
// (always starting with "/") and the prefix of the path that selected it
// (the API path, with ;rev=N when the request named a revision), or nil.
// Among APIs of one path, a revision named by ;rev=N, then a version named
// by the version set's query parameter or header, selects; without them,
// the current revision of the API that has no such version (the
// "Original" or a Segment version) answers.
func (r *apiRouter) matchRequest(path string, query *expr.Query, header http.Header) (*apiPlan, string, string) {
	p := strings.TrimPrefix(path, "/")
	e := r.find(p)
	if e == nil {
		return nil, "", ""
	}
	a := e.api
	rest := p[len(a.path):]
	rev := ""
	if r.revisions && strings.HasPrefix(rest, ";rev=") {
		end := strings.IndexByte(rest, '/')
		if end < 0 {
			end = len(rest)
		}
		rev, rest = rest[len(";rev="):end], rest[end:]
	}
	prefix := a.path
	if rev != "" {
		prefix = p[:len(p)-len(rest)]
	}
	chosen := a
	if e.group != nil {
		chosen = selectAPI(e.group, rev, query, header)
		if chosen == nil {
			return nil, "", ""
		}
	}
	if a.path == "" && rev == "" {
		if path != "" && path[0] == '/' {
			return chosen, path, "" // "/" + p without building it again
		}
		return chosen, "/" + p, ""
	}
	if rest == "" {
		rest = "/"
	} else if rest[0] != '/' {
		rest = "/" + rest
	}
	return chosen, rest, prefix
}

// foldRune maps every rune of a simple case-folding orbit (the runes
// strings.EqualFold takes for equal) to one of them: the smallest, lower
// case when that is an ASCII letter.
func foldRune(r rune) rune {
	if r < utf8.RuneSelf {
		if 'A' <= r && r <= 'Z' {
			r += 'a' - 'A'
		}
		return r
	}
	m := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		m = min(m, f)
	}
	if 'A' <= m && m <= 'Z' {
		m += 'a' - 'A'
	}
	return m
}

// foldKey returns s with every rune replaced by foldRune's (invalid UTF-8
// by utf8.RuneError, as strings.EqualFold reads it): strings.EqualFold(a,
// b) exactly when foldKey(a) == foldKey(b).
func foldKey(s string) string {
	return string(appendFoldKey(nil, s))
}

func appendFoldKey(dst []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			dst = append(dst, c)
			i++
			continue
		}
		ru, n := utf8.DecodeRuneInString(s[i:])
		dst = utf8.AppendRune(dst, foldRune(ru))
		i += n
	}
	return dst
}

// selectAPI picks among the APIs of one path by revision and version.
func selectAPI(g []*apiPlan, rev string, query *expr.Query, header http.Header) *apiPlan {
	var fallback *apiPlan
	for _, a := range g {
		if rev != "" {
			if a.revision != rev {
				continue
			}
		} else if a.noncurrent {
			continue
		}
		switch {
		case a.versionQuery != "":
			if query != nil {
				if v, ok := query.Get(a.versionQuery); ok && strings.EqualFold(v, a.version) {
					return a
				}
			}
		case a.versionHeader != "":
			if v := header.Get(a.versionHeader); v != "" && strings.EqualFold(v, a.version) {
				return a
			}
		default:
			if fallback == nil {
				fallback = a
			}
		}
	}
	return fallback
}

// opNode is a node of an API's operation tree: the operations whose
// template's segments lead to it, by the shape of each segment (a literal,
// compared case-insensitively; a parameter with the literal text around
// it; a catch-all). Finding a request's operation walks the branches its
// path's segments match, so its cost grows with the path's length and the
// templates' shapes along it, not with the number of operations.
type opNode struct {
	// lits are the literal segments' branches by foldKey: in litList
	// while there are litListMax or fewer, in litMap after.
	litList []litEdge
	litMap  map[string]*opNode
	params  []paramEdge
	// end holds the templates ending here; star those ending here with a
	// catch-all "*", starName with a catch-all {*name} (one more
	// parameter); nil when there are none.
	end, star, starName *opSet
}

// litListMax is the number of literal branches a node keeps in a list,
// which takes less memory than a map and is searched as fast.
const litListMax = 8

type litEdge struct {
	key  string
	next *opNode
}

// lit returns the branch of the literal segment of foldKey k, or nil.
func (n *opNode) lit(k string) *opNode {
	if n.litMap != nil {
		return n.litMap[k]
	}
	for i := range n.litList {
		if n.litList[i].key == k {
			return n.litList[i].next
		}
	}
	return nil
}

// addLit adds the branch of the literal segment of foldKey k.
func (n *opNode) addLit(k string, next *opNode) {
	if n.litMap != nil {
		n.litMap[k] = next
		return
	}
	if len(n.litList) < litListMax {
		n.litList = append(n.litList, litEdge{k, next})
		return
	}
	n.litMap = make(map[string]*opNode, len(n.litList)+1)
	for _, e := range n.litList {
		n.litMap[e.key] = e.next
	}
	n.litMap[k] = next
	n.litList = nil
}

// set returns *p, made when nil.
func (n *opNode) set(p **opSet) *opSet {
	if *p == nil {
		*p = &opSet{}
	}
	return *p
}

type paramEdge struct {
	prefix, suffix string
	next           *opNode
}

// opSet holds, by method, the first operation of the API (in order)
// among those of one template shape; any is the first of method "*".
type opSet struct {
	methods []methodOp
	any     *indexedOp
}

type methodOp struct {
	method string
	op     indexedOp
}

type indexedOp struct {
	op  *opPlan
	idx int // the operation's position in apiPlan.ops
}

func (s *opSet) add(op *opPlan, idx int) {
	if op.method == "*" {
		if s.any == nil {
			s.any = &indexedOp{op, idx}
		}
		return
	}
	for _, m := range s.methods {
		if m.method == op.method {
			return
		}
	}
	s.methods = append(s.methods, methodOp{op.method, indexedOp{op, idx}})
}

// index builds the API's operation tree, unless it has linear operations
// or fewer.
func (a *apiPlan) index(linear int) {
	a.opTree = nil
	if len(a.ops) <= linear {
		return
	}
	root := &opNode{}
	for i, op := range a.ops {
		n := root
		for _, seg := range op.tmpl.segs {
			switch {
			case seg.catchAll:
				if seg.param != "" {
					n.set(&n.starName).add(op, i)
				} else {
					n.set(&n.star).add(op, i)
				}
				n = nil
			case seg.param == "":
				k := seg.lit
				if !isFoldKey(k) {
					k = foldKey(k)
				}
				next := n.lit(k)
				if next == nil {
					next = &opNode{}
					n.addLit(k, next)
				}
				n = next
			default:
				var next *opNode
				for _, e := range n.params {
					if e.prefix == seg.prefix && e.suffix == seg.suffix {
						next = e.next
						break
					}
				}
				if next == nil {
					next = &opNode{}
					n.params = append(n.params, paramEdge{seg.prefix, seg.suffix, next})
				}
				n = next
			}
			if n == nil {
				break
			}
		}
		if n != nil {
			n.set(&n.end).add(op, i)
		}
	}
	a.opTree = root
}

// opMatch is the best operation found so far.
type opMatch struct {
	best   *opPlan
	idx    int
	method string
}

// offer makes the candidates of s for m.method the best when they are
// better (template.better) or as good and earlier in the API: what trying
// every operation in turn would choose.
func (m *opMatch) offer(s *opSet) {
	if s == nil {
		return
	}
	for i := range s.methods {
		if s.methods[i].method == m.method {
			m.consider(&s.methods[i].op)
			break
		}
	}
	if s.any != nil {
		m.consider(s.any)
	}
}

func (m *opMatch) consider(c *indexedOp) {
	if m.best == nil || c.op.tmpl.better(m.best.tmpl) || !m.best.tmpl.better(c.op.tmpl) && c.idx < m.idx {
		m.best, m.idx = c.op, c.idx
	}
}

// walk offers the operations of n and below that match rest, the part
// of the path after n's segments (no leading "/").
func (n *opNode) walk(rest string, m *opMatch) {
	m.offer(n.star)
	m.offer(n.starName)
	if rest == "" {
		m.offer(n.end)
		return
	}
	s, next, _ := strings.Cut(rest, "/")
	if n.litMap != nil || n.litList != nil {
		var c *opNode
		if isFoldKey(s) {
			c = n.lit(s)
		} else if n.litMap != nil {
			var buf [64]byte
			c = n.litMap[string(appendFoldKey(buf[:0], s))]
		} else {
			var buf [64]byte
			k := appendFoldKey(buf[:0], s)
			for i := range n.litList {
				if n.litList[i].key == string(k) {
					c = n.litList[i].next
					break
				}
			}
		}
		if c != nil {
			c.walk(next, m)
		}
	}
	for i := range n.params {
		e := &n.params[i]
		if len(s) > len(e.prefix)+len(e.suffix) && hasPrefixFold(s, e.prefix) && hasSuffixFold(s, e.suffix) {
			e.next.walk(next, m)
		}
	}
}

// isFoldKey reports whether s is its own foldKey, as a lower-case ASCII
// string is.
func isFoldKey(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf || 'A' <= c && c <= 'Z' {
			return false
		}
	}
	return true
}
