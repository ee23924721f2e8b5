package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/apimgw/apimgw/internal/expr"
	"github.com/apimgw/apimgw/internal/testnet"
)

// transformBackend answers /json, /xml and /text with fixed bodies and
// echoes the request body (with its Content-Type) on /echo.
func transformBackend(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/json":
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			io.WriteString(w, `{"order":{"id":7,"paid":true,"note":null,"items":[{"sku":"a b"},{"sku":"c"}]}}`)
		case "/json2":
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"a":1,"b":[1,2],"c":"x<y"}`)
		case "/xml":
			w.Header().Set("Content-Type", "text/xml")
			io.WriteString(w, `<?xml version="1.0" encoding="utf-8"?><order id="7" xmlns:p="urn:p"><p:item>a</p:item><p:item>b</p:item><note/><total currency="EUR">9.5</total></order>`)
		case "/text":
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, "the sky is blue, so blue")
		case "/echo":
			w.Header().Set("Content-Type", r.Header.Get("Content-Type"))
			io.Copy(w, r.Body)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestTransformPolicies(t *testing.T) {
	srv := transformBackend(t)
	out := func(outbound string) string {
		return `<policies><inbound><base/></inbound><backend><base/></backend><outbound><base/>` + outbound + `</outbound><on-error><base/></on-error></policies>`
	}
	cases := []struct {
		name       string
		policy     string
		path       string
		method     string
		reqHeader  http.Header
		reqBody    string
		wantBody   string
		wantType   string
		wantStatus int
	}{
		{name: "find-and-replace response", policy: out(`<find-and-replace from="blue" to="@("or" + "ange")"/>`), path: "/text", wantBody: "the sky is orange, so orange"},
		{name: "find-and-replace request", policy: wrap(`<find-and-replace from="secret" to="***"/>`), path: "/echo", method: "POST", reqBody: "a secret b", wantBody: "a *** b"},
		{name: "json-to-xml single root", policy: out(`<json-to-xml apply="always" consider-accept-header="false"/>`), path: "/json",
			wantBody: `<order><id>7</id><paid>true</paid><note /><items><sku>a b</sku></items><items><sku>c</sku></items></order>`, wantType: "application/xml"},
		{name: "json-to-xml Document root and escaping", policy: out(`<json-to-xml apply="content-type-json" consider-accept-header="false"/>`), path: "/json2",
			wantBody: `<Document><a>1</a><b>1</b><b>2</b><c>x&lt;y</c></Document>`, wantType: "application/xml"},
		{name: "json-to-xml skipped without Accept xml", policy: out(`<json-to-xml apply="always"/>`), path: "/json2", wantBody: `{"a":1,"b":[1,2],"c":"x<y"}`},
		{name: "json-to-xml with Accept xml", policy: out(`<json-to-xml apply="always"/>`), path: "/json2", reqHeader: http.Header{"Accept": {"application/xml"}}, wantType: "application/xml"},
		{name: "json-to-xml skipped for other content types", policy: out(`<json-to-xml apply="content-type-json" consider-accept-header="false"/>`), path: "/text", wantBody: "the sky is blue, so blue"},
		{name: "json-to-xml invalid json", policy: out(`<json-to-xml apply="always" consider-accept-header="false"/>`), path: "/xml", wantStatus: 500},
		{name: "json-to-xml namespaces and attributes", policy: wrap(`<json-to-xml apply="always" consider-accept-header="false" parse-date="false" namespace-separator=":" namespace-prefix="xmlns" attribute-block-name="#attrs"/>`),
			path: "/echo", method: "POST", reqHeader: http.Header{"Content-Type": {"application/json"}},
			reqBody:  `{"soapenv:Envelope":{"xmlns:soapenv":"http://schemas.xmlsoap.org/soap/envelope/","soapenv:Header":{},"soapenv:Body":{"v1:QueryList":{"#attrs":{"queryName":"test"},"v1:QueryItem":{"name":"dummy text"}}}}}`,
			wantBody: `<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Header /><soapenv:Body><v1:QueryList queryName="test"><v1:QueryItem><name>dummy text</name></v1:QueryItem></v1:QueryList></soapenv:Body></soapenv:Envelope>`,
			wantType: "application/xml"},
		{name: "xml-to-json direct", policy: out(`<xml-to-json kind="direct" apply="always" consider-accept-header="false"/>`), path: "/xml",
			wantBody: `{"?xml":{"@version":"1.0","@encoding":"utf-8"},"order":{"@id":"7","@xmlns:p":"urn:p","p:item":["a","b"],"note":null,"total":{"@currency":"EUR","#text":"9.5"}}}`, wantType: "application/json"},
		{name: "xml-to-json javascript-friendly always-array", policy: out(`<xml-to-json kind="javascript-friendly" apply="content-type-xml" consider-accept-header="false" always-array-child-elements="true"/>`), path: "/xml",
			wantBody: `{"order":{"id":"7","item":["a","b"],"note":[null],"total":[{"currency":"EUR","#text":"9.5"}]}}`, wantType: "application/json"},
		{name: "xml-to-json skipped without Accept json", policy: out(`<xml-to-json kind="direct" apply="always"/>`), path: "/xml", wantType: "text/xml"},
		{name: "jsonp", policy: out(`<jsonp callback-parameter-name="cb"/>`), path: "/json2?cb=handle.it", wantBody: `handle.it({"a":1,"b":[1,2],"c":"x<y"})`, wantType: "application/javascript"},
		{name: "jsonp refuses script", policy: out(`<jsonp callback-parameter-name="cb"/>`), path: "/json2?cb=alert(1)", wantBody: `{"a":1,"b":[1,2],"c":"x<y"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = "GET"
			}
			st := newRequestState(t, testEnv(t), method, "http://gw.test/api"+tc.path, tc.reqHeader, tc.reqBody)
			withBackend(t, st, srv)
			body := run(t, testPipeline(t, tc.policy, nil), st)
			want := tc.wantStatus
			if want == 0 {
				want = 200
			}
			if st.X.Response.StatusCode != want {
				t.Fatalf("status %d, want %d (errors %v, body %s)", st.X.Response.StatusCode, want, st.Errors, body)
			}
			if tc.wantBody != "" && body != tc.wantBody {
				t.Errorf("body\n got %s\nwant %s", body, tc.wantBody)
			}
			if tc.wantType != "" && st.X.Response.Headers.Get("Content-Type") != tc.wantType {
				t.Errorf("Content-Type %q, want %q", st.X.Response.Headers.Get("Content-Type"), tc.wantType)
			}
			if n := st.ResponseBodyLen(); n >= 0 && n != int64(len(body)) {
				t.Errorf("ResponseBodyLen %d, body %d bytes", n, len(body))
			}
		})
	}
}

func TestLogToEventHub(t *testing.T) {
	src, err := os.ReadFile(corpusDir + "/azure-api-management-policy-toolkit/test/Test.Decompiling/TestData/log-to-eventhub.xml")
	if err != nil {
		t.Skipf("corpus file: %v", err)
	}
	srv := backendEcho(t)
	sink := &testnet.Buffer{}
	cases := []struct {
		name       string
		policy     string
		loggers    bool
		wantStatus int
		wantLog    string
	}{
		{name: "corpus", policy: string(src), loggers: true, wantStatus: 200, wantLog: "my log message\n"},
		{name: "expression, newlines escaped", loggers: true, wantStatus: 200, policy: wrap(`<log-to-eventhub logger-id="my-logger" partition-key="@(context.RequestId)">@{
			return "method=" + context.Request.Method + "\nline2";
		}</log-to-eventhub>`), wantLog: "my log message\nmethod=GET\\nline2\n"},
		{name: "unknown logger", policy: string(src), wantStatus: 500},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := testEnv(t)
			if tc.loggers {
				env.Services.Loggers = map[string]io.Writer{"my-logger": sink}
			}
			st := newRequestState(t, env, "GET", "http://gw.test/api/x", nil, "")
			withBackend(t, st, srv)
			run(t, testPipeline(t, tc.policy, nil), st)
			if st.X.Response.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d (errors %v)", st.X.Response.StatusCode, tc.wantStatus, st.Errors)
			}
			if tc.wantLog != "" && sink.String() != tc.wantLog {
				t.Errorf("log %q, want %q", sink.String(), tc.wantLog)
			}
		})
	}
}

func TestEmitMetric(t *testing.T) {
	src, err := os.ReadFile(corpusDir + "/azure-api-management-policy-toolkit/test/Test.Decompiling/TestData/emit-metric.xml")
	if err != nil {
		t.Skipf("corpus file: %v", err)
	}
	srv := backendEcho(t)
	reg := prometheus.NewRegistry()
	corpus := testPipeline(t, string(src), nil)
	// A second policy emitting the same metric shares the counter.
	same := testPipeline(t, wrap(`<emit-metric name="api-requests" namespace="custom-metrics" value="@(2.5)">
		<dimension name="API" value="my-api" /><dimension name="Method" /></emit-metric>`), nil)
	defaults := testPipeline(t, wrap(`<emit-metric name="Hits"><dimension name="API ID"/></emit-metric>`), nil)
	for _, p := range []*Pipeline{corpus, corpus, same, defaults} {
		env := testEnv(t)
		env.Services.Registerer = reg
		st := newRequestState(t, env, "GET", "http://gw.test/api/x", nil, "")
		withBackend(t, st, srv)
		run(t, p, st)
		if st.X.Response.StatusCode != 200 {
			t.Fatalf("status %d (errors %v)", st.X.Response.StatusCode, st.Errors)
		}
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range families {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			got = append(got, fmt.Sprintf("%s{%s} %g %s", f.GetName(), strings.Join(labels, ","), m.GetCounter().GetValue(), f.GetType()))
		}
	}
	want := []string{
		"apimgw_custom_api_requests{api=my-api,method=N/A,namespace=custom-metrics} 4.5 COUNTER",
		"apimgw_custom_hits{api_id=N/A,namespace=API Management} 1 COUNTER",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("metrics\n got %q\nwant %q", got, want)
	}
	env := testEnv(t)
	st := newRequestState(t, env, "GET", "http://gw.test/api/x", nil, "")
	run(t, corpus, st)
	if st.X.Response.StatusCode != 500 {
		t.Errorf("without a registry: status %d, want 500", st.X.Response.StatusCode)
	}
}

func TestTransformCompileErrors(t *testing.T) {
	cases := []struct{ name, policy, want string }{
		{"json-to-xml apply", `<json-to-xml/>`, `needs attribute "apply"`},
		{"json-to-xml bad apply", `<json-to-xml apply="sometimes"/>`, "apply must be"},
		{"xml-to-json kind", `<xml-to-json kind="x" apply="always"/>`, "kind must be"},
		{"jsonp section", `<jsonp callback-parameter-name="cb"/>`, "not allowed in <inbound>"},
		{"emit-metric dims", `<emit-metric name="m"><dimension name="a"/><dimension name="b"/><dimension name="c"/><dimension name="d"/><dimension name="e"/><dimension name="f"/><dimension name="g"/><dimension name="h"/><dimension name="i"/><dimension name="j"/><dimension name="k"/><dimension name="l"/><dimension name="m"/><dimension name="n"/><dimension name="o"/><dimension name="p"/><dimension name="q"/></emit-metric>`, "at most 16"},
		{"emit-metric duplicate label", `<emit-metric name="m"><dimension name="API ID"/><dimension name="api-id"/></emit-metric>`, "repeats a label"},
		{"find-and-replace", `<find-and-replace from="a"/>`, `needs attribute "to"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := compileErrors(wrap(tc.policy)); !strings.Contains(got, tc.want) {
				t.Errorf("errors %q do not mention %q", got, tc.want)
			}
		})
	}
}

func TestPromName(t *testing.T) {
	for in, want := range map[string]string{"AI Throttling": "ai_throttling", "api-requests": "api_requests", "9lives": "m_9lives", "--": "m_", "Größe": "gr_e"} {
		if got := promName(in); got != want {
			t.Errorf("promName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTokenMetric(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/chat":
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":30,"total_tokens":42}}`)
		case "/responses":
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"usage":{"input_tokens":5,"output_tokens":7}}`)
		case "/stream":
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "data: {\"usage\":{\"total_tokens\":99}}\n\n")
		}
	}))
	defer srv.Close()
	reg := prometheus.NewRegistry()
	p := testPipeline(t, wrap(`<llm-emit-token-metric namespace="llm">
		<dimension name="API ID" />
		<dimension name="Client" value="@(context.Request.Headers.GetValueOrDefault("X-Client", "none"))" />
	</llm-emit-token-metric>`), nil)
	for _, path := range []string{"/chat", "/responses", "/stream"} {
		env := testEnv(t)
		env.Services.Registerer = reg
		st := newRequestState(t, env, "POST", "http://gw.test/api"+path, http.Header{"X-Client": {"c1"}}, "{}")
		withBackend(t, st, srv)
		if body := run(t, p, st); st.X.Response.StatusCode != 200 || body == "" {
			t.Fatalf("%s: status %d body %q (errors %v)", path, st.X.Response.StatusCode, body, st.Errors)
		}
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			got[f.GetName()] += m.GetCounter().GetValue()
			if len(m.GetLabel()) != 3 {
				t.Errorf("%s labels %v", f.GetName(), m.GetLabel())
			}
		}
	}
	want := map[string]float64{"apimgw_custom_prompt_tokens": 17, "apimgw_custom_completion_tokens": 37, "apimgw_custom_total_tokens": 54}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %g, want %g", k, got[k], v)
		}
	}
}

func TestRedirectContentURLs(t *testing.T) {
	var backendURL string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, `{"self":"%s/orders/1","rewritten":%t}`, backendURL, string(b) == "see "+backendURL+"/orders/2")
	}))
	defer srv.Close()
	backendURL = srv.URL
	p := testPipeline(t, `<policies><inbound><base/><redirect-content-urls/></inbound><backend><base/></backend>
		<outbound><base/><redirect-content-urls/></outbound><on-error><base/></on-error></policies>`, nil)
	st := newRequestState(t, testEnv(t), "POST", "https://gw.test/api/orders", nil, "see https://gw.test/api/orders/2")
	withBackend(t, st, srv)
	body := run(t, p, st)
	want := `{"self":"https://gw.test/api/orders/1","rewritten":true}`
	if body != want {
		t.Errorf("body\n got %s\nwant %s", body, want)
	}
}

func FuzzXMLToJSON(f *testing.F) {
	for _, s := range []string{`<a/>`, `<?xml version="1.0"?><a x="1"><b>t</b><b/>tail</a>`, `<p:a xmlns:p="urn:x"><p:b p:c="d">&amp;</p:b></p:a>`, `<a><![CDATA[x<y]]></a>`, `<a>`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		root, decl, err := parseXMLTree([]byte(s))
		if err != nil {
			return
		}
		for _, direct := range []bool{true, false} {
			x := &xmlToJSON{direct: direct, alwaysArray: !direct}
			out := &jsonObject{}
			if direct && decl != nil {
				out.set("?xml", decl[0][1])
			}
			out.set(x.qname(root.name), x.convert(root))
			if b := appendJSON(nil, out); !json.Valid(b) {
				t.Fatalf("invalid JSON %q from %q", b, s)
			}
		}
	})
}

func FuzzJSONToXML(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `{"a":{"b":[1,{"c":null}],"#attrs":{"x":"<&>"}}}`, `[1,2]`, `"x"`, `{"1 bad name":true,"ns:x":{}}`} {
		f.Add(s, ":")
	}
	f.Fuzz(func(t *testing.T, s, sep string) {
		v, err := expr.ParseJSON(s)
		if err != nil {
			return
		}
		var buf bytes.Buffer
		w := &xmlWriter{buf: &buf, attrs: "#attrs"}
		if utf8.RuneCountInString(sep) == 1 {
			w.sep, w.nsPrefix = sep, "xmlns"
		}
		w.document(v)
		if w.sep == "" {
			if _, _, err := parseXMLTree(buf.Bytes()); err != nil {
				t.Fatalf("ill-formed XML %q from %q: %v", buf.String(), s, err)
			}
		}
	})
}

func BenchmarkConversions(b *testing.B) {
	var js strings.Builder
	js.WriteString(`{"orders":{"count":20,"items":[`)
	for i := range 20 {
		if i > 0 {
			js.WriteByte(',')
		}
		fmt.Fprintf(&js, `{"id":%d,"sku":"sku-%d","qty":%d,"paid":true,"note":null}`, i, i, i%3)
	}
	js.WriteString(`]}}`)
	var xs strings.Builder
	xs.WriteString(`<?xml version="1.0"?><orders count="20">`)
	for i := range 20 {
		fmt.Fprintf(&xs, `<item id="%d"><sku>sku-%d</sku><qty>%d</qty><note/></item>`, i, i, i%3)
	}
	xs.WriteString(`</orders>`)
	for _, bc := range []struct{ name, policy, body string }{
		{"json-to-xml", `<json-to-xml apply="always" consider-accept-header="false"/>`, js.String()},
		{"xml-to-json", `<xml-to-json kind="direct" apply="always" consider-accept-header="false"/>`, xs.String()},
		{"find-and-replace", `<find-and-replace from="sku-1" to="SKU-ONE"/>`, js.String()},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c := &Compiler{}
			p := Compose(c.Compile("api", "b.xml", []byte(wrap(bc.policy+`<return-response/>`))))
			if len(c.Errors()) > 0 {
				b.Fatal(c.Errors())
			}
			env := &Env{}
			b.SetBytes(int64(len(bc.body)))
			b.ReportAllocs()
			for b.Loop() {
				st := benchState(env, http.Header{}, bc.body)
				p.Run(st)
				if st.X.Response.StatusCode != 200 {
					b.Fatalf("status %d: %v", st.X.Response.StatusCode, st.Errors)
				}
			}
		})
	}
}

func TestEmitMetricConflictDoesNotFailRequests(t *testing.T) {
	reg := prometheus.NewRegistry()
	a := testPipeline(t, wrap(`<emit-metric name="dup"><dimension name="A" value="1"/></emit-metric>`), nil)
	b := testPipeline(t, wrap(`<emit-metric name="dup"><dimension name="B" value="1"/></emit-metric>`), nil)
	srv := backendEcho(t)
	for _, p := range []*Pipeline{a, b} {
		env := testEnv(t)
		env.Services.Registerer = reg
		st := newRequestState(t, env, "GET", "http://gw.test/api/x", nil, "")
		withBackend(t, st, srv)
		run(t, p, st)
		if st.X.Response.StatusCode != 200 {
			t.Fatalf("status %d (errors %v)", st.X.Response.StatusCode, st.Errors)
		}
	}
}

// TestTransformCorpus runs transformation policies of the shared corpus
// against a real backend.
func TestTransformCorpus(t *testing.T) {
	srv := transformBackend(t)
	cases := []struct {
		file, path, method, reqBody, want string
		reqHeader                         http.Header
	}{
		{file: "mitulashah__demo-integrationsvcs/apimartifacts/apis/colors-api/operations/GetRandomColor/policy.xml", path: "/text", want: "the sky is orange, so orange"},
		{file: "mitulashah__demo-integrationsvcs/apimartifacts/apis/echo-api/operations/create-resource/policy.xml", path: "/echo", method: "POST",
			reqHeader: http.Header{"Content-Type": {"application/json"}}, reqBody: `{"name":"x","tags":["a","b"]}`,
			want: `<Document><name>x</name><tags>a</tags><tags>b</tags></Document>`},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			src, err := os.ReadFile(corpusDir + "/" + tc.file)
			if err != nil {
				t.Skipf("corpus file: %v", err)
			}
			method := tc.method
			if method == "" {
				method = "GET"
			}
			st := newRequestState(t, testEnv(t), method, "http://gw.test/api"+tc.path, tc.reqHeader, tc.reqBody)
			withBackend(t, st, srv)
			if body := run(t, testPipeline(t, string(src), nil), st); body != tc.want {
				t.Errorf("body %q, want %q (errors %v)", body, tc.want, st.Errors)
			}
		})
	}
}
