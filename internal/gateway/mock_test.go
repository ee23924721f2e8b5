package gateway

import (
	"testing"
)

const mockSpec = `openapi: 3.0.3
info: {title: Pets, version: "1"}
paths:
  /pets/{id}:
    get:
      operationId: getPet
      parameters: [{name: id, in: path, required: true, schema: {type: integer}}]
      responses:
        "200":
          description: a pet
          content:
            application/json:
              example: {id: 7, name: Rex}
            application/xml:
              example: "<pet><id>7</id></pet>"
        "404":
          description: none
          content:
            application/json:
              schema:
                type: object
                properties:
                  code: {type: integer}
                  message: {type: string}
                  when: {type: string, format: date-time}
                  tags: {type: array, items: {type: string, enum: [a, b]}}
  /plain:
    get:
      operationId: plain
      responses:
        "204": {description: nothing}
`

// TestMockResponseFromOpenAPI: mock-response answers with the operation's
// example, in the asked content type, or a sample built from the schema,
// and with no content when the definition has neither, as APIM does.
func TestMockResponseFromOpenAPI(t *testing.T) {
	h := start(t, map[string]string{
		"gateway.yaml": `
apis:
  - {id: pets, path: pets-api, subscriptionRequired: false, openapi: openapi.yaml, policy: mock.xml}
`,
		"openapi.yaml": mockSpec,
		"mock.xml": `<policies><inbound><base/>
<choose>
  <when condition="@(context.Request.Headers.GetValueOrDefault(&quot;x-want&quot;,&quot;&quot;) == &quot;xml&quot;)"><mock-response status-code="200" content-type="application/xml" /></when>
  <when condition="@(context.Request.Headers.GetValueOrDefault(&quot;x-want&quot;,&quot;&quot;) == &quot;404&quot;)"><mock-response status-code="404" /></when>
  <when condition="@(context.Request.Headers.GetValueOrDefault(&quot;x-want&quot;,&quot;&quot;) == &quot;204&quot;)"><mock-response status-code="204" /></when>
  <otherwise><mock-response /></otherwise>
</choose>
</inbound><backend><base/></backend><outbound><base/></outbound><on-error><base/></on-error></policies>`,
	})
	for _, tc := range []struct{ path, want, status, ct, body string }{
		{"/pets-api/pets/7", "", "200", "application/json", `{"id":7,"name":"Rex"}`},
		{"/pets-api/pets/7", "xml", "200", "application/xml", `<pet><id>7</id></pet>`},
		{"/pets-api/pets/7", "404", "404", "application/json", `{"code":0,"message":"string","tags":["a"],"when":"2000-01-01T00:00:00Z"}`},
		{"/pets-api/plain", "204", "204", "", ""},
	} {
		resp, body := h.do("GET", tc.path, nil, map[string]string{"x-want": tc.want})
		if tc.ct == "" {
			if resp.StatusCode != 204 || body != "" {
				t.Errorf("%s: %s %q, want 204 and no content", tc.path, resp.Status, body)
			}
			continue
		}
		if resp.Status[:3] != tc.status || resp.Header.Get("Content-Type") != tc.ct || body != tc.body {
			t.Errorf("%s (%s): %s %q %q, want %s %q %q", tc.path, tc.want, resp.Status, resp.Header.Get("Content-Type"), body, tc.status, tc.ct, tc.body)
		}
	}
}
