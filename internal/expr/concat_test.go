package expr

import (
	"fmt"
	"math/rand"
	"strings"
	"testing"
)

// String concatenation chains (concat.go) evaluate like the left fold of
// the binary + over the operands: same value, same error.
func TestConcatChainIsTheLeftFold(t *testing.T) {
	operands := []string{
		`"a"`, `""`, `context.Request.Method`, `1`, `2L`, `1.5`, `true`, `'c'`, `(string)null`,
		`context.Variables["num"]`, `context.Variables["str"]`, `context.Variables["null"]`,
		`context.Subscription.Name`, `context.Request.Url.Path`, `context.Timestamp`,
		`context.Variables["missing"].ToString()`, `(1 + 2)`, `(int)context.Variables["num"]`,
	}
	c := testContext()
	rng := rand.New(rand.NewSource(1))
	checked := 0
	for i := 0; i < 3000; i++ {
		n := 2 + rng.Intn(19)
		ops := make([]string, n)
		for j := range ops {
			ops[j] = operands[rng.Intn(len(operands))]
		}
		src := "@(" + strings.Join(ops, " + ") + ")"
		p, err := Compile(src)
		if err != nil {
			continue // e.g. true + 1
		}
		got, gotErr := p.Eval(c)
		// The oracle: evaluate the operands in order, folding with arith,
		// stopping at the first error.
		var want any
		var wantErr error
		for j, o := range ops {
			op, err := Compile("@(" + o + ")")
			if err != nil {
				t.Fatalf("operand %s: %v", o, err)
			}
			v, err := op.Eval(c)
			if err != nil {
				wantErr = err
				break
			}
			if j == 0 {
				want = v
				continue
			}
			if want, err = arith("+", want, v); err != nil {
				wantErr = err
				break
			}
		}
		if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) || gotErr == nil && fmt.Sprintf("%T %v", got, got) != fmt.Sprintf("%T %v", want, want) {
			t.Fatalf("%s = %T %v (%v), the fold gives %T %v (%v)", src, got, got, gotErr, want, want, wantErr)
		}
		checked++
	}
	if checked < 1000 {
		t.Fatalf("only %d chains compiled", checked)
	}
}

func TestConcatChain(t *testing.T) {
	runEvalCases(t, []evalCase{
		{name: "model members", src: `@(context.Subscription.Name + " " + context.Request.Method + " " + context.Request.Url.Path)`, want: "Alice POST /orders/42"},
		{name: "numbers first add", src: `@(1 + 2 + "x" + 1 + 2)`, want: "3x12"},
		{name: "XName first", src: `@{ XNamespace ns = "urn:x"; return ns + "b" + "c"; }`, want: "{urn:x}bc"},
		{name: "null operands", src: `@((string)null + "a" + (string)null + context.Variables["null"])`, want: "a"},
		{name: "longer than the stack buffer", src: `@("0" + 1 + 2 + 3 + 4 + 5 + 6 + 7 + 8 + 9 + 10 + 11 + 12 + 13 + 14 + 15 + 16 + 17 + 18 + 19 + 20)`, want: "01234567891011121314151617181920"},
		{name: "right operand grouped", src: `@("a" + ("b" + "c" + context.Request.Method) + "d")`, want: "abcPOSTd"},
		{name: "checked", src: `@(checked("a" + context.Variables["num"] + 1))`, want: "a51"},
	})
}

func TestConcatChainLengthLimit(t *testing.T) {
	p, err := Compile(`@{ var s = new string('x', 40000000); return s + "a" + s + "b"; }`)
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Eval(testContext())
	if err == nil || !strings.Contains(err.Error(), "64 MiB") {
		t.Fatalf("error %v, want the string length limit", err)
	}
}

func BenchmarkConcatChain(b *testing.B) {
	p, err := Compile(`@(context.Subscription.Name + " " + context.Request.Method + " " + context.Request.Url.Path)`)
	if err != nil {
		b.Fatal(err)
	}
	c := testContext()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := p.EvalString(c); err != nil {
			b.Fatal(err)
		}
	}
}
