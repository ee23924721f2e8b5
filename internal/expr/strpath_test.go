package expr

import (
	"math/rand"
	"strings"
	"testing"
)

// The string path of EvalString (cx.str: model string properties and
// concatenations of them, unboxed) gives what Eval and ToString give: the
// same string, the same error, for contexts with and without the objects
// the members read.
var strPathOperands = []string{
	`"a"`, `""`, `" "`, `context.Request.Method`, `context.Request.IpAddress`,
	`context.Request.Url.Path`, `context.Request.Url.Host`, `context.Request.Url.Scheme`,
	`context.Request.OriginalUrl.Path`, `context.Api.ServiceUrl.Host`,
	`context.Subscription.Id`, `context.Subscription.Name`,
	`context.Subscription.PrimaryKey`, `context.Subscription.SecondaryKey`,
	`context.Subscription?.Name`, `context.User.Id`, `context.User.Email`, `context.User?.Email`,
	`context.Product.Id`, `context.Product.Name`, `context.Api.Id`, `context.Api.Name`, `context.Api.Path`,
	`context.Operation.Id`, `context.Operation.Name`, `context.Operation.Method`, `context.Operation.UrlTemplate`,
	`context.Variables["str"]`, `1`, `context.Request.Url.Port`, `(string)null`,
}

func TestEvalStringPathIsEval(t *testing.T) {
	operands := strPathOperands
	full := testContext()
	bare := &Context{Request: &Request{Method: "GET"}}
	empty := &Context{Request: &Request{Url: &URL{}}, Subscription: &Subscription{}}
	long := testContext()
	long.Subscription = &Subscription{Id: strings.Repeat("x", 300000), Name: "n", Key: strings.Repeat("k", 17<<20)}
	rng := rand.New(rand.NewSource(1))
	withStr := 0
	for i := 0; i < 4000; i++ {
		n := 1 + rng.Intn(12)
		ops := make([]string, n)
		for j := range ops {
			ops[j] = operands[rng.Intn(len(operands))]
		}
		src := "@(" + strings.Join(ops, " + ") + ")"
		if rng.Intn(4) == 0 {
			src = "@((" + strings.Join(ops, " + ") + "))"
		}
		p, err := Compile(src)
		if err != nil {
			continue
		}
		if p.str != nil {
			withStr++
		}
		for _, c := range []*Context{full, bare, empty, long, nil} {
			v, werr := p.Eval(c)
			want := ToString(v)
			if werr != nil {
				want = ""
			}
			got, gerr := p.EvalString(c)
			if got != want || (gerr == nil) != (werr == nil) || gerr != nil && gerr.Error() != werr.Error() {
				t.Fatalf("%s: EvalString = %q, %v; Eval = %q, %v", src, got, gerr, want, werr)
			}
		}
	}
	// Past the length limit (the 17 MiB key of long, four times).
	p, err := Compile(`@(context.Subscription.Key + "-" + context.Subscription.Key + context.Subscription.Key + context.Subscription.Key + context.Request.Method)`)
	if err != nil || p.str == nil {
		t.Fatal(err)
	}
	for _, c := range []*Context{full, long} {
		v, werr := p.Eval(c)
		got, gerr := p.EvalString(c)
		if got != ToString(v) || (gerr == nil) != (werr == nil) || gerr != nil && gerr.Error() != werr.Error() {
			t.Fatalf("EvalString = %d bytes, %v; Eval = %d bytes, %v", len(got), gerr, len(ToString(v)), werr)
		}
	}
	if _, err := p.EvalString(long); err == nil {
		t.Error("no error past the length limit")
	}
	if withStr < 1000 {
		t.Errorf("only %d programs have a string path", withStr)
	}
}

func TestEvalStringAllocs(t *testing.T) {
	p, err := Compile(`@(context.Subscription.Name + " " + context.Request.Method + " " + context.Request.Url.Path)`)
	if err != nil {
		t.Fatal(err)
	}
	key, err := Compile(`@(context.Subscription.Id)`)
	if err != nil {
		t.Fatal(err)
	}
	c := testContext()
	if n := testing.AllocsPerRun(100, func() { p.EvalString(c) }); n != 1 {
		t.Errorf("concatenation: %v allocations, want 1 (the result)", n)
	}
	if n := testing.AllocsPerRun(100, func() { key.EvalString(c) }); n != 0 {
		t.Errorf("counter key: %v allocations, want 0", n)
	}
}

// FuzzEvalStringPath compares EvalString with Eval and ToString over
// concatenations of the operands chosen by the input's bytes.
func FuzzEvalStringPath(f *testing.F) {
	f.Add([]byte{11, 0, 3, 2, 5})
	f.Add([]byte{10})
	f.Add([]byte{15, 1, 20, 0xff})
	contexts := []*Context{testContext(), {Request: &Request{Method: "GET"}}, {Request: &Request{Url: &URL{}}, Subscription: &Subscription{}}, nil}
	f.Fuzz(func(t *testing.T, sel []byte) {
		if len(sel) == 0 || len(sel) > 20 {
			return
		}
		ops := make([]string, len(sel))
		for i, b := range sel {
			ops[i] = strPathOperands[int(b)%len(strPathOperands)]
		}
		src := "@(" + strings.Join(ops, " + ") + ")"
		p, err := Compile(src)
		if err != nil {
			return
		}
		for _, c := range contexts {
			v, werr := p.Eval(c)
			want := ToString(v)
			if werr != nil {
				want = ""
			}
			got, gerr := p.EvalString(c)
			if got != want || (gerr == nil) != (werr == nil) || gerr != nil && gerr.Error() != werr.Error() {
				t.Fatalf("%s: EvalString = %q, %v; Eval = %q, %v", src, got, gerr, want, werr)
			}
		}
	})
}
