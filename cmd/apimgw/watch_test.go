package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDiagnoseWatch runs `apimgw diagnose --watch` on a log file that the
// test appends to, and reads the lines the command prints when the
// incident starts and ends.
func TestDiagnoseWatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gateway.log")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary, "diagnose", "--watch", "--window", "2s", path)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	// The command says it is watching once the file is open and at its end.
	ready := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stderr).ReadString('\n')
		ready <- line
	}()
	select {
	case l := <-ready:
		if !strings.Contains(l, "watching "+path) {
			t.Fatalf("stderr: %q", l)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("diagnose --watch did not start")
	}
	lines := make(chan string, 10)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Format(time.RFC3339Nano)
	for range 20 {
		fmt.Fprintf(f, `{"TimeGenerated":%q,"ApiId":"naive","ResponseCode":502,"BackendResponseCode":0,"BackendUrl":"http://localhost:9001/x","BackendId":"naive","LastErrorReason":"BackendConnectionFailure","LastErrorMessage":"Unable to connect to the remote server"}`+"\n", now)
	}
	f.Close()
	next := func(want string) {
		t.Helper()
		select {
		case l, ok := <-lines:
			if !ok || !strings.Contains(l, want) {
				t.Fatalf("got %q (open %v), want a line with %q", l, ok, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no %q line after 10 s", want)
		}
	}
	next("incident started: snat-exhaustion on http://localhost:9001 (backend naive): 20 of 20 requests")
	next("incident ended: snat-exhaustion on http://localhost:9001 (backend naive)")
	cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("diagnose --watch exited with %v on SIGINT, want 0", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("diagnose --watch did not stop on SIGINT")
	}
}
