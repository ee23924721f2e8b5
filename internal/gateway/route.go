package gateway

import (
	"fmt"
	"net/http"
	"sort"
	"strings"

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
type apiRouter struct {
	apis []*apiPlan // sorted by path length, longest first
	// groups holds, when some APIs share a path (versions told apart by
	// query or header, revisions), the APIs of each shared path, by path
	// lower-cased; nil when every API has a path of its own.
	groups map[string][]*apiPlan
	// revisions is set when a non-current revision exists, so that
	// ;rev=N is looked for.
	revisions bool
}

func newAPIRouter(apis []*apiPlan) *apiRouter {
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
	return r
}

// match returns the API and the path relative to it (always starting with
// "/"), or nil. It is matchRequest for a request without query or headers.
func (r *apiRouter) match(path string) (*apiPlan, string) {
	a, rest, _ := r.matchRequest(path, nil, nil)
	return a, rest
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
	return nil, "", ""
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
