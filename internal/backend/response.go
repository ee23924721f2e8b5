package backend

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"strings"

	"github.com/apimgw/apimgw/internal/httplex"
)

// maxTrailerBytes bounds the trailer section of a chunked response.
const maxTrailerBytes = 64 << 10

// readResponseHead reads one response head from br and frames its body
// the way net/http.ReadResponse does (RFC 9112 §6.3), with one string for
// the whole head instead of an allocation per line and header: the status
// line and the header values are substrings of it.
//
// It is stricter than net/http where laxness would desynchronise a reused
// connection: a response with both Transfer-Encoding and Content-Length is
// read as chunked (as net/http) but its connection is not reused, and
// differing Content-Length values are an error.
//
// With rb (not nil) the response is read into the caller's storage instead
// of a new exchange.
func (pc *pconn) readResponseHead(req *http.Request, rb *ResponseBuffer) (*exchange, error) {
	var err error
	var lines httplex.Lines
	pc.head, err = httplex.ReadHeadLines(pc.br, pc.head[:0], 0, 0, &lines) // bounded by pc.cr.limit
	if err != nil {
		return nil, err
	}
	var x *exchange
	if rb != nil {
		x = &rb.x
	} else {
		x = new(exchange)
	}
	fields, err := parseResponseHeadFields(&x.resp, string(pc.head), &lines, req, rb)
	if err != nil {
		return nil, err
	}
	if err := frameResponseBodyFields(&x.resp, pc.br, req, &x.fixed, fields); err != nil {
		return nil, err
	}
	if rb != nil {
		// Framing has read Connection: a Connection (and Keep-Alive) about
		// this connection alone goes now, at no walk of the map.
		fields = fields&^httplex.FieldsHop | httplex.DropConnectionOnly(x.resp.Header, fields)
	}
	x.fields = fields
	return x, nil
}

// exchange is what a response allocates, in one piece: the response, the
// body the caller reads (which owns the connection until it is done) and
// the reader of a body of known length.
type exchange struct {
	resp   http.Response
	body   body
	fixed  fixedBody
	fields httplex.Fields // of the fields the head had
}

// ResponseBuffer is a caller's storage for its HTTP/1.1 responses, one at a
// time: Manager.RoundTripInto reads a response into it instead of
// allocating the response, its body's state and its header map (HTTP/2
// responses do not use it). A response read into it lives until the next
// RoundTripInto with the same buffer, by which time the caller must have
// closed its body and let go of it: the response, its header map and the
// map's value slices. The map lacks the head's Connection and Keep-Alive
// fields when Connection named only keep-alive or close and the head had
// no other hop-by-hop field (httplex.DropConnectionOnly): they concern the
// connection only, which has used them. The zero value is ready to use; a
// buffer is for one goroutine at a time.
type ResponseBuffer struct {
	x     exchange
	hdr   httplex.HeaderStore
	canon []byte // scratch for canonicalising header names
}

// Holds reports whether resp is the response last read into rb.
func (rb *ResponseBuffer) Holds(resp *http.Response) bool { return resp != nil && resp == &rb.x.resp }

// HopFree reports whether resp is the response last read into rb and its
// head had no hop-by-hop field (httplex.FieldsHop): its header map, as long
// as nobody added to it, needs no removal of them.
func (rb *ResponseBuffer) HopFree(resp *http.Response) bool {
	return rb.Holds(resp) && rb.x.fields&httplex.FieldsHop == 0
}

// Release lets go of the last response read into rb (its request, body and
// connection), so that a buffer kept for later does not keep them alive;
// the header storage stays for the next response.
func (rb *ResponseBuffer) Release() { rb.x = exchange{} }

func protocolError(format string, args ...any) error {
	return fmt.Errorf(format, args...)
}

// parseResponseHead parses a status line and headers.
func parseResponseHead(head string, req *http.Request) (*http.Response, error) {
	resp := new(http.Response)
	if err := parseResponseHeadInto(resp, head, nil, req, nil); err != nil {
		return nil, err
	}
	return resp, nil
}

// parseResponseHeadInto is parseResponseHead filling resp, with its header
// map from rb when rb is not nil. lines is what ReadHeadLines recorded of
// head's lines (nil: nothing).
func parseResponseHeadInto(resp *http.Response, head string, lines *httplex.Lines, req *http.Request, rb *ResponseBuffer) error {
	_, err := parseResponseHeadFields(resp, head, lines, req, rb)
	return err
}

// parseResponseHeadFields is parseResponseHeadInto also returning which of
// httplex.Fields the head has.
func parseResponseHeadFields(resp *http.Response, head string, lines *httplex.Lines, req *http.Request, rb *ResponseBuffer) (httplex.Fields, error) {
	var fields httplex.Fields
	cur := httplex.NewCursor(head, lines)
	line := cur.Next()
	proto, status, ok := strings.Cut(line, " ")
	if !ok {
		return 0, protocolError("malformed HTTP response %q", line)
	}
	status = strings.TrimLeft(status, " ")
	if len(status) < 3 || !httplex.IsDigit(status[0]) || !httplex.IsDigit(status[1]) || !httplex.IsDigit(status[2]) || len(status) > 3 && status[3] != ' ' {
		return 0, protocolError("malformed HTTP status code %q", status)
	}
	*resp = http.Response{
		Status:     status,
		StatusCode: int(status[0]-'0')*100 + int(status[1]-'0')*10 + int(status[2]-'0'),
		Proto:      proto,
		Request:    req,
	}
	if resp.StatusCode < 100 {
		return 0, protocolError("malformed HTTP status code %q", status)
	}
	var ok2 bool
	if resp.ProtoMajor, resp.ProtoMinor, ok2 = http.ParseHTTPVersion(proto); !ok2 {
		return 0, protocolError("malformed HTTP version %q", proto)
	}

	n := cur.Count()
	var hdr http.Header
	var vals []string
	if rb != nil {
		hdr, vals = rb.hdr.Take(n)
	} else {
		hdr, vals = make(http.Header, n), make([]string, n)
	}
	fill := httplex.NewFiller(hdr, vals)
	var last string // the previous field, for obsolete line folding
	for cur.More() {
		line = cur.Next()
		if line == "" {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			// obs-fold (RFC 9112 §5.2): a user agent may replace it with
			// a space.
			vv := hdr[last]
			if last == "" || len(vv) == 0 {
				return 0, protocolError("malformed MIME header initial line: %q", line)
			}
			cont := httplex.TrimOWS(line)
			if !validFieldValue(cont) {
				return 0, protocolError("malformed MIME header line: %q", line)
			}
			switch prev := vv[len(vv)-1]; {
			case cont == "":
			case prev == "":
				vv[len(vv)-1] = cont
			default:
				vv[len(vv)-1] = prev + " " + cont
			}
			continue
		}
		colon := strings.IndexByte(line, ':')
		if colon <= 0 || !validToken(line[:colon]) {
			return 0, protocolError("malformed MIME header line: %q", line)
		}
		value := httplex.TrimOWS(line[colon+1:])
		if !validFieldValue(value) {
			return 0, protocolError("malformed MIME header line: %q", line)
		}
		var scratch *[]byte
		if rb != nil {
			scratch = &rb.canon
		}
		key := httplex.CanonicalKey(line[:colon], scratch)
		last = key
		fields |= httplex.FieldOf(key)
		fill.Add(key, value)
	}
	resp.Header = hdr
	return fields, nil
}

// frameResponseBody decides how the body is delimited and sets Body,
// ContentLength, TransferEncoding, Close and Trailer.
func frameResponseBody(resp *http.Response, br *bufio.Reader, req *http.Request) error {
	return frameResponseBodyInto(resp, br, req, new(fixedBody))
}

// frameResponseBodyInto is frameResponseBody using fixed as the reader of
// a body of known length.
func frameResponseBodyInto(resp *http.Response, br *bufio.Reader, req *http.Request, fixed *fixedBody) error {
	return frameResponseBodyFields(resp, br, req, fixed, httplex.FieldsAll)
}

// frameResponseBodyFields is frameResponseBodyInto for a header map that
// has none of httplex.Fields but those in fields: the others are not
// looked up.
func frameResponseBodyFields(resp *http.Response, br *bufio.Reader, req *http.Request, fixed *fixedBody, fields httplex.Fields) error {
	h := resp.Header
	http11 := resp.ProtoAtLeast(1, 1)
	var conn []string
	if fields&httplex.FieldConnection != 0 {
		conn = h["Connection"]
	}
	resp.Close = httplex.HasToken(conn, "close") || !http11 && !httplex.HasToken(conn, "keep-alive")

	cl := int64(-1)
	var vv []string
	if fields&httplex.FieldContentLength != 0 {
		vv = h["Content-Length"]
	}
	if len(vv) > 0 {
		for _, v := range vv[1:] {
			if strings.TrimSpace(v) != strings.TrimSpace(vv[0]) {
				return protocolError("message cannot contain multiple Content-Length headers; got %q", vv)
			}
		}
		n, ok := httplex.ParseContentLength(httplex.TrimSpace(vv[0]))
		if !ok {
			return protocolError("bad Content-Length %q", vv[0])
		}
		cl = n
		if len(vv) > 1 {
			h["Content-Length"] = vv[:1]
		}
	}
	chunked := false
	var te []string
	if fields&httplex.FieldTransferEncoding != 0 {
		te = h["Transfer-Encoding"]
	}
	if len(te) > 0 && http11 {
		if len(te) != 1 || !strings.EqualFold(strings.TrimSpace(te[0]), "chunked") {
			return protocolError("unsupported transfer encoding: %q", te)
		}
		delete(h, "Transfer-Encoding")
		if cl >= 0 {
			// RFC 9112 §6.1: Transfer-Encoding wins, and the connection
			// must not be reused.
			delete(h, "Content-Length")
			cl = -1
			resp.Close = true
		}
		chunked = true
	} else if len(te) > 0 {
		// HTTP/1.0 has no transfer codings: the framing is faulty, so
		// the connection is closed after this response, never pooled
		// (RFC 9112 §6.1), whatever Content-Length or keep-alive say.
		delete(h, "Transfer-Encoding")
		resp.Close = true
	}

	if chunked && fields&httplex.FieldTrailer != 0 {
		tr, ok := h["Trailer"]
		if ok {
			// The announced trailer fields, filled in when the body ends.
			delete(h, "Trailer")
		}
		for _, v := range tr {
			for _, k := range strings.Split(v, ",") {
				if k = strings.TrimSpace(k); k != "" {
					if resp.Trailer == nil {
						resp.Trailer = make(http.Header)
					}
					resp.Trailer[http.CanonicalHeaderKey(k)] = nil
				}
			}
		}
	}
	noBody := req != nil && req.Method == http.MethodHead || resp.StatusCode/100 == 1 ||
		resp.StatusCode == http.StatusNoContent || resp.StatusCode == http.StatusNotModified
	switch {
	case noBody:
		resp.Body = http.NoBody
		if req != nil && req.Method == http.MethodHead {
			resp.ContentLength = cl // what a GET would have carried, as net/http
		}
		if chunked && req != nil && req.Method == http.MethodHead {
			resp.TransferEncoding = []string{"chunked"}
		}
	case chunked:
		resp.TransferEncoding = []string{"chunked"}
		resp.ContentLength = -1
		resp.Body = &chunkedBody{br: br, cr: httputil.NewChunkedReader(br), resp: resp}
	case cl == 0:
		resp.ContentLength = 0
		resp.Body = http.NoBody
	case cl > 0:
		resp.ContentLength = cl
		*fixed = fixedBody{br: br, remaining: cl}
		resp.Body = fixed
	default:
		// Delimited by the close of the connection.
		resp.ContentLength = -1
		resp.Close = true
		resp.Body = &untilCloseBody{br: br}
	}
	return nil
}

// fixedBody is a Content-Length body.
type fixedBody struct {
	br        *bufio.Reader
	remaining int64
}

func (b *fixedBody) Read(p []byte) (int, error) {
	if b.remaining <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.remaining {
		p = p[:b.remaining]
	}
	n, err := b.br.Read(p)
	b.remaining -= int64(n)
	if b.remaining == 0 {
		return n, io.EOF
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func (b *fixedBody) Close() error { return nil }

// untilCloseBody is a body delimited by the end of the connection.
type untilCloseBody struct{ br *bufio.Reader }

func (b *untilCloseBody) Read(p []byte) (int, error) { return b.br.Read(p) }
func (b *untilCloseBody) Close() error               { return nil }

// chunkedBody is a chunked body; its trailer fields go to resp.Trailer.
type chunkedBody struct {
	br   *bufio.Reader
	cr   io.Reader
	resp *http.Response
	done bool
}

func (b *chunkedBody) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	n, err := b.cr.Read(p)
	if err == io.EOF {
		if terr := b.readTrailer(); terr != nil {
			return n, terr
		}
		b.done = true
	}
	return n, err
}

func (b *chunkedBody) readTrailer() error {
	return httplex.ReadTrailer(b.br, maxTrailerBytes, func(name, value string) error {
		if b.resp.Trailer == nil {
			b.resp.Trailer = make(http.Header)
		}
		b.resp.Trailer.Add(name, value)
		return nil
	})
}

func (b *chunkedBody) Close() error { return nil }
