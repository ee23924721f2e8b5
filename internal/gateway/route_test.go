package gateway

import (
	"reflect"
	"regexp"
	"testing"
)

func TestTemplateMatch(t *testing.T) {
	cases := []struct {
		tmpl, path string
		ok         bool
		params     map[string]string
	}{
		{"/orders/{id}", "/orders/42", true, map[string]string{"id": "42"}},
		{"/orders/{id}", "/ORDERS/42", true, map[string]string{"id": "42"}},
		{"/orders/{id}", "/orders/42/items", false, nil},
		{"/orders/{id}", "/orders/", false, nil},
		{"/orders", "/orders", true, map[string]string{}},
		{"/orders", "/orders/", true, map[string]string{}},
		{"/", "/", true, map[string]string{}},
		{"/*", "/a/b/c", true, map[string]string{}},
		{"/*", "/", true, map[string]string{}},
		{"/files/{*path}", "/files/a/b.txt", true, map[string]string{"path": "a/b.txt"}},
		{"/items/{id}.json", "/items/7.json", true, map[string]string{"id": "7"}},
		{"/items/{id}.json", "/items/7.xml", false, nil},
		{"/search?q={query}", "/search", true, map[string]string{}},
		{"/a/{x}/b/{y}", "/a/1/b/2", true, map[string]string{"x": "1", "y": "2"}},
	}
	for _, c := range cases {
		tm, err := parseTemplate(c.tmpl)
		if err != nil {
			t.Fatalf("%s: %v", c.tmpl, err)
		}
		ok := tm.match(c.path, nil)
		if ok != c.ok {
			t.Errorf("%s ~ %s: ok=%v, want %v", c.tmpl, c.path, ok, c.ok)
			continue
		}
		params := map[string]string{}
		tm.match(c.path, params)
		if ok && !reflect.DeepEqual(params, c.params) {
			t.Errorf("%s ~ %s: params %v, want %v", c.tmpl, c.path, params, c.params)
		}
	}
}

func TestTemplateErrors(t *testing.T) {
	for _, s := range []string{"orders", "/a/{*rest}/b", "/a/{x}{y}", "/a/{x}/{x}", "/a/*/b", "/a/{bad name}", "/a}"} {
		if _, err := parseTemplate(s); err == nil {
			t.Errorf("%q: want an error", s)
		}
	}
}

func TestTemplateSpecificity(t *testing.T) {
	lit, _ := parseTemplate("/orders/latest")
	param, _ := parseTemplate("/orders/{id}")
	wild, _ := parseTemplate("/*")
	if !lit.better(param) || !param.better(wild) || wild.better(lit) {
		t.Fatal("literal segments must beat parameters, parameters beat wildcards")
	}
}

func TestAPIRouterLongestPrefix(t *testing.T) {
	a := &apiPlan{path: "orders"}
	b := &apiPlan{path: "orders/v2"}
	root := &apiPlan{path: ""}
	r := newAPIRouter([]*apiPlan{a, root, b})
	cases := []struct {
		path string
		want *apiPlan
		rest string
	}{
		{"/orders/v2/x", b, "/x"},
		{"/orders/1", a, "/1"},
		{"/orders", a, "/"},
		{"/ordersx", root, "/ordersx"},
		{"/other", root, "/other"},
	}
	for _, c := range cases {
		got, rest := r.match(c.path)
		if got != c.want || rest != c.rest {
			t.Errorf("%s: got %v %q, want %v %q", c.path, got, rest, c.want, c.rest)
		}
	}
}

// Request ids are version 4 GUIDs, as APIM's, and do not repeat.
func TestRequestIDsAreRandomGUIDs(t *testing.T) {
	v4 := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := map[string]bool{}
	for range 10000 {
		id := newRequestID()
		if !v4.MatchString(id) {
			t.Fatalf("request id %q is not a version 4 GUID", id)
		}
		if seen[id] {
			t.Fatalf("request id %q twice", id)
		}
		seen[id] = true
	}
}
