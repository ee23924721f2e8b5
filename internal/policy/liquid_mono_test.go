package policy

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestLiquidFiltersAgainstMono checks the .NET behaviour under DotLiquid's
// filters (decimal arithmetic, Convert.ToDecimal, Math.Round, "C"
// formatting, TextInfo.ToTitleCase, WebUtility, DateTime parsing and
// formatting) against a real C# runtime: each template's output must equal
// what the C# expression computing the same thing prints under Mono, with
// the invariant culture and TZ=UTC. Skipped when mcs and mono are not
// installed (scripts/test installs them).
func TestLiquidFiltersAgainstMono(t *testing.T) {
	mcs, err1 := exec.LookPath("mcs")
	mono, err2 := exec.LookPath("mono")
	if err1 != nil || err2 != nil {
		t.Skip("mcs/mono not installed")
	}
	body := `{"n": -17, "price": 10.5, "tiny": 0.1, "when": "2012-03-21T05:40:00Z", "local": "2024-02-29 13:05:09"}`
	cases := []struct{ tmpl, cs string }{
		{`{{ body.n | Abs }}`, `Math.Abs((double)-17)`},
		{`{{ "-3.5" | Abs }}`, `Math.Abs(double.Parse("-3.5", NumberStyles.Number, Inv))`},
		{`{{ "1,234.5" | Abs }}`, `Math.Abs(double.Parse("1,234.5", NumberStyles.Number, Inv))`},
		{`{{ 4 | AtLeast: 5.5 }}`, `Math.Max(4.0, 5.5)`},
		{`{{ 0.1 | AtMost: 0.05 }}`, `Math.Min(0.1, 0.05)`},
		{`{{ "hello wORLD NASA it's 1st" | Capitalize }}`, `Inv.TextInfo.ToTitleCase("hello wORLD NASA it's 1st")`},
		{`{{ body.price | Currency }}`, `Convert.ToDecimal(10.5).ToString("C", Inv)`},
		{`{{ 1234.567 | Currency }}`, `Convert.ToDecimal(1234.567).ToString("C", Inv)`},
		{`{{ -2 | Currency }}`, `(-2m).ToString("C", Inv)`},
		{`{{ 0.125 | Currency }}`, `Convert.ToDecimal(0.125).ToString("C", Inv)`},
		{`{{ 1234.5 | Currency: "en-US" }}`, `Convert.ToDecimal(1234.5).ToString("C", new CultureInfo("en-US"))`},
		{`{{ 1234.5 | Currency: "en-GB" }}`, `Convert.ToDecimal(1234.5).ToString("C", new CultureInfo("en-GB"))`},
		{`{{ 10 | DividedBy: 3.0 }}`, `Convert.ToDecimal(10) / Convert.ToDecimal(3.0)`},
		{`{{ 100 | DividedBy: 3.0 }}`, `Convert.ToDecimal(100) / Convert.ToDecimal(3.0)`},
		{`{{ 2 | DividedBy: 3.0 }}`, `Convert.ToDecimal(2) / Convert.ToDecimal(3.0)`},
		{`{{ 7 | DividedBy: 2 }}`, `7 / 2`},
		{`{{ -7 | DividedBy: 2 }}`, `-7 / 2`},
		{`{{ 1 | DividedBy: 0.0 }}`, `1.0 / 0.0`},
		{`{{ body.tiny | Plus: 10 | Minus: 10 }}`, `Convert.ToDecimal(0.1) + 10 - 10`},
		{`{{ 1.1 | Times: 1.1 }}`, `Convert.ToDecimal(1.1) * Convert.ToDecimal(1.1)`},
		{`{{ 1.5 | Times: 2 }}`, `Convert.ToDecimal(1.5) * 2`},
		{`{{ 7.5 | Modulo: 2 }}`, `Convert.ToDecimal(7.5) % 2`},
		{`{{ -7 | Modulo: 3 }}`, `-7 % 3`},
		{`{{ 0.000000000000000000001 | Plus: 1 }}`, `Convert.ToDecimal(1e-21) + 1`},
		{`{{ 123456789012345678.0 | Plus: 0.5 }}`, `Convert.ToDecimal(123456789012345678.0) + Convert.ToDecimal(0.5)`},
		{`{{ 2.5 | Round }}`, `Math.Round(Convert.ToDecimal(2.5), 0)`},
		{`{{ 3.5 | Round }}`, `Math.Round(Convert.ToDecimal(3.5), 0)`},
		{`{{ 1.2345 | Round: 2 }}`, `Math.Round(Convert.ToDecimal(1.2345), 2)`},
		{`{{ 1.5 | Round: 3 }}`, `Math.Round(Convert.ToDecimal(1.5), 3)`},
		{`{{ "&lt;a href='x'&gt;&amp; ü 😀" | Escape }}`, `WebUtility.HtmlEncode("<a href='x'>& ü 😀")`},
		{`{{ '"quoted"' | Escape }}`, `WebUtility.HtmlEncode("\"quoted\"")`},
		{`{{ "a b&amp;c=d/é~*'()!" | UrlEncode }}`, `WebUtility.UrlEncode("a b&c=d/é~*'()!")`},
		{`{{ "a+b%26c%3Dd%zz%C3%A9" | UrlDecode }}`, `WebUtility.UrlDecode("a+b%26c%3Dd%zz%C3%A9")`},
		{`{{ body.when | Date: "yyyyMMddTHH:mm:ssZ" }}`, `DateTime.Parse("2012-03-21T05:40:00Z", Inv).ToString("yyyyMMddTHH:mm:ssZ", Inv)`},
		{`{{ body.when | Date: "o" }}`, `DateTime.Parse("2012-03-21T05:40:00Z", Inv).ToString("o", Inv)`},
		{`{{ body.when | Date: "dddd, dd MMMM yyyy hh:mm tt K" }}`, `DateTime.Parse("2012-03-21T05:40:00Z", Inv).ToString("dddd, dd MMMM yyyy hh:mm tt K", Inv)`},
		{`{{ body.local | Date: "o" }}`, `DateTime.Parse("2024-02-29 13:05:09", Inv).ToString("o", Inv)`},
		{`{{ body.local | Date: "ddd d MMM yy, H:m:s" }}`, `DateTime.Parse("2024-02-29 13:05:09", Inv).ToString("ddd d MMM yy, H:m:s", Inv)`},
		{`{{ body.local | Date: "d" }}|{{ body.local | Date: "G" }}|{{ body.local | Date: "s" }}`,
			`DateTime.Parse("2024-02-29 13:05:09", Inv).ToString("d", Inv) + "|" + DateTime.Parse("2024-02-29 13:05:09", Inv).ToString("G", Inv) + "|" + DateTime.Parse("2024-02-29 13:05:09", Inv).ToString("s", Inv)`},
		{`{{ body.when }}`, `DateTime.Parse("2012-03-21T05:40:00Z", Inv)`},
		{`{{ body.local | Date: "" }}`, `"2024-02-29 13:05:09"`},
		{`{{ "  a b  " | Strip }}|{{ "  a b  " | Lstrip }}|{{ "  a b  " | Rstrip }}`, `"  a b  ".Trim() + "|" + "  a b  ".TrimStart() + "|" + "  a b  ".TrimEnd()`},
		{`{{ "héllo 😀" | Size }}`, `"héllo 😀".Length`},
		{`{{ "ÀbC" | Downcase }}|{{ "àbc" | Upcase }}`, `"ÀbC".ToLowerInvariant() + "|" + "àbc".ToUpperInvariant()`},
	}
	var src strings.Builder
	src.WriteString(`using System; using System.Globalization; using System.Net; using System.Threading;
class P {
  static readonly CultureInfo Inv = CultureInfo.InvariantCulture;
  static void Out(int i, object v) { Console.Write("<<" + i + ">>" + Convert.ToString(v, Inv) + "\n"); }
  static void Main() {
    Thread.CurrentThread.CurrentCulture = Inv;
`)
	for i, c := range cases {
		fmt.Fprintf(&src, "    Out(%d, %s);\n", i, c.cs)
	}
	src.WriteString("  }\n}\n")
	dir := t.TempDir()
	cs := filepath.Join(dir, "oracle.cs")
	if err := os.WriteFile(cs, []byte(src.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(mcs, "-nologo", "-out:"+filepath.Join(dir, "oracle.exe"), cs).CombinedOutput(); err != nil {
		t.Fatalf("mcs: %v\n%s", err, out)
	}
	cmd := exec.Command(mono, filepath.Join(dir, "oracle.exe"))
	cmd.Env = append(os.Environ(), "TZ=UTC")
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("mono: %v", err)
	}
	want := map[int]string{}
	for _, m := range regexp.MustCompile(`(?m)^<<(\d+)>>(.*)$`).FindAllStringSubmatch(stdout.String(), -1) {
		var i int
		fmt.Sscan(m[1], &i)
		want[i] = m[2]
	}
	for i, c := range cases {
		w, ok := want[i]
		if !ok {
			t.Errorf("case %d: no output from Mono", i)
			continue
		}
		if got := liquidRender(t, c.tmpl, body); got != w {
			t.Errorf("%s\n apimgw %q\n C#     %q   (%s)", c.tmpl, got, w, c.cs)
		}
	}
}
