package gateway

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestServeLimits: the limits section holds on both data-plane listeners
// (cleartext httpserver; TLS: HTTP/1.1 on httpserver, HTTP/2 on net/http): 414 for a long URL,
// 431 for too many header fields, header names with '_' not forwarded,
// and 408 for a request body slower than the minimum rate, which also
// closes the backend connection the upload held.
func TestServeLimits(t *testing.T) {
	var backendClosed atomic.Int32
	be := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		fmt.Fprintf(w, "xff=%q underscore=%q body=%s", r.Header.Get("X-Forwarded-For"), r.Header["X_forwarded_for"], b)
	}))
	be.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateClosed {
			backendClosed.Add(1)
		}
	}
	be.Start()
	defer be.Close()
	limits := `limits: {url: 200, headers: 10, bodyGrace: 500ms, bodyMinRate: 500}
apis:
  - id: up
    path: up
    serviceUrl: ` + be.URL + `
    subscriptionRequired: false
    operations: [{id: post, method: POST, urlTemplate: "/*"}, {id: get, method: GET, urlTemplate: "/*"}]
`
	dir := t.TempDir()
	plain := "http://" + serveConfig(t, dir, "listen: 127.0.0.1:0\nadmin: 127.0.0.1:0\nlogs: {path: "+filepath.Join(dir, "plain.log")+"}\n"+limits)
	tdir := t.TempDir()
	pool := writeCert(t, tdir)
	secure := "https://" + strings.Replace(serveConfig(t, tdir, "listen: 127.0.0.1:0\nadmin: 127.0.0.1:0\ntls: {cert: cert.pem, key: key.pem}\nlogs: {path: "+filepath.Join(tdir, "tls.log")+"}\n"+limits), "127.0.0.1", "localhost", 1)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
	defer client.CloseIdleConnections()
	h1client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, NextProtos: []string{"http/1.1"}}}}
	defer h1client.CloseIdleConnections()
	for name, base := range map[string]string{"cleartext": plain, "tls": secure, "tls-http1": secure} {
		t.Run(name, func(t *testing.T) {
			client, proto := client, "HTTP/1.1"
			switch name {
			case "tls":
				proto = "HTTP/2.0"
			case "tls-http1":
				client = h1client
			}
			do := func(req *http.Request) (int, string) {
				t.Helper()
				resp, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				if resp.Proto != proto {
					t.Errorf("%s: served over %s, want %s", req.URL.Path, resp.Proto, proto)
				}
				b, _ := io.ReadAll(resp.Body)
				return resp.StatusCode, string(b)
			}
			req, _ := http.NewRequest("GET", base+"/up/"+strings.Repeat("u", 200), nil)
			if code, _ := do(req); code != 414 {
				t.Errorf("long URL: %d", code)
			}
			req, _ = http.NewRequest("GET", base+"/up/", nil)
			for i := range 12 {
				req.Header.Set(fmt.Sprintf("X-F%d", i), "v")
			}
			if code, _ := do(req); code != 431 {
				t.Errorf("too many fields: %d", code)
			}
			req, _ = http.NewRequest("POST", base+"/up/", strings.NewReader("abc"))
			req.Header["X_Forwarded_For"] = []string{"10.6.6.6"}
			if code, body := do(req); code != 200 || strings.Contains(body, "10.6.6.6") || !strings.HasSuffix(body, "body=abc") {
				t.Errorf("underscore header: %d %q", code, body)
			}
			before := backendClosed.Load()
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
			req, _ = http.NewRequest("POST", base+"/up/slow", pr)
			req.ContentLength = 1000
			if code, body := do(req); code != 408 {
				t.Errorf("slow body: %d %q", code, body)
			}
			for deadline := time.Now().Add(5 * time.Second); backendClosed.Load() == before; time.Sleep(10 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("the backend connection the upload held was not closed after the 408")
				}
			}
		})
	}
	// The slow upload is the client's fault in the log too: 408
	// ClientConnectionFailure, never a BackendConnectionFailure a breaker
	// would count.
	for _, log := range []string{filepath.Join(dir, "plain.log"), filepath.Join(tdir, "tls.log")} {
		var line map[string]any
		for deadline := time.Now().Add(5 * time.Second); line == nil; time.Sleep(20 * time.Millisecond) {
			b, _ := os.ReadFile(log)
			for _, l := range strings.Split(string(b), "\n") {
				var rec map[string]any
				if json.Unmarshal([]byte(l), &rec) == nil && strings.HasSuffix(fmt.Sprint(rec["Url"]), "/up/slow") {
					line = rec
				}
			}
			if line == nil && time.Now().After(deadline) {
				t.Fatalf("%s: no log line for the slow upload:\n%s", log, b)
			}
		}
		if line["ResponseCode"] != float64(408) || line["LastErrorReason"] != "ClientConnectionFailure" {
			t.Errorf("%s: slow upload logged as %v %v, want 408 ClientConnectionFailure: %v", log, line["ResponseCode"], line["LastErrorReason"], line)
		}
	}
}
