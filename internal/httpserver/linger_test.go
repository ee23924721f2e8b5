package httpserver

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rejectUpload answers 401 without reading the request body, as an API
// does to an upload without a subscription key.
var rejectUpload = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.WriteHeader(http.StatusUnauthorized)
	io.WriteString(w, "no key")
})

// TestRejectedUploadGetsItsAnswer: a client uploading 8 MB to a handler
// that answers without reading gets the answer every time. A server that
// closes the socket with the upload unread makes the kernel reset the
// connection, and the client may lose the answer with it (14 times in 20
// here before the server lingered). net/http's server is the reference:
// its client gets all 20.
func TestRejectedUploadGetsItsAnswer(t *testing.T) {
	body := bytes.Repeat([]byte("x"), 8<<20)
	check := func(t *testing.T, client *http.Client, url string) {
		t.Helper()
		for i := range 20 {
			resp, err := client.Post(url+"/upload", "application/octet-stream", bytes.NewReader(body))
			if err != nil {
				t.Fatalf("upload %d: %v", i, err)
			}
			got, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusUnauthorized || string(got) != "no key" || !resp.Close {
				t.Fatalf("upload %d: %d %q %v close=%v", i, resp.StatusCode, got, err, resp.Close)
			}
		}
	}
	t.Run("net/http", func(t *testing.T) {
		std := httptest.NewServer(rejectUpload)
		defer std.Close()
		check(t, &http.Client{Timeout: 10 * time.Second}, std.URL)
	})
	t.Run("cleartext", func(t *testing.T) {
		addr, _ := start(t, rejectUpload)
		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
		defer client.CloseIdleConnections()
		check(t, client, "http://"+addr)
	})
	t.Run("TLS", func(t *testing.T) {
		ts := newTLSSetup(t)
		addr, _ := start(t, rejectUpload, func(s *Server) { s.TLSConfig = ts.http1Server() })
		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: ts.pool, ServerName: "localhost"},
		}}
		defer client.CloseIdleConnections()
		check(t, client, "https://"+addr)
	})
}

// lingerClient sends a POST head announcing a large body and part of it,
// then reads the answer (a 401, the handler reading nothing) and the end
// of the server's side: the server shuts its sending side right after the
// answer, and lingers.
func lingerClient(t *testing.T, addr string) net.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(nc, "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 100000000\r\n\r\n"+strings.Repeat("x", 1000))
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusUnauthorized || string(got) != "no key" || !resp.Close {
		t.Fatalf("answer: %d %q close=%v", resp.StatusCode, got, resp.Close)
	}
	if n, err := br.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("after the answer: %d bytes, %v; want the end of the server's side", n, err)
	}
	return nc
}

// TestLingerEnds: a lingering connection ends when the client closes its
// side, when it has sent nothing for lingerQuiet, when lingerTime has
// passed however much it sends, and at once on Shutdown; what it sends
// meanwhile is read and dropped (the handler's answer stays the only one).
func TestLingerEnds(t *testing.T) {
	const lingerFor = 1500 * time.Millisecond
	addr, s := start(t, rejectUpload, func(s *Server) { s.lingerFor = lingerFor })

	t.Run("client closes", func(t *testing.T) {
		nc := lingerClient(t, addr)
		if n := openConns(s); n != 1 {
			t.Fatalf("%d connections while lingering, want 1", n)
		}
		nc.Close()
		if d := waitConns(t, s, 0, lingerQuiet); d > lingerQuiet/2 {
			t.Fatalf("connection ended %v after the client closed", d)
		}
	})

	t.Run("client quiet", func(t *testing.T) {
		lingerClient(t, addr)
		t0 := time.Now()
		waitConns(t, s, 0, 3*lingerQuiet)
		if d := time.Since(t0); d < lingerQuiet*8/10 {
			t.Fatalf("connection ended %v after the answer, before lingerQuiet (%v)", d, lingerQuiet)
		}
	})

	t.Run("client keeps sending", func(t *testing.T) {
		nc := lingerClient(t, addr)
		t0 := time.Now()
		// Under lingerQuiet apart, for longer than lingerFor: the server
		// reads them until lingerFor, then closes, and a write fails.
		var werr error
		for i := 0; i < 100 && werr == nil; i++ {
			_, werr = io.WriteString(nc, strings.Repeat("y", 4096))
			time.Sleep(lingerQuiet / 5)
		}
		d := time.Since(t0)
		if werr == nil || d < lingerFor*8/10 || d > lingerFor+2*time.Second {
			t.Fatalf("writes failed after %v (%v); want after about %v", d, werr, lingerFor)
		}
		waitConns(t, s, 0, time.Second)
	})

	t.Run("shutdown", func(t *testing.T) {
		lingerClient(t, addr)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		t0 := time.Now()
		if err := s.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(t0); d > lingerQuiet/2 {
			t.Fatalf("Shutdown waited %v for a lingering connection", d)
		}
	})
}

// TestPipelinedAfterCloseGetsItsAnswer: a client that pipelines requests
// behind one with Connection: close gets that one's answer, then the end
// of the stream, every time, though the server reads none of the rest
// (more than its buffer holds).
func TestPipelinedAfterCloseGetsItsAnswer(t *testing.T) {
	addr, _ := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.URL.Path) }))
	batch := "GET /first HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n" +
		strings.Repeat("GET /next HTTP/1.1\r\nHost: a\r\n\r\n", 8000)
	for i := range 20 {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		nc.SetDeadline(time.Now().Add(10 * time.Second))
		werr := make(chan error, 1)
		go func() {
			_, err := io.WriteString(nc, batch)
			werr <- err
		}()
		br := bufio.NewReader(nc)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil || string(body) != "/first" || !resp.Close {
			t.Fatalf("connection %d: %q %v close=%v", i, body, err, resp.Close)
		}
		if n, err := br.Read(make([]byte, 1)); n != 0 || err != io.EOF {
			t.Fatalf("connection %d after the answer: %d bytes, %v; want the end of the stream", i, n, err)
		}
		nc.Close()
		<-werr
	}
}

// TestAnswerBeforeBodyKeepsOrCloses: whether a connection stays after an
// answer written before the request body was read, against net/http's
// server. A small answer is held back to the end of the handler, and the
// body left unread is drained then (up to maxPostHandlerReadBytes, as
// net/http does): the connection stays for a small body and ends, with
// Connection: close, for a large one. A large answer goes out while the
// handler runs: with the body not read to the end then, the answer says
// Connection: close. There net/http drains a small body under its body's
// lock and keeps the connection; this server's body has no lock (one
// reader at a time, and a handler may be reading it from another
// goroutine), so it closes.
func TestAnswerBeforeBodyKeepsOrCloses(t *testing.T) {
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("read") == "first" {
			io.Copy(io.Discard, r.Body)
		}
		n := 2
		if r.URL.Query().Get("answer") == "large" {
			n = 3 * bufSize
		}
		w.Header().Set("Content-Length", strconv.Itoa(n))
		w.Write(bytes.Repeat([]byte("a"), n))
	})
	addr, _ := start(t, handler)
	std := httptest.NewServer(handler)
	defer std.Close()
	exchange := func(addr, query string, size int) bool {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(10 * time.Second))
		go io.WriteString(nc, "POST /?"+query+" HTTP/1.1\r\nHost: a\r\nContent-Length: "+strconv.Itoa(size)+"\r\n\r\n"+strings.Repeat("b", size))
		resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
		if err != nil {
			t.Fatalf("%s %s: %v", addr, query, err)
		}
		io.Copy(io.Discard, resp.Body)
		return resp.Close
	}
	for _, c := range []struct {
		query     string
		size      int
		wantClose bool
		sameAsStd bool
	}{
		{"answer=small", 5, false, true},
		{"answer=small", 1 << 20, true, true},
		{"answer=large&read=first", 5, false, true},
		{"answer=large&read=first", 1 << 20, false, true},
		{"answer=large", 5, true, false},
		{"answer=large", 1 << 20, true, true},
	} {
		got, ref := exchange(addr, c.query, c.size), exchange(strings.TrimPrefix(std.URL, "http://"), c.query, c.size)
		if got != c.wantClose || c.sameAsStd && got != ref {
			t.Errorf("%s, %d-byte body: close=%v, want %v (net/http's server: %v)", c.query, c.size, got, c.wantClose, ref)
		}
	}
}
