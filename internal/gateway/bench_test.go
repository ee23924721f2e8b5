package gateway

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apimgw/apimgw/internal/config"
	"github.com/apimgw/apimgw/internal/httpserver"
	"github.com/apimgw/apimgw/internal/logs"
	"github.com/apimgw/apimgw/internal/testnet"
)

// BenchmarkPassThrough measures client → apimgw → backend on loopback with
// keep-alive on both sides, request logging on (to a discarded writer) and
// the default global pipeline (forward-request only).
func BenchmarkPassThrough(b *testing.B) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "hello from the backend")
	}))
	defer backend.Close()
	g := benchGateway(b, `
apis:
  - id: bench
    path: ""
    serviceUrl: `+backend.URL+`
    subscriptionRequired: false
    operations: [{id: all, method: GET, urlTemplate: "/*"}]
`, nil)
	defer g.Close()
	srv := httptest.NewServer(g)
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64}}
	url := srv.URL + "/items/1"
	b.ReportAllocs()
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Get(url)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}

// cannedTransport answers every backend call from memory, so
// BenchmarkServeHTTP measures the gateway's own request path.
type cannedTransport struct{}

func (cannedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: 200, Status: "200 OK", Header: http.Header{"Content-Type": {"text/plain"}},
		Body: io.NopCloser(strings.NewReader("hello")), ContentLength: 5, Request: r}, nil
}

// BenchmarkServeHTTP is the gateway's request path without sockets:
// routing, subscription check, a small policy (header, variable, choose),
// forward-request to an in-memory transport, the response and the log line.
func BenchmarkServeHTTP(b *testing.B) {
	g := benchGateway(b, `
subscriptions: [{id: s, primaryKey: key-1, allApis: true}]
apis:
  - id: bench
    path: api
    serviceUrl: http://backend.invalid
    policy: api.xml
    operations: [{id: get, method: GET, urlTemplate: "/items/{id}"}]
`, map[string]string{"api.xml": `<policies><inbound><base/>
<set-header name="X-Tier" exists-action="override"><value>@(context.Request.Headers.GetValueOrDefault("x-tier", "bronze"))</value></set-header>
<choose><when condition="@(context.Request.MatchedParameters["id"] == "0")"><return-response><set-status code="404"/></return-response></when></choose>
</inbound><backend><base/></backend><outbound><base/></outbound></policies>`})
	handlerBench(b, g, "http://gw/api/items/42", http.Header{"Ocp-Apim-Subscription-Key": {"key-1"}})
}

// BenchmarkProxyPath is the whole cleartext data plane in one process:
// apimgw's own HTTP/1.1 server, the gateway with the benchmark's
// configuration (bench/apimgw.yaml: no policy, forward-request only, the
// request log on) and the outbound connection manager, between a raw
// keep-alive client and a raw backend that cost next to nothing. Besides
// ns/op it reports the process's user and system CPU per request
// (getrusage), the figure the end-to-end benchmark's gap to nginx is made
// of, measured without wrk and a backend competing for the two cores.
// Run: go test -run XXX -bench ProxyPath -benchtime 100000x -count 5 ./internal/gateway
func BenchmarkProxyPath(b *testing.B) {
	proxyPath(b, emptyPipelineYAML, nil, "")
}

// BenchmarkProxyPathNginxHeads is BenchmarkProxyPath with the heads of
// bench/run.sh -B nginx's backend (nginx's answer, Server and Connection:
// keep-alive included) and of a client that says keep-alive, as Python's
// requests and Java's HttpURLConnection do.
// Run: go test -run XXX -bench 'ProxyPath(NginxHeads)?$' -benchtime 100000x -count 5 ./internal/gateway
func BenchmarkProxyPathNginxHeads(b *testing.B) {
	proxyPathAnswer(b, emptyPipelineYAML, nil, "Connection: keep-alive\r\n", nginxAnswer)
}

// The benchmark backend's answer heads (before 64 bytes of "x"): its own,
// and nginx's (bench/run.sh -B nginx).
const (
	plainAnswer = "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nDate: Sat, 05 Dec 2026 13:00:00 GMT\r\nContent-Length: 64\r\n\r\n"
	nginxAnswer = "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Sat, 05 Dec 2026 13:00:00 GMT\r\nContent-Type: text/plain\r\nContent-Length: 64\r\nConnection: keep-alive\r\n\r\n"
)

// emptyPipelineYAML is bench/apimgw.yaml's configuration with its backend
// at backend.
func emptyPipelineYAML(backend string) string {
	return `
outbound: {maxConnsPerHost: 256, maxIdleConnsPerHost: 256, idleConnTimeout: 50s}
apis:
  - id: bench
    path: ""
    serviceUrl: http://` + backend + `
    subscriptionRequired: false
    operations: [{id: all, method: GET, urlTemplate: "/*"}]
`
}

// BenchmarkProxyPathPolicies is BenchmarkProxyPath with the end-to-end
// benchmark's "typical policies" (bench/apimgw-policies.yaml and .xml, the
// XML read from bench/): a required subscription key, validate-jwt with an
// HS256 key, rate-limit-by-key per subscription and set-header with an
// expression. Every request carries the key and the token bench/run.sh
// sends, so the difference to BenchmarkProxyPath in the same run is what
// the policies cost (issue 21: at most 20% more CPU per request).
// Run: go test -run XXX -bench 'ProxyPath(Policies)?$' -benchtime 100000x -count 5 ./internal/gateway
func BenchmarkProxyPathPolicies(b *testing.B) {
	proxyPath(b, policiesPipelineYAML, policiesFiles(b),
		"Ocp-Apim-Subscription-Key: bench-subscription-key\r\nAuthorization: Bearer "+benchJWT(b)+"\r\n")
}

// policiesPipelineYAML is bench/apimgw-policies.yaml's configuration with
// its backend at backend.
func policiesPipelineYAML(backend string) string {
	return "outbound: {maxConnsPerHost: 256, maxIdleConnsPerHost: 256, idleConnTimeout: 50s}\n" + policiesYAML("http://"+backend)
}

// policiesYAML is bench/apimgw-policies.yaml's API, product and
// subscription, the API's backend at serviceURL.
func policiesYAML(serviceURL string) string {
	return `
products:
  bench: {name: Bench, subscriptionRequired: true}
subscriptions:
  - {id: bench-client, name: Bench client, primaryKey: "bench-subscription-key", product: bench}
apis:
  - id: bench
    path: ""
    serviceUrl: ` + serviceURL + `
    subscriptionRequired: true
    products: [bench]
    policy: apimgw-policies.xml
    operations: [{id: all, method: GET, urlTemplate: "/*"}]
`
}

// policiesFiles holds bench/apimgw-policies.xml, read from bench/.
func policiesFiles(b testing.TB) map[string]string {
	xml, err := os.ReadFile(filepath.Join("..", "..", "bench", "apimgw-policies.xml"))
	if err != nil {
		b.Fatal(err)
	}
	return map[string]string{"apimgw-policies.xml": string(xml)}
}

// benchJWT is the token bench/run.sh's make_jwt sends: HS256 with the
// secret whose base64 form is in bench/apimgw-policies.xml, issuer and
// audience apimgw-bench, expiring in 2100.
func benchJWT(b testing.TB) string {
	secret, err := hex.DecodeString("e129c6a534a0396d9ba2ed8860d05928cbe141ba0e04ec3812bde759dfda2e03")
	if err != nil {
		b.Fatal(err)
	}
	enc := base64.RawURLEncoding
	signed := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." +
		enc.EncodeToString([]byte(`{"iss":"apimgw-bench","aud":"apimgw-bench","sub":"bench-client","exp":4102444800}`))
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(signed))
	return signed + "." + enc.EncodeToString(mac.Sum(nil))
}

// proxyPath runs the in-process data plane benchmark: the configuration
// yaml(backend address) with its files, and requests carrying the header
// lines headers ("Name: value\r\n" each).
func proxyPath(b *testing.B, yaml func(backend string) string, files map[string]string, headers string) {
	proxyPathAnswer(b, yaml, files, headers, plainAnswer)
}

// proxyPathAnswer is proxyPath with the backend's response head answer
// (its body is 64 bytes of "x").
func proxyPathAnswer(b *testing.B, yaml func(backend string) string, files map[string]string, headers, answer string) {
	addr := startDataPlane(b, yaml, files, answer)
	req := []byte("GET /bench HTTP/1.1\r\nHost: " + addr + "\r\n" + headers + "\r\n")
	var before, after syscall.Rusage
	b.ReportAllocs()
	b.SetParallelism(8) // 16 client connections on two cores
	syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		br := bufio.NewReaderSize(c, 4<<10)
		for pb.Next() {
			if _, err := c.Write(req); err != nil {
				b.Error(err)
				return
			}
			n, err := readAnswer(br)
			if err != nil || n != 64 {
				b.Errorf("answer: %d bytes, %v", n, err)
				return
			}
		}
	})
	b.StopTimer()
	syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	usec := func(t syscall.Timeval) float64 { return float64(t.Sec)*1e6 + float64(t.Usec) }
	b.ReportMetric((usec(after.Utime)-usec(before.Utime))*1e3/float64(b.N), "user-ns/op")
	b.ReportMetric((usec(after.Stime)-usec(before.Stime))*1e3/float64(b.N), "sys-ns/op")
}

// BenchmarkProxyPathNewConnections is BenchmarkProxyPath with every
// request on a new client connection, which the client closes once the
// answer is in (as bench/tlsconns does, without TLS): what a connection
// costs the data plane beyond its request, allocations above all (the
// client's dial and reader count too).
// Run: go test -run XXX -bench 'ProxyPathNewConnections$' -benchmem ./internal/gateway
func BenchmarkProxyPathNewConnections(b *testing.B) {
	addr := startDataPlane(b, emptyPipelineYAML, nil, plainAnswer)
	req := []byte("GET /bench HTTP/1.1\r\nHost: " + addr + "\r\n\r\n")
	b.ReportAllocs()
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				b.Error(err)
				return
			}
			if _, err := c.Write(req); err != nil {
				c.Close()
				b.Error(err)
				return
			}
			n, err := readAnswer(bufio.NewReaderSize(c, 512))
			c.Close()
			if err != nil || n != 64 {
				b.Errorf("answer: %d bytes, %v", n, err)
				return
			}
		}
	})
}

// BenchmarkHandler and BenchmarkHandlerPolicies are bench/run.sh's two
// apimgw configurations (no policy; the typical policies) through the
// gateway's handler without sockets, the backend answered from memory: the
// handler's own cost, steady enough for instruction counts (cachegrind) and
// profiles of what the policies add.
// Run: go test -run XXX -bench 'Handler(Policies)?$' -benchmem ./internal/gateway
func BenchmarkHandler(b *testing.B) {
	handlerBench(b, benchGateway(b, `
apis:
  - id: bench
    path: ""
    serviceUrl: http://backend.invalid
    subscriptionRequired: false
    operations: [{id: all, method: GET, urlTemplate: "/*"}]
`, nil), "http://gw/bench", nil)
}

func BenchmarkHandlerPolicies(b *testing.B) {
	handlerBench(b, benchGateway(b, policiesYAML("http://backend.invalid"), policiesFiles(b)), "http://gw/bench",
		http.Header{"Ocp-Apim-Subscription-Key": {"bench-subscription-key"}, "Authorization": {"Bearer " + benchJWT(b)}})
}

// handlerBench runs GET target through g's handler, the backend an
// in-memory transport, each request with a copy of header.
func handlerBench(b *testing.B, g *Gateway, target string, header http.Header) {
	if header == nil {
		header = http.Header{}
	}
	defer g.Close()
	g.plan.Load().env.Transport = cannedTransport{}
	req := httptest.NewRequest("GET", target, nil)
	req.RemoteAddr = "127.0.0.1:5000"
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := req.Clone(req.Context())
		r.Header = header.Clone()
		w := httptest.NewRecorder()
		g.ServeHTTP(w, r)
		if w.Code != 200 {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}

// startDataPlane starts the in-process data plane of proxyPath: a raw
// backend answering every request with the head answer and 64 bytes of
// "x", the gateway with the configuration yaml(backend address) and its
// files, and apimgw's HTTP/1.1 server in front of it, whose address it
// returns. All of it stops when tb's test ends.
func startDataPlane(tb testing.TB, yaml func(backend string) string, files map[string]string, answer string) string {
	payload := []byte(answer + strings.Repeat("x", 64))
	backend := testnet.RawServer(tb, 0, func(c net.Conn) {
		br := bufio.NewReaderSize(c, 4<<10)
		for {
			if err := skipHead(br); err != nil {
				return
			}
			if _, err := c.Write(payload); err != nil {
				return
			}
		}
	})
	g := benchGateway(tb, yaml(backend), files)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := &httpserver.Server{Handler: g, ReadHeaderTimeout: 30 * time.Second, IdleTimeout: 4 * time.Minute}
	go srv.Serve(ln)
	tb.Cleanup(func() { srv.Close(); g.Close() }) // before the backend's cleanup waits for its connections
	return ln.Addr().String()
}

// skipHead reads a message head up to its empty line.
func skipHead(br *bufio.Reader) error {
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) <= 2 {
			return nil
		}
	}
}

// readAnswer reads a response head and its Content-Length body, and
// returns the body's length.
func readAnswer(br *bufio.Reader) (int, error) {
	n := -1
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		if len(line) <= 2 {
			break
		}
		if v, ok := bytes.CutPrefix(line, []byte("Content-Length: ")); ok {
			n, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
		}
	}
	if n < 0 {
		return 0, errors.New("no Content-Length")
	}
	_, err := br.Discard(n)
	return n, err
}

// benchGateway builds a gateway from the configuration yaml and the files
// it refers to (name → content), its request log discarded.
func benchGateway(b testing.TB, yaml string, files map[string]string) *Gateway {
	dir := b.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	path := filepath.Join(dir, "gateway.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		b.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		b.Fatal(err)
	}
	g, err := New(cfg, Options{Logs: logs.NewWriter(io.Discard, nil, 1)})
	if err != nil {
		b.Fatal(err)
	}
	return g
}
