package backend

import (
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

func FuzzKeepAliveLimit(f *testing.F) {
	for _, s := range []string{"timeout=5, max=100", "timeout=0", "max=3", "timeout=\"2\"", "TIMEOUT = 9", "timeout=-1", "timeout=99999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if d := keepAliveLimit(v); d < 0 {
			t.Fatalf("keepAliveLimit(%q) = %v", v, d)
		}
	})
}

// FuzzBackendResponse feeds arbitrary bytes as a backend's answer: the
// Manager must return a response or an *Error, never panic or hang.
func FuzzBackendResponse(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.0 200 OK\r\n\r\nbody until close",
		"HTTP/1.1 200 OK\r\nKeep-Alive: timeout=1\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
		"garbage",
		"",
	} {
		f.Add([]byte(s))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	var mu sync.Mutex
	var answer []byte
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			a := answer
			mu.Unlock()
			buf := make([]byte, 4096)
			_ = c.SetDeadline(time.Now().Add(time.Second))
			_, _ = c.Read(buf)
			_, _ = c.Write(a)
			c.Close()
		}
	}()
	f.Cleanup(func() { ln.Close(); wg.Wait() })
	m, err := NewManager(Options{}, nil, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = m.Close() })
	url := "http://" + ln.Addr().String() + "/"
	f.Fuzz(func(t *testing.T, data []byte) {
		mu.Lock()
		answer = data
		mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		req.Close = true // one connection per input, so inputs do not mix
		resp, err := m.RoundTrip(req)
		if err != nil {
			asError(t, err)
			return
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
	})
}
