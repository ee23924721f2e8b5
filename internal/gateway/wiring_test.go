package gateway

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOpenAPIOperations: an API's operations can come from an OpenAPI 3
// file; an operation listed in the config (with its policy) wins by id.
func TestOpenAPIOperations(t *testing.T) {
	be, seenBy := echoBackend(t)
	h := start(t, map[string]string{
		"gateway.yaml": `
apis:
  - id: pets
    path: pets
    serviceUrl: ` + be.URL + `
    subscriptionRequired: false
    openapi: openapi.yaml
    operations:
      - {id: getPet, method: GET, urlTemplate: "/pets/{petId}", policy: get-pet.xml}
`,
		"get-pet.xml": `<policies><inbound><base/><set-header name="X-Pet" exists-action="override"><value>@(context.Request.MatchedParameters["petId"])</value></set-header></inbound></policies>`,
		"openapi.yaml": `openapi: 3.0.3
info: {title: Pets, version: "1"}
paths:
  /pets:
    get:
      operationId: listPets
      responses: {"200": {description: ok}}
    post:
      responses: {"201": {description: created}}
  /pets/{petId}:
    get:
      operationId: getPet
      parameters: [{name: petId, in: path, required: true, schema: {type: string}}]
      responses: {"200": {description: ok}}
`,
	})
	for _, c := range []struct {
		method, path string
		status       int
	}{{"GET", "/pets/pets", 200}, {"POST", "/pets/pets", 200}, {"GET", "/pets/pets/7", 200}, {"DELETE", "/pets/pets/7", 404}} {
		if resp, _ := h.do(c.method, c.path, nil, nil); resp.StatusCode != c.status {
			t.Errorf("%s %s: %d, want %d", c.method, c.path, resp.StatusCode, c.status)
		}
	}
	got := seenBy()
	if len(got) != 3 || got[2].Header.Get("X-Pet") != "7" {
		t.Fatalf("backend saw %+v", got)
	}
	recs := h.records()
	if recs[0].OperationId != "listPets" || recs[1].OperationId != "post-pets" || recs[2].OperationId != "getPet" {
		t.Errorf("operation ids: %s %s %s", recs[0].OperationId, recs[1].OperationId, recs[2].OperationId)
	}
}

// TestManagedIdentityAndLoggers: authentication-managed-identity takes its
// token from the managedIdentity section, log-to-eventhub writes to the
// loggers section's file.
func TestManagedIdentityAndLoggers(t *testing.T) {
	be, seenBy := echoBackend(t)
	t.Setenv("APIMGW_TEST_TOKEN", "token-123")
	h := start(t, map[string]string{
		"gateway.yaml": `
managedIdentity: {env: APIMGW_TEST_TOKEN}
loggers:
  audit: {type: file, path: audit.log}
` + openAPI(be.URL, "GET"),
		"api.xml": `<policies><inbound><base/>
  <authentication-managed-identity resource="https://storage.azure.com/" />
  <log-to-eventhub logger-id="audit">@("called " + context.Request.Url.Path)</log-to-eventhub>
</inbound></policies>`,
	})
	if resp, body := h.do("GET", "/a/thing", nil, nil); resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if got := seenBy()[0].Header.Get("Authorization"); got != "Bearer token-123" {
		t.Errorf("Authorization %q, want the managed identity token", got)
	}
	h.gw.Close()
	data, err := os.ReadFile(filepath.Join(h.dir, "audit.log"))
	if err != nil || strings.TrimSpace(string(data)) != "called /a/thing" {
		t.Errorf("audit log %q, %v", data, err)
	}
}

// TestGetAuthorizationContext: the credential-manager token comes from the
// managedIdentity source, asked for "authorization:<provider>/<id>".
func TestGetAuthorizationContext(t *testing.T) {
	be, seenBy := echoBackend(t)
	dir := t.TempDir()
	script := filepath.Join(dir, "token.sh")
	os.WriteFile(script, []byte("#!/bin/sh\necho \"tok-$APIMGW_RESOURCE\"\n"), 0o755)
	h := start(t, map[string]string{
		"gateway.yaml": `
managedIdentity: {command: ["` + script + `"]}
` + openAPI(be.URL, "GET"),
		"api.xml": `<policies><inbound><base/>
  <get-authorization-context provider-id="github" authorization-id="@(&quot;main&quot;)" context-variable-name="auth" identity-type="managed" ignore-error="false" />
  <set-header name="Authorization" exists-action="override"><value>@("Bearer " + ((Authorization)context.Variables.GetValueOrDefault("auth"))?.AccessToken)</value></set-header>
</inbound></policies>`,
	})
	if resp, body := h.do("GET", "/a/x", nil, nil); resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if got := seenBy()[0].Header.Get("Authorization"); got != "Bearer tok-authorization:github/main" {
		t.Errorf("Authorization %q", got)
	}
}
