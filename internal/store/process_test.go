package store

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestTwoProcessesShareOneLimit runs two separate processes (this test
// binary re-executed as a helper), each with its own Redis store, making 15
// calls each against rate-limit-by-key calls="10": together they are
// admitted exactly 10.
func TestTwoProcessesShareOneLimit(t *testing.T) {
	addr := redisAddr(t)
	key := uniqueKey(t, "processes")
	var wg sync.WaitGroup
	admitted := make([]int, 2)
	for i := range admitted {
		wg.Go(func() {
			cmd := exec.Command(os.Args[0], "-test.run=^TestStoreHelperProcess$", "-test.count=1")
			cmd.Env = append(os.Environ(), "APIMGW_STORE_HELPER=1", "APIMGW_STORE_HELPER_REDIS="+addr, "APIMGW_STORE_HELPER_KEY="+key)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Errorf("helper process %d: %v\n%s", i, err, out)
				return
			}
			for _, line := range strings.Split(string(out), "\n") {
				if v, ok := strings.CutPrefix(line, "admitted="); ok {
					admitted[i], _ = strconv.Atoi(v)
				}
			}
		})
	}
	wg.Wait()
	if total := admitted[0] + admitted[1]; total != 10 {
		t.Fatalf("processes admitted %v = %d calls, want 10 in total", admitted, total)
	}
}

// TestStoreHelperProcess is the helper process of
// TestTwoProcessesShareOneLimit; it does nothing in a normal test run.
func TestStoreHelperProcess(t *testing.T) {
	if os.Getenv("APIMGW_STORE_HELPER") != "1" {
		t.Skip("helper process for TestTwoProcessesShareOneLimit")
	}
	s, err := New(Config{Type: TypeRedis, Redis: RedisConfig{Addr: os.Getenv("APIMGW_STORE_HELPER_REDIS"), Timeout: 3 * time.Second}},
		prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	n := 0
	for range 15 {
		d, err := s.RateLimit(context.Background(), os.Getenv("APIMGW_STORE_HELPER_KEY"), RateSpec{Limit: 10, Period: time.Minute}, 1)
		if err != nil {
			t.Fatal(err)
		}
		if d.Allowed {
			n++
		}
	}
	fmt.Printf("admitted=%d\n", n)
}
