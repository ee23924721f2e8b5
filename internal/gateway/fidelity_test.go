package gateway

import (
	"strings"
	"testing"
)

// A Liquid set-body whose template is a SOAP envelope with quoted filter
// arguments inside {{ }} reaches the backend rendered, not re-encoded.
func TestLiquidSOAPEnvelopeReachesBackend(t *testing.T) {
	be, seenBy := echoBackend(t)
	h := start(t, map[string]string{
		"gateway.yaml": openAPI(be.URL, "POST"),
		"api.xml": `<policies><inbound><base/>
  <set-header name="Content-Type" exists-action="override"><value>text/xml</value></set-header>
  <set-body template="liquid">
    <soap:Envelope xmlns="http://tempuri.org/" xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">
      <soap:Body>
        <GetOpenOrders>
          <cust>{{ body.getOpenOrders.cust | Default: "none" | Upcase }}</cust>
          <since>{{ body.getOpenOrders.since | Date: "yyyy-MM-dd" }}</since>
          <note>a &amp; b {{ body.getOpenOrders.note | Escape }}</note>
          <total currency='{{ body.getOpenOrders.total | Times: 2 | Currency: "en-US" }}'/>
        </GetOpenOrders>
      </soap:Body>
    </soap:Envelope>
  </set-body>
</inbound></policies>`,
	})
	resp, body := h.do("POST", "/a/orders", strings.NewReader(`{"getOpenOrders": {"cust": "ada", "since": "2024-02-29T10:00:00Z", "note": "x<y", "total": 10.25}}`),
		map[string]string{"Content-Type": "application/json"})
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	got := seenBy()[0].Body
	for _, want := range []string{
		`<soap:Envelope xmlns="http://tempuri.org/" xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">`,
		`<cust>ADA</cust>`, `<since>2024-02-29</since>`, `<note>a &amp; b x&lt;y</note>`, `<total currency="$20.50"/>`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("backend body lacks %s:\n%s", want, got)
		}
	}
}

// set-header with several <value> elements sends one comma-joined header
// line, except for the headers APIM keeps as separate lines; exists-action
// decides what happens to a header the message already has.
func TestSetHeaderSeveralValues(t *testing.T) {
	be, seenBy := echoBackend(t)
	h := start(t, map[string]string{
		"gateway.yaml": openAPI(be.URL, "GET"),
		"api.xml": `<policies><inbound><base/>
  <set-header name="X-Over" exists-action="override"><value>a</value><value>b</value><value>@("c")</value></set-header>
  <set-header name="X-App" exists-action="append"><value>c</value><value>d</value></set-header>
  <set-header name="X-Skip" exists-action="skip"><value>s1</value><value>s2</value></set-header>
  <set-header name="X-Skip-New" exists-action="skip"><value>n1</value><value>n2</value></set-header>
  <set-header name="X-Del" exists-action="delete" />
  <set-header name="User-Agent" exists-action="override"><value>ua1</value><value>ua2</value></set-header>
</inbound><backend><base/></backend><outbound><base/>
  <set-header name="X-Out" exists-action="override"><value>o1</value><value>o2</value></set-header>
  <set-header name="Set-Cookie" exists-action="append"><value>a=1</value><value>b=2</value></set-header>
</outbound></policies>`,
	})
	resp, body := h.do("GET", "/a/x", nil, map[string]string{"X-Over": "old", "X-App": "x", "X-Skip": "keep", "X-Del": "gone"})
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	got := seenBy()[0].Header
	want := map[string][]string{
		"X-Over": {"a,b,c"}, "X-App": {"x,c,d"}, "X-Skip": {"keep"}, "X-Skip-New": {"n1,n2"}, "X-Del": nil,
		"User-Agent": {"ua1", "ua2"},
	}
	for k, w := range want {
		if strings.Join(got[k], "|") != strings.Join(w, "|") {
			t.Errorf("backend header %s = %q, want %q", k, got[k], w)
		}
	}
	if v := resp.Header.Values("X-Out"); len(v) != 1 || v[0] != "o1,o2" {
		t.Errorf("response X-Out = %q, want one line o1,o2", v)
	}
	if v := resp.Header.Values("Set-Cookie"); strings.Join(v, "|") != "a=1|b=2" {
		t.Errorf("response Set-Cookie = %q, want two lines", v)
	}
}

// rate-limit's <api id> (no name) and <operation id> limits apply, and the
// remaining-calls header and variable give the fewest calls left under the
// subscription, API and operation limits.
func TestRateLimitScopedByIDAndLeastRemaining(t *testing.T) {
	be, calls, _ := countingBackend(t, "b", func(int) int { return 200 })
	h := start(t, map[string]string{
		"gateway.yaml": `
products:
  p: {policy: product.xml}
subscriptions:
  - {id: s1, primaryKey: k1, product: p}
apis:
  - id: a
    path: a
    serviceUrl: ` + be.URL + `
    products: [p]
    operations: [{id: all, method: GET, urlTemplate: "/*"}]
`,
		"product.xml": `<policies><inbound><base/>
  <rate-limit calls="10" renewal-period="60" remaining-calls-header-name="X-Remaining" remaining-calls-variable-name="left">
    <api id="a" calls="5" renewal-period="60">
      <operation id="all" calls="3" renewal-period="60" />
    </api>
  </rate-limit>
  <set-header name="X-Left" exists-action="override"><value>@(((int)context.Variables["left"]).ToString())</value></set-header>
</inbound></policies>`,
	})
	key := map[string]string{"Ocp-Apim-Subscription-Key": "k1"}
	for i, want := range []string{"2", "1", "0"} {
		resp, body := h.do("GET", "/a/x", nil, key)
		if resp.StatusCode != 200 || resp.Header.Get("X-Remaining") != want {
			t.Fatalf("call %d: %d X-Remaining=%q want %s (%s)", i+1, resp.StatusCode, resp.Header.Get("X-Remaining"), want, body)
		}
	}
	resp, _ := h.do("GET", "/a/x", nil, key)
	if resp.StatusCode != 429 {
		t.Fatalf("4th call: %d, want 429 from the operation limit", resp.StatusCode)
	}
	if calls.Load() != 3 {
		t.Fatalf("backend calls %d, want 3", calls.Load())
	}
}

// ip-filter action="forbid" fails with CallerIpBlocked (403 "Forbidden"),
// and context.LastError.Scope names the scope whose policy raised the
// error: operation, api, product, or global (the default forward-request).
func TestIPFilterForbidAndLastErrorScope(t *testing.T) {
	be, _, _ := countingBackend(t, "b", func(int) int { return 200 })
	dead := "http://" + deadAddr(t)
	h := start(t, map[string]string{
		"gateway.yaml": `
policy: global.xml
products:
  p: {policy: product.xml}
subscriptions:
  - {id: s1, primaryKey: k1, product: p}
apis:
  - id: blocked
    path: blocked
    serviceUrl: ` + be.URL + `
    subscriptionRequired: false
    policy: blocked.xml
    operations: [{id: all, method: GET, urlTemplate: "/*"}]
  - id: ops
    path: ops
    serviceUrl: ` + be.URL + `
    subscriptionRequired: false
    operations: [{id: only, method: GET, urlTemplate: "/*", policy: op.xml}]
  - id: prod
    path: prod
    serviceUrl: ` + be.URL + `
    products: [p]
    operations: [{id: all, method: GET, urlTemplate: "/*"}]
  - id: down
    path: down
    serviceUrl: ` + dead + `
    subscriptionRequired: false
    operations: [{id: all, method: GET, urlTemplate: "/*"}]
`,
		"global.xml": `<policies><inbound/><backend><forward-request/></backend><outbound/>
<on-error>
  <set-header name="X-Scope" exists-action="override"><value>@(context.LastError.Scope)</value></set-header>
  <set-header name="X-Reason" exists-action="override"><value>@(context.LastError.Reason)</value></set-header>
</on-error></policies>`,
		"blocked.xml": `<policies><inbound><base/><ip-filter action="forbid"><address-range from="127.0.0.0" to="127.255.255.255"/><address>::1</address></ip-filter></inbound></policies>`,
		"op.xml":      `<policies><inbound><base/><ip-filter action="allow"><address>10.9.9.9</address></ip-filter></inbound></policies>`,
		"product.xml": `<policies><inbound><base/><rate-limit calls="1" renewal-period="60"/></inbound></policies>`,
	})
	key := map[string]string{"Ocp-Apim-Subscription-Key": "k1"}
	h.do("GET", "/prod/x", nil, key) // uses the product's one call
	cases := []struct {
		path, scope, reason string
		status              int
		hdr                 map[string]string
	}{
		{"/blocked/x", "api", "CallerIpBlocked", 403, nil},
		{"/ops/x", "operation", "CallerIpNotAllowed", 403, nil},
		{"/prod/x", "product", "RateLimitExceeded", 429, key},
		{"/down/x", "global", "BackendConnectionFailure", 502, nil},
	}
	for _, c := range cases {
		resp, body := h.do("GET", c.path, nil, c.hdr)
		if resp.StatusCode != c.status || resp.Header.Get("X-Scope") != c.scope || resp.Header.Get("X-Reason") != c.reason {
			t.Errorf("%s: %d scope=%q reason=%q, want %d %s %s (%s)", c.path, resp.StatusCode, resp.Header.Get("X-Scope"), resp.Header.Get("X-Reason"), c.status, c.scope, c.reason, body)
		}
		if c.reason == "CallerIpBlocked" {
			wantAPIMError(t, resp, body, 403, "Forbidden")
		}
	}
	recs := h.records()
	byPath := map[string]bool{}
	for _, r := range recs {
		if r.LastErrorReason == "CallerIpBlocked" {
			byPath["blocked"] = true
			if r.LastErrorScope != "api" || r.LastErrorSource != "ip-filter" || r.LastErrorSection != "inbound" ||
				!strings.Contains(r.LastErrorMessage, "is blocked") || r.ResponseCode != 403 {
				t.Errorf("log of the blocked call: %+v", r)
			}
		}
		if r.LastErrorReason == "BackendConnectionFailure" && r.LastErrorScope != "global" {
			t.Errorf("log of the backend failure: scope %q", r.LastErrorScope)
		}
	}
	if !byPath["blocked"] {
		t.Errorf("no log record with LastErrorReason CallerIpBlocked in %+v", recs)
	}
}
