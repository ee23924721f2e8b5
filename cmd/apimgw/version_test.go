package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// TestVersionLdflags: -ldflags -X stamps version, commit and date, and
// `apimgw version` prints them.
func TestVersionLdflags(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "apimgw")
	build := exec.Command("go", "build", "-o", bin,
		"-ldflags", "-X main.version=v9.8.7 -X main.commit=0123456789abcdef -X main.date=2026-12-01T10:00:00Z", ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"apimgw v9.8.7\n", "  commit: 0123456789abcdef\n", "  date:   2026-12-01T10:00:00Z\n", "  go:     go"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("version output lacks %q:\n%s", want, out)
		}
	}
}

// TestVersionDefault: without -ldflags the fields are never empty.
func TestVersionDefault(t *testing.T) {
	out, err := exec.Command(binary, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "apimgw ") || lines[0] == "apimgw " {
		t.Fatalf("version output:\n%s", out)
	}
	for _, l := range lines[1:] {
		if k, v, ok := strings.Cut(strings.TrimSpace(l), ":"); !ok || strings.TrimSpace(v) == "" {
			t.Errorf("empty %q in version output:\n%s", k, out)
		}
	}
}

func TestHealthcheck(t *testing.T) {
	var status atomic.Int32
	status.Store(http.StatusOK)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz":
			w.WriteHeader(int(status.Load()))
		case "/readyz":
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	_, port, _ := strings.Cut(addr, ":")
	check := func(args ...string) (int, string) {
		var out, errb bytes.Buffer
		code := run(append([]string{"healthcheck"}, args...), &out, &errb)
		return code, out.String() + errb.String()
	}
	if code, out := check("-admin", addr); code != 0 || !strings.Contains(out, "200 OK") {
		t.Errorf("healthy: %d %q", code, out)
	}
	// A wildcard admin address, as the container's config has, is dialled on loopback.
	if code, out := check("-admin", "0.0.0.0:"+port, "-q"); code != 0 || out != "" {
		t.Errorf("wildcard: %d %q", code, out)
	}
	if code, out := check("-admin", ":"+port, "-path", "/readyz"); code != 1 || !strings.Contains(out, "503") {
		t.Errorf("readyz 503: %d %q", code, out)
	}
	status.Store(http.StatusInternalServerError)
	if code, out := check("-admin", addr); code != 1 || !strings.Contains(out, "500") {
		t.Errorf("unhealthy: %d %q", code, out)
	}
	srv.Close()
	if code, out := check("-admin", addr, "-timeout", "1s"); code != 1 || !strings.Contains(out, "refused") {
		t.Errorf("down: %d %q", code, out)
	}
	if code, _ := check("-admin", "nonsense"); code != 2 {
		t.Errorf("bad -admin: %d", code)
	}
	t.Setenv("APIMGW_ADMIN", "127.0.0.1:1")
	if code, out := check(); code != 1 || !strings.Contains(out, "127.0.0.1:1") {
		t.Errorf("APIMGW_ADMIN not used: %d %q", code, out)
	}
}
