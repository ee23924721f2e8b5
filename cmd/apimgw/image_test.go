package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// podmanCmd runs podman with the flags this sandbox (and any root machine
// without systemd) needs: runc when it is installed, cgroupfs, and a
// containers.conf without default ulimits or a pids limit unless
// CONTAINERS_CONF already names one.
type podmanCmd struct {
	t      *testing.T
	global []string
	env    []string
}

func newPodman(t *testing.T) *podmanCmd {
	t.Helper()
	if _, err := exec.LookPath("podman"); err != nil {
		t.Skip("podman not on PATH: apt-get install podman runc (scripts/test installs them)")
	}
	p := &podmanCmd{t: t, global: []string{"--cgroup-manager=cgroupfs"}, env: os.Environ()}
	if _, err := exec.LookPath("runc"); err == nil {
		p.global = append(p.global, "--runtime", "runc")
	}
	if os.Getenv("CONTAINERS_CONF") == "" {
		conf := filepath.Join(t.TempDir(), "containers.conf")
		os.WriteFile(conf, []byte("[containers]\ndefault_ulimits = []\npids_limit = 0\n"), 0o644)
		p.env = append(p.env, "CONTAINERS_CONF="+conf)
	}
	if out, err := p.cmd("info", "--format", "{{.Host.OCIRuntime.Name}}").CombinedOutput(); err != nil {
		t.Skipf("podman cannot run here: podman info: %v\n%s", err, out)
	}
	return p
}

func (p *podmanCmd) cmd(args ...string) *exec.Cmd {
	c := exec.Command("podman", append(append([]string{}, p.global...), args...)...)
	c.Env = p.env
	return c
}

// out runs podman and returns its trimmed stdout, failing the test on error.
func (p *podmanCmd) out(args ...string) string {
	p.t.Helper()
	var stderr bytes.Buffer
	c := p.cmd(args...)
	c.Stderr = &stderr
	out, err := c.Output()
	if err != nil {
		p.t.Fatalf("podman %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// TestContainerImage builds the image with scripts/image (offline, FROM
// scratch), checks its size, user and health check, runs it with podman and a
// mounted configuration, proxies a request to a loopback backend through it,
// checks the process runs as a non-root user, and stops it with SIGTERM.
func TestContainerImage(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the image test builds a static binary and a container image")
	}
	pm := newPodman(t)
	tag := fmt.Sprintf("localhost/apimgw:test-%d", os.Getpid())

	buildStart := time.Now()
	script := exec.Command("./scripts/image", tag)
	script.Dir = filepath.Join("..", "..")
	script.Env = append(append([]string{}, pm.env...), "PODMAN_GLOBAL_FLAGS="+strings.Join(pm.global, " "))
	var scriptErr bytes.Buffer
	script.Stderr = &scriptErr
	out, err := script.Output()
	if err != nil {
		t.Fatalf("scripts/image: %v\n%s", err, scriptErr.String())
	}
	t.Cleanup(func() { pm.cmd("rmi", "-f", tag).Run() })
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if got := lines[len(lines)-1]; got != tag {
		t.Fatalf("scripts/image printed %q last, want the tag %q", got, tag)
	}
	t.Logf("scripts/image (static build + podman build): %v", time.Since(buildStart).Round(100*time.Millisecond))

	size, err := strconv.ParseInt(pm.out("image", "inspect", "--format", "{{.Size}}", tag), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("image size: %.1f MB", float64(size)/1e6)
	if size >= 40e6 {
		t.Errorf("image is %d bytes, want under 40 MB", size)
	}
	if user := pm.out("image", "inspect", "--format", "{{.Config.User}}", tag); user != "65532:65532" {
		t.Errorf("image user %q, want 65532:65532", user)
	}
	if hc := pm.out("image", "inspect", "--format", "{{json .HealthCheck}}", tag); !strings.Contains(hc, "healthcheck") {
		t.Errorf("image health check %s, want apimgw healthcheck", hc)
	}
	ports := pm.out("image", "inspect", "--format", "{{json .Config.ExposedPorts}}", tag)
	if !strings.Contains(ports, "8080/tcp") || !strings.Contains(ports, "9090/tcp") {
		t.Errorf("exposed ports %s, want 8080 and 9090", ports)
	}
	if v := pm.out("run", "--rm", "--network=none", tag, "version"); !strings.Contains(v, "commit: ") || strings.Contains(v, "commit: unknown") {
		t.Errorf("apimgw version in the image does not name its commit:\n%s", v)
	}

	var hits atomic.Int64
	backend := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "backend saw %s %s from %s", r.Method, r.URL.Path, r.Header.Get("X-Via"))
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go backend.Serve(ln)
	t.Cleanup(func() { backend.Close() })

	dataPort, adminPort := freePort(t), freePort(t)
	dir := writeFiles(t, map[string]string{
		"gateway.yaml": fmt.Sprintf(`
listen: 127.0.0.1:%d
admin: 127.0.0.1:%d
logs: {path: "-"}
shutdown: {timeout: 10s}
apis:
  - id: echo
    path: echo
    serviceUrl: http://%s/api
    subscriptionRequired: false
    policy: policies/echo.xml
    operations: [{id: all, method: GET, urlTemplate: "/*"}]
`, dataPort, adminPort, ln.Addr()),
		"policies/echo.xml": `<policies><inbound><base/><set-header name="X-Via" exists-action="override"><value>apimgw-container</value></set-header></inbound>
<backend><base/></backend><outbound><base/></outbound><on-error><base/></on-error></policies>`,
	})
	// The container's user (65532) reads the mounted files.
	for _, p := range []string{dir, filepath.Join(dir, "policies")} {
		os.Chmod(p, 0o755)
	}

	name := fmt.Sprintf("apimgw-test-%d", os.Getpid())
	start := time.Now()
	pm.out("run", "-d", "--name", name, "--network=host", "--read-only", "--cap-drop=ALL",
		"--security-opt=no-new-privileges", "-e", fmt.Sprintf("APIMGW_ADMIN=127.0.0.1:%d", adminPort),
		"-v", dir+":/etc/apimgw:ro", tag)
	t.Cleanup(func() { pm.cmd("rm", "-f", "-t", "0", name).Run() })
	url := fmt.Sprintf("http://127.0.0.1:%d/echo/hello", dataPort)
	var body string
	for {
		resp, err := http.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
			}
			body = string(b)
			break
		}
		if time.Since(start) > 30*time.Second {
			logs, _ := pm.cmd("logs", name).CombinedOutput()
			t.Fatalf("the container did not serve within 30s: %v\n%s", err, logs)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("podman run to first proxied 200: %v", time.Since(start).Round(time.Millisecond))
	if body != "backend saw GET /api/hello from apimgw-container" || hits.Load() != 1 {
		t.Errorf("through the container: body %q, %d backend hits", body, hits.Load())
	}

	// The gateway process runs as 65532, not root, as the host sees it.
	pid := pm.out("inspect", "--format", "{{.State.Pid}}", name)
	status, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(l, "Uid:") || strings.HasPrefix(l, "Gid:") {
			if f := strings.Fields(l); len(f) != 5 || f[1] != "65532" || f[2] != "65532" {
				t.Errorf("container process %s, want 65532 for every id", l)
			}
		}
	}
	// The image's HEALTHCHECK (apimgw healthcheck at $APIMGW_ADMIN, no
	// shell) passes, and fails once the admin listener is gone.
	if out, err := pm.cmd("healthcheck", "run", name).Output(); err != nil {
		t.Errorf("podman healthcheck run: %v %q", err, out)
	}
	hc := pm.cmd("exec", name, "/usr/local/bin/apimgw", "healthcheck", "-admin", "127.0.0.1:1")
	if out, err := hc.CombinedOutput(); err == nil || !strings.Contains(string(out), "refused") {
		t.Errorf("apimgw healthcheck against a closed port: %v\n%s", err, out)
	}

	stopStart := time.Now()
	pm.out("stop", "-t", "30", name)
	t.Logf("podman stop (SIGTERM, drain): %v", time.Since(stopStart).Round(time.Millisecond))
	if code := pm.out("inspect", "--format", "{{.State.ExitCode}}", name); code != "0" {
		logs, _ := pm.cmd("logs", name).CombinedOutput()
		t.Errorf("container exit code %s after SIGTERM, want 0\n%s", code, logs)
	}
	logs, _ := pm.cmd("logs", name).CombinedOutput()
	if !strings.Contains(string(logs), "shutting down") || !strings.Contains(string(logs), `"ApiId":"echo"`) {
		t.Errorf("container log lacks the shutdown line or the request log:\n%s", logs)
	}
}

// TestContainerfilesAgree: Containerfile.multistage (needs a registry, so
// not built here) ends in the same image as Containerfile: the final stage's
// instructions are the same, COPY sources aside.
func TestContainerfilesAgree(t *testing.T) {
	finalStage := func(name string) []string {
		b, err := os.ReadFile(filepath.Join("..", "..", name))
		if err != nil {
			t.Fatal(err)
		}
		var lines []string
		for _, l := range strings.Split(strings.ReplaceAll(string(b), "\\\n", " "), "\n") {
			l = strings.Join(strings.Fields(l), " ")
			switch {
			case l == "" || strings.HasPrefix(l, "#"):
				continue
			case strings.HasPrefix(l, "FROM "):
				lines = nil // a new stage
			case strings.HasPrefix(l, "COPY "):
				f := strings.Fields(l)
				l = "COPY " + f[len(f)-1] // the destination
			}
			lines = append(lines, l)
		}
		return lines
	}
	plain, multi := finalStage("Containerfile"), finalStage("Containerfile.multistage")
	if strings.Join(plain, "\n") != strings.Join(multi, "\n") {
		t.Errorf("final stages differ:\nContainerfile:\n%s\n\nContainerfile.multistage:\n%s", strings.Join(plain, "\n"), strings.Join(multi, "\n"))
	}
	if target, err := os.Readlink(filepath.Join("..", "..", "Dockerfile")); err != nil || target != "Containerfile.multistage" {
		t.Errorf("Dockerfile should link to Containerfile.multistage: %q %v", target, err)
	}
}

// TestImageDefaultConfig: the configuration baked into the image
// (/etc/apimgw/gateway.yaml) compiles.
func TestImageDefaultConfig(t *testing.T) {
	out, err := exec.Command(binary, "validate", "-c", filepath.Join("..", "..", "deploy", "container", "gateway.yaml")).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "OK (1 APIs") {
		t.Fatalf("apimgw validate deploy/container/gateway.yaml: %v\n%s", err, out)
	}
}
