package expr

import (
	"strings"
	"testing"
)

func fuzzSeeds(f *testing.F) {
	for _, s := range benchMix {
		f.Add(s)
	}
	for _, s := range []string{
		`@(1 + 2 * (3 - 4) / 5 % 6)`, `@{ var x = new JObject(); x["a"] = 1; return x.ToString(); }`,
		`@($"{1:F2} {"a",3} {{}}")`, `@{ foreach (var c in "abc") { if (c == 'b') break; } return 1; }`,
		`@(new[] {1,2,3}.Where(x => x > 1).Select((x, i) => x * i).Sum())`, `@(@"verbatim ""q""")`,
		`@{ try { throw new Exception("x"); } catch (Exception e) when (e.Message == "x") { return 2; } }`,
		`@(JObject.Parse("{\"a\":[1,{\"b\":null}]}").SelectToken("$.a[1].b"))`, `@((int)(long)3.5e2)`,
		`@{ switch (1) { case 1: return "a"; default: return "b"; } }`, `@(Regex.Replace("aa", "a+", "$0$0"))`,
		`@(string.Format("{0,-3}|{1:X}", 1, 255))`, `@(DateTime.UtcNow.AddDays(-1).ToString("yyyy-MM-ddTHH:mm:ss.fffK"))`,
		`@{ int i = 0; while (i < 3) i++; return i; }`, `@(context.Request.Body.As<JObject>(preserveContent: true)?["x"]?.Value<string>() ?? "")`,
	} {
		f.Add(s)
	}
}

// FuzzCompile checks that the lexer, parser and compiler never panic.
func FuzzCompile(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, src string) {
		p, err := Compile(src)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("Compile returned %T, want *Error", err)
			}
			if p != nil {
				t.Fatal("program and error both returned")
			}
		}
	})
}

// FuzzEval compiles arbitrary programs and runs the ones that compile
// against a fixed context; evaluation must finish without a Go panic
// (the evaluator's guard reports one as an "internal error ...").
func FuzzEval(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, src string) {
		p, err := Compile(src)
		if err != nil {
			return
		}
		// endless loops end at the evaluator's step budget
		_, err = p.Eval(testContext())
		if rt, ok := err.(*RuntimeError); ok && strings.HasPrefix(rt.Msg, "internal error ") {
			t.Fatalf("evaluation of %q panicked: %s", src, rt.Msg)
		}
	})
}
