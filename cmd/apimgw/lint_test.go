package main

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func runBinary(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, out.String(), errb.String()
}

// validate --policy on files of a repository: a named value that was not
// given causes no error and is listed as needed; a real error on the same
// line keeps the column of the file as written.
func TestValidatePolicyUnknownNamedValues(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"ok.xml": `<policies><inbound><base/>
  <set-backend-service base-url="{{backend-base}}" />
  <rewrite-uri template="/v1/{{path-prefix}}/items" />
  <send-request mode="new" response-variable-name="r" timeout="{{timeout-seconds}}">
    <set-url>https://{{auth-host}}/token</set-url>
    <set-method>POST</set-method>
  </send-request>
  <rate-limit calls="{{calls}}" renewal-period="60" />
  <set-header name="X-Env" exists-action="{{header-action}}"><value>@("{{env}}" + context.Request.Method)</value></set-header>
  <set-variable name="n" value="@({{number}} + 1)" />
</inbound></policies>`,
		"bad.xml": `<policies><inbound>
  <set-header name="{{hdr}}" exists-action="sometimes"><value>x</value></set-header>
</inbound></policies>`,
	})
	code, stdout, stderr := runBinary(t, "validate", "--policy", filepath.Join(dir, "ok.xml"))
	if code != 0 || !strings.Contains(stdout, "1 policy file(s) OK") {
		t.Fatalf("ok.xml: exit %d\n%s%s", code, stdout, stderr)
	}
	want := "needs named values (not given, not checked): backend-base, path-prefix, timeout-seconds, auth-host, calls, header-action, env, number"
	if !strings.Contains(stdout, want) {
		t.Errorf("stdout lacks %q:\n%s", want, stdout)
	}
	code, _, stderr = runBinary(t, "validate", "--policy", filepath.Join(dir, "bad.xml"))
	if code != 1 || !strings.Contains(stderr, "bad.xml:2:45: exists-action must be override, skip, append or delete") ||
		!strings.Contains(stderr, "needs named values (not given, not checked): hdr") {
		t.Errorf("bad.xml: exit %d\n%s", code, stderr)
	}
}

// include-fragment: without --fragments the fragment is listed as not
// checked; with --fragments DIR (given after the files too) it is read from
// the folder, and a fragment missing from it is an error.
func TestValidatePolicyFragments(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"api.xml":            `<policies><inbound><base/><include-fragment fragment-id="auth" /></inbound></policies>`,
		"missing.xml":        `<policies><inbound><base/><include-fragment fragment-id="nope" /></inbound></policies>`,
		"frags/auth.xml":     `<fragment><set-header name="X-Auth" exists-action="override"><value>@(context.Request.Nope)</value></set-header></fragment>`,
		"goodfrags/auth.xml": `<fragment><set-header name="X-Auth" exists-action="override"><value>yes</value></set-header></fragment>`,
	})
	api := filepath.Join(dir, "api.xml")
	code, stdout, stderr := runBinary(t, "validate", "--policy", api)
	if code != 0 || !strings.Contains(stdout, "needs fragments (not checked; pass --fragments DIR): auth") {
		t.Errorf("no --fragments: exit %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, stderr = runBinary(t, "validate", "--policy", api, "--fragments", filepath.Join(dir, "goodfrags"))
	if code != 0 || strings.Contains(stdout, "needs fragments") {
		t.Errorf("--fragments after the file: exit %d\n%s%s", code, stdout, stderr)
	}
	code, _, stderr = runBinary(t, "validate", "--policy", "--fragments", filepath.Join(dir, "frags"), api)
	if code != 1 || !strings.Contains(stderr, filepath.Join(dir, "frags", "auth.xml")+":1:") {
		t.Errorf("error inside the fragment: exit %d\n%s", code, stderr)
	}
	code, _, stderr = runBinary(t, "validate", "--policy", "--fragments", filepath.Join(dir, "frags"), filepath.Join(dir, "missing.xml"))
	if code != 1 || !strings.Contains(stderr, `missing.xml:1:27: include-fragment "nope"`) {
		t.Errorf("missing fragment: exit %d\n%s", code, stderr)
	}
	code, _, stderr = runBinary(t, "validate", "--policy", "--fragments", api, api)
	if code != 2 || !strings.Contains(stderr, "not a directory") {
		t.Errorf("--fragments FILE: exit %d\n%s", code, stderr)
	}
}

// An API without serviceUrl or backend whose policies never set one fails
// validate instead of failing every call; set-backend-service anywhere, or
// a policy that answers itself, is enough.
func TestValidateAPIWithoutBackend(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"none.yaml": `
apis:
  - id: orphan
    path: orphan
    subscriptionRequired: false
    operations: [{id: get, method: GET, urlTemplate: "/x"}]
`,
		"routed.yaml": `
apis:
  - id: routed
    path: routed
    subscriptionRequired: false
    policy: routed.xml
    operations: [{id: get, method: GET, urlTemplate: "/x"}]
  - id: mocked
    path: mocked
    subscriptionRequired: false
    operations: [{id: get, method: GET, urlTemplate: "/x", policy: mock.xml}]
`,
		"routed.xml": `<policies><inbound><base/><choose><when condition="@(true)"><set-backend-service base-url="http://127.0.0.1:9" /></when></choose></inbound></policies>`,
		"mock.xml":   `<policies><inbound><base/><return-response><set-status code="204" /></return-response></inbound></policies>`,
	})
	code, _, stderr := runBinary(t, "validate", "-c", filepath.Join(dir, "none.yaml"))
	if code != 1 || !strings.Contains(stderr, `none.yaml:3:5: api "orphan" has no serviceUrl and no backend`) {
		t.Errorf("API without backend: exit %d\n%s", code, stderr)
	}
	if code, stdout, stderr := runBinary(t, "validate", "-c", filepath.Join(dir, "routed.yaml")); code != 0 {
		t.Errorf("API routed by policy: exit %d\n%s%s", code, stdout, stderr)
	}
}

// Unknown policies, attributes and child elements get a suggestion.
func TestValidateDidYouMean(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"typo.xml": `<policies><inbound>
  <set-headr name="a"><value>x</value></set-headr>
  <set-header nmae="a"><value>x</value></set-header>
  <set-header name="a"><valeu>x</valeu></set-header>
</inbound></policies>`,
	})
	code, _, stderr := runBinary(t, "validate", "--policy", filepath.Join(dir, "typo.xml"))
	for _, want := range []string{
		`typo.xml:2:3: unknown policy <set-headr> (did you mean "set-header"?)`,
		`typo.xml:3:15: unknown attribute "nmae" on <set-header> (did you mean "name"?)`,
		`typo.xml:4:24: unknown element <valeu> in <set-header> (did you mean "value"?)`,
	} {
		if code != 1 || !strings.Contains(stderr, want) {
			t.Errorf("exit %d, stderr lacks %s:\n%s", code, want, stderr)
		}
	}
}

// Type errors C# finds when APIM saves a policy — generic type arguments,
// array elements, lambda parameters, unassigned locals — fail validate with
// file:line:col.
func TestValidateStaticTypingErrors(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"typed.xml": `<policies><inbound>
  <set-header name="a"><value>@{ var l = new[] { 1 }.ToList(); l.Add("s"); return l.Count.ToString(); }</value></set-header>
  <set-header name="b"><value>@(new[] { 1, 2 }.Where(x => x.Length > 1).Count().ToString())</value></set-header>
  <set-header name="c"><value>@{ int[] a = { 1, 2 }; string s = a[0]; return s; }</value></set-header>
  <set-header name="d"><value>@{ int n; if (context.Request.Method == "GET") { n = 1; } return n.ToString(); }</value></set-header>
  <set-header name="ok"><value>@{ var l = new object[] { "s", 1 }.ToList(); int n; if (!int.TryParse("5", out n)) { return "0"; } return (l.Count + n).ToString(); }</value></set-header>
</inbound></policies>`,
	})
	code, _, stderr := runBinary(t, "validate", "--policy", filepath.Join(dir, "typed.xml"))
	for _, want := range []string{
		`typed.xml:2:70: Argument 1: cannot convert from 'string' to 'int'`,
		`typed.xml:3:61: 'int' does not contain a definition for 'Length'`,
		`typed.xml:4:66: Cannot implicitly convert type 'int' to 'string'`,
		`typed.xml:5:96: Use of unassigned local variable 'n'`,
	} {
		if code != 1 || !strings.Contains(stderr, want) {
			t.Errorf("exit %d, stderr lacks %s:\n%s", code, want, stderr)
		}
	}
	if strings.Contains(stderr, ":6:") {
		t.Errorf("the valid expression on line 6 was rejected:\n%s", stderr)
	}
}
