package diagnose

import (
	"bytes"
	"context"
	"fmt"
	"github.com/apimgw/apimgw/internal/testnet"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// gatewayLines renders n apimgw log lines: ok ones, or the SNAT incident's
// BackendConnectionFailure, to the backend the gateway calls "naive".
func gatewayLines(n int, fail bool) string {
	var b strings.Builder
	now := time.Now().UTC().Format(time.RFC3339Nano)
	for range n {
		if fail {
			fmt.Fprintf(&b, `{"TimeGenerated":%q,"ApiId":"naive","ResponseCode":502,"BackendResponseCode":0,"BackendTime":0,"TotalTime":1,"BackendUrl":"http://localhost:9001/x","BackendId":"naive","LastErrorReason":"BackendConnectionFailure","LastErrorMessage":"Unable to connect to the remote server","LastErrorDetail":"connect 127.0.0.1:9001: snat port budget exhausted (budget of 50 ports, 50 held)"}`+"\n", now)
		} else {
			fmt.Fprintf(&b, `{"TimeGenerated":%q,"ApiId":"naive","ResponseCode":200,"BackendResponseCode":200,"BackendTime":20,"TotalTime":21,"BackendUrl":"http://localhost:9001/x","BackendId":"naive"}`+"\n", now)
		}
	}
	return b.String()
}

func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// waitOutput waits (bounded) until out has n lines containing want.
func waitOutput(t *testing.T, out *testnet.Buffer, want string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(out.String(), want) < n {
		if time.Now().After(deadline) {
			t.Fatalf("no %d× %q in the watch output after 10 s:\n%s", n, want, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestWatchFollowsIncidents appends to a log file while Watch follows it:
// an incident starts and ends, and the log being truncated, then rotated
// (renamed away and created again), does not lose the lines that follow.
func TestWatchFollowsIncidents(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gateway.log")
	// Lines already in the file before the watch starts do not count.
	appendFile(t, path, gatewayLines(50, true))
	var out testnet.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	started := make(chan struct{})
	go func() {
		done <- Watch(ctx, path, WatchOptions{Window: 2 * time.Second, Poll: 20 * time.Millisecond, Started: func() { close(started) }}, &out)
	}()
	select {
	case <-started:
	case err := <-done:
		t.Fatalf("Watch: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("Watch did not start")
	}
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Watch: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Watch did not return after cancel")
		}
	}()
	time.Sleep(100 * time.Millisecond)
	if s := out.String(); s != "" {
		t.Fatalf("old lines reported: %s", s)
	}

	// The incident: a partial line first, completed in the next write.
	appendFile(t, path, gatewayLines(10, false))
	lines := gatewayLines(30, true)
	appendFile(t, path, lines[:len(lines)-40])
	time.Sleep(50 * time.Millisecond)
	appendFile(t, path, lines[len(lines)-40:])
	waitOutput(t, &out, "incident started: snat-exhaustion on http://localhost:9001 (backend naive): ", 1)
	// Healthy traffic only: the failures leave the 2 s window.
	appendFile(t, path, gatewayLines(5, false))
	waitOutput(t, &out, "incident ended: snat-exhaustion on http://localhost:9001 (backend naive) after", 1)
	if !strings.Contains(out.String(), ", 30 failed requests") {
		t.Errorf("end line does not count the 30 failures:\n%s", out.String())
	}

	// Truncated (copytruncate): the lines written afterwards are read.
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	appendFile(t, path, gatewayLines(8, true))
	waitOutput(t, &out, "incident started: snat-exhaustion", 2)
	waitOutput(t, &out, "incident ended: snat-exhaustion", 2)

	// Rotated: renamed away, a new file created at the path.
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	appendFile(t, path, gatewayLines(8, true))
	waitOutput(t, &out, "incident started: snat-exhaustion", 3)
	waitOutput(t, &out, "incident ended: snat-exhaustion", 3)
	t.Logf("watch output:\n%s", out.String())
}

// TestWatchMainUsage: --watch takes exactly one file, and says which cannot be opened.
func TestWatchMainUsage(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Main([]string{"--watch", "a.log", "b.log"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "exactly one LOGFILE") {
		t.Fatalf("two files: code %d, stderr %q", code, errb.String())
	}
	errb.Reset()
	if code := Main([]string{"--watch", filepath.Join(t.TempDir(), "missing.log")}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "open log file") {
		t.Fatalf("missing file: code %d, stderr %q", code, errb.String())
	}
}
