package policyxml

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse checks that Parse never panics or hangs, that every error is a
// positioned *SyntaxError, and that every successful parse is consistent.
func FuzzParse(f *testing.F) {
	seeds := []string{
		`<policies><inbound><base /></inbound></policies>`,
		`<when condition="@(context.Variables.GetValueOrDefault<string>("x") == "a" && y < 3)" />`,
		`<v>@{ var s = $@"<a ""{x["k"]}"">{{ }}"; return s; /* ) */ }</v>`,
		`<v>@($"{DateTime.UtcNow:yyyy}{(a ? "}" : '{'.ToString())}")</v>`,
		`<v>@(s.Split(&quot;)&quot;)[0])</v>`,
		"\xef\xbb\xbf<?xml version=\"1.0\"?>\r\n<a b='@(x)'><![CDATA[<x>]]><!-- c --></a>",
		`<set-body template="liquid">{{body.x}} {% if a %}b{% endif %}</set-body>`,
		`<a v="@(foo(x)" />`,
		`<a>&#x1F600;&lt;&bad;</a>`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	for _, name := range []string{"Apim-Samples/samples/load-balancing/apim-policies/aca-backend-pool-load-balancing-with-retry-tracked.xml"} {
		if src, err := os.ReadFile(filepath.Join(corpusDir, name)); err == nil {
			f.Add(src)
		}
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		doc, err := Parse("f.xml", src)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) || !se.Pos.IsValid() || se.Pos.Col < 1 || se.Filename != "f.xml" || se.Msg == "" {
				t.Fatalf("error %#v is not a positioned *SyntaxError", err)
			}
			if doc != nil {
				t.Fatalf("document returned with error")
			}
			return
		}
		if len(doc.Roots) == 0 {
			t.Fatalf("no roots and no error")
		}
		var walk func(e *Element)
		walk = func(e *Element) {
			if e.Name == "" || !e.Pos.IsValid() || !e.EndPos.IsValid() {
				t.Fatalf("element %+v without name or positions", e)
			}
			for _, a := range e.Attrs {
				if a.Name == "" || !a.Pos.IsValid() || !a.ValuePos.IsValid() {
					t.Fatalf("attribute %+v without name or positions", a)
				}
			}
			for _, c := range e.Children {
				switch n := c.(type) {
				case *Element:
					walk(n)
				case *Text:
					if !n.Pos.IsValid() {
						t.Fatalf("text %+v without position", n)
					}
				}
			}
		}
		for _, r := range doc.Roots {
			walk(r)
		}
		// Substitute must not panic either and keeps text without references.
		if _, err := Substitute(src, map[string]string{"a": "b"}); err != nil {
			var list ErrorList
			if !errors.As(err, &list) || len(list) == 0 {
				t.Fatalf("Substitute error %#v is not an ErrorList", err)
			}
		}
	})
}

// FuzzSubstitute checks that Substitute never panics and that its errors are
// positioned.
func FuzzSubstitute(f *testing.F) {
	for _, s := range []string{
		`<a b="{{x}}">{{y}}</a>`,
		`<set-body template="liquid">{{body.x}}</set-body>{{z}}`,
		`<!-- {{x}} --><set-body template='liquid' />{{x}}`,
		"{{", "{{a}", "<set-body", "<set-body template=\"liquid",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		out, err := Substitute(src, map[string]string{"x": "X"})
		if err != nil {
			var list ErrorList
			if !errors.As(err, &list) || len(list) == 0 {
				t.Fatalf("error %#v is not an ErrorList", err)
			}
			for _, e := range list {
				if !e.Pos.IsValid() {
					t.Fatalf("unpositioned error %v", e)
				}
			}
			return
		}
		if out == nil && len(src) > 0 {
			t.Fatalf("nil output without error")
		}
	})
}

// TestLargeInputs runs Parse and Substitute on large pathological inputs
// (deep nesting, one very long line, many expressions that the raw scan
// cannot close, unterminated constructs). Both are linear in the input, so
// this finishes in well under a second; a quadratic regression shows up as a
// test timeout.
func TestLargeInputs(t *testing.T) {
	tests := []struct {
		name, src string
		ok        bool
	}{
		{"one long line", "<a>" + strings.Repeat(`<b c="é"/>`, 50000) + "</a>", true},
		{"escaped expressions the raw scan cannot close", "<a>" + strings.Repeat(`<v x="@(s.Split(&quot;(&quot;))">@(s.Split(&quot;(&quot;))</v>`, 10000) + "</a>", true},
		{"deep elements", strings.Repeat("<a>", 100000) + strings.Repeat("</a>", 100000), true},
		{"deep expression", "<a>@" + strings.Repeat("(", 100000) + strings.Repeat(")", 100000) + "</a>", true},
		{"unclosed braces", "<a>@" + strings.Repeat("{", 100000), false},
		{"unclosed strings", `<a b="@(` + strings.Repeat(`"x" + `, 50000), false},
		{"comment starts", strings.Repeat("<!-- - ", 50000), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("big.xml", []byte(tt.src))
			if (err == nil) != tt.ok {
				t.Errorf("Parse error = %v, want ok=%v", err, tt.ok)
			}
			if _, err := Substitute([]byte(strings.Repeat("{{a", 1000)+tt.src), nil); err != nil {
				t.Errorf("Substitute: %v", err)
			}
		})
	}
}
