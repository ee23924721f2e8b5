package gateway

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apimgw/apimgw/internal/httpserver"
	"github.com/apimgw/apimgw/internal/testnet"
)

// copyingWriter hides httpserver's ReplaceHeader, so that the gateway copies
// the backend's header map into the server's, as it does on other servers.
type copyingWriter struct{ http.ResponseWriter }

func (w copyingWriter) ConnValue() *any {
	return w.ResponseWriter.(interface{ ConnValue() *any }).ConnValue()
}
func (w copyingWriter) Flush() { w.ResponseWriter.(http.Flusher).Flush() }

// handoverAnswers are the raw backend's answers, by the request path's
// last segment.
var handoverAnswers = map[string]string{
	"plain": "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-A: 1\r\nX-A: 2\r\nContent-Length: 5\r\n\r\nhello",
	"nm":    "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\nContent-Length: 5\r\n\r\n",
	"nc":    "HTTP/1.1 204 No Content\r\nX-B: b\r\nContent-Length: 0\r\n\r\n",
	"chunk": "HTTP/1.1 200 OK\r\nTrailer: X-T, Grpc-Status\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-T: 1\r\nGrpc-Status: 0\r\n\r\n",
	"conn": "HTTP/1.1 200 OK\r\nConnection: X-Secret, keep-alive\r\nX-Secret: s\r\nKeep-Alive: timeout=5\r\nUpgrade: foo\r\n" +
		"Proxy-Connection: x\r\nTE: trailers\r\nTrailer: X-T\r\nProxy-Authenticate: Basic\r\nContent-Length: 2\r\n\r\nok",
	// What nginx, Node.js and Apache send on a kept-alive connection
	// (taken out as the head is read), and the same saying close.
	"ka":      "HTTP/1.1 200 OK\r\nServer: nginx\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: 2\r\n\r\nok",
	"kaclose": "HTTP/1.1 200 OK\r\nConnection: close, Keep-Alive\r\nClose: c\r\nX-C: c\r\nContent-Length: 2\r\n\r\nok",
	"err":     "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n\r\nfail",
	"nolen":   "HTTP/1.1 200 OK\r\nX-C: c\r\nConnection: close\r\n\r\nuntil close",
	"empty":   "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
	"odd":     "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
}

// activityID matches the request ID in an error body, which differs.
var activityID = regexp.MustCompile(`("activityId":)"[^"]*"`)

// TestResponseHeaderHandover: the backend response's header map that the
// gateway hands to apimgw's server gives the same responses as the copy
// made for other servers (status, fields, body, trailer), for GET and
// HEAD, 204, 304, chunked with a trailer, hop-by-hop fields and those
// named in Connection, error statuses, bodies of unknown length, and
// policies that set fields (hop-by-hop and framing names too), replace the
// body, answer themselves or add fields (rate-limit's).
func TestResponseHeaderHandover(t *testing.T) {
	backendAddr := testnet.RawServer(t, 0, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			io.Copy(io.Discard, req.Body)
			name := req.URL.Path[strings.LastIndexByte(req.URL.Path, '/')+1:]
			answer, ok := handoverAnswers[name]
			if !ok {
				answer = handoverAnswers["plain"]
			}
			if req.Method == http.MethodHead {
				if i := strings.Index(answer, "\r\n\r\n"); i >= 0 {
					answer = answer[:i+4]
				}
			}
			if _, err := io.WriteString(c, answer); err != nil || strings.Contains(answer, "Connection: close") {
				c.Close()
				return
			}
		}
	})
	const setFields = `<policies><inbound><base/></inbound><backend><base/></backend><outbound><base/>
<set-header name="Connection" exists-action="override"><value>close</value></set-header>
<set-header name="Transfer-Encoding" exists-action="override"><value>gzip</value></set-header>
<set-header name="Upgrade" exists-action="override"><value>h2c</value></set-header>
<set-header name="Content-Length" exists-action="override"><value>3</value></set-header>
<set-header name="X-A" exists-action="append"><value>3</value></set-header>
<set-header name="Content-Type" exists-action="delete"/>
</outbound><on-error><base/></on-error></policies>`
	const setBody = `<policies><inbound><base/></inbound><backend><base/></backend><outbound><base/><set-body>replaced</set-body></outbound><on-error><base/></on-error></policies>`
	const rateLimit = `<policies><inbound><base/><rate-limit calls="1000" renewal-period="60" remaining-calls-header-name="Content-Length" total-calls-header-name="X-Total"/></inbound><backend><base/></backend><outbound><base/></outbound><on-error><base/></on-error></policies>`
	const fail = `<policies><inbound><base/></inbound><backend><forward-request fail-on-error-status-code="true"/></backend><outbound><base/></outbound><on-error><base/></on-error></policies>`
	const answer = `<policies><inbound><base/><return-response><set-status code="202" reason="Accepted"/><set-header name="X-R" exists-action="override"><value>r</value></set-header><set-body>own</set-body></return-response></inbound><backend><base/></backend><outbound><base/></outbound><on-error><base/></on-error></policies>`
	apis := `apis:
  - id: s
    path: s
    serviceUrl: http://` + backendAddr + `
    subscriptionRequired: false
    operations:
      - {id: get, method: GET, urlTemplate: "/p/*"}
      - {id: head, method: HEAD, urlTemplate: "/p/*"}
      - {id: set, method: GET, urlTemplate: "/set/*", policy: set.xml}
      - {id: body, method: GET, urlTemplate: "/body/*", policy: body.xml}
      - {id: rl, method: GET, urlTemplate: "/rl/*", policy: rl.xml}
      - {id: fail, method: GET, urlTemplate: "/fail/*", policy: fail.xml}
      - {id: answer, method: GET, urlTemplate: "/answer/*", policy: answer.xml}
`
	h := start(t, map[string]string{"gateway.yaml": apis, "set.xml": setFields, "body.xml": setBody, "rl.xml": rateLimit, "fail.xml": fail, "answer.xml": answer})
	serve := func(handler http.Handler) string {
		ln := listen(t)
		srv := &httpserver.Server{Handler: handler}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
		return ln.Addr().String()
	}
	handing := serve(h.gw)
	copying := serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.gw.ServeHTTP(copyingWriter{w}, r) }))

	type result struct {
		Status  string
		Header  http.Header
		Body    string
		Trailer http.Header
		Err     string
	}
	// Both servers get the same requests on one connection each, so that
	// the connection's storage is reused from one to the next.
	conns := map[string]net.Conn{}
	readers := map[string]*bufio.Reader{}
	exchange := func(addr, method, path string) result {
		for try := 0; ; try++ {
			c := conns[addr]
			if c == nil {
				var err error
				if c, err = net.Dial("tcp", addr); err != nil {
					t.Fatal(err)
				}
				conns[addr], readers[addr] = c, bufio.NewReader(c)
			}
			c.SetDeadline(time.Now().Add(10 * time.Second))
			io.WriteString(c, method+" "+path+" HTTP/1.1\r\nHost: gw\r\nConnection: keep-alive\r\n\r\n")
			resp, err := http.ReadResponse(readers[addr], &http.Request{Method: method})
			if err != nil {
				c.Close()
				delete(conns, addr)
				if try == 0 {
					continue
				}
				return result{Err: err.Error()}
			}
			b, err := io.ReadAll(resp.Body)
			r := result{Status: resp.Status, Header: resp.Header, Body: activityID.ReplaceAllString(string(b), "$1"), Trailer: resp.Trailer}
			if err != nil {
				r.Err = err.Error()
			}
			r.Header.Del("Date")
			if resp.Close {
				c.Close()
				delete(conns, addr)
			}
			return r
		}
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for round := 0; round < 2; round++ {
		for _, op := range []string{"p", "set", "body", "rl", "fail", "answer"} {
			for name := range handoverAnswers {
				for _, method := range []string{http.MethodGet, http.MethodHead} {
					if method == http.MethodHead && op != "p" {
						continue
					}
					path := "/s/" + op + "/" + name
					got, want := exchange(handing, method, path), exchange(copying, method, path)
					if (name == "conn" || name == "ka" || name == "kaclose") && op == "p" {
						for _, k := range []string{"Connection", "X-Secret", "Keep-Alive", "Upgrade", "Proxy-Connection", "Te", "Trailer", "Proxy-Authenticate", "Close"} {
							if v, ok := got.Header[k]; ok {
								t.Errorf("%s %s: hop-by-hop %s: %q reached the client", method, path, k, v)
							}
						}
					}
					if !reflect.DeepEqual(got, want) {
						t.Errorf("%s %s:\nhanded over %+v\ncopied      %+v", method, path, got, want)
					}
				}
			}
		}
	}
}

// TestRequestHopHeadersRemoved: a client's hop-by-hop fields, and those its
// Connection names, do not reach the backend, over both servers (apimgw's
// skips the removal for a head without any), while the other fields and
// those an inbound policy sets (a hop-by-hop name too) do.
func TestRequestHopHeadersRemoved(t *testing.T) {
	seen := make(chan http.Header, 1)
	backendAddr := testnet.RawServer(t, 10*time.Second, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			seen <- req.Header
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	const setHop = `<policies><inbound><base/>
<set-header name="Keep-Alive" exists-action="override"><value>timeout=1</value></set-header>
<set-header name="X-P" exists-action="override"><value>p</value></set-header>
</inbound><backend><base/></backend><outbound><base/></outbound><on-error><base/></on-error></policies>`
	h := start(t, map[string]string{"set.xml": setHop, "gateway.yaml": `apis:
  - id: s
    path: s
    serviceUrl: http://` + backendAddr + `
    subscriptionRequired: false
    operations:
      - {id: get, method: GET, urlTemplate: "/p"}
      - {id: set, method: GET, urlTemplate: "/set", policy: set.xml}
`})
	hop := []string{"Connection", "X-Secret", "X-Other", "Keep-Alive", "Te", "Upgrade", "Proxy-Connection", "Trailer", "Proxy-Authorization", "Close"}
	cases := []struct {
		path, head string
		want       []string // fields the backend must get
	}{
		{"/s/p", "X-A: 1\r\nAccept: */*\r\nUser-Agent: t\r\n", []string{"X-A", "Accept", "User-Agent"}},
		{"/s/p", "X-A: 1\r\nConnection: X-Secret, x-other\r\nX-Secret: s\r\nX-Other: o\r\n", []string{"X-A"}},
		{"/s/p", "Keep-Alive: timeout=5\r\nX-A: 1\r\n", []string{"X-A"}},
		{"/s/p", "Connection: keep-alive\r\nKeep-Alive: timeout=5\r\nX-A: 1\r\n", []string{"X-A"}},
		{"/s/p", "Connection: Keep-Alive, close\r\nClose: c\r\nX-A: 1\r\n", []string{"X-A"}},
		{"/s/p", "Connection: keep-alive, X-Secret\r\nX-Secret: s\r\nX-A: 1\r\n", []string{"X-A"}},
		{"/s/p", "TE: trailers\r\nUpgrade: websocket\r\nProxy-Connection: keep-alive\r\nProxy-Authorization: Basic eA==\r\nX-A: 1\r\n", []string{"X-A"}},
		{"/s/p", "Trailer: X-T\r\nX-A: 1\r\n", []string{"X-A"}},
		{"/s/set", "X-A: 1\r\n", []string{"X-A", "X-P", "Keep-Alive"}},
		{"/s/set", "Connection: x-p\r\nX-A: 1\r\n", []string{"X-A", "X-P", "Keep-Alive"}},
	}
	for name, base := range h.servers() {
		addr := strings.TrimPrefix(base, "http://")
		for _, tc := range cases {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			io.WriteString(c, "GET "+tc.path+" HTTP/1.1\r\nHost: gw\r\n"+tc.head+"\r\n")
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			c.Close()
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("%s %q: %v %v", name, tc.head, resp, err)
			}
			got := <-seen
			for _, k := range tc.want {
				if _, ok := got[k]; !ok {
					t.Errorf("%s %s %q: %s missing at the backend: %v", name, tc.path, tc.head, k, got)
				}
			}
			for _, k := range hop {
				if _, ok := got[k]; ok && !slices.Contains(tc.want, k) {
					t.Errorf("%s %s %q: %s reached the backend: %v", name, tc.path, tc.head, k, got)
				}
			}
		}
	}
}
