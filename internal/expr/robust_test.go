package expr

import (
	"sort"
	"strings"
	"testing"
)

// TestMethodMatrix calls every dynamically dispatched method on receivers of
// every runtime type with each allowed argument count and a few argument
// kinds; evaluation may fail with a RuntimeError but must never panic.
func TestMethodMatrix(t *testing.T) {
	receivers := []string{
		`"abc"`, `new List<string> {"a", "b"}`, `new[] {1, 2}`, `JObject.Parse("{\"a\":1}")`, `JArray.Parse("[1,2]")`,
		`JObject.Parse("{\"a\":1}")["a"]`, `JObject.Parse("{\"a\":1}").Property("a")`, `new Dictionary<string, int> {{"a", 1}}`,
		`new HashSet<string> {"a"}`, `DateTime.UtcNow`, `DateTimeOffset.UtcNow`, `TimeSpan.FromSeconds(3)`, `Guid.NewGuid()`,
		`new Random(1)`, `SHA256.Create()`, `Encoding.UTF8`, `Regex.Match("a", "a")`, `new Regex("a")`, `new StringBuilder()`,
		`new byte[] {1, 2}`, `context.Request.Headers`, `context.Variables`, `context.Request.Url.Query`, `context.Request.MatchedParameters`,
		`(object)null`, `1`, `1.5`, `true`, `'c'`, `new { a = 1 }`, `XDocument.Parse("<a x=\"1\"><b>t</b></a>")`,
		`XDocument.Parse("<a x=\"1\"><b>t</b></a>").Root`, `(object)context.Request`, `(object)context.Response`,
		`(object)context.Api`, `(object)context.Request.Body`, `(object)context.Request.Url`, `(object)context.Deployment`,
		`(object)context.LastError`, `(object)context.Request.Headers`, `context.Request.Headers.GetValueOrDefault("Authorization","").AsJwt().Claims`, `XDocument.Parse("<a x=\"1\"><b>t</b></a>").Root.Name`, `context.Request.Headers.GetValueOrDefault("Authorization","").AsJwt()`,
	}
	argSets := [][]string{
		{}, {`"a"`}, {`1`}, {`null`}, {`x => x`}, {`"a"`, `"b"`}, {`1`, `2`}, {`null`, `null`}, {`x => x`, `x => x`},
		{`"a"`, `1`, `2`}, {`new byte[16]`, `new byte[16]`, `new byte[16]`}, {`"Aes"`, `new byte[16]`, `new byte[16]`},
		{`StringComparison.OrdinalIgnoreCase`}, {`new[] {'a'}`}, {`-1`}, {`-1`, `-1`},
		{`context.LastError`}, {`context.User`, `context.LastError`}, {`context.Request.Url`}, {`context.Request`, `context.Response`},
	}
	names := map[string]bool{}
	for n := range stringMethods {
		names[n] = true
	}
	for n, ok := range linqMethods {
		if ok {
			names[n] = true
		}
	}
	for n, ok := range otherMethods {
		if ok {
			names[n] = true
		}
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)
	runs := 0
	for _, m := range sorted {
		if m == "TryGetValue" {
			continue
		}
		for _, r := range receivers {
			for _, args := range argSets {
				src := "@((" + r + ")." + m + "(" + strings.Join(args, ", ") + "))"
				p, err := Compile(src)
				if err != nil {
					continue
				}
				runs++
				_, err = p.Eval(testContext())
				if rt, ok := err.(*RuntimeError); ok && strings.HasPrefix(rt.Msg, "internal error") {
					t.Errorf("%s: %s", src, rt.Msg)
				}
			}
		}
	}
	// statics with each argument set
	statics := []string{
		"string.IsNullOrEmpty", "string.Format", "string.Join", "string.Concat", "string.Compare", "string.Equals",
		"int.Parse", "long.TryParse", "DateTime.Parse", "DateTime.ParseExact", "DateTimeOffset.FromUnixTimeSeconds",
		"DateTime.SpecifyKind", "DateTime.Compare", "TimeSpan.FromSeconds", "TimeSpan.Parse", "Guid.Parse", "Convert.ToInt32",
		"Convert.ToBase64String", "Convert.FromBase64String", "Convert.ToBoolean", "Convert.ToString", "Convert.ToHexString",
		"Encoding.GetEncoding", "Regex.IsMatch", "Regex.Match", "Regex.Matches", "Regex.Replace", "Regex.Split", "Regex.Escape",
		"Uri.EscapeDataString", "Uri.UnescapeDataString", "WebUtility.UrlEncode", "WebUtility.UrlDecode", "WebUtility.HtmlEncode",
		"Math.Max", "Math.Min", "Math.Abs", "Math.Round", "Math.Pow", "Math.Floor", "JObject.Parse", "JArray.Parse",
		"JObject.FromObject", "JToken.DeepEquals", "JsonConvert.SerializeObject", "JsonConvert.DeserializeObject",
		"Array.Exists", "Array.Copy", "Array.IndexOf", "Array.Reverse", "BitConverter.ToString", "BitConverter.ToInt32",
		"SHA256.HashData", "Enumerable.Range", "Enumerable.Repeat", "char.IsDigit", "char.ToUpper", "XDocument.Parse",
		"XElement.Parse", "DateTime.DaysInMonth", "DateTime.IsLeapYear",
	}
	for _, s := range statics {
		for _, args := range argSets {
			src := "@(" + s + "(" + strings.Join(args, ", ") + "))"
			p, err := Compile(src)
			if err != nil {
				continue
			}
			runs++
			_, err = p.Eval(testContext())
			if rt, ok := err.(*RuntimeError); ok && strings.HasPrefix(rt.Msg, "internal error") {
				t.Errorf("%s: %s", src, rt.Msg)
			}
		}
	}
	props := append([]string{"Length", "Count", "Value", "Key", "Keys", "Values", "Name", "Type", "HasValues", "First", "Last",
		"Success", "Groups", "Index", "Message", "UserId", "Password", "Year", "Ticks", "TotalSeconds", "Days", "Kind",
		"UtcDateTime", "Offset", "Host", "AbsolutePath", "Query", "Port", "Root", "LocalName", "Parent", "HasElements"},
		modelMemberNames...)
	for _, pn := range props {
		for _, r := range receivers {
			src := "@((" + r + ")." + pn + ")"
			p, err := Compile(src)
			if err != nil {
				continue
			}
			runs++
			_, err = p.Eval(testContext())
			if rt, ok := err.(*RuntimeError); ok && strings.HasPrefix(rt.Msg, "internal error") {
				t.Errorf("%s: %s", src, rt.Msg)
			}
		}
	}
	t.Logf("%d method calls and property reads evaluated", runs)
}
