package httpserver

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// ConfigureNetHTTP applies s's limits to a net/http server (the one the
// gateway hands its TLS listener's HTTP/2 clients to): the head size,
// header and idle timeouts it enforces itself, and Guard around its
// handler for the rest. MaxConns holds when its connections come from this
// server (TLSHandOff, which counts them).
func (s *Server) ConfigureNetHTTP(hs *http.Server) {
	hs.MaxHeaderBytes = s.maxHeaderBytes()
	hs.ReadHeaderTimeout = s.readHeaderTimeout()
	hs.IdleTimeout = s.idleTimeout()
	hs.Handler = s.Guard(hs.Handler)
}

// Guard enforces on a net/http server what this server checks while
// parsing: MaxURLBytes (414), MaxHeaderLineBytes and MaxHeaders (431),
// header names with '_' (dropped unless AllowUnderscoreHeaders) and the
// request body rate (408, through the connection's read deadline).
func (s *Server) Guard(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.RequestURI) > s.maxURLBytes() {
			writeGuardError(w, http.StatusRequestURITooLong, "request URI too long")
			return
		}
		n, maxLine := 1, s.maxHeaderLineBytes() // 1: Host, which net/http takes out
		for k, vv := range r.Header {
			n += len(vv)
			for _, v := range vv {
				if len(k)+2+len(v) > maxLine {
					writeGuardError(w, http.StatusRequestHeaderFieldsTooLarge, "header field too large")
					return
				}
			}
			if !s.AllowUnderscoreHeaders && strings.IndexByte(k, '_') >= 0 {
				delete(r.Header, k)
			}
		}
		if n > s.maxHeaders() {
			writeGuardError(w, http.StatusRequestHeaderFieldsTooLarge, "too many header fields")
			return
		}
		rate := s.bodyMinRate()
		if rate == 0 || r.Body == nil || r.Body == http.NoBody {
			h.ServeHTTP(w, r)
			return
		}
		rb := &rateBody{rc: http.NewResponseController(w), body: r.Body, grace: s.bodyGrace(), rate: int64(rate)}
		r.Body = rb
		h.ServeHTTP(&rateWriter{ResponseWriter: w, rb: rb}, r)
		if rb.timedOut() && !rb.answered() {
			writeGuardError(w, http.StatusRequestTimeout, "request body too slow")
		}
	})
}

func writeGuardError(w http.ResponseWriter, status int, msg string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Connection", "close")
	w.WriteHeader(status)
	fmt.Fprintf(w, "%d %s: %s", status, http.StatusText(status), msg)
}

// rateBody is a request body on a net/http server held to a minimum rate:
// before each read the connection's read deadline is set to when the
// allowance (grace plus one second per rate bytes, less the time already
// waited) runs out.
type rateBody struct {
	rc          *http.ResponseController
	body        io.ReadCloser
	grace       time.Duration
	rate        int64
	got         int64
	waited      time.Duration
	mu          sync.Mutex
	expired     bool
	wroteHeader bool // rateWriter: the handler's head went out
}

func (b *rateBody) Read(p []byte) (int, error) {
	allowed := b.grace + time.Duration(b.got/b.rate)*time.Second + time.Duration(b.got%b.rate)*time.Second/time.Duration(b.rate)
	start := time.Now()
	b.rc.SetReadDeadline(start.Add(allowed - b.waited))
	n, err := b.body.Read(p)
	b.waited += time.Since(start)
	b.got += int64(n)
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		b.mu.Lock()
		b.expired = true
		b.mu.Unlock()
		return n, ErrBodyReadTimeout
	}
	if err == io.EOF {
		b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

func (b *rateBody) Close() error { return b.body.Close() }

func (b *rateBody) timedOut() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.expired
}

// rateWriter holds back the handler's response once its body timed out,
// so that the client gets 408 rather than the handler's error.
type rateWriter struct {
	http.ResponseWriter
	rb *rateBody
}

// answered reports whether the handler's response head went out before
// the body timed out.
func (b *rateBody) answered() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.wroteHeader
}

func (w *rateWriter) WriteHeader(code int) {
	w.rb.mu.Lock()
	if w.rb.expired && !w.rb.wroteHeader {
		w.rb.mu.Unlock()
		return
	}
	if code >= 200 {
		w.rb.wroteHeader = true
	}
	w.rb.mu.Unlock()
	w.ResponseWriter.WriteHeader(code)
}

func (w *rateWriter) Write(p []byte) (int, error) {
	w.rb.mu.Lock()
	if w.rb.expired && !w.rb.wroteHeader {
		w.rb.mu.Unlock()
		return 0, ErrBodyReadTimeout
	}
	w.rb.wroteHeader = true
	w.rb.mu.Unlock()
	return w.ResponseWriter.Write(p)
}

func (w *rateWriter) Flush() {
	if !w.rb.timedOut() {
		http.NewResponseController(w.ResponseWriter).Flush()
	}
}

func (w *rateWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

// Unwrap lets http.ResponseController reach net/http's writer.
func (w *rateWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
