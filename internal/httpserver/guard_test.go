package httpserver

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestGuardOnNetHTTP: a net/http server (the TLS listener, HTTP/1.1 and
// HTTP/2) configured with ConfigureNetHTTP holds the same limits as this
// server: 414, 431 for a long line or too many fields, underscore names
// dropped, 408 for a body slower than the minimum rate.
func TestGuardOnNetHTTP(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		t.Run(fmt.Sprintf("h2=%v", h2), func(t *testing.T) {
			ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, err := io.ReadAll(r.Body)
				if err != nil {
					http.Error(w, "handler: "+err.Error(), http.StatusBadGateway)
					return
				}
				fmt.Fprintf(w, "xff=%q body=%s", r.Header["X_forwarded_for"], b)
			}))
			limits := &Server{MaxURLBytes: 100, MaxHeaderLineBytes: 200, MaxHeaders: 10, BodyGrace: 500 * time.Millisecond, BodyMinRate: 500}
			limits.ConfigureNetHTTP(ts.Config)
			ts.EnableHTTP2 = h2
			ts.StartTLS()
			defer ts.Close()
			client := ts.Client()
			do := func(req *http.Request) (int, string) {
				t.Helper()
				resp, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				if resp.ProtoMajor == 2 != h2 {
					t.Fatalf("protocol %s", resp.Proto)
				}
				b, _ := io.ReadAll(resp.Body)
				return resp.StatusCode, string(b)
			}
			req, _ := http.NewRequest("GET", ts.URL+"/"+strings.Repeat("u", 100), nil)
			if code, _ := do(req); code != 414 {
				t.Errorf("long URL: %d", code)
			}
			req, _ = http.NewRequest("GET", ts.URL+"/", nil)
			req.Header.Set("X-Big", strings.Repeat("b", 200))
			if code, _ := do(req); code != 431 {
				t.Errorf("long header line: %d", code)
			}
			req, _ = http.NewRequest("GET", ts.URL+"/", nil)
			for i := range 12 {
				req.Header.Set(fmt.Sprintf("X-F%d", i), "v")
			}
			if code, _ := do(req); code != 431 {
				t.Errorf("too many fields: %d", code)
			}
			req, _ = http.NewRequest("POST", ts.URL+"/", strings.NewReader("abc"))
			req.Header["X_Forwarded_For"] = []string{"10.0.0.1"}
			if code, body := do(req); code != 200 || body != "xff=[] body=abc" {
				t.Errorf("underscore: %d %q", code, body)
			}
			pr, pw := io.Pipe()
			var stop atomic.Bool
			go func() {
				for !stop.Load() {
					time.Sleep(100 * time.Millisecond)
					if _, err := pw.Write([]byte("x")); err != nil {
						return
					}
				}
			}()
			defer stop.Store(true)
			defer pw.Close()
			req, _ = http.NewRequest("POST", ts.URL+"/", pr)
			req.ContentLength = 1000
			if code, body := do(req); code != 408 {
				t.Errorf("slow body: %d %q", code, body)
			}
		})
	}
}
