package policy

import (
	"context"
	"net/http"
	"testing"

	"github.com/apimgw/apimgw/internal/expr"
)

// BenchmarkInbound10 runs a typical 10-policy inbound section (headers,
// variables, a choose on a header, query and URL rewriting) over a request,
// the "10-policy inbound section in under 10 µs".
func BenchmarkInbound10(b *testing.B) {
	src := `<policies><inbound>
  <set-variable name="tier" value="@(context.Request.Headers.GetValueOrDefault("x-tier", "bronze"))" />
  <set-header name="X-Request-Id" exists-action="skip"><value>@(context.RequestId)</value></set-header>
  <choose>
    <when condition="@((string)context.Variables["tier"] == "gold")">
      <set-header name="X-Priority" exists-action="override"><value>high</value></set-header>
    </when>
    <otherwise>
      <set-header name="X-Priority" exists-action="override"><value>normal</value></set-header>
    </otherwise>
  </choose>
  <set-query-parameter name="api-version" exists-action="skip"><value>2024-01-01</value></set-query-parameter>
  <set-header name="X-Client-Ip" exists-action="override"><value>@(context.Request.IpAddress)</value></set-header>
  <set-variable name="path" value="@(context.Request.Url.Path)" />
  <rewrite-uri template="/v2/items/{id}" />
  <set-header name="X-Api" exists-action="override"><value>@(context.Api.Name)</value></set-header>
  <set-header name="Authorization" exists-action="delete" />
  <set-variable name="start" value="@(context.Timestamp.ToString("o"))" />
</inbound></policies>`
	c := &Compiler{}
	scope := c.Compile("api", "bench.xml", []byte(src))
	if errs := c.Errors(); len(errs) > 0 {
		b.Fatal(errs)
	}
	p := Compose(scope)
	env := &Env{}
	u, _ := expr.ParseURL("http://gw.local/api/items/42?x=1")
	api := &expr.Api{Id: "items", Name: "Items"}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		st := NewState(context.Background(), env)
		st.X.Api = api
		st.X.RequestId = "0f8fad5b-d9cb-469f-a165-70867728950e"
		st.X.Request = &expr.Request{Method: "GET", Url: u.Clone(), Headers: http.Header{"X-Tier": {"gold"}, "Authorization": {"x"}}, IpAddress: "127.0.0.1",
			MatchedParameters: map[string]string{"id": "42"}}
		if err := p.sections[secInbound].run(st); err != nil {
			b.Fatal(err)
		}
	}
}
