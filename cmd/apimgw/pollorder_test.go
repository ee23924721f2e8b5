package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// TestPollOrder runs testdata/pollorder, built with go build and with
// scripts/build, and checks the order in which goroutines woken by network
// readiness together run: Go's poller runs them in the reverse of the
// order they became ready, scripts/build's in that order (the kernel's).
// Should Go's own order change, the first half fails: scripts/build's
// overlay is then no longer needed.
func TestPollOrder(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("scripts/build changes the Linux poller only")
	}
	dir := t.TempDir()
	for _, c := range []struct {
		name, env   string
		wantInOrder bool
	}{
		{"go", "APIMGW_POLL_ORDER=go", false},
		{"scripts/build", "", true},
	} {
		bin := filepath.Join(dir, strings.ReplaceAll(c.name, "/", "-"))
		build := exec.Command("../../scripts/build", "-o", bin, "./testdata/pollorder")
		build.Env = append(os.Environ(), c.env)
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", c.name, err, out)
		}
		for run := 0; run < 3; run++ {
			out, err := exec.Command(bin).Output()
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			var order []int
			for _, f := range strings.Fields(string(out)) {
				i, err := strconv.Atoi(f)
				if err != nil {
					t.Fatalf("%s: output %q", c.name, out)
				}
				order = append(order, i)
			}
			if len(order) != 32 {
				t.Fatalf("%s: %d goroutines in %q, want 32", c.name, len(order), out)
			}
			// Pairs run in the order they became ready, of the 496:
			// all of them in epoll's order, none in its reverse. A few
			// may differ when the machine is busy (a reader descheduled
			// before its read waited).
			inOrder, pairs := 0, 0
			for i := range order {
				for j := i + 1; j < len(order); j++ {
					pairs++
					if order[i] < order[j] {
						inOrder++
					}
				}
			}
			if c.wantInOrder && inOrder < pairs*9/10 || !c.wantInOrder && inOrder > pairs/10 {
				t.Errorf("%s: run order %v: %d of %d pairs in the order they became ready", c.name, order, inOrder, pairs)
			}
		}
	}
}
