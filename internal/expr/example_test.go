package expr_test

import (
	"fmt"
	"net/http"

	"github.com/apimgw/apimgw/internal/expr"
)

func ExampleCompile() {
	prog, err := expr.Compile(`@(context.Request.Headers.GetValueOrDefault("x-tier", "") == "gold")`)
	if err != nil {
		fmt.Println(err)
		return
	}
	h := http.Header{}
	h.Set("X-Tier", "gold")
	ok, err := prog.EvalBool(&expr.Context{Request: &expr.Request{Method: "GET", Headers: h}})
	fmt.Println(ok, err)
	// Output: true <nil>
}

func ExampleCompile_block() {
	prog, err := expr.Compile(`@{
		var body = context.Request.Body.As<JObject>(preserveContent: true);
		body["seen"] = true;
		return body.ToString(Newtonsoft.Json.Formatting.None);
	}`)
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := &expr.Context{Request: &expr.Request{Body: expr.NewBodyBytes([]byte(`{"id":7}`))}}
	s, err := prog.EvalString(ctx)
	fmt.Println(s, err)
	// Output: {"id":7,"seen":true} <nil>
}

func ExampleCompile_error() {
	_, err := expr.Compile("@(context.Request.Hedaers.Count)")
	fmt.Println(err)
	// Output: 1:19: unknown member 'Hedaers' on context.Request (did you mean 'Headers'?)
}
