package backend

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/apimgw/apimgw/internal/httplex"
)

// parseOurs reads one response from in with apimgw's reader, into a
// ResponseBuffer that has read another response before (a connection's
// next response); parseStd reads it with net/http's, for the same request
// method.
func parseOurs(in, method string) (*http.Response, string, error) {
	var rb ResponseBuffer
	if err := parseResponseHeadInto(&rb.x.resp, "HTTP/1.1 200 OK\r\nX-Old: 1\r\nContent-Length: 3\r\nConnection: close\r\nX-Old: 2\r\n\r\n", nil, nil, &rb); err != nil {
		panic(err)
	}
	br := bufio.NewReaderSize(strings.NewReader(in), 64+len(in)%256) // the head whole in the buffer, or not
	req := &http.Request{Method: method}
	var lines httplex.Lines
	head, err := httplex.ReadHeadLines(br, nil, 0, 0, &lines)
	if err != nil {
		return nil, "", err
	}
	resp := &rb.x.resp
	fields, err := parseResponseHeadFields(resp, string(head), &lines, req, &rb)
	if err != nil {
		return nil, "", err
	}
	for k := range resp.Header {
		if f := httplex.FieldOf(k); fields&f != f {
			panic("field " + k + " not noted")
		}
	}
	if err := frameResponseBodyFields(resp, br, req, &rb.x.fixed, fields); err != nil {
		return nil, "", err
	}
	rb.x.fields = fields
	if rb.HopFree(resp) {
		for k := range resp.Header {
			if httplex.FieldOf(k)&httplex.FieldsHop != 0 {
				panic("hop-by-hop field " + k + " in a response said to have none")
			}
		}
	}
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), err
}

func parseStd(in, method string) (*http.Response, string, error) {
	resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(in)), &http.Request{Method: method})
	if err != nil {
		return nil, "", err
	}
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), err
}

func TestResponseFraming(t *testing.T) {
	cases := []struct {
		name, in, method string
		status           int
		length           int64
		body             string
		close            bool
		trailer          http.Header
	}{
		{"fixed", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloXX", "GET", 200, 5, "hello", false, nil},
		{"chunked with trailer", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n3\r\nabc\r\n0\r\nX-Sum: 9\r\n\r\n", "GET", 200, -1, "abc", false, http.Header{"X-Sum": {"9"}}},
		{"until close", "HTTP/1.1 200 OK\r\n\r\nall of it", "GET", 200, -1, "all of it", true, nil},
		{"HEAD keeps the length", "HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n", "HEAD", 200, 42, "", false, nil},
		{"204 has no body", "HTTP/1.1 204 No Content\r\n\r\nGARBAGE", "GET", 204, 0, "", false, nil},
		{"HTTP/1.0 closes", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", "GET", 200, 2, "ok", true, nil},
		{"TE and CL: chunked, no reuse", "HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", "GET", 200, -1, "ok", true, nil},
		{"obs-fold", "HTTP/1.1 200 OK\r\nX-A: one\r\n two\r\nContent-Length: 0\r\n\r\n", "GET", 200, 0, "", false, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body, err := parseOurs(tc.in, tc.method)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.status || resp.ContentLength != tc.length || body != tc.body || resp.Close != tc.close {
				t.Fatalf("got %d len %d body %q close %v", resp.StatusCode, resp.ContentLength, body, resp.Close)
			}
			if tc.trailer != nil && !reflect.DeepEqual(resp.Trailer, tc.trailer) {
				t.Fatalf("trailer %v", resp.Trailer)
			}
			if tc.name == "obs-fold" && resp.Header.Get("X-A") != "one two" {
				t.Fatalf("folded header %q", resp.Header.Get("X-A"))
			}
		})
	}
	for _, bad := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
		"HTTP/1.1 2x0 OK\r\n\r\n",
		"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
		"HTTP/1.1 200 OK\r\nX: a\x00b\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
	} {
		if _, _, err := parseOurs(bad, "GET"); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

// FuzzResponseMatchesNetHTTP: whatever both apimgw's response reader and
// net/http's accept, they read alike (status, headers, length, body).
func FuzzResponseMatchesNetHTTP(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n3\r\nabc\r\n0\r\nX-Sum: 9\r\n\r\n",
		"HTTP/1.0 404 Not Found\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n",
		"HTTP/1.1 200 OK\r\nx-a: 1\r\nX-A: 2\r\n\t3\r\n\r\nrest",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\n",
	} {
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, in string, head bool) {
		method := "GET"
		if head {
			method = "HEAD"
		}
		ours, ob, oerr := parseOurs(in, method)
		std, sb, serr := parseStd(in, method)
		if oerr != nil || serr != nil {
			return
		}
		if ours.StatusCode != std.StatusCode || ours.Status != std.Status || ours.ProtoMajor != std.ProtoMajor || ours.ProtoMinor != std.ProtoMinor {
			t.Fatalf("status: ours %q %d.%d, net/http %q %d.%d", ours.Status, ours.ProtoMajor, ours.ProtoMinor, std.Status, std.ProtoMajor, std.ProtoMinor)
		}
		if !reflect.DeepEqual(ours.Header, trimValues(std.Header)) {
			t.Fatalf("headers: ours %q, net/http %q", ours.Header, std.Header)
		}
		if ours.ContentLength != std.ContentLength || ob != sb {
			t.Fatalf("body: ours %d %q, net/http %d %q", ours.ContentLength, ob, std.ContentLength, sb)
		}
		if ours.Close != std.Close && !strings.Contains(strings.ToLower(in), "transfer-encoding") {
			t.Fatalf("close: ours %v, net/http %v", ours.Close, std.Close)
		}
	})
}

// trimValues drops the whitespace net/http leaves at the end of a value
// whose obs-fold continuation line is empty ("a\r\n \r\n" gives "a "):
// ours gives "a", as a field value has no trailing whitespace (RFC 9110
// §5.5).
func trimValues(h http.Header) http.Header {
	out := make(http.Header, len(h))
	for k, vv := range h {
		for _, v := range vv {
			out[k] = append(out[k], strings.TrimRight(v, " \t"))
		}
	}
	return out
}

// TestFramingThroughTheManager: a backend answering with both
// Transfer-Encoding and Content-Length gets its chunked body read and its
// connection closed rather than reused; differing Content-Length values
// fail the request as a protocol violation.
func TestFramingThroughTheManager(t *testing.T) {
	var accepted atomic.Int32
	both := rawServer(t, func(c net.Conn) {
		accepted.Add(1)
		br := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			io.Copy(io.Discard, req.Body)
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n")
		}
	})
	conflicting := rawServer(t, func(c net.Conn) {
		http.ReadRequest(bufio.NewReader(c))
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok")
	})
	m, _ := newTestManager(t, Options{})
	for i := 0; i < 3; i++ {
		req, _ := http.NewRequest("GET", "http://"+both+"/", nil)
		resp, err := m.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || string(b) != "ok" {
			t.Fatalf("body %q, %v", b, err)
		}
	}
	if n := accepted.Load(); n != 3 {
		t.Fatalf("%d connections for 3 ambiguous responses, want 3 (none reused)", n)
	}
	req, _ := http.NewRequest("GET", "http://"+conflicting+"/", nil)
	_, err := m.RoundTrip(req)
	var be *Error
	if !errors.As(err, &be) || be.Message != MsgProtocolViolation {
		t.Fatalf("conflicting lengths: %v, want %q", err, MsgProtocolViolation)
	}
}
