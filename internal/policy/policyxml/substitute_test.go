package policyxml

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSubstitute(t *testing.T) {
	values := map[string]string{
		"backend-url": "https://orders.internal",
		"key.v2":      "k&1",
		"expr":        "@(DateTime.UtcNow.ToString())",
		"token":       "T",
	}
	tests := []struct {
		name, src, want string
		errs            []string // wanted error strings, in order
	}{
		{name: "none", src: `<base />`, want: `<base />`},
		{name: "attribute", src: `<set-backend-service base-url="{{backend-url}}" />`, want: `<set-backend-service base-url="https://orders.internal" />`},
		{name: "mixed text", src: `<value>Bearer {{token}}!</value>`, want: `<value>Bearer T!</value>`},
		{name: "dots and verbatim value", src: `<value>{{key.v2}}</value>`, want: `<value>k&1</value>`},
		{name: "expression value", src: `<value>{{expr}}</value>`, want: `<value>@(DateTime.UtcNow.ToString())</value>`},
		{name: "inside C# string", src: `<value>@("{{token}}" + "x")</value>`, want: `<value>@("T" + "x")</value>`},
		{name: "adjacent", src: `{{token}}{{token}}`, want: `TT`},
		{name: "blanks are not a name", src: `<value>{{ token }}</value>`, want: `<value>{{ token }}</value>`},
		{name: "empty name", src: `{{}}`, want: `{{}}`},
		{name: "unclosed", src: `{{token`, want: `{{token`},
		{name: "value not rescanned", src: `{{a}}`, want: `{{token}}`},
		{name: "comment untouched", src: "<!-- {{missing}} -->\n<base/>", want: "<!-- {{missing}} -->\n<base/>"},
		{
			name: "liquid keeps unknown, replaces known",
			src:  `<set-body template="liquid">{"a":"{{body.name}}","t":"{{token}}"}</set-body>{{token}}`,
			want: `<set-body template="liquid">{"a":"{{body.name}}","t":"T"}</set-body>T`,
		},
		{
			name: "liquid single quotes and spaces",
			src:  `<set-body template = 'liquid' >{{body.x}}</set-body>`,
			want: `<set-body template = 'liquid' >{{body.x}}</set-body>`,
		},
		{
			name: "liquid region ends at end tag",
			src:  "<set-body template=\"liquid\">{{body.x}}</set-body>\n  <value>{{missing}}</value>",
			errs: []string{"2:10: unknown named value {{missing}}"},
		},
		{
			name: "non-liquid set-body",
			src:  `<set-body>{{body.x}}</set-body>`,
			errs: []string{"1:11: unknown named value {{body.x}}"},
		},
		{
			name: "self-closing liquid set-body opens no region",
			src:  `<set-body template="liquid" />{{body.x}}`,
			errs: []string{"1:31: unknown named value {{body.x}}"},
		},
		{
			name: "every unknown reported, columns in characters",
			src:  "<value>é{{a-1}}</value>\n\t<value>{{b_2}}</value>",
			errs: []string{"1:9: unknown named value {{a-1}}", "2:9: unknown named value {{b_2}}"},
		},
	}
	values["a"] = "{{token}}"
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Substitute([]byte(tt.src), values)
			if len(tt.errs) > 0 {
				var list ErrorList
				if !errors.As(err, &list) {
					t.Fatalf("error %v, want ErrorList %q", err, tt.errs)
				}
				if len(list) != len(tt.errs) {
					t.Fatalf("errors %q, want %q", err, tt.errs)
				}
				for i, e := range list {
					if e.Error() != tt.errs[i] {
						t.Errorf("error %d = %q, want %q", i, e.Error(), tt.errs[i])
					}
				}
				var se *SyntaxError
				if !errors.As(err, &se) || se != list[0] {
					t.Errorf("errors.As does not find the first *SyntaxError")
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if string(got) != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

// TestCorpusSubstitute checks on every corpus file that the named values found
// outside Liquid templates can be substituted, that every Liquid template
// stays intact apart from known names, and that the result still parses.
func TestNamedValues(t *testing.T) {
	src := []byte("<a b=\"{{x}}\">{{y}}{{x}}<!-- {{c}} --><set-body template=\"liquid\">{{body.z}}</set-body>{{ w }}{{z.1}}</a>")
	got := NamedValues(src)
	want := []string{"x", "y", "z.1"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("NamedValues = %q, want %q", got, want)
	}
	if NamedValues([]byte("<base/>")) != nil {
		t.Errorf("NamedValues of a file without references is not empty")
	}
}

func TestCorpusSubstitute(t *testing.T) {
	files := corpusFiles(t)
	withRefs, names := 0, map[string]bool{}
	for _, rel := range files {
		if _, bad := knownBad[rel]; bad {
			continue
		}
		src, err := os.ReadFile(filepath.Join(corpusDir, rel))
		if err != nil {
			t.Fatal(err)
		}
		values := map[string]string{}
		for _, n := range NamedValues(src) {
			values[n] = "NV-" + strings.ReplaceAll(n, ".", "-")
		}
		var list ErrorList
		if _, err := Substitute(src, nil); err != nil {
			if !errors.As(err, &list) {
				t.Fatalf("%s: %v is not an ErrorList", rel, err)
			}
			withRefs++
			for _, e := range list {
				name := strings.TrimSuffix(strings.TrimPrefix(e.Msg, "unknown named value {{"), "}}")
				if _, ok := values[name]; !ok {
					t.Errorf("%s: NamedValues does not list %q", rel, name)
				}
				names[name] = true
			}
		}
		if len(list) == 0 && len(values) > 0 {
			t.Errorf("%s: NamedValues lists %v but Substitute needs none", rel, values)
		}
		out, err := Substitute(src, values)
		if err != nil {
			t.Errorf("%s: with every reported name given: %v", rel, err)
			continue
		}
		before, err1 := Parse(rel, src)
		after, err2 := Parse(rel, out)
		if err1 != nil || err2 != nil {
			t.Errorf("%s: parse before: %v, after: %v", rel, err1, err2)
			continue
		}
		if n := countRefsOutsideLiquid(before); n != len(list) {
			t.Errorf("%s: %d unknown-name errors, want one per reference outside Liquid templates (%d): %v", rel, len(list), n, list)
		}
		lb, la := liquidBodies(before), liquidBodies(after)
		if len(lb) != len(la) {
			t.Errorf("%s: %d liquid bodies before, %d after", rel, len(lb), len(la))
			continue
		}
		for i := range lb {
			want := lb[i]
			for n, v := range values {
				want = strings.ReplaceAll(want, "{{"+n+"}}", v)
			}
			if la[i] != want {
				t.Errorf("%s: liquid body %d changed:\n got %q\nwant %q", rel, i, la[i], want)
			}
		}
	}
	t.Logf("%d files reference %d distinct named values", withRefs, len(names))
}

// liquidBodies returns the text of every <set-body template="liquid">.
func liquidBodies(doc *Document) []string {
	var out []string
	var walk func(e *Element)
	walk = func(e *Element) {
		if a, ok := e.Attr("template"); ok && e.Name == "set-body" && a.Value == "liquid" {
			out = append(out, e.Text())
		}
		for _, c := range e.Elements() {
			walk(c)
		}
	}
	for _, r := range doc.Roots {
		walk(r)
	}
	return out
}

// countRefsOutsideLiquid counts the named-value references in attribute
// values and text, outside the content of Liquid set-body templates.
func countRefsOutsideLiquid(doc *Document) int {
	n := 0
	count := func(s string) {
		for i := 0; i < len(s); i++ {
			if k := namedValueRef([]byte(s[i:])); strings.HasPrefix(s[i:], "{{") && k > 0 {
				n++
				i += k - 1
			}
		}
	}
	var walk func(e *Element, inLiquid bool)
	walk = func(e *Element, inLiquid bool) {
		if !inLiquid {
			for _, a := range e.Attrs {
				count(a.Value)
			}
		}
		if a, ok := e.Attr("template"); ok && e.Name == "set-body" && a.Value == "liquid" {
			inLiquid = true
		}
		for _, c := range e.Children {
			switch n := c.(type) {
			case *Text:
				if !inLiquid {
					count(n.Data)
				}
			case *Element:
				walk(n, inLiquid)
			}
		}
	}
	for _, r := range doc.Roots {
		walk(r, false)
	}
	return n
}
