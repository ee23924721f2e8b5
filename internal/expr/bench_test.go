package expr

import "testing"

func BenchmarkHeaderEquals(b *testing.B) {
	p, err := Compile(`@(context.Request.Headers.GetValueOrDefault("x-tier","") == "gold")`)
	if err != nil {
		b.Fatal(err)
	}
	ctx := testContext()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ok, err := p.EvalBool(ctx)
		if err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
}

// benchMix is a mix of typical corpus expressions (conditions, header and
// variable reads, string building, a small block).
var benchMix = []string{
	`@(context.Request.Headers.GetValueOrDefault("x-tier","") == "gold")`,
	`@(context.Response.StatusCode == 429 || context.Response.StatusCode >= 500)`,
	`@((string)context.Variables["str"])`,
	`@(context.Variables.GetValueOrDefault<string>("str", string.Empty))`,
	`@("Bearer " + (string)context.Variables["str"])`,
	`@(!string.IsNullOrEmpty(context.Variables.GetValueOrDefault<string>("str", "")))`,
	`@(context.Subscription?.Id ?? "anonymous")`,
	`@(context.Request.Url.Path.ToLower().StartsWith("/orders"))`,
	`@($"{context.Api.Id}:{context.Operation.Id}:{context.Subscription.Id}")`,
	`@{ var v = context.Request.Headers.GetValueOrDefault("Accept", ""); if (v.Contains("json")) { return "json"; } return "other"; }`,
}

func BenchmarkMix10(b *testing.B) {
	progs := make([]*Program, len(benchMix))
	for i, s := range benchMix {
		p, err := Compile(s)
		if err != nil {
			b.Fatalf("%s: %v", s, err)
		}
		progs[i] = p
	}
	ctx := testContext()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, p := range progs {
			if _, err := p.Eval(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkCompileBlock(b *testing.B) {
	src := `@{ var backends = JArray.Parse("[]"); for (int i = 0; i < backends.Count; i++) { var o = (JObject)backends[i]; if (o.Value<bool>("t")) { o["t"] = false; } } return backends; }`
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := Compile(src); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLambdaCalls: LINQ lambdas and a local function, the paths of
// Func.call.
func BenchmarkLambdaCalls(b *testing.B) {
	p, err := Compile(`@{ int Sq(int v) { return v * v; } var a = new[] { 1, 2, 3, 4, 5, 6, 7, 8 }; return a.Where(x => x > 2).Select(x => Sq(x)).Sum(); }`)
	if err != nil {
		b.Fatal(err)
	}
	ctx := testContext()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := p.Eval(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
