package gateway

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// TestReusedRequestStateStartsClean runs many requests at once, on both
// servers, through a policy that would see anything a previous request
// left in the storage the gateway reuses (policy state, variables, matched
// parameters, query, log record): every request must see only its own.
func TestReusedRequestStateStartsClean(t *testing.T) {
	backend, _ := echoBackend(t)
	h := start(t, map[string]string{
		"gateway.yaml": `
apis:
  - id: reuse
    path: r
    serviceUrl: ` + backend.URL + `
    subscriptionRequired: false
    policy: api.xml
    operations:
      - {id: item, method: GET, urlTemplate: "/items/{id}"}
      - {id: other, method: GET, urlTemplate: "/other/{name}"}
      - {id: fail, method: GET, urlTemplate: "/fail"}
`,
		"api.xml": `<policies><inbound><base/>
<choose>
  <when condition="@(context.Variables.ContainsKey(&quot;mine&quot;) || context.Variables.Count != 0)">
    <return-response><set-status code="500" reason="variables left over"/></return-response>
  </when>
  <when condition="@(context.Operation.Id == &quot;other&quot; &amp;&amp; context.Request.MatchedParameters.ContainsKey(&quot;id&quot;))">
    <return-response><set-status code="500" reason="parameters left over"/></return-response>
  </when>
  <when condition="@(context.Operation.Id == &quot;fail&quot;)">
    <set-variable name="boom" value="@(((string)null).Length)"/>
  </when>
</choose>
<set-variable name="mine" value="@(context.Operation.Id == &quot;item&quot; ? context.Request.MatchedParameters[&quot;id&quot;] : context.Request.MatchedParameters[&quot;name&quot;])"/>
<set-header name="X-Mine" exists-action="override"><value>@((string)context.Variables["mine"] + "|" + context.Request.Url.Query.GetValueOrDefault("q", "-"))</value></set-header>
</inbound><backend><base/></backend><outbound><base/>
<set-header name="X-Seen" exists-action="override"><value>@(context.Request.Headers.GetValueOrDefault("X-Mine", ""))</value></set-header>
</outbound></policies>`,
	})
	bases := h.servers()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var wrong []string
	report := func(format string, args ...any) {
		mu.Lock()
		wrong = append(wrong, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2}}
			defer client.CloseIdleConnections()
			for i := range 60 {
				base := bases["httpserver"]
				if (w+i)%3 == 0 {
					base = bases["net/http"]
				}
				var path, want string
				switch i % 3 {
				case 0:
					path, want = fmt.Sprintf("/r/items/%d-%d?q=%d", w, i, i), fmt.Sprintf("%d-%d|%d", w, i, i)
				case 1:
					path, want = fmt.Sprintf("/r/other/n%d-%d", w, i), fmt.Sprintf("n%d-%d|-", w, i)
				default:
					path = "/r/fail"
				}
				resp, err := client.Get(base + path)
				if err != nil {
					report("%s: %v", path, err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				switch {
				case want == "" && resp.StatusCode != http.StatusInternalServerError:
					report("%s: status %d, want the expression failure's 500", path, resp.StatusCode)
				case want != "" && resp.StatusCode != http.StatusOK:
					report("%s: status %d %s", path, resp.StatusCode, resp.Status)
				case want != "" && resp.Header.Get("X-Seen") != want:
					report("%s: the backend saw X-Mine %q, want %q", path, resp.Header.Get("X-Seen"), want)
				}
			}
		}()
	}
	wg.Wait()
	if len(wrong) > 0 {
		t.Fatalf("%d wrong answers, first ones: %s", len(wrong), strings.Join(wrong[:min(5, len(wrong))], "; "))
	}
	// Each log line is its own request's: the failures carry their error,
	// the others none, and the URL is the request's.
	recs := h.records()
	if len(recs) != 8*60 {
		t.Fatalf("%d log lines, want %d", len(recs), 8*60)
	}
	for _, r := range recs {
		failed := strings.HasSuffix(r.Url, "/r/fail")
		switch {
		case failed && (r.LastErrorReason != "ExpressionValueEvaluationFailure" || r.ResponseCode != 500):
			t.Fatalf("failing request logged as %d %q", r.ResponseCode, r.LastErrorReason)
		case !failed && (r.LastErrorReason != "" || len(r.Errors) != 0 || r.ResponseCode != 200 || !r.IsRequestSuccess):
			t.Fatalf("good request %s logged with %d %q %v", r.Url, r.ResponseCode, r.LastErrorReason, r.Errors)
		case !failed && r.BackendResponseCode != 200:
			t.Fatalf("good request %s logged without its backend call", r.Url)
		case failed && r.BackendResponseCode != 0:
			t.Fatalf("failing request logged with a backend call (%d) it never made", r.BackendResponseCode)
		}
	}
}
