package gateway

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// startNginx runs nginx (the oracle for path handling) in the foreground
// with one location, /a/, proxied to backend/base/, and returns its
// address. The test skips when nginx is not installed (scripts/test
// installs it).
func startNginx(t *testing.T, backend string) string {
	t.Helper()
	bin, err := exec.LookPath("nginx")
	if err != nil {
		for _, p := range []string{"/usr/sbin/nginx", "/usr/local/sbin/nginx"} {
			if _, serr := os.Stat(p); serr == nil {
				bin, err = p, nil
			}
		}
	}
	if err != nil {
		t.Skip("nginx is not installed (scripts/test installs nginx-light)")
	}
	dir := t.TempDir()
	addr := deadAddr(t) // a free port, taken by nginx below
	conf := fmt.Sprintf(`daemon off;
master_process off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path %[1]s/body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
  server {
    listen %[2]s;
    location /a/ { proxy_pass http://%[3]s/base/; }
  }
}
`, dir, addr, backend)
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return addr
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("nginx did not start: %v\n%s", err, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestPathNormalisationMatchesNginx: for the request targets where nginx
// and apimgw mean to agree, apimgw refuses what nginx refuses and forwards
// the same path, relative to the same base, as nginx's
// "location /a/ { proxy_pass http://backend/base/; }". Where apimgw is
// deliberately stricter (backslashes) or keeps what nginx changes (merged
// slashes), TestPathTraversalStaysInBase says what it does.
func TestPathNormalisationMatchesNginx(t *testing.T) {
	be, seenBy := echoBackend(t)
	ngx := startNginx(t, strings.TrimPrefix(be.URL, "http://"))
	h := start(t, map[string]string{"gateway.yaml": `
apis:
  - {id: a, path: a, serviceUrl: "` + be.URL + `/base", subscriptionRequired: false, operations: [{id: all, method: GET, urlTemplate: "/*"}]}
`})
	gw := strings.TrimPrefix(h.srv.URL, "http://")
	// outcome is what a target came to: the status class refused (4xx)
	// or the path the backend saw.
	outcome := func(addr, target string) string {
		before := len(seenBy())
		resp, _ := rawExchange(t, addr, "GET "+target+" HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n")
		got := seenBy()[before:]
		switch {
		case len(got) == 1 && resp.StatusCode == 200:
			return "forwarded " + got[0].Path + "?" + got[0].Query
		case len(got) == 0 && resp.StatusCode >= 400 && resp.StatusCode < 500:
			return fmt.Sprintf("refused %d", resp.StatusCode)
		}
		return fmt.Sprintf("status %d after %d backend calls", resp.StatusCode, len(got))
	}
	for _, target := range []string{
		"/a/x",
		"/a/x/../y",
		"/a/x/%2e%2e/y",
		"/a/x/%2E%2E/y",
		"/a/x/./y/.",
		"/a/x/.%2e/y",
		"/a/b/..%2fc",
		"/a/b/c/..%2F..%2Fd",
		"/a/x%23y",
		"/a/x?q=1",
		"/a/..",
		"/a/../../admin",
		"/a/..%2f..%2fadmin",
		"/a/..%2F..%2Fadmin",
		"/a/%2e%2e/%2e%2e/admin",
		"/a/x/..%2f..%2f..%2fadmin",
		"/a/%2e%2e%2f%2e%2e%2fadmin",
		"/a/./../../admin",
		"/a/x#frag",
		"/a/x?q=1#frag",
	} {
		want, got := outcome(ngx, target), outcome(gw, target)
		// nginx answers 404 for "/" here (no location), apimgw too (no
		// API); both refuse a climb above the root with 400.
		if want != got {
			t.Errorf("GET %s: nginx %s, apimgw %s", target, want, got)
		}
	}
}
