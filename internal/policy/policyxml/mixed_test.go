package policyxml

import "testing"

// TestMixedFormExpressions: files that write some characters of a raw
// expression as references get them decoded, as APIM's XML parser does
// once the expression is delimited; a lone '&' stays as written.
func TestMixedFormExpressions(t *testing.T) {
	cases := []struct{ src, want string }{
		{`<when condition="@(context.Request.Method != "GET" &amp;&amp; x)"/>`, `@(context.Request.Method != "GET" && x)`},
		{`<a v="@(q.Count &gt; 0 && "a&b" == s)"/>`, `@(q.Count > 0 && "a&b" == s)`},
	}
	for _, c := range cases {
		doc, err := Parse("t.xml", []byte(c.src))
		if err != nil {
			t.Fatalf("%s: %v", c.src, err)
		}
		if got := doc.Roots[0].Attrs[0].Value; got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.src, got, c.want)
		}
	}
	doc, err := Parse("t.xml", []byte(`<set-body>@{ if (q.Count &gt; 0 && s != "<") { return "x"; } return "y"; }</set-body>`))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := doc.Roots[0].Text(), `@{ if (q.Count > 0 && s != "<") { return "x"; } return "y"; }`; got != want {
		t.Errorf("text:\n got %s\nwant %s", got, want)
	}
}
