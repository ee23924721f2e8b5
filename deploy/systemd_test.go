package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const unitFile = "systemd/apimgw.service"

// TestSystemdUnit checks the unit's hardening and reload settings, and runs
// systemd-analyze verify on it (with ExecStart pointing at a freshly built
// apimgw, since verify checks that the command exists); any warning fails.
func TestSystemdUnit(t *testing.T) {
	src, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	set := map[string][]string{}
	for _, l := range strings.Split(string(src), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") || strings.HasPrefix(l, "[") {
			continue
		}
		k, v, _ := strings.Cut(l, "=")
		set[k] = append(set[k], v)
	}
	for k, want := range map[string]string{
		"DynamicUser": "yes", "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
		"PrivateTmp": "yes", "PrivateDevices": "yes", "CapabilityBoundingSet": "", "AmbientCapabilities": "",
		"ExecReload": "/bin/kill -HUP $MAINPID", "KillSignal": "SIGTERM",
		"ExecStart": "/usr/local/bin/apimgw serve -c /etc/apimgw/gateway.yaml",
	} {
		if v := set[k]; len(v) != 1 || v[0] != want {
			t.Errorf("%s=%q, want %q", k, v, want)
		}
	}
	// The stop timeout leaves room for the default drain and the wait for
	// one-way calls after it (shutdown.timeout, 30s, each).
	if d, err := time.ParseDuration(strings.Join(set["TimeoutStopSec"], "")); err != nil || d <= 60*time.Second {
		t.Errorf("TimeoutStopSec=%v (%v), want above twice the 30s default shutdown.timeout", set["TimeoutStopSec"], err)
	}

	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("systemd-analyze not on PATH (apt-get install systemd): the unit was not verified")
	}
	bin, err := buildApimgw()
	if err != nil {
		t.Fatal(err)
	}
	unit := filepath.Join(t.TempDir(), "apimgw.service")
	if err := os.WriteFile(unit, []byte(strings.ReplaceAll(string(src), "/usr/local/bin/apimgw", bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("systemd-analyze", "verify", unit).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}
