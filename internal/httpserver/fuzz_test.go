package httpserver

import (
	"bufio"
	"fmt"
	"io"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/apimgw/apimgw/internal/httplex"
)

// FuzzReadRequest feeds arbitrary bytes to the request reader as a
// connection's input: it must never panic, and what it accepts must be
// well framed (values free of CR, LF and NUL; bodies of the declared
// length).
func FuzzReadRequest(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST /p?q=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: v\r\n\r\n",
		"GET http://h:8080/x HTTP/1.0\r\nConnection: keep-alive\r\nexpect: 100-continue\r\n\r\n",
		"\r\n\r\nOPTIONS * HTTP/1.1\r\nHost: [::1]:80\r\nx-a:  v \t\r\n\r\n",
		"CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n",
		"PUT / HTTP/1.1\r\nHost: a\r\nTrailer: x-sum, x-b\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\nX-Sum: 1\r\nHost: b\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer_Encoding: chunked\r\nX_Forwarded_For: 1\r\nContent-Length: 1\r\n\r\nx",
		"GET /" + strings.Repeat("u", 70) + " HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\nF: 6\r\nG: 7\r\nH: 8\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX: " + strings.Repeat("x", 130) + "\r\n\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		done := make(chan struct{})
		defer close(done)
		go func() {
			select {
			case <-done:
			case <-time.After(3 * time.Second):
				buf := make([]byte, 1<<16)
				panic(fmt.Sprintf("hung on %q\n%s", in, buf[:runtime.Stack(buf, true)]))
			}
		}()
		// Small limits, so that inputs reach them.
		s := &Server{MaxHeaderBytes: 1 << 12, MaxURLBytes: 64, MaxHeaders: 8, MaxHeaderLineBytes: 128}
		c := &conn{srv: s, remoteAddr: "127.0.0.1:1"}
		c.cr.c = c
		c.cr.cond.L = &c.cr.mu
		c.br = bufio.NewReaderSize(strings.NewReader(in), 64)
		c.bw = bufio.NewWriter(io.Discard)
		for i := 0; i < 8; i++ {
			req, b, err := c.readRequest()
			if err != nil {
				return
			}
			if len(req.RequestURI) > s.MaxURLBytes {
				t.Fatalf("URL of %d bytes accepted", len(req.RequestURI))
			}
			fields := 0
			for k, vv := range req.Header {
				if !httplex.ValidToken(k) || strings.Contains(k, "_") {
					t.Fatalf("header name %q", k)
				}
				fields += len(vv)
				for _, v := range vv {
					if strings.ContainsAny(v, "\r\n\x00") {
						t.Fatalf("header %s: %q", k, v)
					}
					if len(k)+1+len(v) > s.MaxHeaderLineBytes {
						t.Fatalf("header line of %d bytes accepted", len(k)+1+len(v))
					}
				}
			}
			// Framing fields are acted on, whatever else the head has:
			// removed once used, or the request refused.
			if _, ok := req.Header["Transfer-Encoding"]; ok {
				t.Fatalf("Transfer-Encoding left in %v", req.Header)
			}
			if _, ok := req.Header["Expect"]; ok {
				t.Fatalf("Expect left in %v", req.Header)
			}
			if cl := req.Header["Content-Length"]; len(cl) > 1 || len(cl) == 1 && req.ContentLength < 0 {
				t.Fatalf("Content-Length %q, ContentLength %d", cl, req.ContentLength)
			}
			if httplex.HasToken(req.Header["Connection"], "close") && !req.Close {
				t.Fatalf("Connection: close, but the connection is kept")
			}
			if fields > s.MaxHeaders {
				t.Fatalf("%d header fields accepted", fields)
			}
			if b == nil {
				if req.ContentLength != 0 {
					t.Fatalf("no body but ContentLength %d", req.ContentLength)
				}
				continue
			}
			b.req = req
			n, err := io.Copy(io.Discard, b)
			if err != nil {
				return
			}
			for k, vv := range req.Trailer {
				if forbiddenTrailer(k) || !httplex.ValidToken(k) {
					t.Fatalf("trailer name %q", k)
				}
				for _, v := range vv {
					if strings.ContainsAny(v, "\r\n\x00") {
						t.Fatalf("trailer %s: %q", k, v)
					}
				}
			}
			if req.ContentLength >= 0 && n != req.ContentLength {
				t.Fatalf("read %d body bytes, declared %d", n, req.ContentLength)
			}
		}
	})
}

// FuzzParseTarget checks the request-target fast path against net/url:
// every target the server accepts must give the URL ParseRequestURI gives.
func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{
		"/", "/a/b?c=d&e", "/p?", "/p??", "/p?a?", "/a%20b", "/a{b}", "//x/y", "/a#f", "*",
		"/caf\xc3\xa9", "/a;b=c,d/@:", "/q?x=%zz", "/~user/./../x", "http://h/p", "/a|b", "/a'b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, target string) {
		if target == "" || !validTarget(target) {
			return
		}
		c := &conn{}
		got, gerr := c.parseTarget(target)
		want, werr := url.ParseRequestURI(target)
		if (gerr != nil) != (werr != nil) {
			t.Fatalf("%q: error %v, net/url %v", target, gerr, werr)
		}
		if gerr != nil {
			return
		}
		if got.User.String() != want.User.String() {
			t.Fatalf("%q: user %q, net/url %q", target, got.User, want.User)
		}
		g, w := *got, *want
		g.User, w.User = nil, nil
		if g != w {
			t.Fatalf("%q: %#v, net/url %#v", target, *got, *want)
		}
	})
}
