package policyxml

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// xmlEscape writes s in the well-formed "xml" form, as APIM exports it.
func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}

func mustParse(t *testing.T, src string) *Document {
	t.Helper()
	doc, err := Parse("t.xml", []byte(src))
	if err != nil {
		t.Fatalf("Parse(%q): %v", src, err)
	}
	return doc
}

// TestExpressionForms parses each expression in attribute values and element
// text, written raw (rawxml form) and escaped (xml form), and checks that all
// four give the expression back exactly.
func TestExpressionForms(t *testing.T) {
	exprs := []struct{ name, expr string }{
		{"quotes", `@(context.Variables.ContainsKey("listBackends") == false)`},
		{"generics and operators", `@(context.Variables.GetValueOrDefault<string>("x") == "a" && (y < 3 || z >= 4))`},
		{"cast and indexer", `@(((IResponse)context.Variables["sas-response"]).Body.As<JObject>()["token"].ToString())`},
		{"html in string", `@{ var s = "<html lang='en'>)}]"; return s; }`},
		{"verbatim string", `@{ return @"<a href=""x"">(</a>
  second line } ]"; }`},
		{"interpolated nested", `@($"{context.Request.Method}-{{lit}}-{(ok ? "a)" : $"b{x["k"]}")}")`},
		{"interpolated format", `@($"{DateTime.UtcNow:yyyy-MM-ddTHH:mm:ssZ}/{id}")`},
		{"verbatim interpolated", `@{ return $@"<x a=""{v}"">
{(n > 1 ? "}" : "{")}</x>"; }`},
		{"interpolated verbatim other order", `@(@$"{a}""{b}")`},
		{"char literals", `@(s.Split('"')[0] + s.Trim('(') + '\'' + '\\' + '\u0029')`},
		{"string as char literal", `@(context.Response.Headers.ContainsKey('Retry-After'))`},
		{"line comment", `@{
    // a comment with ) and " and }
    return 1; // trailing {
}`},
		{"block comment", `@{ /* ) } " ' */ return "}"; }`},
		{"ampersands", `@(string.Join("&", list) + "a&b" + (x & 0xFF) + (a && b))`},
		{"escape in string", `@("a\"b)\\" + "c")`},
		{"lambda and braces", `@(list.Where(x => x.Length > 2).Select(x => new { Name = x }).ToArray())`},
		{"entity-like text in string", `@("&lt; stays")`},
	}
	for _, e := range exprs {
		raw := e.expr
		esc := xmlEscape(e.expr)
		cases := []struct{ form, src string }{
			{"raw attribute", `<set-variable name="v" value="` + raw + `" />`},
			{"xml attribute", `<set-variable name="v" value="` + esc + `" />`},
			{"raw text", "<value>" + raw + "</value>"},
			{"xml text", "<value>" + esc + "</value>"},
		}
		for _, c := range cases {
			if e.name == "entity-like text in string" && strings.HasPrefix(c.form, "raw") {
				// Documented ambiguity: a raw expression that is also valid
				// XML is read as XML, so &lt; decodes.
				continue
			}
			t.Run(e.name+"/"+c.form, func(t *testing.T) {
				doc := mustParse(t, c.src)
				root := doc.Roots[0]
				var got string
				if root.Name == "value" {
					got = root.Text()
				} else {
					a, ok := root.Attr("value")
					if !ok {
						t.Fatalf("no value attribute in %+v", root)
					}
					got = a.Value
				}
				if got != e.expr {
					t.Errorf("got  %q\nwant %q", got, e.expr)
				}
			})
		}
	}
}

func TestParseTree(t *testing.T) {
	src := "<policies>\n" +
		"  <inbound>\n" +
		"    <base />\n" +
		"    <set-header name=\"x-é\" exists-action='override'>\n" +
		"      <value>@(context.Request.Headers.GetValueOrDefault(\"a\", \"\"))</value>\n" +
		"    </set-header>\n" +
		"  </inbound>\n" +
		"</policies>\n"
	doc := mustParse(t, src)
	if len(doc.Roots) != 1 {
		t.Fatalf("roots = %d", len(doc.Roots))
	}
	pol := doc.Roots[0]
	if pol.Name != "policies" || pol.Pos != (Pos{1, 1}) || pol.EndPos != (Pos{8, 1}) {
		t.Errorf("policies = %q at %v..%v", pol.Name, pol.Pos, pol.EndPos)
	}
	in := pol.Elements()[0]
	kids := in.Elements()
	if len(kids) != 2 || kids[0].Name != "base" || kids[1].Name != "set-header" {
		t.Fatalf("inbound children = %+v", kids)
	}
	if kids[0].Pos != (Pos{3, 5}) || kids[0].EndPos != (Pos{3, 11}) {
		t.Errorf("base at %v..%v, want 3:5..3:11", kids[0].Pos, kids[0].EndPos)
	}
	sh := kids[1]
	want := []Attr{
		{Name: "name", Value: "x-é", Pos: Pos{4, 17}, ValuePos: Pos{4, 23}},
		{Name: "exists-action", Value: "override", Pos: Pos{4, 28}, ValuePos: Pos{4, 43}},
	}
	if !reflect.DeepEqual(sh.Attrs, want) {
		t.Errorf("attrs = %+v\nwant    %+v", sh.Attrs, want)
	}
	if a, ok := sh.Attr("missing"); ok || a != (Attr{}) {
		t.Errorf("Attr(missing) = %+v, %v", a, ok)
	}
	val := sh.Elements()[0]
	if len(val.Children) != 1 {
		t.Fatalf("value children = %+v", val.Children)
	}
	txt := val.Children[0].(*Text)
	// Without '<' or '&' the expression is also valid XML text: not Raw.
	if txt.Raw || txt.Pos != (Pos{5, 14}) || txt.Data != `@(context.Request.Headers.GetValueOrDefault("a", ""))` {
		t.Errorf("value text = %+v", txt)
	}
	if val.EndPos != (Pos{5, 67}) {
		t.Errorf("value EndPos = %v", val.EndPos)
	}
}

func TestParseText(t *testing.T) {
	tests := []struct {
		name, src string
		want      []Text // children of the root, all text
		text      string // root.Text()
	}{
		{
			name: "entities and char refs",
			src:  `<v>a &lt;b&gt; &amp; &quot;c&quot; &apos;d&apos; &#65;&#x42;&#x1F600;</v>`,
			want: []Text{{Data: `a <b> & "c" 'd' AB😀`, Pos: Pos{1, 4}}},
		},
		{
			name: "cdata kept verbatim",
			src:  "<v>x<![CDATA[@{ if (a < b && c) { return \"<x>\"; } }]]>y</v>",
			want: []Text{{Data: "x", Pos: Pos{1, 4}}, {Data: `@{ if (a < b && c) { return "<x>"; } }`, Pos: Pos{1, 14}}, {Data: "y", Pos: Pos{1, 55}}},
		},
		{
			name: "comments dropped",
			src:  "<v>a<!-- <b> - -->b</v>",
			want: []Text{{Data: "a", Pos: Pos{1, 4}}, {Data: "b", Pos: Pos{1, 19}}},
		},
		{
			name: "raw expression with blanks around",
			src:  "<set-body>\n  @{ var s = \"<a>\"; return s; }\n</set-body>",
			want: []Text{{Data: "\n  ", Pos: Pos{1, 11}}, {Data: `@{ var s = "<a>"; return s; }`, Pos: Pos{2, 3}, Raw: true}, {Data: "\n", Pos: Pos{2, 32}}},
			text: "\n  @{ var s = \"<a>\"; return s; }\n",
		},
		{
			name: "liquid template is text",
			src:  `<set-body template="liquid">{"a": "{{body.x}}" {% if body.y %}, "b": 1{% endif %}}</set-body>`,
			want: []Text{{Data: `{"a": "{{body.x}}" {% if body.y %}, "b": 1{% endif %}}`, Pos: Pos{1, 29}}},
		},
		{
			name: "expression not at start is text",
			src:  `<v>Bearer @(x)</v>`,
			want: []Text{{Data: "Bearer @(x)", Pos: Pos{1, 4}}},
		},
		{
			name: "escaped expression with early raw close reads as XML",
			src:  `<v>@(s.Split(&quot;)&quot;)[0])</v>`,
			want: []Text{{Data: `@(s.Split(")")[0])`, Pos: Pos{1, 4}}},
		},
		{
			name: "crlf normalised",
			src:  "<v>a\r\nb\rc</v>",
			want: []Text{{Data: "a\nb\nc", Pos: Pos{1, 4}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := mustParse(t, tt.src).Roots[0]
			var got []Text
			for _, c := range root.Children {
				txt, ok := c.(*Text)
				if !ok {
					t.Fatalf("child %+v is not text", c)
				}
				got = append(got, *txt)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
			wantText := tt.text
			if wantText == "" {
				for _, w := range tt.want {
					wantText += w.Data
				}
			}
			if root.Text() != wantText {
				t.Errorf("Text() = %q, want %q", root.Text(), wantText)
			}
		})
	}
}

func TestParseStructure(t *testing.T) {
	tests := []struct {
		name, src string
		roots     []string
	}{
		{"bom, blanks and declaration", "\xef\xbb\xbf  \n<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<policies/>", []string{"policies"}},
		{"comments and PIs around root", "<!-- c --><?pi x?><fragment><?other?></fragment><!-- d -->\n", []string{"fragment"}},
		{"multi-root snippet", "<set-variable name=\"a\" value=\"1\" />\n<choose><when condition=\"@(true)\"><base/></when></choose>", []string{"set-variable", "choose"}},
		{"namespace prefixes kept", `<set-body><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xsi:nil="true"/></set-body>`, []string{"set-body"}},
		{"literal xml and json content", `<set-body><root><a>@(context.Api.Id)</a>{"k": [1, 2]}</root></set-body>`, []string{"set-body"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := mustParse(t, tt.src)
			var got []string
			for _, r := range doc.Roots {
				got = append(got, r.Name)
			}
			if !reflect.DeepEqual(got, tt.roots) {
				t.Errorf("roots = %q, want %q", got, tt.roots)
			}
		})
	}
	body := mustParse(t, tests[3].src).Roots[0].Elements()[0]
	if body.Name != "soap:Envelope" || len(body.Attrs) != 2 || body.Attrs[0].Name != "xmlns:soap" || body.Attrs[1].Name != "xsi:nil" {
		t.Errorf("prefixed element = %+v", body)
	}
	a := mustParse(t, tests[4].src).Roots[0].Elements()[0].Elements()[0]
	if txt := a.Children[0].(*Text); txt.Data != "@(context.Api.Id)" || txt.Raw {
		t.Errorf("nested expression text = %+v", txt)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"mismatched end tag", "<choose>\n  <when condition=\"@(true)\">\n  </choose>", "t.xml:3:3: mismatched end tag </choose>, expected </when> (opened at 2:3)"},
		{"unclosed at eof", "<policies>\n<inbound>", "t.xml:2:10: unexpected end of file: element <inbound> opened at 2:1 is not closed"},
		{"end tag without element", "<a/></b>", "t.xml:1:5: unexpected end tag </b>: no element is open"},
		{"unterminated expression", "<a>\n  <b c=\"@(foo(x)\" />\n</a>", "t.xml:2:17: unterminated string literal in expression starting at 2:9 ('(' opened at 2:10)"},
		{"unterminated expression at eof", "<a>\n  <b c=\"@(foo(x)", "t.xml:2:9: unterminated expression starting at 2:9 ('(' at 2:10 is never closed)"},
		{"unterminated string in expression", "<v>@(x == \"a)</v>", "t.xml:1:11: unterminated string literal in expression starting at 1:4 ('(' opened at 1:5)"},
		{"string spanning lines", "<a v=\"@(\"abc\n\")\"/>", "t.xml:1:9: unterminated string literal in expression starting at 1:7 ('(' opened at 1:8)"},
		{"mismatched bracket", "<v>@{ if (a) { b(); ) }</v>", "t.xml:1:21: unexpected ')', expected '}' in expression starting at 1:4 ('{' opened at 1:14)"},
		{"unterminated block comment", "<v>@{ /* x }</v>", "t.xml:1:7: unterminated comment in expression starting at 1:4 ('{' opened at 1:5)"},
		{"unterminated char literal", "<v>@(s.Split('x\n))</v>", "t.xml:1:14: unterminated character literal in expression starting at 1:4 ('(' opened at 1:13)"},
		{"trailing text after attribute expression", `<a v="@(x) y"/>`, `t.xml:1:12: expected closing " after expression starting at 1:7`},
		{"whitespace between attributes", `<a b="1"c="2"/>`, "t.xml:1:9: expected '>' after attribute b"},
		{"duplicate attribute", `<a b="1" b="2"/>`, "t.xml:1:10: duplicate attribute b in <a>"},
		{"unquoted attribute", `<a b=1/>`, "t.xml:1:6: value of attribute b must be quoted"},
		{"attribute without value", `<a b/>`, "t.xml:1:5: expected '=' after attribute name b"},
		{"less-than in attribute", `<a b="x<y"/>`, "t.xml:1:8: '<' is not allowed in an attribute value (write &lt;)"},
		{"bare ampersand in text", `<a>x & y</a>`, "t.xml:1:6: '&' must start an entity reference such as &amp; (write & as &amp; outside expressions)"},
		{"unknown entity", `<a b="&nbsp;"/>`, "t.xml:1:7: unknown entity &nbsp; (only &lt; &gt; &amp; &quot; &apos; and character references are defined)"},
		{"bad char ref", `<a>&#0;</a>`, "t.xml:1:4: character reference &#0; is not a valid XML character"},
		{"bare less-than in text", `<a>x < y</a>`, "t.xml:1:6: expected an element name after '<' (write a literal '<' as &lt;)"},
		{"text outside root", "<a/>\noops", "t.xml:2:1: text is not allowed outside the root element"},
		{"doctype", "<!DOCTYPE a><a/>", "t.xml:1:1: DOCTYPE is not allowed in a policy document"},
		{"late declaration", "<a/><?xml version=\"1.0\"?>", "t.xml:1:5: XML declaration is only allowed at the start of the document"},
		{"double dash in comment", "<a><!-- a -- b --></a>", "t.xml:1:11: '--' is not allowed inside a comment (comment opened at 1:4)"},
		{"unterminated comment", "<a><!-- a", "t.xml:1:4: unterminated comment"},
		{"unterminated cdata", "<a><![CDATA[x", "t.xml:1:4: unterminated CDATA section"},
		{"unterminated attribute", `<a b="x`, "t.xml:1:6: unterminated attribute value"},
		{"eof in tag", "<a b=\"1\"", "t.xml:1:9: unexpected end of file in start tag <a> opened at 1:1"},
		{"invalid utf-8", "<a>\xff</a>", "t.xml:1:4: invalid UTF-8 encoding"},
		{"control character", "<a>\x01</a>", "t.xml:1:4: invalid character U+0001"},
		{"empty", "  \n", "t.xml:2:1: no root element: a policy document needs <policies>, <fragment> or a policy element"},
		{"slash without gt", `<a /x>`, "t.xml:1:4: expected '>' after '/' in tag <a>"},
		{"column counts characters", "<a b=\"é€😀\" c=\"&bad;\"/>", "t.xml:1:15: unknown entity &bad; (only &lt; &gt; &amp; &quot; &apos; and character references are defined)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := Parse("t.xml", []byte(tt.src))
			if err == nil {
				t.Fatalf("parsed %+v, want error %q", doc, tt.want)
			}
			var se *SyntaxError
			if !errors.As(err, &se) || se.Filename != "t.xml" || !se.Pos.IsValid() {
				t.Errorf("error %#v is not a positioned *SyntaxError", err)
			}
			if err.Error() != tt.want {
				t.Errorf("error\n got %q\nwant %q", err.Error(), tt.want)
			}
		})
	}
}

func TestErrorFormatting(t *testing.T) {
	e := &SyntaxError{Pos: Pos{3, 4}, Msg: "bad"}
	if e.Error() != "3:4: bad" {
		t.Errorf("no filename: %q", e.Error())
	}
	e.Filename = "p.xml"
	list := ErrorList{e, {Filename: "q.xml", Pos: Pos{1, 1}, Msg: "worse"}}
	if list.Error() != "p.xml:3:4: bad\nq.xml:1:1: worse" {
		t.Errorf("list: %q", list.Error())
	}
	var got *SyntaxError
	if !errors.As(error(list), &got) || got != e {
		t.Errorf("errors.As(list) = %v", got)
	}
}

func TestPosAdvance(t *testing.T) {
	src := "<a>\n  <b v=\"@{\n  return é + &quot;x&quot;; }\">\n</b></a>"
	b := mustParse(t, src).Roots[0].Elements()[0]
	v, _ := b.Attr("v")
	tests := []struct {
		at   string // find this in Value
		want Pos
	}{
		{"@{", Pos{2, 9}},
		{"return", Pos{3, 3}},
		{"é", Pos{3, 10}},
		{"+", Pos{3, 12}},
	}
	for _, tt := range tests {
		off := strings.Index(v.Value, tt.at)
		if got := v.ValuePos.Advance(v.Value[:off]); got != tt.want {
			t.Errorf("Advance to %q = %v, want %v", tt.at, got, tt.want)
		}
	}
}
