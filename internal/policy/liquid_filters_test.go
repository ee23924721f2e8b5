package policy

import (
	"strings"
	"testing"

	"github.com/apimgw/apimgw/internal/expr"
)

// liquidRender runs set-body template="liquid" with src over a JSON request
// body and returns what the policy wrote.
func liquidRender(t *testing.T, src, body string) string {
	t.Helper()
	st := runPolicy(t, `<policies><inbound>
  <set-body template="liquid">`+src+`</set-body>
  <return-response><set-body>@(context.Request.Body.As<string>())</set-body></return-response>
</inbound></policies>`, func(st *State) {
		st.SetRequestBody(expr.NewBodyBytes([]byte(body)), -1)
		st.X.Request.Headers.Set("Content-Type", "application/json")
	})
	return bodyOf(t, st.X.Response)
}

// TestLiquidFilters checks every filter of APIM's set-body reference, in
// Pascal case, against the output DotLiquid's StandardFilters give (default
// syntax level, invariant culture).
func TestLiquidFilters(t *testing.T) {
	body := `{"name": " ada LOVELACE ", "n": -17, "price": 10.5, "zero": 0, "big": 2147483647,
	  "tags": ["b", "A", "c", "a"], "items": [{"id": 2, "k": "x"}, {"id": 1, "k": "y"}], "holes": ["a", null, "b"],
	  "html": "<p>Hi <b>there</b></p><script>x()</script>", "text": "one\ntwo\r\nthree",
	  "date": "2012-03-21T05:40:00Z", "url": "a b&c=d/é", "enc": "a+b%26c%3Dd"}`
	cases := []struct{ name, tmpl, want string }{
		{"Abs", `{{ body.n | Abs }}`, `17`},
		{"AbsString", `{{ "-3.5" | Abs }}`, `3.5`},
		{"AbsNotNumber", `{{ "x" | Abs }}`, `0`},
		{"Append", `{{ "a" | Append: "b" }}`, `ab`},
		{"AtLeast", `{{ 4 | AtLeast: 5 }}|{{ 6 | AtLeast: 5 }}`, `5|6`},
		{"AtMost", `{{ 4 | AtMost: 5 }}|{{ 6 | AtMost: 5 }}`, `4|5`},
		{"Capitalize", `{{ "hello wORLD NASA" | Capitalize }}`, `Hello World NASA`},
		{"Compact", `{{ body.holes | Compact | Join: "," }}`, `a,b`},
		{"Currency", `{{ body.price | Currency }}`, `¤10.50`},
		{"CurrencyCulture", `{{ 1234.567 | Currency: "en-US" }}|{{ -2 | Currency: "en-US" }}`, `$1,234.57|-$2.00`},
		{"CurrencyString", `{{ "12" | Currency: "de-DE" }}|{{ "abc" | Currency }}`, "12,00\u00a0€|abc"},
		{"Date", `{{ body.date | Date: "yyyyMMddTHH:mm:ssZ" }}`, `20120321T05:40:00Z`},
		{"DateNames", `{{ "2024-02-29" | Date: "dddd, dd MMM yyyy" }}`, `Thursday, 29 Feb 2024`},
		{"DateNotADate", `{{ "soon" | Date: "yyyy" }}`, `soon`},
		{"Default", `{{ body.missing | Default: "none" }}|{{ "  " | Default: "blank" }}|{{ body.name | Default: "x" }}`, `none|blank| ada LOVELACE `},
		{"DividedByInt", `{{ 7 | DividedBy: 2 }}`, `3`},
		{"DividedByReal", `{{ 7 | DividedBy: 2.0 }}|{{ 10 | DividedBy: 3.0 }}`, `3.5|3.3333333333333333333333333333`},
		{"DividedByZero", `{{ 7 | DividedBy: 0 }}`, `Liquid error: Attempted to divide by zero.`},
		{"Downcase", `{{ "AbC" | Downcase }}`, `abc`},
		{"Escape", `{{ '&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;' | Escape }}|{{ "it's ü" | Escape }}`, `&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;|it&#39;s &#252;`},
		{"First", `{{ body.tags | First }}|{{ "xyz" | First }}`, `b|x`},
		{"H", `{{ "a&lt;b" | H }}`, `a&lt;b`},
		{"Join", `{{ body.tags | Join: "-" }}|{{ body.tags | Join }}`, `b-A-c-a|b A c a`},
		{"Last", `{{ body.tags | Last }}`, `a`},
		{"Lstrip", `[{{ body.name | Lstrip }}]`, `[ada LOVELACE ]`},
		{"Map", `{{ body.items | Map: "k" | Join: "," }}`, `x,y`},
		{"Minus", `{{ 10 | Minus: 3 }}|{{ 0.1 | Plus: 10 | Minus: 10 }}`, `7|0.1`},
		{"Modulo", `{{ 10 | Modulo: 3 }}|{{ -7 | Modulo: 3 }}|{{ 7.5 | Modulo: 2 }}`, `1|-1|1.5`},
		{"NewlineToBr", `{{ body.text | NewlineToBr }}`, "one<br />\ntwo<br />\r\nthree"},
		{"Plus", `{{ 1 | Plus: 2 }}|{{ "1" | Plus: 2 }}|{{ body.price | Plus: 1 }}`, `3|12|11.5`},
		{"PlusOverflow", `{{ body.big | Plus: 1 }}|{{ 2147483647 | Plus: 1 }}`, `2147483648|Liquid error: Arithmetic operation resulted in an overflow.`},
		{"Prepend", `{{ "b" | Prepend: "a" }}`, `ab`},
		{"Remove", `{{ "abcabc" | Remove: "b" }}`, `acac`},
		{"RemoveFirst", `{{ "abcabc" | RemoveFirst: "b" }}`, `acabc`},
		{"Replace", `{{ "a1b22" | Replace: "\d+", "#" }}|{{ "zabz" | Replace: "a(b)", "x$1" }}`, `a#b#|zxbz`},
		{"ReplaceFirst", `{{ "a1b22" | ReplaceFirst: "\d+", "#" }}`, `a#b22`},
		{"Round", `{{ 2.5 | Round }}|{{ 3.5 | Round }}|{{ 1.2345 | Round: 2 }}|{{ "x" | Round }}`, `2|4|1.23|`},
		{"Rstrip", `[{{ body.name | Rstrip }}]`, `[ ada LOVELACE]`},
		{"Size", `{{ body.tags | Size }}|{{ "héllo" | Size }}|{{ 5 | Size }}`, `4|5|0`},
		{"Slice", `{{ "hello" | Slice: 1, 3 }}|{{ "hello" | Slice: -3, 2 }}|{{ "hello" | Slice: 0 }}|{{ body.tags | Slice: 1, 2 }}`, `ell|ll|h|Ac`},
		{"Sort", `{{ body.tags | Sort | Join: "," }}|{{ body.items | Sort: "id" | Map: "k" | Join: "," }}`, `A,a,b,c|y,x`},
		{"SliceHuge", `{{ "hello" | Slice: 1, 9223372036854775807 }}|{{ body.tags | Slice: 2, 9223372036854775807 }}|{{ "hello" | Slice: -9223372036854775807, 2 }}`, `ello|ca|`},
		{"TimesHuge", `{{ "ab" | Times: 100000000 }}`, `Liquid error: Times: the repeated string would exceed 16 MiB.`},
		{"ContextUrl", `{{ context.Request.Url.ToString }}|{{ context.Request.Url.Path | Upcase }}`, `http://gw.local/api/x|/API/X`},
		{"Split", `{{ "a,b,,c" | Split: "," | Join: "|" }}|{{ "abc" | Split: "" | Join: "." }}`, `a|b|c|a.b.c`},
		{"Strip", `[{{ body.name | Strip }}]`, `[ada LOVELACE]`},
		{"StripHtml", `{{ body.html | StripHtml }}`, `Hi there`},
		{"StripNewlines", `{{ body.text | StripNewlines }}`, `onetwothree`},
		{"Times", `{{ 3 | Times: 4 }}|{{ 1.5 | Times: 2 }}|{{ "ab" | Times: 3 }}`, `12|3.0|ababab`},
		{"Truncate", `{{ "Ground control to Major Tom." | Truncate: 20 }}|{{ "abcdef" | Truncate: 3, "" }}|{{ "abc" | Truncate: 5 }}`, `Ground control to...|abc|abc`},
		{"TruncateWords", `{{ "Ground control to Major Tom." | TruncateWords: 3 }}|{{ "a b" | TruncateWords: 3 }}`, `Ground control to...|a b`},
		{"Uniq", `{{ "hello" | Uniq | Join: "" }}|{{ body.tags | Uniq | Join: "," }}|{{ body.items | Map: "k" | Uniq | Size }}`, `helo|b,A,c,a|2`},
		{"Upcase", `{{ "abc" | Upcase }}`, `ABC`},
		{"UrlDecode", `{{ body.enc | UrlDecode }}`, `a b&c=d`},
		{"UrlEncode", `{{ body.url | UrlEncode }}`, `a+b%26c%3Dd%2F%C3%A9`},
	}
	seen := map[string]bool{}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := liquidRender(t, c.tmpl, body); got != c.want {
				t.Errorf("%s\n got  %q\n want %q", c.tmpl, got, c.want)
			}
		})
		for _, f := range strings.Split(c.tmpl, "|")[1:] {
			name := strings.Fields(strings.TrimSpace(f))
			if len(name) > 0 {
				seen[strings.TrimSuffix(name[0], ":")] = true
			}
		}
	}
	// Every filter the set-body reference lists is exercised above.
	for _, f := range strings.Fields(`Abs Append AtLeast AtMost Capitalize Compact Currency Date Default DividedBy
	  Downcase Escape First H Join Last Lstrip Map Minus Modulo NewlineToBr Plus Prepend Remove RemoveFirst Replace
	  ReplaceFirst Round Rstrip Size Slice Sort Split Strip StripHtml StripNewlines Times Truncate TruncateWords Uniq
	  Upcase UrlDecode UrlEncode`) {
		if !seen[f] {
			t.Errorf("filter %s has no case", f)
		}
	}
}

// parse-date (default true) turns JSON date strings into DateTime values,
// rendered as DateTime.ToString() with the invariant culture; parse-date
// "false" copies them. xsi-nil chooses blank or null for xsi:nil elements.
func TestLiquidParseDateAndXsiNil(t *testing.T) {
	body := `{"iso": "2012-03-21T05:40:00Z", "short": "2012-03-21T05:40Z", "offset": "2012-03-21T07:40:00+02:00",
	  "plain": "2012-03-21T05:40:00", "ms": "/Date(1198908717056)/", "day": "2012-03-21", "text": "T-1000"}`
	tmpl := `{{ body.iso }}|{{ body.short }}|{{ body.offset }}|{{ body.plain }}|{{ body.ms }}|{{ body.day }}|{{ body.text }}|{{ body.iso | Date: "o" }}`
	if got, want := liquidRender(t, tmpl, body), "03/21/2012 05:40:00|03/21/2012 05:40:00|03/21/2012 05:40:00|03/21/2012 05:40:00|12/29/2007 06:11:57|2012-03-21|T-1000|2012-03-21T05:40:00.0000000+00:00"; got != want {
		t.Errorf("parse-date default:\n got  %q\n want %q", got, want)
	}
	st := runPolicy(t, `<policies><inbound>
  <set-body template="liquid" parse-date="false">{{ body.iso }}|{{ body.ms }}</set-body>
  <return-response><set-body>@(context.Request.Body.As<string>())</set-body></return-response>
</inbound></policies>`, func(st *State) {
		st.SetRequestBody(expr.NewBodyBytes([]byte(body)), -1)
	})
	if got := bodyOf(t, st.X.Response); got != "2012-03-21T05:40:00Z|/Date(1198908717056)/" {
		t.Errorf("parse-date=false: %q", got)
	}
	xml := `<r xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><a xsi:nil="true"/><b>x</b></r>`
	for attr, want := range map[string]string{``: "blank|x", ` xsi-nil="blank"`: "blank|x", ` xsi-nil="null"`: "null|x"} {
		st := runPolicy(t, `<policies><inbound>
  <set-body template="liquid"`+attr+`>{% if body.r.a == nil %}null{% else %}blank{% endif %}|{{ body.r.b }}</set-body>
  <return-response><set-body>@(context.Request.Body.As<string>())</set-body></return-response>
</inbound></policies>`, func(st *State) {
			st.SetRequestBody(expr.NewBodyBytes([]byte(xml)), -1)
			st.X.Request.Headers.Set("Content-Type", "application/xml")
		})
		if got := bodyOf(t, st.X.Response); got != want {
			t.Errorf("xsi-nil%s: %q, want %q", attr, got, want)
		}
	}
}

// A filter APIM's Liquid does not have (Shopify's lower-case names) is a
// load-time error naming the Pascal-case filter.
func TestLiquidUnknownFilterIsLoadError(t *testing.T) {
	c := &Compiler{}
	c.Compile("api", "t.xml", []byte(`<policies><inbound>
  <set-body template="liquid">{"a": "{{ body.a | upcase }}", "b": "{{ body.b | at_least: 1 | Plus: 1 }}", "c": "{{ 'x | upcase' | Size }}"}</set-body>
</inbound></policies>`))
	got := ""
	for _, e := range c.Errors() {
		got += e.Error() + "\n"
	}
	for _, want := range []string{
		`t.xml:2:3: set-body liquid template: filter "upcase" is not one of APIM's Liquid filters (DotLiquid in C# mode, Pascal case) (did you mean "Upcase"?)`,
		`filter "at_least" is not one of APIM's Liquid filters (DotLiquid in C# mode, Pascal case) (did you mean "AtLeast"?)`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("errors lack %s:\n%s", want, got)
		}
	}
	if n := len(c.Errors()); n != 2 {
		t.Errorf("%d errors, want 2:\n%s", n, got)
	}
}
