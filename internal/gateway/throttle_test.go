package gateway

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRateLimitByKey(t *testing.T) {
	be, calls, _ := countingBackend(t, "b", func(int) int { return 200 })
	h := start(t, map[string]string{
		"gateway.yaml": openAPI(be.URL, "GET"),
		"api.xml": `<policies><inbound><base/>
  <rate-limit-by-key calls="5" renewal-period="60" counter-key="@(context.Request.IpAddress)"
      remaining-calls-header-name="X-Remaining" total-calls-header-name="X-Limit" />
</inbound><backend><base/></backend><outbound><base/></outbound>
<on-error><set-header name="X-Reason" exists-action="override"><value>@(context.LastError.Reason)</value></set-header></on-error></policies>`,
	})
	for i := 1; i <= 5; i++ {
		resp, _ := h.do("GET", "/a/x", nil, nil)
		if resp.StatusCode != 200 || resp.Header.Get("X-Remaining") != strconv.Itoa(5-i) || resp.Header.Get("X-Limit") != "5" {
			t.Fatalf("call %d: %d remaining=%q limit=%q", i, resp.StatusCode, resp.Header.Get("X-Remaining"), resp.Header.Get("X-Limit"))
		}
	}
	resp, body := h.do("GET", "/a/x", nil, nil)
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" || resp.Header.Get("X-Reason") != "RateLimitExceeded" {
		t.Fatalf("6th call: %d %v", resp.StatusCode, resp.Header)
	}
	wantAPIMError(t, resp, body, 429, "Rate limit is exceeded. Try again in "+resp.Header.Get("Retry-After")+" seconds.")
	if calls.Load() != 5 {
		t.Fatalf("backend calls %d, want 5", calls.Load())
	}
}

func TestQuotaAndRateLimitPerSubscription(t *testing.T) {
	be, _, _ := countingBackend(t, "b", func(int) int { return 200 })
	h := start(t, map[string]string{
		"gateway.yaml": `
products:
  p: {policy: product.xml}
subscriptions:
  - {id: s1, primaryKey: k1, product: p}
  - {id: s2, primaryKey: k2, product: p}
apis:
  - id: a
    path: a
    serviceUrl: ` + be.URL + `
    products: [p]
    operations: [{id: all, method: GET, urlTemplate: "/*"}]
`,
		"product.xml": `<policies><inbound><base/><quota calls="3" renewal-period="3600" /></inbound></policies>`,
	})
	for i := 0; i < 3; i++ {
		if resp, _ := h.do("GET", "/a/x", nil, map[string]string{"Ocp-Apim-Subscription-Key": "k1"}); resp.StatusCode != 200 {
			t.Fatalf("call %d: %d", i, resp.StatusCode)
		}
	}
	resp, body := h.do("GET", "/a/x", nil, map[string]string{"Ocp-Apim-Subscription-Key": "k1"})
	if resp.StatusCode != 403 || !strings.HasPrefix(body, `{"statusCode":403,"message":"Out of call volume quota. Quota will be replenished in `) {
		t.Fatalf("quota exhausted: %d %s", resp.StatusCode, body)
	}
	// Another subscription has its own quota.
	if resp, _ := h.do("GET", "/a/x", nil, map[string]string{"Ocp-Apim-Subscription-Key": "k2"}); resp.StatusCode != 200 {
		t.Fatalf("second subscription: %d", resp.StatusCode)
	}
}

func TestResponseCacheAndCoalescing(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	be, calls, _ := countingBackend(t, "b", func(int) int {
		<-release
		return 200
	})
	h := start(t, map[string]string{
		"gateway.yaml": openAPI(be.URL, "GET"),
		"api.xml": `<policies>
<inbound><base/><cache-lookup vary-by-developer="false" vary-by-developer-groups="false" downstream-caching-type="public"><vary-by-query-parameter>v</vary-by-query-parameter></cache-lookup></inbound>
<backend><base/></backend>
<outbound><base/><cache-store duration="60" /></outbound><on-error><base/></on-error></policies>`,
	})
	// 50 concurrent misses for one key reach the backend once.
	var wg sync.WaitGroup
	codes := make(chan int, 50)
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Get(h.srv.URL + "/a/item?v=1")
			if err != nil {
				codes <- 0
				return
			}
			resp.Body.Close()
			codes <- resp.StatusCode
		}()
	}
	time.Sleep(300 * time.Millisecond)
	once.Do(func() { close(release) })
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != 200 {
			t.Fatalf("status %d", c)
		}
	}
	if calls.Load() != 1 {
		t.Fatalf("50 concurrent misses made %d backend calls, want 1", calls.Load())
	}
	resp, body := h.do("GET", "/a/item?v=1", nil, nil)
	if resp.StatusCode != 200 || body != "b" || calls.Load() != 1 || !strings.HasPrefix(resp.Header.Get("Cache-Control"), "public, max-age=") {
		t.Fatalf("cached: %d %q calls=%d %v", resp.StatusCode, body, calls.Load(), resp.Header)
	}
	// Another vary-by value is another entry.
	h.do("GET", "/a/item?v=2", nil, nil)
	if calls.Load() != 2 {
		t.Fatalf("v=2 calls=%d", calls.Load())
	}
	recs := h.records()
	hits, misses := 0, 0
	for _, r := range recs {
		switch r.Cache {
		case "hit":
			hits++
		case "miss":
			misses++
		}
	}
	if misses < 2 || hits < 1 || hits+misses != len(recs) {
		t.Fatalf("Cache column: %d hits %d misses of %d", hits, misses, len(recs))
	}
}

func TestValueCache(t *testing.T) {
	h := start(t, map[string]string{
		"gateway.yaml": `
apis:
  - id: a
    path: a
    subscriptionRequired: false
    policy: api.xml
    operations: [{id: all, method: GET, urlTemplate: "/{op}"}]
`,
		"api.xml": `<policies><inbound>
<choose>
  <when condition="@(context.Request.MatchedParameters["op"] == "put")">
    <cache-store-value key="k" value="@(new JObject(new JProperty("n", 42)))" duration="60" />
  </when>
  <when condition="@(context.Request.MatchedParameters["op"] == "del")">
    <cache-remove-value key="k" />
  </when>
</choose>
<cache-lookup-value key="k" default-value="none" variable-name="v" />
<return-response><set-body>@(context.Variables["v"] is JObject ? "n=" + ((JObject)context.Variables["v"])["n"].ToString() : (string)context.Variables["v"])</set-body></return-response>
</inbound></policies>`,
	})
	for _, c := range []struct{ path, want string }{{"/a/get", "none"}, {"/a/put", "n=42"}, {"/a/get", "n=42"}, {"/a/del", "none"}} {
		if _, body := h.do("GET", c.path, nil, nil); body != c.want {
			t.Fatalf("%s: %q, want %q", c.path, body, c.want)
		}
	}
}
