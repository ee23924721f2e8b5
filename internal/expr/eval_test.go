package expr

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

var fixedNow = time.Date(2026, 11, 25, 6, 39, 18, 123456700, time.UTC)

func testContext() *Context {
	u, _ := ParseURL("https://api.contoso.com/orders/42?tier=gold&x=1&x=2")
	ou, _ := ParseURL("https://gw.contoso.com:8443/v1/orders/42?tier=gold")
	svc, _ := ParseURL("http://backend.internal:9001/api")
	h := http.Header{}
	h.Set("X-Tier", "gold")
	h.Add("Accept", "application/json")
	h.Add("Accept", "text/plain")
	h.Set("Authorization", "Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c2VyLTEiLCJpc3MiOiJodHRwczovL2lzc3Vlci5leGFtcGxlIiwiYXVkIjpbImFwaTEiLCJhcGkyIl0sImV4cCI6MTc2NDA1NDc1OCwicm9sZXMiOlsiYWRtaW4iLCJyZWFkZXIiXSwibmFtZSI6IkFsaWNlIn0.sig")
	rh := http.Header{}
	rh.Set("Content-Type", "application/json")
	rh.Set("Retry-After", "10")
	return &Context{
		Request: &Request{
			Method: "POST", Url: u, OriginalUrl: ou, Headers: h, IpAddress: "10.1.2.3",
			Body:              NewBodyBytes([]byte(`{"name":"widget","qty":3,"price":9.5,"tags":["a","b"],"nested":{"ok":true,"n":null}}`)),
			MatchedParameters: map[string]string{"id": "42"},
		},
		Response: &Response{StatusCode: 429, StatusReason: "Too Many Requests", Headers: rh, Body: NewBodyBytes([]byte(`[1,2,3]`))},
		Variables: Variables{
			"str": "hello", "num": 5, "long": int64(7), "flag": true, "numstr": "12",
			"obj":  &JObject{props: []*JProperty{{Name: "a", Value: &JValue{V: int64(1)}}, {Name: "b", Value: &JValue{V: "two"}}}},
			"resp": &Response{StatusCode: 200, Headers: http.Header{}, Body: NewBodyBytes([]byte(`{"token":"abc","expires_in":3600}`))},
			"null": nil,
		},
		Subscription: &Subscription{Id: "sub-1", Name: "Alice", Key: "k1", PrimaryKey: "k1", SecondaryKey: "k2"},
		Product:      &Product{Id: "starter", Name: "Starter"},
		Api:          &Api{Id: "orders", Name: "Orders", Path: "orders", Version: "v1", ServiceUrl: svc},
		Operation:    &Operation{Id: "get-order", Name: "Get order", Method: "GET", UrlTemplate: "/orders/{id}"},
		Deployment:   &Deployment{Region: "West Europe", ServiceName: "apimgw", Gateway: &Gateway{Id: "gw-1"}},
		RequestId:    "0f8fad5b-d9cb-469f-a165-70867728950e",
		Timestamp:    fixedNow.Add(-1500 * time.Millisecond),
		Clock:        func() time.Time { return fixedNow },
	}
}

type evalCase struct {
	name string
	src  string
	want any // string (compared with EvalString) or a Go value compared with Eval
}

func runEvalCases(t *testing.T, cases []evalCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Compile(tc.src)
			if err != nil {
				t.Fatalf("Compile(%q): %v", tc.src, err)
			}
			ctx := testContext()
			if s, ok := tc.want.(string); ok {
				got, err := p.EvalString(ctx)
				if err != nil {
					t.Fatalf("EvalString(%q): %v", tc.src, err)
				}
				if got != s {
					t.Fatalf("EvalString(%q)\n got: %q\nwant: %q", tc.src, got, s)
				}
				return
			}
			got, err := p.Eval(ctx)
			if err != nil {
				t.Fatalf("Eval(%q): %v", tc.src, err)
			}
			if !valuesEqual(got, tc.want) {
				t.Fatalf("Eval(%q) = %#v (%T), want %#v (%T)", tc.src, got, got, tc.want, tc.want)
			}
		})
	}
}

func TestEvalContext(t *testing.T) {
	runEvalCases(t, []evalCase{
		{"header", `@(context.Request.Headers.GetValueOrDefault("x-tier","") == "gold")`, true},
		{"header missing", `@(context.Request.Headers.GetValueOrDefault("x-none","dflt"))`, "dflt"},
		{"header joined", `@(context.Request.Headers.GetValueOrDefault("accept",""))`, "application/json,text/plain"},
		{"header indexer", `@(context.Request.Headers["Accept"][1])`, "text/plain"},
		{"header contains", `@(context.Request.Headers.ContainsKey("x-TIER"))`, true},
		{"method", `@(context.Request.Method)`, "POST"},
		{"url path", `@(context.Request.Url.Path)`, "/orders/42"},
		{"url host", `@(context.Request.OriginalUrl.Host + ":" + context.Request.OriginalUrl.Port)`, "gw.contoso.com:8443"},
		{"url tostring", `@(context.Request.Url.ToString())`, "https://api.contoso.com/orders/42?tier=gold&x=1&x=2"},
		{"url implicit", `@(context.Request.OriginalUrl)`, "https://gw.contoso.com:8443/v1/orders/42?tier=gold"},
		{"querystring", `@(context.Request.Url.QueryString)`, "?tier=gold&x=1&x=2"},
		{"query get", `@(context.Request.Url.Query.GetValueOrDefault("x", ""))`, "1,2"},
		{"query count", `@(context.Request.Url.Query.Count)`, 2},
		{"query keys", `@(string.Join("|", context.Request.Url.Query.Keys))`, "tier|x"},
		{"matched", `@(context.Request.MatchedParameters["id"])`, "42"},
		{"matched default", `@(context.Request.MatchedParameters.GetValueOrDefault("nope", "d"))`, "d"},
		{"ip", `@(context.Request.IpAddress)`, "10.1.2.3"},
		{"status", `@(context.Response.StatusCode == 429 || context.Response.StatusCode >= 500)`, true},
		{"reason", `@(context.Response.StatusReason)`, "Too Many Requests"},
		{"resp header", `@(context.Response.Headers.GetValueOrDefault("Retry-After", "0"))`, "10"},
		{"subscription", `@(context.Subscription.Id + "/" + context.Subscription.Name)`, "sub-1/Alice"},
		{"product", `@(context.Product.Name)`, "Starter"},
		{"api", `@(context.Api.Id + context.Api.Path + context.Api.Version)`, "ordersordersv1"},
		{"service url", `@(context.Api.ServiceUrl.Host)`, "backend.internal"},
		{"operation", `@(context.Operation.UrlTemplate)`, "/orders/{id}"},
		{"deployment", `@(context.Deployment.Region + "|" + context.Deployment.Gateway.Id)`, "West Europe|gw-1"},
		{"request id", `@(context.RequestId.ToString())`, "0f8fad5b-d9cb-469f-a165-70867728950e"},
		{"request id concat", `@("id-" + context.RequestId)`, "id-0f8fad5b-d9cb-469f-a165-70867728950e"},
		{"elapsed", `@(context.Elapsed.TotalMilliseconds)`, 1500.0},
		{"user null", `@(context.User == null)`, true},
		{"user null-conditional", `@(context.User?.Id ?? "anon")`, "anon"},
		{"lasterror null", `@(context.LastError?.Reason)`, ""},
		{"variables index", `@((string)context.Variables["str"])`, "hello"},
		{"variables gvod", `@(context.Variables.GetValueOrDefault<string>("str", ""))`, "hello"},
		{"variables gvod int", `@(context.Variables.GetValueOrDefault<int>("num"))`, 5},
		{"variables gvod missing", `@(context.Variables.GetValueOrDefault<int>("nope"))`, 0},
		{"variables gvod missing default", `@(context.Variables.GetValueOrDefault<string>("nope", "x"))`, "x"},
		{"variables gvod untyped", `@(context.Variables.GetValueOrDefault("num"))`, 5},
		{"variables contains", `@(context.Variables.ContainsKey("flag") && (bool)context.Variables["flag"])`, true},
		{"iresponse cast", `@(((IResponse)context.Variables["resp"]).Body.As<JObject>()["token"].ToString())`, "abc"},
		{"iresponse gvod", `@(context.Variables.GetValueOrDefault<IResponse>("resp").StatusCode)`, 200},
		{"body string", `@(context.Request.Body.As<string>(preserveContent: true).Length > 10)`, true},
		{"body jobject", `@(context.Request.Body.As<JObject>(preserveContent: true)["name"].ToString())`, "widget"},
		{"body jarray", `@(context.Response.Body.As<JArray>().Count)`, 3},
		{"body consumed", `@{ var a = context.Request.Body.As<string>(); var b = context.Request.Body.As<string>(); return b.Length; }`, 0},
		{"body preserved", `@{ var a = context.Request.Body.As<string>(preserveContent: true); var b = context.Request.Body.As<string>(); return b == a; }`, true},
		{"jwt", `@(context.Request.Headers.GetValueOrDefault("Authorization","").AsJwt()?.Subject)`, "user-1"},
		{"jwt claims", `@(context.Request.Headers.GetValueOrDefault("Authorization","").AsJwt().Claims.GetValueOrDefault("roles", ""))`, "admin,reader"},
		{"jwt claims index", `@(context.Request.Headers.GetValueOrDefault("Authorization","").AsJwt().Claims["aud"].Contains("api2"))`, true},
		{"jwt invalid", `@("notajwt".AsJwt() == null)`, true},
		{"trace", `@{ context.Trace("hello"); return "ok"; }`, "ok"},
	})
}

func TestEvalLanguage(t *testing.T) {
	runEvalCases(t, []evalCase{
		{"int arith", `@(1 + 2 * 3 - 4 / 2 % 3)`, 5},
		{"int division", `@(7 / 2)`, 3},
		{"double", `@(7 / 2.0)`, 3.5},
		{"int overflow wraps", `@{ int x = int.MaxValue; return x + 1; }`, -2147483648},
		{"long", `@(2147483647L + 1)`, int64(2147483648)},
		{"concat", `@("a" + 1 + 2)`, "a12"},
		{"concat null", `@("a" + null + "b")`, "ab"},
		{"bool tostring", `@(true)`, "True"},
		{"double tostring", `@(0.1 + 0.2)`, "0.30000000000000004"},
		{"big double", `@(1e20)`, "1E+20"},
		{"ternary", `@(context.Response.StatusCode == 429 ? "throttled" : "ok")`, "throttled"},
		{"coalesce", `@((string)context.Variables["null"] ?? "fallback")`, "fallback"},
		{"not", `@(!(1 > 2))`, true},
		{"relational", `@(1 <= 1 && 2 >= 3 == false)`, true},
		{"bitwise", `@((0xF0 | 0x0F) & 0x3C)`, 0x3C},
		{"shift", `@(1 << 4 >> 2)`, 4},
		{"char literal", `@('a')`, "a"},
		{"char compare", `@("abc"[1] == 'b')`, true},
		{"verbatim", `@(@"c:\path ""q""")`, `c:\path "q"`},
		{"escapes", `@("a\tb\n\u0041")`, "a\tb\nA"},
		{"interp", `@($"n={context.Variables["num"]} s={context.Variables["str"]}")`, "n=5 s=hello"},
		{"interp format", `@($"{3.14159:F2}|{42,5}|{42,-5}|{255:X4}")`, "3.14|   42|42   |00FF"},
		{"interp braces", `@($"{{x}}")`, "{x}"},
		{"interp verbatim", `@($@"a\{1 + 1}")`, `a\2`},
		{"interp nested string", `@($"{context.Variables.GetValueOrDefault<string>("str", "")}!")`, "hello!"},
		{"is", `@(context.Variables["str"] is string)`, true},
		{"is pattern", `@{ if (context.Variables["num"] is int n) { return n * 2; } return 0; }`, 10},
		{"as", `@((context.Variables["num"] as string) == null)`, true},
		{"cast int", `@((int)3.9)`, 3},
		{"cast long", `@((long)(int)context.Variables["num"])`, int64(5)},
		{"null conditional chain", `@(((string)context.Variables["null"])?.Length.ToString())`, ""},
		{"null conditional index", `@(((JObject)null)?["a"])`, ""},
		{"default", `@(default(int))`, 0},
		{"block var", `@{ var x = 2; x += 3; x++; ++x; x--; return x; }`, 6},
		{"typed decls", `@{ string s = "a"; int i = 1; bool b = true; long l = i; double d = i; return s + i + b + l + d; }`, "a1True11"},
		{"if else", `@{ if (1 > 2) { return "a"; } else if (2 > 1) return "b"; else { return "c"; } }`, "b"},
		{"for", `@{ int sum = 0; for (int i = 0; i < 5; i++) { if (i == 1) continue; if (i == 4) break; sum += i; } return sum; }`, 5},
		{"foreach", `@{ var s = ""; foreach (var p in "a,b,c".Split(',')) { s += p.ToUpper(); } return s; }`, "ABC"},
		{"while", `@{ int i = 0; while (i < 10) { i += 3; } return i; }`, 12},
		{"do while", `@{ int i = 0; do { i++; } while (i < 0); return i; }`, 1},
		{"switch", `@{ switch (context.Request.Method) { case "GET": return 1; case "POST": case "PUT": return 2; default: return 3; } }`, 2},
		{"try catch", `@{ try { return int.Parse("x"); } catch (FormatException ex) { return ex.Message; } }`, "The input string 'x' was not in a correct format."},
		{"try catch all", `@{ try { object o = null; return o.ToString(); } catch { return "caught"; } }`, "caught"},
		{"try finally", `@{ var s = "a"; try { s += "b"; } finally { s += "c"; } return s; }`, "abc"},
		{"throw", `@{ try { throw new Exception("boom"); } catch (Exception e) { return e.Message; } }`, "boom"},
		{"out var", `@{ return int.TryParse("12", out var n) ? n + 1 : -1; }`, 13},
		{"out declared", `@{ int n; var ok = int.TryParse("zz", out n); return ok + ":" + n; }`, "False:0"},
		{"trygetvalue", `@{ object v; if (context.Variables.TryGetValue("str", out v)) { return v; } return "none"; }`, "hello"},
		{"lambda where", `@(string.Join(",", new[] {1, 2, 3, 4}.Where(x => x % 2 == 0)))`, "2,4"},
		{"lambda select", `@(string.Join(",", new List<string> {"a", "b"}.Select(s => s.ToUpper()).ToArray()))`, "A,B"},
		{"linq any all", `@(new[] {1, 2}.Any(x => x > 1) && new[] {1, 2}.All(x => x > 0) && !new int[0].Any())`, true},
		{"linq first", `@(new[] {"x", "yy", "zzz"}.First(s => s.Length > 1) + new string[0].FirstOrDefault())`, "yy"},
		{"linq last count", `@(new[] {3, 1, 2}.Last() + new[] {3, 1, 2}.Count(x => x > 1))`, 4},
		{"linq order", `@(string.Join("", new[] {"b", "c", "a"}.OrderBy(s => s)) + string.Join("", new[] {1, 3, 2}.OrderByDescending(x => x)))`, "abc321"},
		{"linq sum max min", `@(new[] {1, 5, 3}.Sum() + new[] {1, 5, 3}.Max() * 10 + new[] {1, 5, 3}.Min() * 100)`, 159},
		{"linq skip take distinct", `@(string.Join(",", new[] {1, 1, 2, 3, 3, 4}.Distinct().Skip(1).Take(2)))`, "2,3"},
		{"linq concat contains", `@(new[] {1}.Concat(new[] {2}).Contains(2))`, true},
		{"linq todictionary", `@(new[] {"a", "bb"}.ToDictionary(s => s, s => s.Length)["bb"])`, 2},
		{"linq two-arg lambda", `@(string.Join(",", new[] {"a", "b"}.Select((s, i) => s + i)))`, "a0,b1"},
		{"headers linq", `@(context.Request.Headers.Any(h => h.Key == "X-Tier"))`, true},
		{"list ops", `@{ var l = new List<int>(); l.Add(3); l.Add(1); l.Remove(3); l.Insert(0, 9); return l.Count + ":" + l[0]; }`, "2:9"},
		{"dictionary", `@{ var d = new Dictionary<string, string> { { "a", "1" }, ["b"] = "2" }; d["c"] = "3"; return d.Count + d["b"] + d.ContainsKey("c"); }`, "32True"},
		{"dictionary ignore case", `@{ var d = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase); d["A"] = 1; return d["a"]; }`, 1},
		{"hashset", `@{ var h = new HashSet<string> { "a" }; h.Add("a"); h.Add("b"); return h.Count; }`, 2},
		{"array index", `@{ var a = new string[2]; a[1] = "x"; return a[1] + a.Length; }`, "x2"},
		{"array init", `@{ string[] a = { "p", "q" }; return a[0] + a[1]; }`, "pq"},
		{"anonymous", `@{ var o = new { Name = "n", Count = 2 }; return o.Name + o.Count; }`, "n2"},
		{"unchecked", `@(unchecked((int)4294967295L))`, -1},
		{"const", `@{ const int x = 4; return x * 2; }`, 8},
		{"using", `@{ using (var h = new HMACSHA256(Encoding.UTF8.GetBytes("k"))) { return Convert.ToBase64String(h.ComputeHash(Encoding.UTF8.GetBytes("m"))); } }`, "tgCQ4wUil661oICInOL8S8qVfnVvrrTffTGADKHncew="},
	})
}

func TestEvalLibrary(t *testing.T) {
	runEvalCases(t, []evalCase{
		{"contains", `@("Hello".Contains("ell"))`, true},
		{"startswith ic", `@("Hello".StartsWith("he", StringComparison.OrdinalIgnoreCase))`, true},
		{"endswith", `@("Hello".EndsWith("lo"))`, true},
		{"split char", `@("a,b,,c".Split(',').Length)`, 4},
		{"split options", `@("a,b,,c".Split(new[] {','}, StringSplitOptions.RemoveEmptyEntries).Length)`, 3},
		{"split string", `@("a::b".Split(new string[] {"::"}, StringSplitOptions.None)[1])`, "b"},
		{"substring", `@("Hello".Substring(1, 3) + "Hello".Substring(3))`, "elllo"},
		{"replace", `@("a-b-c".Replace("-", "+"))`, "a+b+c"},
		{"case", `@("MiXed".ToLower() + "MiXed".ToUpperInvariant())`, "mixedMIXED"},
		{"trim", `@("[" + "  x ".Trim() + "|" + "//p/".TrimStart('/') + "|" + "p//".TrimEnd('/') + "]")`, "[x|p/|p]"},
		{"indexof", `@("hello".IndexOf("l") + "hello".LastIndexOf("l"))`, 5},
		{"pad", `@("7".PadLeft(3, '0') + "7".PadRight(3) + "|")`, "0077  |"},
		{"equals ic", `@("ABC".Equals("abc", StringComparison.OrdinalIgnoreCase))`, true},
		{"length", `@("héllo".Length)`, 5},
		{"string statics", `@(string.IsNullOrEmpty("") && string.IsNullOrWhiteSpace("  ") && !string.IsNullOrEmpty("a") && string.Empty == "")`, true},
		{"string format", `@(string.Format("{0}-{1:D3}-{0}", "a", 7))`, "a-007-a"},
		{"string format date", `@(string.Format("{0:yyyy-MM-dd}", new DateTime(2024, 5, 1)))`, "2024-05-01"},
		{"string join list", `@(string.Join("/", new List<string> {"a", "b"}))`, "a/b"},
		{"string concat", `@(string.Concat("a", 1, true))`, "a1True"},
		{"string compare", `@(string.Compare("a", "b") < 0 && string.Equals("x", "X", StringComparison.OrdinalIgnoreCase))`, true},
		{"int parse", `@(int.Parse("42") + 1)`, 43},
		{"int tostring format", `@(42.ToString("D5") + 255.ToString("x2") + 1234567.ToString("N0") + 3.14159.ToString("0.00"))`, "00042ff1,234,5673.14"},
		{"double parse", `@(double.Parse("2.5") * 2)`, 5.0},
		{"bool parse", `@(bool.Parse("True"))`, true},
		{"long tryparse", `@{ long v; return long.TryParse("9000000000", out v) ? v : 0; }`, int64(9000000000)},
		{"convert", `@(Convert.ToInt32("12") + Convert.ToInt32(3.6) + Convert.ToInt32(context.Variables["numstr"]))`, 28},
		{"convert bool string", `@(Convert.ToBoolean("true").ToString() + Convert.ToString(5))`, "True5"},
		{"base64", `@(Convert.ToBase64String(Encoding.UTF8.GetBytes("hi there")))`, "aGkgdGhlcmU="},
		{"base64 decode", `@(Encoding.UTF8.GetString(Convert.FromBase64String("aGkgdGhlcmU=")))`, "hi there"},
		{"sha256", `@{ using (var sha = System.Security.Cryptography.SHA256.Create()) { return BitConverter.ToString(sha.ComputeHash(Encoding.UTF8.GetBytes("abc"))).Replace("-", "").ToLowerInvariant(); } }`, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
		{"utcnow", `@(DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ"))`, "2026-11-25T06:39:18Z"},
		{"utcnow o", `@(DateTime.UtcNow.ToString("o"))`, "2026-11-25T06:39:18.1234567Z"},
		{"utcnow R", `@(DateTime.UtcNow.ToString("R"))`, "Wed, 25 Nov 2026 06:39:18 GMT"},
		{"utcnow s", `@(DateTime.UtcNow.AddMinutes(10).ToString("s"))`, "2026-11-25T06:49:18"},
		{"date default tostring", `@(new DateTime(2024, 5, 1, 13, 4, 5))`, "05/01/2024 13:04:05"},
		{"date arithmetic", `@((DateTime.UtcNow.AddHours(2) - DateTime.UtcNow).TotalMinutes)`, 120.0},
		{"date compare", `@(DateTime.UtcNow > DateTime.MinValue && DateTime.Now >= DateTime.UtcNow.AddSeconds(-1))`, true},
		{"date parse", `@(DateTime.Parse("2024-05-01T10:00:00Z").AddDays(1).ToString("yyyy-MM-dd HH:mm"))`, "2024-05-02 10:00"},
		{"date parseexact", `@(DateTime.ParseExact("01/05/2024", "dd/MM/yyyy", null).Month)`, 5},
		{"ticks", `@(new DateTime(2000, 1, 1).Ticks)`, int64(630822816000000000)},
		{"unix", `@(DateTimeOffset.UtcNow.ToUnixTimeSeconds())`, fixedNow.Unix()},
		{"from unix", `@(DateTimeOffset.FromUnixTimeMilliseconds(0).UtcDateTime.ToString("yyyy"))`, "1970"},
		{"timespan", `@(TimeSpan.FromSeconds(90).TotalMinutes + TimeSpan.FromMinutes(1).Seconds)`, 1.5},
		{"timespan tostring", `@(TimeSpan.FromSeconds(3661))`, "01:01:01"},
		{"guid", `@(Guid.NewGuid().ToString().Length)`, 36},
		{"guid parse", `@(Guid.Parse("0F8FAD5B-D9CB-469F-A165-70867728950E").ToString("N"))`, "0f8fad5bd9cb469fa16570867728950e"},
		{"regex ismatch", `@(Regex.IsMatch("abc123", @"^[a-z]+\d+$"))`, true},
		{"regex match groups", `@(Regex.Match("key=value", @"(?<k>\w+)=(\w+)").Groups["k"].Value + Regex.Match("key=value", @"(\w+)=(\w+)").Groups[2].Value)`, "keyvalue"},
		{"regex success", `@(Regex.Match("x", "y").Success)`, false},
		{"regex replace", `@(Regex.Replace("a1b22", @"\d+", "#") + Regex.Replace("ab", "(a)(b)", "$2$1"))`, "a#b#ba"},
		{"regex options", `@(Regex.IsMatch("ABC", "abc", RegexOptions.IgnoreCase))`, true},
		{"uri escape", `@(Uri.EscapeDataString("a b&c/d") + "|" + Uri.UnescapeDataString("a%20b"))`, "a%20b%26c%2Fd|a b"},
		{"weburl", `@(System.Net.WebUtility.UrlEncode("a b&c") + "|" + WebUtility.UrlDecode("a+b%26c"))`, "a+b%26c|a b&c"},
		{"html encode", `@(WebUtility.HtmlEncode("<a href='x'>"))`, "&lt;a href=&#39;x&#39;&gt;"},
		{"math", `@(Math.Max(1, 2) + Math.Min(3, 4) + Math.Abs(-5) + Math.Round(2.5) + Math.Floor(1.7) + Math.Ceiling(1.2) + Math.Pow(2, 3))`, 23.0},
		{"math round digits", `@(Math.Round(3.14159, 2))`, 3.14},
		{"new uri", `@(new Uri("https://a.example:8443/p/q?x=1").Host + new Uri("https://a.example/p").AbsolutePath)`, "a.example/p"},
		{"random", `@{ var r = new Random(); var n = r.Next(1, 10); return n >= 1 && n < 10; }`, true},
		{"int maxvalue", `@(Int32.MaxValue)`, 2147483647},
		{"encrypt roundtrip", `@{ var key = new byte[16]; var iv = new byte[16]; var enc = Encoding.UTF8.GetBytes("secret").Encrypt("Aes", key, iv); return Encoding.UTF8.GetString(enc.Decrypt("Aes", key, iv)); }`, "secret"},
		{"stringbuilder", `@{ var sb = new StringBuilder(); sb.Append("a").Append(1); sb.AppendFormat("-{0}", "x"); return sb.ToString(); }`, "a1-x"},
	})
}

func TestEvalJSON(t *testing.T) {
	runEvalCases(t, []evalCase{
		{"parse index", `@(JObject.Parse("{\"a\":{\"b\":[1,2]}}")["a"]["b"][1].ToString())`, "2"},
		{"value T", `@(JObject.Parse("{\"n\":\"5\"}").Value<int>("n") + 1)`, 6},
		{"value string", `@(JObject.Parse("{\"n\":5}")["n"].Value<string>())`, "5"},
		{"cast string", `@((string)JObject.Parse("{\"s\":\"x\"}")["s"])`, "x"},
		{"cast int", `@((int)JObject.Parse("{\"n\":7}")["n"] * 2)`, 14},
		{"missing key", `@(JObject.Parse("{}")["nope"] == null)`, true},
		{"order preserved", `@(JObject.Parse("{\"z\":1,\"a\":2}").ToString(Formatting.None))`, `{"z":1,"a":2}`},
		{"indented", `@(new JObject(new JProperty("a", 1), new JProperty("b", new JArray(1, "x"))).ToString())`, "{\r\n  \"a\": 1,\r\n  \"b\": [\r\n    1,\r\n    \"x\"\r\n  ]\r\n}"},
		{"empty", `@(new JObject().ToString() + new JArray().ToString())`, "{}[]"},
		{"collection init", `@(new JObject { { "name", "n" }, { "ok", true }, { "d", 1.0 } }.ToString(Formatting.None))`, `{"name":"n","ok":true,"d":1.0}`},
		{"set index", `@{ var o = new JObject(); o["a"] = "x"; o["b"] = 2; o["a"] = "y"; return o.ToString(Formatting.None); }`, `{"a":"y","b":2}`},
		{"add remove", `@{ var o = JObject.Parse("{\"a\":1}"); o.Add("b", new JArray()); o.Remove("a"); return o.ToString(Formatting.None); }`, `{"b":[]}`},
		{"property", `@(JObject.Parse("{\"a\":1}").Property("a").Name + JObject.Parse("{\"a\":1}").Property("b"))`, "a"},
		{"properties", `@(string.Join(",", JObject.Parse("{\"a\":1,\"b\":2}").Properties().Select(p => p.Name)))`, "a,b"},
		{"containskey", `@(JObject.Parse("{\"a\":1}").ContainsKey("a"))`, true},
		{"trygetvalue", `@{ JToken t; return JObject.Parse("{\"a\":1}").TryGetValue("a", out t) ? t.ToString() : "no"; }`, "1"},
		{"selecttoken", `@(JObject.Parse("{\"a\":{\"b\":[{\"c\":\"d\"}]}}").SelectToken("$.a.b[0].c").ToString())`, "d"},
		{"selecttoken missing", `@(JObject.Parse("{}").SelectToken("a.b") == null)`, true},
		{"type", `@(JObject.Parse("{\"a\":null}")["a"].Type == JTokenType.Null)`, true},
		{"hasvalues", `@(JObject.Parse("{\"a\":1}").HasValues)`, true},
		{"jarray parse", `@(JArray.Parse("[1,2,3]").Count + JArray.Parse("[1,2,3]").Select(x => (int)x).Sum())`, 9},
		{"foreach jarray", `@{ int s = 0; foreach (JToken t in JArray.Parse("[1,2]")) { s += t.Value<int>(); } return s; }`, 3},
		{"foreach jobject", `@{ var s = ""; foreach (var p in JObject.Parse("{\"a\":1,\"b\":2}")) { s += p.Key; } return s; }`, "ab"},
		{"serialize anon", `@(JsonConvert.SerializeObject(new { a = 1, b = "x", c = new[] { 1, 2 } }))`, `{"a":1,"b":"x","c":[1,2]}`},
		{"fromobject", `@(JObject.FromObject(new { n = "v" })["n"].ToString())`, "v"},
		{"escape", `@(new JObject(new JProperty("s", "a\"b\\c\n")).ToString(Formatting.None))`, `{"s":"a\"b\\c\n"}`},
		{"double output", `@(new JArray(1.5, 2.0, 1e20).ToString(Formatting.None))`, `[1.5,2.0,1E+20]`},
		{"jvalue bool tostring", `@(JObject.Parse("{\"b\":true}")["b"].ToString())`, "True"},
		{"deserialize", `@(JsonConvert.DeserializeObject<JObject>("{\"a\":2}")["a"].ToString())`, "2"},
		{"jarray add", `@{ var a = new JArray(); a.Add("x"); a.Add(new JObject { { "k", 1 } }); return a.ToString(Formatting.None); }`, `["x",{"k":1}]`},
		{"body jobject mutate", `@{ var b = context.Request.Body.As<JObject>(); b["qty"] = b.Value<int>("qty") + 1; b.Remove("nested"); return b.ToString(Formatting.None); }`, `{"name":"widget","qty":4,"price":9.5,"tags":["a","b"]}`},
		{"variables jobject", `@(context.Variables.GetValueOrDefault<JObject>("obj")["b"].ToString())`, "two"},
	})
}

func TestRuntimeErrors(t *testing.T) {
	cases := []struct{ name, src, want string }{
		{"null ref", `@(context.User.Id)`, "Object reference not set to an instance of an object."},
		{"null member", `@(((string)context.Variables["null"]).Length)`, "Object reference not set to an instance of an object."},
		{"bad cast", `@((string)context.Variables["num"])`, "Unable to cast object of type 'System.Int32' to type 'System.String'."},
		{"missing variable", `@((string)context.Variables["nope"])`, "The given key 'nope' was not present in the dictionary."},
		{"parse", `@(int.Parse("abc"))`, "The input string 'abc' was not in a correct format."},
		{"index", `@("abc".Substring(5))`, "Specified argument was out of the range of valid values. (Parameter 'startIndex')"},
		{"array index", `@(new[] {1}[3])`, "Index was outside the bounds of the array."},
		{"divide", `@(1 / (context.Variables.GetValueOrDefault<int>("nope")))`, "Attempted to divide by zero."},
		{"json", `@(JObject.Parse("{bad"))`, ""},
		{"bool", `@(context.Request.Method)`, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Compile(tc.src)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			var rerr error
			if tc.name == "bool" {
				_, rerr = p.EvalBool(testContext())
			} else {
				_, rerr = p.Eval(testContext())
			}
			var rt *RuntimeError
			if !errors.As(rerr, &rt) {
				t.Fatalf("want *RuntimeError, got %v", rerr)
			}
			if tc.want != "" && rt.Msg != tc.want {
				t.Fatalf("message %q, want %q", rt.Msg, tc.want)
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	cases := []struct{ name, src, want string }{
		{"syntax", "@(1 +)", "1:6: unexpected end of expression"},
		{"unclosed", "@(\"abc)", "1:3: unterminated string literal"},
		{"unknown context member", "@(context.Requestt.Method)", "1:11: unknown member 'Requestt' on context (did you mean 'Request'?)"},
		{"unknown nested member", "@{\n  return context.Request.Foo;\n}", "2:26: unknown member 'Foo' on context.Request"},
		{"unknown static", "@(Foo.Bar())", "1:3: the name 'Foo' does not exist in the current context (unsupported type?)"},
		{"unknown static method", "@(string.Frobnicate(\"a\"))", "1:10: unknown static method 'string.Frobnicate'"},
		{"unknown method", "@(\"a\".Frob())", "1:7: unknown method 'Frob'"},
		{"arity", "@(string.IsNullOrEmpty(\"a\", \"b\"))", "1:10: no overload for method 'IsNullOrEmpty' takes 2 arguments"},
		{"gvod arity", "@(context.Variables.GetValueOrDefault())", "1:21: no overload for method 'GetValueOrDefault' takes 0 arguments"},
		{"unsupported goto", "@{ goto x; }", "1:4: unsupported C# construct: goto"},
		{"unsupported type", "@{ var d = new XmlDocument(); return d; }", "1:16: unsupported C# construct: type 'XmlDocument'"},
		{"invalid regex", `@(Regex.IsMatch("a", "(?=a"))`, "1:22: Invalid pattern '(?=a': error parsing regexp: missing closing ) in `(?=a`"},
		{"unknown local", "@(foo + 1)", "1:3: the name 'foo' does not exist in the current context"},
		{"break outside", "@{ break; }", "1:4: no enclosing loop out of which to break"},
		{"redeclare", "@{ var a = 1; var a = 2; return a; }", "1:15: a local variable named 'a' is already defined in this scope"},
		{"not expression", "hello", "1:1: an expression must start with \"@(\" or \"@{\""},
		{"bad statement", "@{ 1 + 2; }", "1:4: only assignment, call, increment, decrement and new expressions can be used as a statement"},
		{"as body", "@(context.Request.Body.As<XmlDocument>())", "1:27: unsupported C# construct: type 'XmlDocument'"},
		{"no return", "@{ var a = 1; }", "1:1: not all code paths return a value: a block expression needs a return statement"},
		{"named arg", `@("a".Contains(value: "a"))`, "1:7: unsupported C# construct: named argument 'value'"},
		{"out arg", `@(int.Parse("1", out var x))`, "1:7: unsupported C# construct: out argument 2 of 'int.Parse'"},
		{"wrong arity dynamic", `@("a".Replace("a"))`, "1:7: no overload for method 'Replace' takes 1 arguments"},
		{"error in interpolation hole", "@($\"a{context.Foo}b\")", "1:15: unknown member 'Foo' on context"},
		{"error on later line", "@{\n\tvar x = 1;\n\treturn x +;\n}", "3:12: unexpected ';'"},
		{"leading whitespace", "  \n  @(1 +)", "2:8: unexpected end of expression"},
		{"unterminated block", "@{ return 1;", "1:13: expression must end with '}'"},
		{"model method typo", "@(context.Variables.GetValueOrDefualt(\"a\"))", "1:21: unknown method 'GetValueOrDefualt' on context.Variables (did you mean 'GetValueOrDefault'?)"},
		{"readonly", "@{ context.Variables[\"a\"] = 1; return 1; }", "1:21: context.Variables is read-only"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compile(tc.src)
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("Compile(%q) = %v, want *Error", tc.src, err)
			}
			if err.Error() != tc.want {
				t.Fatalf("Compile(%q) error\n got: %s\nwant: %s", tc.src, err.Error(), tc.want)
			}
		})
	}
}

func TestValueAndHelpers(t *testing.T) {
	ctx := testContext()
	v, err := CompileValue("plain")
	if err != nil || !v.IsConst() {
		t.Fatalf("literal: %v %v", v, err)
	}
	if s, _ := v.String(ctx); s != "plain" {
		t.Fatalf("literal String = %q", s)
	}
	v, err = CompileValue(" @(context.Variables.GetValueOrDefault<int>(\"num\") * 2) ")
	if err != nil || v.IsConst() {
		t.Fatalf("expr: %v %v", v, err)
	}
	if n, err := v.Int(ctx); err != nil || n != 10 {
		t.Fatalf("Int = %d, %v", n, err)
	}
	b, _ := CompileValue("TRUE")
	if ok, err := b.Bool(ctx); err != nil || !ok {
		t.Fatalf("Bool literal = %v, %v", ok, err)
	}
	if IsExpression("x@(") || !IsExpression("  @{ return 1; }") {
		t.Fatal("IsExpression")
	}
	if got := ToString(nil) + ToString(false) + ToString(2.50); got != "False2.5" {
		t.Fatalf("ToString = %q", got)
	}
	if _, err := CompileValue("@(1 +"); err == nil {
		t.Fatal("want error")
	}
	p, _ := Compile("@(context.Variables.GetValueOrDefault<string>(\"str\"))")
	if s, err := p.EvalString(nil); err != nil || s != "" {
		t.Fatalf("nil context: %q %v", s, err)
	}
}

func TestConcurrentEval(t *testing.T) {
	p, err := Compile(`@{ var l = new List<string>(); foreach (var h in context.Request.Headers.Keys) { l.Add(h.ToLower()); } return string.Join(",", l.OrderBy(x => x)); }`)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan string, 8)
	for i := 0; i < 8; i++ {
		go func() {
			var last string
			for j := 0; j < 200; j++ {
				s, err := p.EvalString(testContext())
				if err != nil {
					last = err.Error()
					break
				}
				last = s
			}
			done <- last
		}()
	}
	for i := 0; i < 8; i++ {
		if got := <-done; !strings.HasPrefix(got, "accept,authorization,x-tier") {
			t.Fatalf("got %q", got)
		}
	}
}

func TestEvalMore(t *testing.T) {
	runEvalCases(t, []evalCase{
		{"coalesce assign", `@{ string s = null; s ??= "x"; s ??= "y"; return s; }`, "x"},
		{"null index", `@{ JObject o = null; return o?["a"]?.ToString() ?? "none"; }`, "none"},
		{"is not null", `@(context.Subscription is not null && context.User is null)`, true},
		{"using var", `@{ using var h = SHA256.Create(); return h.ComputeHash(new byte[0]).Length; }`, 32},
		{"catch when", `@{ try { throw new InvalidOperationException("a"); } catch (Exception e) when (e.Message == "b") { return 1; } catch (InvalidOperationException) { return 2; } }`, 2},
		{"uncaught type", `@{ try { try { int.Parse("x"); } catch (ArgumentException) { return 1; } } catch (FormatException) { return 2; } return 3; }`, 2},
		{"values", `@(string.Join(",", JArray.Parse("[1,2]").Values<string>()))`, "1,2"},
		{"merge", `@{ var a = JObject.Parse("{\"x\":1}"); a.Merge(JObject.Parse("{\"y\":2}")); return a.ToString(Formatting.None); }`, `{"x":1,"y":2}`},
		{"deep equals", `@(JToken.DeepEquals(JObject.Parse("{\"a\":1}"), JObject.Parse("{ \"a\" : 1 }")))`, true},
		{"basic", `@(("Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("u:p"))).AsBasic().Password)`, "p"},
		{"guid bytes roundtrip", `@(new Guid(Guid.Parse("0f8fad5b-d9cb-469f-a165-70867728950e").ToByteArray()).ToString())`, "0f8fad5b-d9cb-469f-a165-70867728950e"},
		{"json lasterror", `@(JsonConvert.SerializeObject(new { ok = false, at = new DateTime(2024, 1, 2, 3, 4, 5, DateTimeKind.Utc) }))`, `{"ok":false,"at":"2024-01-02T03:04:05Z"}`},
		{"char arithmetic", `@((char)('a' + 1))`, "b"},
		{"string index loop", `@{ var n = 0; foreach (char c in "a1b2") { if (char.IsDigit(c)) n++; } return n; }`, 2},
		{"split count", `@(string.Join("|", "a,b,c".Split(new[] {','}, 2)))`, "a|b,c"},
		{"enumerable range", `@(Enumerable.Range(1, 4).Sum())`, 10},
		{"dictionary iterate", `@{ var d = new Dictionary<string, int> { {"a", 1}, {"b", 2} }; var s = 0; foreach (var kv in d) { s += kv.Value; } return s + d.Keys.Count(); }`, 5},
		{"trygetvalue dict", `@{ var d = new Dictionary<string, string>(); d.Add("k", "v"); string v; return d.TryGetValue("k", out v) ? v : "-"; }`, "v"},
		{"list contains ic", `@(new List<string> {"GET", "POST"}.Contains("post", StringComparer.OrdinalIgnoreCase))`, true},
		{"ternary nested", `@(1 > 2 ? "a" : 2 > 1 ? "b" : "c")`, "b"},
		{"lambda block", `@(new[] {1, 2, 3}.Select(x => { var y = x * 2; return y + 1; }).Sum())`, 15},
		{"compound on index", `@{ var o = JObject.Parse("{\"n\":1}"); var l = new List<int> {1}; l[0] += 5; return l[0]; }`, 6},
		{"jobject property value set", `@{ var o = JObject.Parse("{\"n\":1}"); o.Property("n").Value = "x"; return o.ToString(Formatting.None); }`, `{"n":"x"}`},
		{"timespan format", `@(TimeSpan.FromMinutes(90).ToString(@"hh\:mm"))`, "01:30"},
		{"date format literal", `@(new DateTime(2024, 2, 3).ToString("dd 'of' MMMM yyyy, ddd"))`, "03 of February 2024, Sat"},
		{"number formats", `@(1234.5.ToString("N2") + "|" + 0.256.ToString("P1") + "|" + 1234.5.ToString("E2") + "|" + 5.ToString("0000"))`, "1,234.50|25.6 %|1.23E+003|0005"},
		{"round half even", `@(Math.Round(0.5) + Math.Round(1.5) + Math.Round(2.5))`, 4.0},
		{"regex ignorecase inline", `@(Regex.Match("Key: Value", @"(?i)key:\s*(\w+)").Groups[1].Value)`, "Value"},
		{"header values array", `@(string.Join(";", context.Request.Headers["Accept"]))`, "application/json;text/plain"},
		{"query array", `@(context.Request.Url.Query["x"].Length)`, 2},
		{"url scheme", `@(context.Request.OriginalUrl.Scheme + "://" + context.Request.OriginalUrl.Host)`, "https://gw.contoso.com"},
		{"touri", `@(context.Request.Url.ToUri().AbsolutePath)`, "/orders/42"},
		{"int parse tostring roundtrip", `@((int.Parse("7") * 6).ToString())`, "42"},
		{"split whitespace", `@("a b	c".Split().Length)`, 3},
		{"days in month", `@(DateTime.DaysInMonth(2024, 2) + (DateTime.IsLeapYear(2023) ? 1 : 0))`, 29},
		{"dto from datetime", `@(new DateTimeOffset(new DateTime(1970, 1, 1, 0, 0, 10, DateTimeKind.Utc)).ToUnixTimeSeconds())`, int64(10)},
		{"datetime from ticks", `@(new DateTime(630822816000000000L).Year)`, 2000},
		{"as nullable int", `@((context.Variables["num"] as int?) ?? 0)`, 5},
		{"nullable type", `@{ int? x = null; return x ?? 3; }`, 3},
	})
}

// The examples of Microsoft's "API Management policy expressions" page.
func TestEvalReferenceExamples(t *testing.T) {
	runEvalCases(t, []evalCase{
		{"true", `@(true)`, true},
		{"tostring", `@((1+1).ToString())`, "2"},
		{"length", `@("Hi There".Length)`, 8},
		{"regex group", `@(Regex.Match(context.Response.Headers.GetValueOrDefault("Cache-Control","max-age=120"), @"max-age=(?<maxAge>\d+)").Groups["maxAge"]?.Value)`, "120"},
		{"ternary parse", `@(context.Variables.ContainsKey("maxAge") ? int.Parse((string)context.Variables["maxAge"]) : 3600)`, 3600},
		{"trygetvalue header", "@{\n  string[] value;\n  if (context.Request.Headers.TryGetValue(\"X-Tier\", out value))\n  {\n    if(value != null && value.Length > 0)\n    {\n      return value[0].ToUpper();\n    }\n  }\n  return null;\n}", "GOLD"},
	})
}

func TestEvalXML(t *testing.T) {
	const doc = `<?xml version="1.0" encoding="utf-8"?><UserDelegationKey><SignedOid>oid-1</SignedOid><SignedTid>tid-2</SignedTid><Nested a="1"><Value>x</Value><Value>y</Value></Nested></UserDelegationKey>`
	src := func(body string) string { return strings.ReplaceAll(body, "DOC", strings.ReplaceAll(doc, `"`, `\"`)) }
	runEvalCases(t, []evalCase{
		{"root element", src(`@(System.Xml.Linq.XDocument.Parse("DOC").Root.Element("SignedOid")?.Value ?? "")`), "oid-1"},
		{"missing element", src(`@(XDocument.Parse("DOC").Root.Element("Nope")?.Value ?? "none")`), "none"},
		{"descendants", src(`@(XDocument.Parse("DOC").Descendants().Where(r => r.Name.LocalName == "SignedTid").First().Value)`), "tid-2"},
		{"elements count", src(`@(XDocument.Parse("DOC").Root.Element("Nested").Elements("Value").Count())`), 2},
		{"attribute", src(`@(XDocument.Parse("DOC").Root.Element("Nested").Attribute("a").Value)`), "1"},
		{"value concat", src(`@(XDocument.Parse("DOC").Root.Element("Nested").Value)`), "xy"},
		{"to string", `@(XElement.Parse("<a x=\"1\"><b>t&amp;</b><c/></a>").ToString())`, "<a x=\"1\">\r\n  <b>t&amp;</b>\r\n  <c />\r\n</a>"},
	})
	p, err := Compile(`@(context.Request.Body.As<XDocument>(preserveContent: true).Root.Name.LocalName)`)
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext()
	ctx.Request.Body = NewBodyBytes([]byte(doc))
	if s, err := p.EvalString(ctx); err != nil || s != "UserDelegationKey" {
		t.Fatalf("As<XDocument>: %q %v", s, err)
	}
	if _, err := Compile(`@(XDocument.Parse("<a>").Root)`); err != nil {
		t.Fatal(err)
	}
	bad, _ := Compile(`@(XDocument.Parse("<a>").Root)`)
	if _, err := bad.Eval(testContext()); err == nil {
		t.Fatal("want an XmlException for unclosed XML")
	}
}
