package policyxml

import "testing"

// typicalPolicy is a 60-line API policy in the rawxml form, representative of
// the corpus: variables, a choose with expressions, headers, a send-request,
// a retry and an on-error response.
const typicalPolicy = `<policies>
    <inbound>
        <base />
        <set-variable name="requestId" value="@(context.RequestId.ToString())" />
        <set-variable name="tenant" value="@(context.Request.Headers.GetValueOrDefault("x-tenant", "default"))" />
        <choose>
            <when condition="@(context.Variables.GetValueOrDefault<string>("tenant") == "contoso" && context.Request.Method == "GET")">
                <set-backend-service backend-id="orders-a" />
            </when>
            <when condition="@(context.Request.Headers.ContainsKey("x-beta"))">
                <set-backend-service base-url="https://beta.orders.internal/api" />
            </when>
            <otherwise>
                <set-backend-service backend-id="orders-pool" />
            </otherwise>
        </choose>
        <rate-limit-by-key calls="100" renewal-period="60" counter-key="@(context.Subscription?.Id ?? context.Request.IpAddress)" />
        <cache-lookup-value key="@("token-" + context.Variables["tenant"])" variable-name="token" />
        <choose>
            <when condition="@(!context.Variables.ContainsKey("token"))">
                <send-request mode="new" response-variable-name="tokenResponse" timeout="20" ignore-error="false">
                    <set-url>https://login.example.com/oauth2/token</set-url>
                    <set-method>POST</set-method>
                    <set-header name="Content-Type" exists-action="override">
                        <value>application/x-www-form-urlencoded</value>
                    </set-header>
                    <set-body>@{
                        // client credentials; the secret is a named value
                        return $"grant_type=client_credentials&client_id={context.Variables["tenant"]}&scope=api";
                    }</set-body>
                </send-request>
                <set-variable name="token" value="@((string)((IResponse)context.Variables["tokenResponse"]).Body.As<JObject>()["access_token"])" />
                <cache-store-value key="@("token-" + context.Variables["tenant"])" value="@((string)context.Variables["token"])" duration="3000" />
            </when>
        </choose>
        <set-header name="Authorization" exists-action="override">
            <value>@("Bearer " + (string)context.Variables["token"])</value>
        </set-header>
        <rewrite-uri template="/v2/orders/{id}" copy-unmatched-params="true" />
    </inbound>
    <backend>
        <retry condition="@(context.Response != null && (context.Response.StatusCode == 429 || context.Response.StatusCode >= 500))" count="3" interval="1" delta="1" first-fast-retry="true">
            <forward-request buffer-request-body="true" timeout="30" />
        </retry>
    </backend>
    <outbound>
        <base />
        <set-header name="x-request-id" exists-action="override">
            <value>@((string)context.Variables["requestId"])</value>
        </set-header>
        <set-header name="X-Powered-By" exists-action="delete" />
    </outbound>
    <on-error>
        <base />
        <return-response>
            <set-status code="500" reason="Internal Server Error" />
            <set-header name="Content-Type" exists-action="override"><value>application/json</value></set-header>
            <set-body>@{ return new JObject(new JProperty("statusCode", 500), new JProperty("message", context.LastError.Message)).ToString(); }</set-body>
        </return-response>
    </on-error>
</policies>
`

func BenchmarkParseTypicalPolicy(b *testing.B) {
	src := []byte(typicalPolicy)
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("typical.xml", src); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSubstitute(b *testing.B) {
	src := []byte(typicalPolicy + `<!-- {{x}} --><value>{{client-secret}}</value>`)
	values := map[string]string{"client-secret": "s3cr3t"}
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Substitute(src, values); err != nil {
			b.Fatal(err)
		}
	}
}

func TestTypicalPolicyParses(t *testing.T) {
	doc := mustParse(t, typicalPolicy)
	if got := len(doc.Roots[0].Elements()); got != 4 {
		t.Errorf("sections = %d, want 4", got)
	}
}
