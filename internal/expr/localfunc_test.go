package expr

import "testing"

// TestDelegatesAndLocalFunctions: a lambda held in a Func variable can be
// called, and C# local functions declared in a block are callable after
// their declaration.
func TestDelegatesAndLocalFunctions(t *testing.T) {
	cases := []struct{ src, want string }{
		{`@{ Func<int,int> f = (x) => x + 1; return f(2).ToString(); }`, "3"},
		{`@{ string Twice(string s) { return s + s; } return Twice("ab"); }`, "abab"},
		{`@{ void Add(JObject o, string k) { o[k] = 1; } var j = new JObject(); Add(j, "a"); return j.ToString(Newtonsoft.Json.Formatting.None); }`, `{"a":1}`},
		{`@{ int Sq(int n) { return n * n; } int Sum(int a, int b) { return a + b; } return Sum(Sq(3), Sq(4)).ToString(); }`, "25"},
		{`@{ string Hello() { return "hi"; } return Hello(); }`, "hi"},
	}
	for _, c := range cases {
		p, err := Compile(c.src)
		if err != nil {
			t.Errorf("%s: %v", c.src, err)
			continue
		}
		got, err := p.EvalString(&Context{})
		if err != nil || got != c.want {
			t.Errorf("%s = %q, %v; want %q", c.src, got, err, c.want)
		}
	}
	for _, bad := range []string{
		`@{ int x = 1; return x(2); }`,
		`@{ Func<int,int> f = null; return f(1).ToString(); }`,
	} {
		p, err := Compile(bad)
		if err != nil {
			continue
		}
		if _, err := p.Eval(&Context{}); err == nil {
			t.Errorf("%s: want a runtime error", bad)
		}
	}
}
