package apiops

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apimgw/apimgw/internal/gateway"
	"github.com/apimgw/apimgw/internal/policy"
)

// writeLargeExtract writes a v6 extract of apis APIs with opsPerAPI
// operations each (OpenAPI 3 YAML), an API policy each, an operation
// policy on every other operation, a product per 10 APIs and named values.
func writeLargeExtract(tb testing.TB, dir string, apis, opsPerAPI int) {
	tb.Helper()
	w := func(rel, content string) {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	w("policy.xml", `<policies><inbound><set-header name="X-Env" exists-action="override"><value>{{env}}</value></set-header></inbound><backend><forward-request/></backend><outbound/><on-error/></policies>`)
	w("named values/env/namedValueInformation.json", `{"properties": {"displayName": "env", "value": "bench"}}`)
	w("policy fragments/common/policy.xml", `<fragment><set-header name="X-Common" exists-action="override"><value>1</value></set-header></fragment>`)
	for p := 0; p < apis/10; p++ {
		w(fmt.Sprintf("products/product-%d/productInformation.json", p), fmt.Sprintf(`{"properties": {"displayName": "Product %d", "subscriptionRequired": true, "state": "published"}}`, p))
	}
	for i := 0; i < apis; i++ {
		name := fmt.Sprintf("api-%03d", i)
		w("apis/"+name+"/apiInformation.json", fmt.Sprintf(`{"properties": {"displayName": "API %d", "path": "svc/%s", "serviceUrl": "https://backend-%d.example.com/base", "protocols": ["https"], "subscriptionRequired": false, "isCurrent": true, "apiRevision": "1"}}`, i, name, i))
		var spec strings.Builder
		fmt.Fprintf(&spec, "openapi: 3.0.1\ninfo:\n  title: API %d\n  version: '1.0'\nservers:\n  - url: https://apim.example/svc/%s\npaths:\n", i, name)
		for j := 0; j < opsPerAPI; j++ {
			fmt.Fprintf(&spec, "  /resource%d/{id}:\n    get:\n      summary: Get %d\n      operationId: op-%d\n      parameters:\n        - name: id\n          in: path\n          required: true\n          schema:\n            type: string\n      responses:\n        '200':\n          description: OK\n          content:\n            application/json:\n              schema:\n                type: object\n                properties:\n                  id: {type: string}\n                  value: {type: integer}\n", j, j, j)
			if j%2 == 0 {
				w(fmt.Sprintf("apis/%s/operations/op-%d/policy.xml", name, j), `<policies><inbound><base/><rate-limit-by-key calls="100" renewal-period="60" counter-key="@(context.Request.IpAddress)"/></inbound><backend><base/></backend><outbound><base/><set-header name="X-Op" exists-action="override"><value>{{env}}</value></set-header></outbound><on-error><base/></on-error></policies>`)
			}
		}
		w("apis/"+name+"/specification.yaml", spec.String())
		w("apis/"+name+"/policy.xml", `<policies><inbound><base/><include-fragment fragment-id="common"/><set-query-parameter name="x" exists-action="override"><value>@(context.Request.Url.Path.ToUpper())</value></set-query-parameter></inbound><backend><base/></backend><outbound><base/></outbound><on-error><base/></on-error></policies>`)
		w(fmt.Sprintf("products/product-%d/apis/%s/productApiInformation.json", i%(apis/10), name), "{}")
	}
}

// BenchmarkLoadExtract loads an extract of 100 APIs and 1,000 operations
// and compiles it, as serve --apiops does at start and on every reload.
func BenchmarkLoadExtract(b *testing.B) {
	dir := b.TempDir()
	writeLargeExtract(b, dir, 100, 10)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := Load(Options{Dir: dir})
		if err != nil {
			b.Fatal(err)
		}
		plan, err := gateway.Build(res.Config, &policy.Env{}, nil)
		if err != nil {
			b.Fatal(err)
		}
		if apis, ops := plan.Count(); apis != 100 || ops != 1000 {
			b.Fatalf("%d APIs, %d operations", apis, ops)
		}
		plan.Close()
	}
}
