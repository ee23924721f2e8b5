package expr

import (
	"strings"
	"testing"
)

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
		wantString(t, c.src, c.want)
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

// TestLocalFunctionTyping: a local function's parameter and return types
// are checked at load as C# 7 does (mcs, a C# 6 compiler, cannot check
// these, so they are here rather than in the differential test), and it
// may call itself.
func TestLocalFunctionTyping(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{`@{ int Fact(int n) { return n <= 1 ? 1 : n * Fact(n - 1); } return Fact(10).ToString(); }`, "3628800"},
		// the recursive call overwrites n's slot: n must be restored after it
		{`@{ int Fact(int n) { return n <= 1 ? 1 : Fact(n - 1) * n; } return Fact(10).ToString(); }`, "3628800"},
		{`@{ long Fib(int n) { if (n < 2) return n; long a = Fib(n - 1); long b = Fib(n - 2); return a + b; } return Fib(20).ToString(); }`, "6765"},
		{`@{ string Rev(string s) { return s.Length <= 1 ? s : Rev(s.Substring(1)) + s[0]; } return Rev("hello"); }`, "olleh"},
		{`@{ int Depth(int n) { return n == 0 ? 0 : 1 + Depth(n - 1); } return Depth(999).ToString(); }`, "999"},
		{`@{ var total = 0; void Add(int x) { total += x; } Add(2); Add(3); return total.ToString(); }`, "5"},
		{`@{ long Big(int x) { return x; } return (Big(5) * 1000000000).ToString(); }`, "5000000000"},
		{`@{ double Half(int x) { return x / 2; } return (Half(5) / 4).ToString(); }`, "0.5"},
		{`@{ int Count(JToken t) { return t.Children().Count(); } return Count(JObject.Parse("{\"a\":1}")).ToString(); }`, "1"},
		{`@{ string Show(dynamic d) { return d.ToString(); } return Show(1); }`, "1"},
		// C# local functions are in scope in their whole block
		{`@{ return Twice(21).ToString(); int Twice(int v) { return v * 2; } }`, "42"},
		// called before its declaration in a loop's body: this pass's variables, not the last pass's function
		{`@{ int s = 0; for (int i = 0; i < 3; i++) { int j = i * 10; s += F(); int F() { return j; } } return s.ToString(); }`, "30"},
		{`@{ int s = 0; foreach (var w in new[] { "a", "bb" }) { s += Len(); int Len() { return w.Length; } } return s.ToString(); }`, "3"},
		{`@{ int x = 3; return AddX(1).ToString(); int AddX(int v) { return v + x; } }`, "4"},
		{`@{ return IsEven(10).ToString(); bool IsEven(int n) { return n == 0 ? true : IsOdd(n - 1); } bool IsOdd(int n) { return n == 0 ? false : IsEven(n - 1); } }`, "True"},
		{`@{ var l = new List<int> { 1, 2, 3 }; return l.Select(x => Sq(x)).Sum().ToString(); int Sq(int v) { return v * v; } }`, "14"},
	} {
		wantString(t, c.src, c.want)
	}
	for _, c := range []struct{ src, want string }{
		{`@{ int Twice(int v) { return v * 2; } return Twice("a").ToString(); }`, "Argument 1: cannot convert from 'string' to 'int'"},
		{`@{ int Twice(int v) { return v * 2; } return Twice(1, 2).ToString(); }`, "No overload for method 'Twice' takes 2 arguments"},
		{`@{ int Twice(int v) { return "x"; } return Twice(1).ToString(); }`, "Cannot implicitly convert type 'string' to 'int'"},
		{`@{ int Twice(int v) { return v * 2; } string s = Twice(1); return s; }`, "Cannot implicitly convert type 'int' to 'string'"},
		{`@{ int Twice(int v) { return v * 2; } return Twice(1).Length.ToString(); }`, "'int' does not contain a definition for 'Length'"},
		{`@{ void Log(string m) { } Log(1); return "a"; }`, "Argument 1: cannot convert from 'int' to 'string'"},
		{`@{ string s = Twice(2); return s; int Twice(int v) { return v * 2; } }`, "Cannot implicitly convert type 'int' to 'string'"},
		{`@{ int Len(List<string> l) { return l.Count; } return Len(new List<int>()).ToString(); }`, "cannot convert from 'List<int>' to 'List<string>'"},
	} {
		_, err := Compile(c.src)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v; want %q", c.src, err, c.want)
		}
	}
	// runaway recursion ends with .NET's InsufficientExecutionStackException
	// after maxCallDepth nested calls, not with a stack overflow
	p, err := Compile(`@{ int Down(int n) { return n == 0 ? 0 : 1 + Down(n - 1); } return Down(5000).ToString(); }`)
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Eval(&Context{})
	if re, ok := err.(*RuntimeError); !ok || re.Type != "InsufficientExecutionStackException" {
		t.Errorf("deep recursion: %v; want InsufficientExecutionStackException", err)
	}
	// so does a lambda calling itself through its variable, also through LINQ
	for _, src := range []string{
		`@{ Func<int, int> f = null; f = n => f(n + 1); return f(0).ToString(); }`,
		`@{ Func<int, int> f = null; f = x => new[] { x }.Select(f).First(); return f(0).ToString(); }`,
	} {
		p, err := Compile(src)
		if err != nil {
			t.Fatal(err)
		}
		_, err = p.Eval(&Context{})
		if re, ok := err.(*RuntimeError); !ok || re.Type != "InsufficientExecutionStackException" {
			t.Errorf("%s: %v; want InsufficientExecutionStackException", src, err)
		}
	}
	// an endless recursion within the depth limit still ends: the step limit
	p, err = Compile(`@{ int Loop(int n) { for (;;) { } } return Loop(1).ToString(); }`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err = p.Eval(&Context{}); err == nil {
		t.Error("endless loop in a local function: want an error")
	}
}

// wantString compiles src and checks that it evaluates to want.
func wantString(t *testing.T, src, want string) {
	t.Helper()
	p, err := Compile(src)
	if err != nil {
		t.Errorf("%s: %v", src, err)
		return
	}
	got, err := p.EvalString(&Context{})
	if err != nil || got != want {
		t.Errorf("%s = %q, %v; want %q", src, got, err, want)
	}
}
