package httpserver

import (
	"bytes"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"

	"github.com/apimgw/apimgw/internal/httplex"
)

// protoError is a request the server refuses before the handler sees it.
type protoError struct {
	status int
	msg    string
}

func (e *protoError) Error() string { return e.msg }

func badRequest(msg string) *protoError { return &protoError{http.StatusBadRequest, msg} }

// readRequest reads one request head and returns the request with its body
// (nil when it has none). Errors are *protoError (answer, then close) or
// I/O errors (close).
func (c *conn) readRequest() (*http.Request, *body, error) {
	var lines httplex.Lines
	if err := c.readHead(&lines); err != nil {
		return nil, nil, err
	}
	head := string(c.head)
	if cap(c.head) > 64<<10 {
		c.head = nil // do not keep a huge head's buffer for the connection's life
	}
	return c.parse(head, &lines)
}

// readHead reads the request line and headers, up to and including the
// empty line, into c.head. Up to four empty lines before the request line
// are skipped (RFC 9112 §2.2). lines gets the lengths of its lines, for
// parse.
func (c *conn) readHead(lines *httplex.Lines) error {
	var err error
	c.head, err = httplex.ReadHeadLines(c.br, c.head[:0], c.srv.maxHeaderBytes(), 4, lines)
	switch {
	case err == httplex.ErrHeadTooLarge:
		if bytes.IndexByte(c.head, '\n') < 0 {
			// Still in the request line: the target is what is long.
			return &protoError{http.StatusRequestURITooLong, "request URI too long"}
		}
		return &protoError{http.StatusRequestHeaderFieldsTooLarge, "request header too large"}
	case err != nil:
		return err
	case httplex.IsEmptyLine(c.head):
		return badRequest("empty request line")
	}
	return nil
}

// parse builds the request from its head. All strings (method, target,
// header names already in canonical form, header values) are substrings of
// head: one allocation for the whole head. lines is what readHead recorded
// of head's lines (nil: nothing).
func (c *conn) parse(head string, lines *httplex.Lines) (*http.Request, *body, error) {
	cur := httplex.NewCursor(head, lines)
	line := cur.Next()
	method, rest1, ok1 := strings.Cut(line, " ")
	target, proto, ok2 := strings.Cut(rest1, " ")
	if !ok1 || !ok2 {
		return nil, nil, badRequest("malformed request line")
	}
	if !httplex.ValidToken(method) {
		return nil, nil, badRequest("invalid method")
	}
	major, minor, ok := parseVersion(proto)
	if !ok {
		return nil, nil, badRequest("malformed HTTP version")
	}
	if major != 1 {
		return nil, nil, &protoError{http.StatusHTTPVersionNotSupported, "unsupported protocol version"}
	}
	if target == "" || !validTarget(target) {
		return nil, nil, badRequest("invalid request target")
	}
	if len(target) > c.srv.maxURLBytes() {
		return nil, nil, &protoError{http.StatusRequestURITooLong, "request URI too long"}
	}
	nlines := cur.Count() // the header lines and the empty line
	if nlines > c.srv.maxHeaders()+1 {
		return nil, nil, &protoError{http.StatusRequestHeaderFieldsTooLarge, "too many header fields"}
	}
	maxLine, underscores := c.srv.maxHeaderLineBytes(), c.srv.AllowUnderscoreHeaders

	// The connection's header storage: the handler must not keep the
	// request's header map past its return, as the next request reuses it
	// (net/http allocates one per request).
	hdr, vals := c.reqHeader.Take(nlines)
	fill := httplex.NewFiller(hdr, vals)
	var fields httplex.Fields // the framing fields seen: the others need no lookup
	var host string
	hosts := 0
	for cur.More() {
		line = cur.Next()
		if line == "" {
			break
		}
		if len(line) > maxLine {
			return nil, nil, &protoError{http.StatusRequestHeaderFieldsTooLarge, "header field too large"}
		}
		if line[0] == ' ' || line[0] == '\t' {
			return nil, nil, badRequest("obsolete line folding")
		}
		colon := strings.IndexByte(line, ':')
		if colon <= 0 {
			return nil, nil, badRequest("malformed header line")
		}
		name := line[:colon]
		if !httplex.ValidToken(name) {
			return nil, nil, badRequest("invalid header name")
		}
		value := httplex.TrimOWS(line[colon+1:])
		if !httplex.ValidFieldValue(value) {
			return nil, nil, badRequest("invalid header value")
		}
		if !underscores && strings.IndexByte(name, '_') >= 0 {
			// Dropped, as nginx does: a backend mapping '_' to '-'
			// would take it for another field.
			continue
		}
		key := httplex.CanonicalKey(name, &c.canon)
		if key == "Host" {
			hosts++
			host = value
			continue
		}
		fields |= httplex.FieldOf(key)
		fill.Add(key, value)
	}

	// The request is built in the connection's exchange, where the
	// handler gets it bound to its context (http.Request.WithContext, in
	// place), so this costs no allocation of its own.
	x := c.exchange()
	x.req = http.Request{
		Method: method, Proto: proto, ProtoMajor: major, ProtoMinor: minor,
		Header: hdr, RequestURI: target, RemoteAddr: c.remoteAddr, Body: http.NoBody,
		TLS: c.tlsState,
	}
	req := &x.req
	if method == http.MethodConnect && target[0] != '/' {
		req.URL = &url.URL{Host: target}
	} else {
		u, err := c.parseTarget(target)
		if err != nil {
			return nil, nil, badRequest("malformed request target")
		}
		req.URL = u
	}
	http11 := minor >= 1
	switch {
	case hosts > 1:
		return nil, nil, badRequest("too many Host headers")
	case hosts == 0 && http11:
		return nil, nil, badRequest("missing required Host header")
	case !validHost(host):
		return nil, nil, badRequest("malformed Host header")
	}
	req.Host = host
	if req.URL.Host != "" {
		req.Host = req.URL.Host
	}

	// Connection management: HTTP/1.1 keeps the connection unless told
	// "close"; HTTP/1.0 closes it unless told "keep-alive".
	var conn []string
	if fields&httplex.FieldConnection != 0 {
		conn = hdr["Connection"]
	}
	req.Close = !http11 && !httplex.HasToken(conn, "keep-alive") || httplex.HasToken(conn, "close")

	// Framing. Both Content-Length and Transfer-Encoding, or differing
	// lengths, are the classic smuggling vectors: refuse them.
	var b *body
	var te, cl []string
	if fields&httplex.FieldTransferEncoding != 0 {
		te = hdr["Transfer-Encoding"]
	}
	if fields&httplex.FieldContentLength != 0 {
		cl = hdr["Content-Length"]
	}
	switch {
	case len(te) > 0:
		if !http11 {
			return nil, nil, badRequest("Transfer-Encoding in an HTTP/1.0 request")
		}
		if len(te) != 1 || !strings.EqualFold(te[0], "chunked") {
			return nil, nil, &protoError{http.StatusNotImplemented, "unsupported transfer encoding"}
		}
		if len(cl) > 0 {
			return nil, nil, badRequest("both Transfer-Encoding and Content-Length")
		}
		delete(hdr, "Transfer-Encoding")
		req.TransferEncoding = []string{"chunked"}
		req.ContentLength = -1
		b = &body{c: c, chunked: true, src: httputil.NewChunkedReader(c.br)}
		if declared, ok := hdr["Trailer"]; ok {
			// As net/http: the announced trailer fields are keys of
			// req.Trailer with nil values until the body has been read.
			delete(hdr, "Trailer")
			for _, v := range declared {
				for name := range strings.SplitSeq(v, ",") {
					name = http.CanonicalHeaderKey(strings.TrimSpace(name))
					if name == "" {
						continue
					}
					if forbiddenTrailer(name) || !httplex.ValidToken(name) {
						return nil, nil, badRequest("bad trailer key")
					}
					if req.Trailer == nil {
						req.Trailer = make(http.Header)
					}
					req.Trailer[name] = nil
				}
			}
		}
	case len(cl) > 0:
		for _, v := range cl[1:] {
			if v != cl[0] {
				return nil, nil, badRequest("conflicting Content-Length headers")
			}
		}
		length, ok := httplex.ParseContentLength(cl[0])
		if !ok {
			return nil, nil, badRequest("bad Content-Length")
		}
		if len(cl) > 1 {
			hdr["Content-Length"] = cl[:1]
		}
		req.ContentLength = length
		if length > 0 {
			b = &body{c: c, remaining: length}
		}
	}
	var ex []string
	if fields&httplex.FieldExpect != 0 {
		ex = hdr["Expect"]
	}
	if len(ex) > 0 {
		if len(ex) != 1 || !strings.EqualFold(ex[0], "100-continue") || !http11 {
			return nil, nil, &protoError{http.StatusExpectationFailed, "unsupported Expect"}
		}
		// The server answers the expectation itself: when the handler
		// first reads the body.
		delete(hdr, "Expect")
		if b != nil {
			b.needContinue = true
		}
	}
	if b != nil {
		req.Body = b
	}
	c.reqFields, c.reqLen = fields, len(hdr)
	return req, b, nil
}

// parseVersion parses "HTTP/1.1"-style versions (one digit each, RFC 9112).
func parseVersion(v string) (major, minor int, ok bool) {
	switch v {
	case "HTTP/1.1":
		return 1, 1, true
	case "HTTP/1.0":
		return 1, 0, true
	}
	if len(v) != 8 || !strings.HasPrefix(v, "HTTP/") || v[6] != '.' || !httplex.IsDigit(v[5]) || !httplex.IsDigit(v[7]) {
		return 0, 0, false
	}
	return int(v[5] - '0'), int(v[7] - '0'), true
}

// validTarget rejects control characters and spaces in the request target.
// parseTarget is url.ParseRequestURI(target). The usual origin-form
// target, a path without percent-encoding and maybe a query, is split into
// the URL of the connection's exchange instead of allocating one.
func (c *conn) parseTarget(target string) (*url.URL, error) {
	path, query, hasQuery := strings.Cut(target, "?")
	if path == "" || path[0] != '/' || !plainPath(path) {
		return url.ParseRequestURI(target)
	}
	u := &c.exchange().url
	*u = url.URL{Path: path, RawQuery: query}
	u.ForceQuery = hasQuery && query == "" // "/p?", as net/url
	return u, nil
}

// plainPath reports whether a path is the same escaped and unescaped: no
// percent-encoding, and nothing net/url would escape (so RawPath is "").
func plainPath(p string) bool { return httplex.PlainPath(p) }

func validTarget(s string) bool {
	for i := 0; i < len(s); i++ {
		if b := s[i]; b <= ' ' || b == 0x7f {
			return false
		}
	}
	return true
}

// validHost accepts the characters of a URI host and port (reg-name,
// IPv4, IP-literal), percent-encodings included.
func validHost(s string) bool { return httplex.AllIn(s, &hostByte) }

// hostByte is 1 for the bytes validHost accepts.
var hostByte = httplex.ByteTable(isHostByte)

func isHostByte(b byte) bool {
	if httplex.IsTokenByte(b) && b != '`' && b != '^' && b != '|' && b != '#' {
		return true
	}
	switch b {
	case ':', '[', ']', '(', ')', ',', ';', '=', '@':
		return true
	}
	return false
}

// forbiddenTrailer reports the fields a trailer may not carry: those that
// frame or route the message (RFC 9110 §6.5.1), which net/http refuses too.
func forbiddenTrailer(name string) bool {
	switch name {
	case "Transfer-Encoding", "Trailer", "Content-Length", "Host":
		return true
	}
	return false
}
