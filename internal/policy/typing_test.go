package policy

import (
	"strings"
	"testing"
)

// Type errors in expressions fail at load with file:line:col, as APIM
// rejects them when the policy is saved.
func TestExpressionTypeErrorsFailAtLoad(t *testing.T) {
	src := `<policies>
  <inbound>
    <set-header name="x-a" exists-action="override">
      <value>@(context.Subscription.Id * 2)</value>
    </set-header>
    <set-variable name="b" value="@(&quot;a&quot; +  + &quot;b&quot;)" />
    <set-variable name="c" value="@{ int n = context.Request.Method; return n; }" />
    <set-variable name="ok" value="@(context.Request.Headers.GetValueOrDefault(&quot;x&quot;, &quot;&quot;) + 1)" />
  </inbound>
  <backend><forward-request /></backend>
  <outbound />
  <on-error />
</policies>`
	c := &Compiler{}
	c.Compile("api", "typed.xml", []byte(src))
	var got []string
	for _, e := range c.Errors() {
		got = append(got, e.Error())
	}
	want := []string{
		"typed.xml:4:40: Operator '*' cannot be applied to operands of type 'string' and 'int'",
		"typed.xml:6:44: Operator '+' cannot be applied to operand of type 'string'",
		"typed.xml:7:62: Cannot implicitly convert type 'string' to 'int'",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
