package gateway

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

const petsSpec = `openapi: 3.0.3
info: {title: Pets, version: "1"}
paths:
  /pets:
    post:
      operationId: createPet
      parameters: [{name: dryRun, in: query, schema: {type: boolean}}]
      requestBody:
        content:
          application/json:
            schema:
              type: object
              required: [name]
              properties: {name: {type: string}, age: {type: integer, minimum: 0}}
      responses:
        "201": {description: created, headers: {X-Pet-Id: {required: true, schema: {type: integer}}}}
`

// TestValidatePolicies: validate-content, validate-parameters,
// validate-status-code and validate-headers check messages against the
// API's OpenAPI definition.
func TestValidatePolicies(t *testing.T) {
	var status, petID = 201, "7"
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Pet-Id", petID)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write([]byte(`{}`))
	}))
	defer be.Close()
	h := start(t, map[string]string{
		"gateway.yaml": `
apis:
  - id: pets
    path: pets
    serviceUrl: ` + be.URL + `
    subscriptionRequired: false
    openapi: openapi.yaml
    policy: api.xml
`,
		"openapi.yaml": petsSpec,
		"api.xml": `<policies>
<inbound><base/>
  <validate-parameters specified-parameter-action="prevent" unspecified-parameter-action="prevent" errors-variable-name="paramErrors" />
  <validate-content unspecified-content-type-action="prevent" max-size="1024" size-exceeded-action="prevent" errors-variable-name="contentErrors">
    <content type="application/json" validate-as="json" action="prevent" />
  </validate-content>
</inbound>
<backend><base/></backend>
<outbound><base/>
  <validate-status-code unspecified-status-code-action="prevent" />
  <validate-headers specified-header-action="prevent" unspecified-header-action="ignore" />
</outbound>
<on-error><base/></on-error></policies>`,
	})
	post := func(path, ct, body string) (int, string) {
		resp, b := h.do("POST", path, strings.NewReader(body), map[string]string{"Content-Type": ct})
		return resp.StatusCode, b
	}
	if code, body := post("/pets/pets?dryRun=true", "application/json", `{"name": "Rex", "age": 3}`); code != 201 {
		t.Fatalf("valid request: %d %s", code, body)
	}
	for _, c := range []struct {
		name, path, ct, body string
		want                 int
	}{
		{"schema violation", "/pets/pets", "application/json", `{"age": -1}`, 400},
		{"not JSON", "/pets/pets", "application/json", `{"name": `, 400},
		{"unspecified content type", "/pets/pets", "text/plain", `hello`, 400},
		{"too large", "/pets/pets", "application/json", `{"name": "` + strings.Repeat("x", 2000) + `"}`, 400},
		{"bad parameter", "/pets/pets?dryRun=maybe", "application/json", `{"name": "Rex"}`, 400},
		{"unspecified parameter", "/pets/pets?debug=1", "application/json", `{"name": "Rex"}`, 400},
	} {
		if code, body := post(c.path, c.ct, c.body); code != c.want {
			t.Errorf("%s: %d, want %d (%s)", c.name, code, c.want, body)
		}
	}
	// The backend breaks its contract: an undocumented status, a header of
	// the wrong type.
	status = 500
	if code, _ := post("/pets/pets", "application/json", `{"name": "Rex"}`); code != 502 {
		t.Errorf("unspecified status code: %d, want 502", code)
	}
	status, petID = 201, "seven"
	if code, _ := post("/pets/pets", "application/json", `{"name": "Rex"}`); code != 502 {
		t.Errorf("header of the wrong type: %d, want 502", code)
	}
	recs := h.records()
	if r := recs[1]; r.LastErrorReason != "ValidationFailure" || r.BackendResponseCode != 0 {
		t.Errorf("a prevented request must not reach the backend: %+v", r)
	}
}
