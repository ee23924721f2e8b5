package policy

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apimgw/apimgw/internal/expr"
)

// testPipeline compiles src as an API-scope policy (failing the test on
// compile errors) and composes it.
func testPipeline(t *testing.T, src string, named map[string]string) *Pipeline {
	t.Helper()
	c := &Compiler{NamedValues: named}
	s := c.Compile("api", "t.xml", []byte(src))
	if errs := c.Errors(); len(errs) > 0 {
		t.Fatalf("compile: %v", errs)
	}
	return Compose(s)
}

// compileErrors compiles src and returns the error messages joined.
func compileErrors(src string) string {
	c := &Compiler{}
	c.Compile("api", "t.xml", []byte(src))
	var msgs []string
	for _, e := range c.Errors() {
		msgs = append(msgs, e.Error())
	}
	return strings.Join(msgs, "\n")
}

// testEnv returns an Env whose transport is a real http.Transport closed
// with the test.
func testEnv(t *testing.T) *Env {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &Env{Transport: tr}
}

// newRequestState builds a State as the gateway's handler does.
func newRequestState(t *testing.T, env *Env, method, rawURL string, header http.Header, body string) *State {
	t.Helper()
	st := NewState(context.Background(), env)
	u, err := expr.ParseURL(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	if header == nil {
		header = http.Header{}
	}
	st.X.RequestId = "00000000-0000-0000-0000-000000000001"
	st.X.Request = &expr.Request{Method: method, Url: u, OriginalUrl: u.Clone(), Headers: header, IpAddress: "127.0.0.1", MatchedParameters: map[string]string{}}
	if body != "" {
		st.SetRequestBody(expr.NewBodyBytes([]byte(body)), int64(len(body)))
	}
	return st
}

// run executes p for st like the gateway does and returns the response body.
func run(t *testing.T, p *Pipeline, st *State) string {
	t.Helper()
	p.Run(st)
	FinishResponse(st)
	t.Cleanup(st.Close)
	if st.X.Response.Body == nil {
		return ""
	}
	b, err := st.X.Response.Body.Bytes()
	if err != nil {
		t.Fatalf("read response body: %v", err)
	}
	return string(b)
}

// closedURL returns a loopback URL nothing listens on.
func closedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

const policyWrap = `<policies><inbound>%s</inbound><backend><base/></backend><outbound><base/></outbound><on-error><base/></on-error></policies>`

func wrap(inbound string) string { return strings.Replace(policyWrap, "%s", inbound, 1) }

func TestSendRequest(t *testing.T) {
	var gotMethod, gotHeader, gotBody, gotAuth atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		gotMethod.Store(r.Method)
		gotHeader.Store(r.Header.Get("X-Test"))
		gotBody.Store(string(b))
		gotAuth.Store(r.Header.Get("Authorization"))
		switch r.URL.Path {
		case "/slow":
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(201)
		io.WriteString(w, `{"token":"abc","n":2}`)
	}))
	defer srv.Close()

	cases := []struct {
		name       string
		policy     string
		reqHeader  http.Header
		reqBody    string
		token      func(ctx context.Context, resource, clientID string) (string, error)
		wantStatus int
		wantBody   string
		wantReason string
		check      func(t *testing.T)
	}{
		{
			name: "new request, response in variable, body read twice",
			policy: `<send-request mode="new" response-variable-name="r" timeout="20" ignore-error="false">
				<set-url>` + srv.URL + `/token?x=1</set-url>
				<set-method>POST</set-method>
				<set-header name="X-Test" exists-action="override"><value>@(context.Request.Method)</value></set-header>
				<set-body>@("a=" + context.Request.Url.Path)</set-body>
			</send-request>
			<return-response>
				<set-status code="200"/>
				<set-body>@{
					var r = (IResponse)context.Variables["r"];
					var o = r.Body.As<JObject>(preserveContent: true);
					return r.StatusCode + ":" + (string)o["token"] + ":" + r.Body.As<string>();
				}</set-body>
			</return-response>`,
			wantStatus: 200,
			wantBody:   `201:abc:{"token":"abc","n":2}`,
			check: func(t *testing.T) {
				if gotMethod.Load() != "POST" || gotHeader.Load() != "GET" || gotBody.Load() != "a=/api/x" {
					t.Errorf("backend saw method %v header %v body %v", gotMethod.Load(), gotHeader.Load(), gotBody.Load())
				}
			},
		},
		{
			name: "copy mode copies method, headers and body",
			policy: `<send-request mode="copy" response-variable-name="r">
				<set-url>` + srv.URL + `/copy</set-url>
			</send-request>
			<return-response><set-body>@(((IResponse)context.Variables["r"]).StatusCode.ToString())</set-body></return-response>`,
			reqHeader:  http.Header{"X-Test": {"from-client"}},
			reqBody:    "client-body",
			wantStatus: 200,
			wantBody:   "201",
			check: func(t *testing.T) {
				if gotMethod.Load() != "PUT" || gotHeader.Load() != "from-client" || gotBody.Load() != "client-body" {
					t.Errorf("backend saw method %v header %v body %v", gotMethod.Load(), gotHeader.Load(), gotBody.Load())
				}
			},
		},
		{
			name: "ignore-error stores null",
			policy: `<send-request response-variable-name="r" ignore-error="true"><set-url>` + closedURL(t) + `/</set-url></send-request>
			<return-response><set-body>@(context.Variables["r"] == null ? "null" : "set")</set-body></return-response>`,
			wantStatus: 200,
			wantBody:   "null",
		},
		{
			name:       "connection failure raises BackendConnectionFailure",
			policy:     `<send-request response-variable-name="r"><set-url>` + closedURL(t) + `/</set-url></send-request>`,
			wantStatus: 500,
			wantReason: ReasonBackendConnectionFailure,
		},
		{
			name:       "timeout raises Timeout",
			policy:     `<send-request response-variable-name="r" timeout="1"><set-url>` + srv.URL + `/slow</set-url></send-request>`,
			wantStatus: 500,
			wantReason: ReasonTimeout,
		},
		{
			name: "managed identity child sets the bearer token",
			policy: `<send-request response-variable-name="r">
				<set-url>` + srv.URL + `/mi</set-url>
				<authentication-managed-identity resource="https://vault.azure.net" />
			</send-request>
			<return-response><set-body>ok</set-body></return-response>`,
			token: func(ctx context.Context, resource, clientID string) (string, error) {
				return "tok-" + resource, nil
			},
			wantStatus: 200,
			wantBody:   "ok",
			check: func(t *testing.T) {
				if gotAuth.Load() != "Bearer tok-https://vault.azure.net" {
					t.Errorf("Authorization = %v", gotAuth.Load())
				}
			},
		},
		{
			name:       "expression URL that is not absolute fails",
			policy:     `<send-request response-variable-name="r"><set-url>@("/relative")</set-url></send-request>`,
			wantStatus: 500,
			wantReason: ReasonExpressionFailure,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := testEnv(t)
			env.Services.Token = tc.token
			p := testPipeline(t, wrap(tc.policy), nil)
			method := "GET"
			if tc.reqBody != "" {
				method = "PUT"
			}
			st := newRequestState(t, env, method, "http://gw.test/api/x", tc.reqHeader, tc.reqBody)
			body := run(t, p, st)
			if st.X.Response.StatusCode != tc.wantStatus {
				t.Fatalf("status = %d, want %d (body %s, errors %v)", st.X.Response.StatusCode, tc.wantStatus, body, st.Errors)
			}
			if tc.wantBody != "" && body != tc.wantBody {
				t.Errorf("body = %q, want %q", body, tc.wantBody)
			}
			if tc.wantReason != "" {
				le := st.LastError()
				if le == nil || le.Reason != tc.wantReason || le.Source != "send-request" {
					t.Errorf("last error = %+v, want reason %s from send-request", le, tc.wantReason)
				}
			}
			if tc.check != nil {
				tc.check(t)
			}
		})
	}
}

func TestSendRequestCompileErrors(t *testing.T) {
	cases := []struct{ name, policy, want string }{
		{"missing variable", `<send-request><set-url>http://x</set-url></send-request>`, `needs attribute "response-variable-name"`},
		{"missing url", `<send-request response-variable-name="r"/>`, "needs a <set-url>"},
		{"bad mode", `<send-request mode="clone" response-variable-name="r"><set-url>http://x</set-url></send-request>`, "mode must be"},
		{"proxy", `<send-request response-variable-name="r"><set-url>http://x</set-url><proxy url="https://p"/></send-request>`, "want http://host:port"},
		{"certificate", `<send-request response-variable-name="r"><set-url>http://x</set-url><authentication-certificate/></send-request>`, "needs exactly one of thumbprint, certificate-id or body"},
		{"proxy without url", `<proxy username="u"/>`, `<proxy> needs attribute "url"`},
		{"wait child", `<wait><set-header name="a"><value>b</value></set-header></wait>`, "is not allowed in <wait>"},
		{"wait for", `<wait for="some"><send-request response-variable-name="r"><set-url>http://x</set-url></send-request></wait>`, "wait for must be"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := compileErrors(wrap(tc.policy))
			if !strings.Contains(got, tc.want) {
				t.Errorf("errors %q do not mention %q", got, tc.want)
			}
		})
	}
}

func TestWait(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/blocked" {
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}
		io.WriteString(w, r.URL.Path)
	}))
	defer srv.Close()
	defer close(release)

	read := `@{
		var a = context.Variables.ContainsKey("a") ? ((IResponse)context.Variables["a"]).Body.As<string>() : "-";
		var b = context.Variables.ContainsKey("b") ? ((IResponse)context.Variables["b"]).Body.As<string>() : "-";
		return a + "|" + b + "|" + context.Variables.GetValueOrDefault<string>("c", "-");
	}`
	cases := []struct {
		name, policy, want string
	}{
		{
			name: "all",
			policy: `<wait for="all">
				<send-request response-variable-name="a"><set-url>` + srv.URL + `/one</set-url></send-request>
				<send-request response-variable-name="b"><set-url>` + srv.URL + `/two</set-url></send-request>
				<choose><when condition="@(true)"><set-variable name="c" value="chosen"/></when></choose>
			</wait>`,
			want: "/one|/two|chosen",
		},
		{
			name: "any stops at the first response and cancels the rest",
			policy: `<wait for="any">
				<send-request response-variable-name="a"><set-url>` + srv.URL + `/blocked</set-url></send-request>
				<send-request response-variable-name="b"><set-url>` + srv.URL + `/fast</set-url></send-request>
			</wait>`,
			want: "-|/fast|-",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := testPipeline(t, wrap(tc.policy+`<return-response><set-body>`+read+`</set-body></return-response>`), nil)
			st := newRequestState(t, testEnv(t), "GET", "http://gw.test/api/x", nil, "")
			if got := run(t, p, st); got != tc.want {
				t.Errorf("body = %q, want %q (errors %v)", got, tc.want, st.Errors)
			}
		})
	}
}

func TestSendOneWayRequest(t *testing.T) {
	hits := make(chan string, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		hits <- r.Method + " " + string(b)
	}))
	defer srv.Close()
	p := testPipeline(t, wrap(`<send-one-way-request mode="new" timeout="5">
		<set-url>`+srv.URL+`/hook</set-url>
		<set-method>POST</set-method>
		<set-body>@("id=" + context.RequestId)</set-body>
	</send-one-way-request>
	<return-response><set-body>done</set-body></return-response>`), nil)
	ctx, cancel := context.WithCancel(context.Background())
	st := newRequestState(t, testEnv(t), "GET", "http://gw.test/api/x", nil, "")
	st.Ctx = ctx
	if got := run(t, p, st); got != "done" {
		t.Fatalf("body = %q", got)
	}
	cancel() // the client leaving must not cancel the one-way call
	select {
	case h := <-hits:
		if h != "POST id=00000000-0000-0000-0000-000000000001" {
			t.Errorf("backend got %q", h)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("one-way request never arrived")
	}
}

// TestSendRequestCorpus runs a policy file of the shared corpus against a
// real backend.
func TestSendRequestCorpus(t *testing.T) {
	src, err := os.ReadFile(corpusDir + "/azure-api-management-monetization/apiConfiguration/policies/apis/billing-get_monetization_models.xml")
	if err != nil {
		t.Skipf("corpus file: %v", err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `[{"id":"free"}]`)
	}))
	defer srv.Close()
	p := testPipeline(t, string(src), map[string]string{"monetizationModelsUrl": srv.URL + "/models"})
	st := newRequestState(t, testEnv(t), "GET", "http://gw.test/api/x", nil, "")
	if got := run(t, p, st); got != `[{"id":"free"}]` || st.X.Response.Headers.Get("Content-Type") != "application/json" {
		t.Errorf("body = %q, headers %v", got, st.X.Response.Headers)
	}
}

func BenchmarkSendRequest(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"token":"abc"}`)
	}))
	defer srv.Close()
	tr := &http.Transport{MaxIdleConnsPerHost: 16}
	defer tr.CloseIdleConnections()
	c := &Compiler{}
	p := Compose(c.Compile("api", "b.xml", []byte(wrap(`<send-request response-variable-name="r" timeout="10">
		<set-url>`+srv.URL+`/token</set-url><set-method>POST</set-method>
		<set-header name="X-Id" exists-action="override"><value>@(context.RequestId)</value></set-header>
		<set-body>grant_type=client_credentials</set-body>
	</send-request>
	<return-response><set-body>@((string)((IResponse)context.Variables["r"]).Body.As<JObject>()["token"])</set-body></return-response>`))))
	if len(c.Errors()) > 0 {
		b.Fatal(c.Errors())
	}
	env := &Env{Transport: tr}
	b.ReportAllocs()
	for b.Loop() {
		st := benchState(env, http.Header{}, "")
		p.Run(st)
		if st.X.Response.StatusCode != 200 {
			b.Fatalf("status %d: %v", st.X.Response.StatusCode, st.Errors)
		}
	}
}
