package httpserver

import (
	"bufio"
	"bytes"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/apimgw/apimgw/internal/httplex"
)

// commitRef is commit as it was before it noted the fields it needs while
// writing the header lines (a lookup each): the reference for
// TestCommitMatchesReference.
func (w *response) commitRef(final bool) {
	w.committed = true
	h := w.header
	delete(h, "Transfer-Encoding")
	var length string
	switch {
	case !w.bodyAllowed():
		if w.status != http.StatusNotModified {
			delete(h, "Content-Length")
		}
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
		w.closeAfter = true
	}
	if w.req.Close || w.c.srv.inShutdown.Load() || httplex.HasToken(h["Connection"], "close") {
		w.closeAfter = true
	}
	bw := w.c.bw
	bw.WriteString(statusLine(w.status))
	w.writeHeaderLines(nil, false)
	if length != "" {
		bw.WriteString("Content-Length: ")
		bw.WriteString(length)
		bw.WriteString("\r\n")
	}
	if w.chunked {
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	}
	if _, ok := h["Date"]; !ok {
		bw.WriteString("Date: ")
		bw.Write(w.c.dateValue())
		bw.WriteString("\r\n")
	}
	if _, ok := h["Connection"]; !ok {
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

// TestCommitMatchesReference: commit writes the same head (its lines in
// any order, as the map's), leaves the same header map and decides the
// same framing as commitRef, over combinations of the fields it looks at,
// statuses, methods, versions and Content-Length declared or not.
func TestCommitMatchesReference(t *testing.T) {
	fields := []struct{ k, v string }{
		{"Transfer-Encoding", "chunked"}, {"Content-Length", "5"}, {"Connection", "close"}, {"Connection", "keep-alive, X-A"},
		{"Date", "Mon, 07 Dec 2026 00:00:00 GMT"}, {"X-A", "a"}, {"Bad Name", "x"}, {"X-Crlf", "a\r\nb"}, {"Trailer:X-T", "1"},
	}
	run := func(commit func(*response, bool), status int, method string, minor int, set uint, cl int64, final bool, pending string) (string, http.Header, [2]bool) {
		var buf bytes.Buffer
		srv := &Server{}
		srv.clock.Store(1e18) // one Date for both
		c := &conn{srv: srv, bw: bufio.NewWriter(&buf)}
		c.pending = append(c.pending, pending...)
		h := http.Header{}
		for i, f := range fields {
			if set&(1<<i) != 0 {
				h[f.k] = append(h[f.k], f.v)
			}
		}
		req := &http.Request{Method: method, ProtoMajor: 1, ProtoMinor: minor}
		w := &response{c: c, req: req, header: h, status: status, wroteHeader: true, cl: cl, isHEAD: method == http.MethodHead}
		commit(w, final)
		c.bw.Flush()
		lines := strings.Split(buf.String(), "\r\n")
		slices.Sort(lines)
		return strings.Join(lines, "|"), h, [2]bool{w.chunked, w.closeAfter}
	}
	n := 0
	for _, status := range []int{200, 204, 304, 101, 404} {
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			for minor := 0; minor <= 1; minor++ {
				for set := uint(0); set < 1<<len(fields); set += 1 + set%5 {
					for _, cl := range []int64{-1, 5} {
						for _, final := range []bool{false, true} {
							new, newH, newF := run((*response).commit, status, method, minor, set, cl, final, "hi")
							ref, refH, refF := run((*response).commitRef, status, method, minor, set, cl, final, "hi")
							n++
							if new != ref || !reflect.DeepEqual(newH, refH) || newF != refF {
								t.Fatalf("status %d %s HTTP/1.%d fields %b cl %d final %v:\ncommit    %q %v %v\ncommitRef %q %v %v",
									status, method, minor, set, cl, final, new, newH, newF, ref, refH, refF)
							}
						}
					}
				}
			}
		}
	}
	if n < 1000 {
		t.Fatalf("only %d cases", n)
	}
}
