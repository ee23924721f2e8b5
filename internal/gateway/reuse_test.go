package gateway

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
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
	var wrong faults
	report := wrong.add
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
	wrong.check(t)
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

// TestReusedBackendResponseStartsClean: on apimgw's own server the request
// header map and the backend response are read into storage the client
// connection keeps for its next request (httplex.HeaderStore,
// backend.ResponseBuffer). Requests and responses of every shape follow
// one another on the same connections — many headers then few, trailers,
// 204, HEAD, a header a policy appends to, short bodies whose head the
// server writes only after the handler has returned — and each backend
// sees exactly its request's headers, each client its own response's
// headers and body, on both servers.
func TestReusedBackendResponseStartsClean(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.URL.Query().Get("id")
		h := w.Header()
		h.Set("X-Id", id)
		seen := 0
		for k, v := range r.Header {
			if strings.HasPrefix(k, "X-Req-") {
				seen++
				if len(v) != 1 || v[0] != id {
					h.Set("X-Req-Wrong", k)
				}
			}
		}
		h.Set("X-Req-Seen", strconv.Itoa(seen))
		n, _ := strconv.Atoi(r.URL.Query().Get("extra"))
		for k := range n {
			h.Add(fmt.Sprintf("X-Extra-%d", k), id)
		}
		switch r.URL.Query().Get("kind") {
		case "trailer":
			h.Set("Trailer", "X-Sum")
			io.WriteString(w, "body-"+id)
			h.Set("X-Sum", "sum-"+id)
		case "nocontent":
			w.WriteHeader(http.StatusNoContent)
		default:
			io.WriteString(w, "body-"+id)
		}
	}))
	t.Cleanup(backend.Close)
	h := start(t, map[string]string{
		"gateway.yaml": `
apis:
  - id: reuse
    path: r
    serviceUrl: ` + backend.URL + `
    subscriptionRequired: false
    policy: api.xml
    operations:
      - {id: get, method: GET, urlTemplate: "/*"}
      - {id: head, method: HEAD, urlTemplate: "/*"}
`,
		"api.xml": `<policies><inbound><base/></inbound><backend><base/></backend><outbound><base/>
<set-header name="X-Id" exists-action="append"><value>@("seen-" + context.Request.Url.Query.GetValueOrDefault("id", ""))</value></set-header>
</outbound></policies>`,
	})
	bases := h.servers()
	var wg sync.WaitGroup
	var wrong faults
	report := wrong.add
	kinds := []string{"plain", "trailer", "nocontent", "head"}
	for w := range 6 {
		wg.Go(func() {
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}}
			defer client.CloseIdleConnections()
			for i := range 80 {
				base := bases["httpserver"]
				if w == 5 {
					base = bases["net/http"]
				}
				id := fmt.Sprintf("%d-%d", w, i)
				kind := kinds[i%len(kinds)]
				extra := []int{0, 40, 3, 0, 1}[i%5]
				method := http.MethodGet
				if kind == "head" {
					method = http.MethodHead
				}
				req, _ := http.NewRequest(method, fmt.Sprintf("%s/r/x?id=%s&extra=%d&kind=%s", base, id, extra, kind), nil)
				sent := []int{2, 0, 40, 1, 0, 3, 0}[i%7]
				for k := range sent {
					req.Header.Set(fmt.Sprintf("X-Req-%d", k), id)
				}
				resp, err := client.Do(req)
				if err != nil {
					report("%s: %v", id, err)
					return
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				// set-header append joins the values into one line, as APIM does.
				if got := resp.Header.Values("X-Id"); len(got) != 1 || got[0] != id+",seen-"+id {
					report("%s (%s): X-Id %q", id, kind, got)
				}
				if seen := resp.Header.Get("X-Req-Seen"); seen != strconv.Itoa(sent) || resp.Header.Get("X-Req-Wrong") != "" {
					report("%s: the backend saw %s X-Req headers (%q wrong), want %d", id, seen, resp.Header.Get("X-Req-Wrong"), sent)
				}
				extras := 0
				for k, v := range resp.Header {
					if strings.HasPrefix(k, "X-Extra-") {
						extras++
						if len(v) != 1 || v[0] != id {
							report("%s: %s %q", id, k, v)
						}
					}
				}
				if extras != extra {
					report("%s: %d X-Extra headers, want %d", id, extras, extra)
				}
				switch kind {
				case "nocontent":
					if resp.StatusCode != http.StatusNoContent || len(body) != 0 {
						report("%s: %d %q, want an empty 204", id, resp.StatusCode, body)
					}
				case "head":
					if resp.StatusCode != http.StatusOK || len(body) != 0 {
						report("%s: HEAD %d %q", id, resp.StatusCode, body)
					}
				default:
					if resp.StatusCode != http.StatusOK || string(body) != "body-"+id {
						report("%s: %d %q", id, resp.StatusCode, body)
					}
				}
				if kind == "trailer" && resp.Trailer.Get("X-Sum") != "sum-"+id {
					report("%s: trailer %q", id, resp.Trailer)
				}
			}
		})
	}
	wg.Wait()
	wrong.check(t)
}

// faults collects what concurrent clients found wrong.
type faults struct {
	mu   sync.Mutex
	list []string
}

func (f *faults) add(format string, args ...any) {
	f.mu.Lock()
	f.list = append(f.list, fmt.Sprintf(format, args...))
	f.mu.Unlock()
}

// check fails t with the first few faults, if any.
func (f *faults) check(t *testing.T) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if n := len(f.list); n > 0 {
		t.Fatalf("%d wrong answers, first ones: %s", n, strings.Join(f.list[:min(5, n)], "; "))
	}
}

// TestReusedBackendCallAcrossProtocols: a client connection's requests
// reuse forward-request's backend call after an HTTP/1.1 call, and not
// after an HTTP/2 one (net/http's goroutines may still hold it). Calls to
// an HTTP/1.1 and an h2c backend, timeouts among them, follow one another
// on the same connections: every answer is its own request's.
func TestReusedBackendCallAcrossProtocols(t *testing.T) {
	h := oneBackendTwoProtocols(t, func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/slow") {
			select {
			case <-r.Context().Done():
			case <-time.After(3 * time.Second):
			}
			return
		}
		io.WriteString(w, r.Proto+" "+r.URL.Path+" "+r.Header.Get("X-Forwarded-For"))
	}, `<policies><inbound><base/></inbound><backend><forward-request timeout="1"/></backend><outbound><base/></outbound><on-error><base/></on-error></policies>`)
	base := h.servers()["httpserver"]
	var wg sync.WaitGroup
	var wrong faults
	for w := range 4 {
		wg.Go(func() {
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
			defer client.CloseIdleConnections()
			for i := range 40 {
				api, proto := "one", "HTTP/1.1"
				if (i/2+w)%2 == 1 {
					api, proto = "two", "HTTP/2.0"
				}
				path := fmt.Sprintf("/%s/%d-%d", api, w, i)
				slow := i%17 == 5
				if slow {
					path = fmt.Sprintf("/%s/slow", api)
				}
				resp, err := client.Get(base + path)
				if err != nil {
					wrong.add("%s: %v", path, err)
					return
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				switch {
				case slow && resp.StatusCode != http.StatusGatewayTimeout:
					wrong.add("%s: %d, want the timeout's 504", path, resp.StatusCode)
				case !slow && (resp.StatusCode != 200 || !strings.HasPrefix(string(body), proto+" /"+strings.SplitN(path, "/", 3)[2]+" 127.0.0.1")):
					wrong.add("%s: %d %q, want %s and its own path", path, resp.StatusCode, body, proto)
				}
			}
		})
	}
	wg.Wait()
	wrong.check(t)
}

// TestBackendCallStaysWithItsConnection: the storage of a connection that
// ends goes to the next connection, with the backend call its last
// HTTP/1.1 request kept, whose context was made from the ended
// connection's. The next connection's first request (to an h2c backend)
// makes a call of its own and does not keep it; its second (HTTP/1.1)
// must not take up the ended connection's call, whose context would
// follow the ended connection's, cancelled. Each round: a connection
// that ends after one HTTP/1.1 request, then one with an h2c and an
// HTTP/1.1 request; every answer must be 200 and its own. Then the same
// with a connection that stays open and parks (idle a second and more),
// which gives its storage away too.
func TestBackendCallStaysWithItsConnection(t *testing.T) {
	h := oneBackendTwoProtocols(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Proto+" "+r.URL.Path)
	}, "")
	addr := strings.TrimPrefix(h.servers()["httpserver"], "http://")
	get := func(c net.Conn, br *bufio.Reader, path string, close bool) (int, string) {
		t.Helper()
		req := "GET " + path + " HTTP/1.1\r\nHost: gw\r\n"
		if close {
			req += "Connection: close\r\n"
		}
		if _, err := io.WriteString(c, req+"\r\n"); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(body)
	}
	dial := func() (net.Conn, *bufio.Reader) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		return c, bufio.NewReader(c)
	}
	for round := range 21 {
		parks := round == 20
		x, xr := dial()
		status, body := get(x, xr, fmt.Sprintf("/one/x%d", round), !parks)
		if status != 200 || body != fmt.Sprintf("HTTP/1.1 /x%d", round) {
			t.Fatalf("round %d, the first connection: %d %q", round, status, body)
		}
		if parks {
			time.Sleep(1500 * time.Millisecond) // httpserver's parkDelay, 1 s, and a sweep
		} else if _, err := xr.ReadByte(); err != io.EOF { // the server closed it
			t.Fatalf("round %d: the connection that ends: %v after the response, want EOF", round, err)
		}
		y, yr := dial()
		for _, c := range []struct{ path, want string }{
			{fmt.Sprintf("/two/y%d", round), fmt.Sprintf("HTTP/2.0 /y%d", round)},
			{fmt.Sprintf("/one/z%d", round), fmt.Sprintf("HTTP/1.1 /z%d", round)},
		} {
			if status, body := get(y, yr, c.path, false); status != 200 || body != c.want {
				t.Errorf("round %d (first connection parked: %v), %s on the next connection: %d %q, want 200 %q", round, parks, c.path, status, body, c.want)
			}
		}
		x.Close()
		y.Close()
	}
}

// oneBackendTwoProtocols serves a gateway with two APIs on one backend
// (handler, on loopback, speaking HTTP/1.1 and h2c): /one/... forwards
// over HTTP/1.1, /two/... over h2c; with policy, both APIs have it.
func oneBackendTwoProtocols(t *testing.T, handler http.HandlerFunc, policy string) *harness {
	t.Helper()
	be := httptest.NewUnstartedServer(handler)
	be.Config.Protocols = new(http.Protocols)
	be.Config.Protocols.SetHTTP1(true)
	be.Config.Protocols.SetUnencryptedHTTP2(true)
	be.Start()
	t.Cleanup(be.Close)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(be.URL, "http://"))
	files := map[string]string{}
	ref := ""
	if policy != "" {
		files["p.xml"], ref = policy, "policy: p.xml, "
	}
	files["gateway.yaml"] = `
backends:
  h1: {url: "http://127.0.0.1:` + port + `", protocol: http1}
  h2: {url: "http://localhost:` + port + `", protocol: h2c}
apis:
  - {id: one, path: one, backendId: h1, subscriptionRequired: false, ` + ref + `operations: [{id: all, method: GET, urlTemplate: "/*"}]}
  - {id: two, path: two, backendId: h2, subscriptionRequired: false, ` + ref + `operations: [{id: all, method: GET, urlTemplate: "/*"}]}
`
	return start(t, files)
}
