package gateway

import (
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apimgw/apimgw/internal/httpserver"
)

// TestBackendTrailersForwarded: a backend's trailer (gRPC's status, say)
// reaches the client after the body, over the TLS listener's HTTP/2 and
// over the cleartext server's chunked HTTP/1.1; a policy that replaces the
// body drops it.
func TestBackendTrailersForwarded(t *testing.T) {
	body := strings.Repeat("m", 10<<10)
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "Grpc-Status, Grpc-Message")
		io.WriteString(w, body)
		w.(http.Flusher).Flush()
		w.Header().Set("Grpc-Status", "0")
		w.Header().Set("Grpc-Message", "ok")
	}))
	defer be.Close()
	dir := t.TempDir()
	pool := writeCert(t, dir)
	const replacePolicy = `<policies><inbound><base/></inbound><backend><base/></backend><outbound><base/><set-body>replaced</set-body></outbound><on-error><base/></on-error></policies>`
	os.WriteFile(filepath.Join(dir, "replace.xml"), []byte(replacePolicy), 0o644)
	apis := `apis:
  - id: s
    path: s
    serviceUrl: ` + be.URL + `
    subscriptionRequired: false
    operations:
      - {id: pass, method: GET, urlTemplate: /pass}
      - {id: replace, method: GET, urlTemplate: /replace, policy: replace.xml}
`
	secure := serveConfig(t, dir, "listen: 127.0.0.1:0\nadmin: 127.0.0.1:0\ntls: {cert: cert.pem, key: key.pem}\nlogs: {path: "+filepath.Join(dir, "tls.log")+"}\n"+apis)
	h := start(t, map[string]string{"gateway.yaml": apis, "replace.xml": replacePolicy})
	ln := listen(t)
	srv := &httpserver.Server{Handler: h.gw}
	go srv.Serve(ln)
	defer srv.Close()

	h2 := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
	defer h2.CloseIdleConnections()
	for name, base := range map[string]string{
		"HTTP/2 (TLS listener)": "https://" + strings.Replace(secure, "127.0.0.1", "localhost", 1),
		"HTTP/1.1 (cleartext)":  "http://" + ln.Addr().String(),
	} {
		resp, err := h2.Get(base + "/s/pass")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != body || resp.Trailer.Get("Grpc-Status") != "0" || resp.Trailer.Get("Grpc-Message") != "ok" {
			t.Errorf("%s: %s, %d bytes, trailer %v", name, resp.Proto, len(b), resp.Trailer)
		}
		resp, err = h2.Get(base + "/s/replace")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "replaced" || resp.Trailer.Get("Grpc-Status") != "" {
			t.Errorf("%s, body replaced: %q, trailer %v", name, b, resp.Trailer)
		}
	}
}

// TestRequestTrailersNotForwarded: a client's request trailer (fields after
// a streamed upload, which no check on the head saw: an Authorization, a
// subscription key, a checksum) does not reach the backend, over both
// servers, also when forward-request buffers the body; the body does.
func TestRequestTrailersNotForwarded(t *testing.T) {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		io.WriteString(w, string(b)+"|"+r.Trailer.Get("X-Checksum")+r.Trailer.Get("Authorization")+r.Trailer.Get("Ocp-Apim-Subscription-Key")+r.Header.Get("Authorization"))
	}))
	defer be.Close()
	policy := func(backend, inbound string) string {
		return `<policies><inbound><base/>` + inbound + `</inbound><backend>` + backend + `</backend><outbound><base/></outbound><on-error><base/></on-error></policies>`
	}
	h := start(t, map[string]string{
		"gateway.yaml": `apis:
  - id: s
    path: s
    serviceUrl: ` + be.URL + `
    subscriptionRequired: false
    operations:
      - {id: stream, method: POST, urlTemplate: /stream}
      - {id: buffered, method: POST, urlTemplate: /buffered, policy: buffered.xml}
      - {id: replaced, method: POST, urlTemplate: /replaced, policy: replaced.xml}
`,
		"buffered.xml": policy(`<forward-request buffer-request-body="true"/>`, ""),
		"replaced.xml": policy(`<base/>`, `<set-body>new body</set-body>`),
	})
	for name, base := range h.servers() {
		for path, want := range map[string]string{"/s/stream": "upload|", "/s/buffered": "upload|", "/s/replaced": "new body|"} {
			pr, pw := io.Pipe()
			go func() {
				io.WriteString(pw, "upload")
				pw.Close()
			}()
			req, _ := http.NewRequest("POST", base+path, pr) // unknown length: chunked
			req.Trailer = http.Header{"X-Checksum": {"abc"}, "Authorization": {"Bearer smuggled"}, "Ocp-Apim-Subscription-Key": {"k"}}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(got) != want {
				t.Errorf("%s %s: %d %q, want %q", name, path, resp.StatusCode, got, want)
			}
		}
	}
}
