package policy

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/apimgw/apimgw/internal/expr"
)

func runPolicy(t *testing.T, src string, setup func(st *State)) *State {
	t.Helper()
	c := &Compiler{}
	scope := c.Compile("api", "t.xml", []byte(src))
	if errs := c.Errors(); len(errs) > 0 {
		t.Fatalf("compile: %v", errs)
	}
	p := Compose(scope)
	st := NewState(context.Background(), &Env{})
	u, _ := expr.ParseURL("http://gw.local/api/x")
	st.X.Request = &expr.Request{Method: "GET", Url: u, OriginalUrl: u.Clone(), Headers: http.Header{}, MatchedParameters: map[string]string{}}
	st.X.Variables = expr.Variables{}
	if setup != nil {
		setup(st)
	}
	p.Run(st)
	return st
}

func bodyOf(t *testing.T, r *expr.Response) string {
	t.Helper()
	if r == nil || r.Body == nil {
		return ""
	}
	b, err := r.Body.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestLiquidSetBody(t *testing.T) {
	st := runPolicy(t, `<policies><inbound>
  <set-body template="liquid">{"name": "{{body.customer.name}}", "method": "{{context.Request.Method}}", "items": [{% JSONArrayFor item in body.items %}{"id": {{item.id}}}{% endJSONArrayFor %}]}</set-body>
  <return-response><set-body>@(context.Request.Body.As<string>())</set-body></return-response>
</inbound></policies>`, func(st *State) {
		st.SetRequestBody(expr.NewBodyBytes([]byte(`{"customer": {"name": "Ada"}, "items": [{"id": 1}, {"id": 2}]}`)), -1)
		st.X.Request.Headers.Set("Content-Type", "application/json")
	})
	got := bodyOf(t, st.X.Response)
	want := `{"name": "Ada", "method": "GET", "items": [{"id": 1},{"id": 2}]}`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestLiquidXMLBodyAndReplaceFilter(t *testing.T) {
	st := runPolicy(t, `<policies><inbound>
  <set-body template="liquid">{"code": "{{body.envelope.body.Result.Code | Replace: 'a(b)', 'x$1'}}"}</set-body>
  <return-response><set-body>@(context.Request.Body.As<string>())</set-body></return-response>
</inbound></policies>`, func(st *State) {
		st.SetRequestBody(expr.NewBodyBytes([]byte(`<Envelope><Body><Result><Code>zabz</Code></Result></Body></Envelope>`)), -1)
	})
	if got := bodyOf(t, st.X.Response); !strings.Contains(got, `"code": "zxbz"`) {
		t.Fatalf("got %s", got)
	}
}
