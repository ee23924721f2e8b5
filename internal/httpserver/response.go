package httpserver

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/apimgw/apimgw/internal/httplex"
)

// errAfterHandler is returned for writes after the handler has returned.
var errAfterHandler = errors.New("http: response written after the handler returned")

// response is the http.ResponseWriter of one request. Without a
// Content-Length from the handler, the body is held back (up to bufSize)
// so that a short response gets a Content-Length; a longer one, or one
// flushed early, is sent chunked (HTTP/1.1) or delimited by closing the
// connection (HTTP/1.0).
type response struct {
	c      *conn
	req    *http.Request
	body   *body // the request's, nil when it had none
	header http.Header

	status      int
	wroteHeader bool  // the status is decided
	committed   bool  // the head is in the connection's write buffer
	done        bool  // the handler has returned
	isHEAD      bool  //
	cl          int64 // the Content-Length the handler declared, or -1
	written     int64 // body bytes the handler wrote
	chunked     bool
	closeAfter  bool
}

// Header returns the response header map.
func (w *response) Header() http.Header { return w.header }

// RequestFields reports which of httplex.Fields the request's head had
// (among them some the server acted on and removed: Transfer-Encoding,
// Trailer, Expect), so that the handler can skip looking up the others. ok
// is false unless h is still the request's header map with as many fields
// as the server left in it: then the map must be asked.
func (w *response) RequestFields(h http.Header) (f httplex.Fields, ok bool) {
	if w.done || h == nil || len(h) != w.c.reqLen ||
		!httplex.SameMap(h, w.c.reqHeader.Map()) {
		return 0, false
	}
	return w.c.reqFields, true
}

// ReplaceHeader makes h the response's header map, in place of the
// server's own, which must still be empty: a handler with the headers
// already in a map of its own spares itself copying them. The server reads
// and changes h until the response is finished (after the handler
// returns, possibly), so the handler must leave h to it until then; the
// connection's next request starts later. ReplaceHeader reports false,
// changing nothing, once the status is written or headers are set.
func (w *response) ReplaceHeader(h http.Header) bool {
	if w.done || w.wroteHeader || len(w.header) > 0 || h == nil {
		return false
	}
	w.header = h
	return true
}

// WriteHeader sends (or, for 1xx, writes at once) the status code.
func (w *response) WriteHeader(code int) {
	if w.done || w.wroteHeader {
		return
	}
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	if code >= 100 && code <= 199 && code != http.StatusSwitchingProtocols {
		// Informational: sent at once with the current headers; the
		// final status follows.
		if w.req.ProtoAtLeast(1, 1) && !w.committed {
			w.c.bw.WriteString(statusLine(code))
			w.writeHeaderLines(nil, false)
			w.c.bw.WriteString("\r\n")
			w.c.bw.Flush()
		}
		return
	}
	w.status = code
	w.wroteHeader = true
	if v := w.header["Content-Length"]; len(v) > 0 {
		if n, ok := httplex.ParseContentLength(httplex.TrimSpace(v[0])); ok {
			w.cl = n
		} else {
			delete(w.header, "Content-Length")
		}
	}
}

// bodyAllowed reports whether the status permits a body (RFC 9110 §6.4.1).
func (w *response) bodyAllowed() bool {
	return w.status != http.StatusNoContent && w.status != http.StatusNotModified && w.status >= 200
}

// Write writes body bytes, sending the head first when due.
func (w *response) Write(p []byte) (int, error) {
	if w.done {
		return 0, errAfterHandler
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if len(p) == 0 {
		return 0, nil
	}
	if !w.bodyAllowed() {
		return 0, http.ErrBodyNotAllowed
	}
	if w.cl >= 0 && w.written+int64(len(p)) > w.cl {
		return 0, http.ErrContentLength
	}
	w.written += int64(len(p))
	if w.isHEAD {
		return len(p), nil
	}
	if !w.committed {
		// A body that fits the buffer is held back to the end of the
		// handler: of unknown length, to learn it; of a known one too, so
		// that the head is written once the handler is done with the
		// request body, and can say whether the connection stays (a
		// request body the handler left unread is drained then, as
		// net/http does; commit).
		if w.cl <= bufSize && len(w.c.pending)+len(p) <= bufSize {
			w.c.pending = append(w.c.pending, p...)
			return len(p), nil
		}
		if w.c.bodyTimedOut.Load() {
			return 0, ErrBodyReadTimeout // the server answers 408
		}
		w.commit(false)
	}
	return w.writeBody(p)
}

// Hijack lets the handler take over the connection, as net/http's
// http.Hijacker does (a WebSocket, for instance): the server stops
// reading, writing and timing it, and neither its sweeper, Close nor
// Shutdown close it. A head already written is flushed first. The returned
// reader holds whatever the client sent after the request.
func (w *response) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c := w.c
	if w.done {
		return nil, nil, errAfterHandler
	}
	if c.hijacked {
		return nil, nil, http.ErrHijacked
	}
	if w.wroteHeader {
		if !w.committed {
			w.commit(false)
		}
		if err := c.bw.Flush(); err != nil {
			return nil, nil, err
		}
	}
	c.cr.end()
	c.hijacked = true
	c.srv.trackConn(c, false)
	if err := c.rwc.SetDeadline(time.Time{}); err != nil {
		return nil, nil, err
	}
	return c.rwc, bufio.NewReadWriter(c.br, bufio.NewWriter(c.rwc)), nil
}

// ConnValue returns a slot that lives as long as the connection, where a
// handler can keep what its next request on the connection may reuse.
// Requests on a connection are served one at a time, and the next one
// starts only once this one's response is finished, even when the server
// finishes writing it after the handler returned.
// A connection parked while idle, or ended, gives its value to the
// server's pool; a parked connection may get another connection's (or
// none) for its next request, and a new connection starts with one that
// ended: a handler must leave in the slot only what any request, on any
// connection, may reuse.
func (w *response) ConnValue() *any {
	c := w.c
	if c.value == nil {
		c.value = c.srv.values.get()
	}
	return &c.value
}

// Flush sends what has been written so far to the client.
func (w *response) Flush() {
	if w.done {
		return
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.committed {
		if w.c.bodyTimedOut.Load() {
			return // the server answers 408
		}
		w.commit(false)
	}
	w.c.bw.Flush()
}

func (w *response) writeBody(p []byte) (int, error) {
	bw := w.c.bw
	if w.chunked {
		bw.Write(strconv.AppendInt(w.c.scratch[:0], int64(len(p)), 16))
		bw.WriteString("\r\n")
		n, err := bw.Write(p)
		bw.WriteString("\r\n")
		return n, err
	}
	return bw.Write(p)
}

// commit decides the framing and writes the head, then any held-back body.
// final: the handler has returned, so the body length is known.
func (w *response) commit(final bool) {
	w.committed = true
	h := w.header
	var length string
	switch {
	case !w.bodyAllowed():
	case w.cl >= 0:
	case w.isHEAD:
		if final && w.written > 0 {
			length = strconv.FormatInt(w.written, 10)
		}
	case final:
		length = strconv.Itoa(len(w.c.pending))
	case w.req.ProtoAtLeast(1, 1):
		w.chunked = true
	default:
		w.closeAfter = true // HTTP/1.0: the end of the body is the close
	}
	// Once the handler is done, what it left of the request body is
	// drained now, so that the answer can say whether the connection
	// stays (as net/http does).
	if final {
		if w.body != nil && !w.body.drain() {
			w.closeAfter = true
		}
	} else if w.body != nil && !w.body.ended.Load() {
		// An answer that starts while the request body is still unread (a
		// backend answering an upload before reading it, or a handler
		// streaming both ways): the server cannot drain the rest while the
		// handler may be reading it, so the connection ends after the
		// answer, and the head says so. Without it the client would take
		// the connection for another request and lose that one.
		w.closeAfter = true
	}

	bw := w.c.bw
	bw.WriteString(statusLine(w.status))
	// The fields the head needs to know of are noted as they are written
	// (one walk of the map instead of a lookup each); Transfer-Encoding,
	// and Content-Length where no body is allowed (but in a 304, RFC 9110
	// §8.6), are the server's to decide and are dropped from the map.
	var f headFields
	w.writeHeaderLines(&f, !w.bodyAllowed() && w.status != http.StatusNotModified)
	if f.dropped {
		delete(h, "Transfer-Encoding")
		if !w.bodyAllowed() && w.status != http.StatusNotModified {
			delete(h, "Content-Length")
		}
	}
	if w.req.Close || w.c.srv.inShutdown.Load() || httplex.HasToken(f.connection, "close") {
		w.closeAfter = true
	}
	if length != "" {
		bw.WriteString("Content-Length: ")
		bw.WriteString(length)
		bw.WriteString("\r\n")
	}
	if w.chunked {
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	}
	if !f.date {
		bw.WriteString("Date: ")
		bw.Write(w.c.dateValue())
		bw.WriteString("\r\n")
	}
	if !f.hasConnection {
		if w.closeAfter {
			bw.WriteString("Connection: close\r\n")
		} else if !w.req.ProtoAtLeast(1, 1) {
			bw.WriteString("Connection: keep-alive\r\n")
		}
	}
	bw.WriteString("\r\n")
	if len(w.c.pending) > 0 {
		p := w.c.pending
		w.c.pending = w.c.pending[:0]
		w.writeBody(p)
	}
}

// headFields is what commit needs to know of the handler's header map.
type headFields struct {
	connection    []string // the Connection field's values
	hasConnection bool     // the map has Connection (maybe without values)
	date          bool     // the map has Date
	dropped       bool     // a field was left out that must go from the map
}

// writeHeaderLines writes the handler's headers. Names that are not tokens
// are dropped and CR/LF in values become spaces, so no header set from a
// policy expression can split the response. With f (not nil) it leaves out
// Transfer-Encoding, and Content-Length when noLength, noting that in f
// with the fields commit needs.
func (w *response) writeHeaderLines(f *headFields, noLength bool) {
	bw := w.c.bw
	for k, vv := range w.header {
		if f != nil {
			switch k {
			case "Transfer-Encoding":
				f.dropped = true
				continue
			case "Content-Length":
				if noLength {
					f.dropped = true
					continue
				}
			case "Connection":
				f.connection, f.hasConnection = vv, true
			case "Date":
				f.date = true
			}
		}
		if !httplex.ValidToken(k) {
			continue
		}
		for _, v := range vv {
			if httplex.HasCRLF(v) {
				v = strings.NewReplacer("\r", " ", "\n", " ").Replace(v)
			}
			httplex.WriteField(bw, k, v)
		}
	}
}

// writeTrailer writes the fields the handler set with http.TrailerPrefix,
// as net/http does; only a chunked response carries them.
func (w *response) writeTrailer() {
	bw := w.c.bw
	for k, vv := range w.header {
		name, ok := strings.CutPrefix(k, http.TrailerPrefix)
		if !ok || !httplex.ValidToken(name) {
			continue
		}
		name = http.CanonicalHeaderKey(name)
		for _, v := range vv {
			if !httplex.ValidFieldValue(v) {
				continue
			}
			bw.WriteString(name)
			bw.WriteString(": ")
			bw.WriteString(v)
			bw.WriteString("\r\n")
		}
	}
}

// finish completes the response after the handler returned and reports
// whether the connection can be reused.
func (w *response) finish() bool {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.committed {
		w.commit(true)
	} else if w.chunked {
		w.c.bw.WriteString("0\r\n")
		w.writeTrailer()
		w.c.bw.WriteString("\r\n")
	}
	w.done = true
	truncated := w.cl >= 0 && w.written < w.cl && !w.isHEAD && w.bodyAllowed()
	keep := !w.closeAfter && !truncated
	if keep && w.c.canDefer(w) {
		w.c.deferred = true // serve writes it (conn.flushAwait)
		return true
	}
	if !keep && w.c.tlsSock != nil {
		w.c.deferred = true // written with the close_notify alert (conn.end)
		return false
	}
	err := w.c.bw.Flush()
	return err == nil && keep
}

var statusLines = func() (t [600]string) {
	for code := 100; code < 600; code++ {
		if text := http.StatusText(code); text != "" {
			t[code] = "HTTP/1.1 " + strconv.Itoa(code) + " " + text + "\r\n"
		}
	}
	return t
}()

func statusLine(code int) string {
	if code < len(statusLines) && statusLines[code] != "" {
		return statusLines[code]
	}
	return "HTTP/1.1 " + strconv.Itoa(code) + " status code " + strconv.Itoa(code) + "\r\n"
}
