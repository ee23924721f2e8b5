//go:build linux

// Command connmem measures what idle keep-alive connections and slowloris
// connections cost an apimgw process: it starts the given apimgw binary
// (with a backend of its own, on loopback), opens the connections, and
// prints the process's RSS and the Go runtime's heap and stack in use
// (from the admin /metrics) before and after, per connection.
//
//	go build -o /tmp/apimgw ./cmd/apimgw && go run ./bench/connmem -bin /tmp/apimgw
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	bin := flag.String("bin", "", "apimgw binary")
	idle := flag.Int("idle", 5000, "idle keep-alive connections (each has served one proxied request)")
	slow := flag.Int("slow", 2000, "slowloris connections (a partial head, a byte every few seconds)")
	settle := flag.Duration("settle", 3*time.Second, "wait before measuring")
	batch := flag.Int("batch", 250, "open the idle connections this many at a time, pausing -pause between batches (as connections accumulate in service); -batch 0 opens them all at once")
	pause := flag.Duration("pause", 1500*time.Millisecond, "pause between batches (apimgw parks a connection idle for 1 s)")
	flag.Parse()
	if *bin == "" {
		fmt.Fprintln(os.Stderr, "connmem: -bin is required")
		os.Exit(2)
	}
	if err := run(*bin, *idle, *slow, *settle, *batch, *pause); err != nil {
		fmt.Fprintln(os.Stderr, "connmem:", err)
		os.Exit(1)
	}
}

func freePort() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func run(bin string, nIdle, nSlow int, settle time.Duration, batch int, pause time.Duration) error {
	be, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go http.Serve(be, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, strings.Repeat("x", 64))
	}))
	dir, err := os.MkdirTemp("", "connmem")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	data, admin := freePort(), freePort()
	cfg := fmt.Sprintf(`listen: 127.0.0.1:%d
admin: 127.0.0.1:%d
logs: {path: /dev/null}
apis:
  - id: bench
    path: ""
    serviceUrl: http://%s
    subscriptionRequired: false
    operations:
      - {id: all, method: GET, urlTemplate: "/*"}
`, data, admin, be.Addr())
	file := filepath.Join(dir, "gateway.yaml")
	if err := os.WriteFile(file, []byte(cfg), 0o644); err != nil {
		return err
	}
	cmd := exec.Command(bin, "serve", "-c", file, "-log-level", "warn")
	cmd.Env = append(os.Environ(), "GOGC=100")
	// The gateway ends with connmem, however connmem ends.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	defer cmd.Process.Kill()
	addr := fmt.Sprintf("127.0.0.1:%d", data)
	adminURL := fmt.Sprintf("http://127.0.0.1:%d", admin)
	for i := 0; ; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if i > 100 {
			return fmt.Errorf("apimgw did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Warm up: some requests on a few connections.
	for range 4 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return err
		}
		br := bufio.NewReader(c)
		for range 50 {
			if err := roundTrip(c, br); err != nil {
				return err
			}
		}
		c.Close()
	}
	pid := cmd.Process.Pid
	base := measure(pid, adminURL, settle)
	fmt.Printf("%-28s %s\n", "baseline", base)

	conns := make([]net.Conn, 0, nIdle)
	for range nIdle {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return fmt.Errorf("idle connection %d: %w", len(conns), err)
		}
		if err := roundTrip(c, bufio.NewReader(c)); err != nil {
			return err
		}
		conns = append(conns, c)
		if batch > 0 && len(conns)%batch == 0 && len(conns) < nIdle {
			time.Sleep(pause)
		}
	}
	after := measure(pid, adminURL, settle)
	fmt.Printf("%-28s %s\n", fmt.Sprintf("%d idle keep-alive", nIdle), after)
	fmt.Printf("%-28s %s\n", "  per connection", after.per(base, nIdle))
	for _, c := range conns {
		c.Close()
	}
	time.Sleep(time.Second)
	base2 := measure(pid, adminURL, settle)
	fmt.Printf("%-28s %s\n", "idle closed (baseline)", base2)

	conns = conns[:0]
	for range nSlow {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return fmt.Errorf("slow connection %d: %w", len(conns), err)
		}
		if _, err := io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: a\r\nX-Slow: "); err != nil {
			return err
		}
		conns = append(conns, c)
	}
	stop := make(chan struct{})
	go func() { // a byte every 2 s, within the 30 s header timeout
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				for _, c := range conns {
					c.Write([]byte("s"))
				}
			}
		}
	}()
	slowAfter := measure(pid, adminURL, settle)
	close(stop)
	fmt.Printf("%-28s %s\n", fmt.Sprintf("%d slowloris", nSlow), slowAfter)
	fmt.Printf("%-28s %s\n", "  per connection", slowAfter.per(base2, nSlow))
	for _, c := range conns {
		c.Close()
	}
	return nil
}

func roundTrip(c net.Conn, br *bufio.Reader) error {
	if _, err := io.WriteString(c, "GET /x HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
		return err
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return err
}

type sample struct{ rss, heap, stack, goroutines float64 }

func (s sample) String() string {
	return fmt.Sprintf("RSS %8.1f MiB  heap in use %7.1f MiB  stacks %7.1f MiB  goroutines %6.0f",
		s.rss/(1<<20), s.heap/(1<<20), s.stack/(1<<20), s.goroutines)
}

func (s sample) per(base sample, n int) string {
	if n == 0 {
		return "-"
	}
	f := float64(n)
	return fmt.Sprintf("RSS %8.2f KiB  heap in use %7.2f KiB  stacks %7.2f KiB  goroutines %6.2f",
		(s.rss-base.rss)/f/1024, (s.heap-base.heap)/f/1024, (s.stack-base.stack)/f/1024, (s.goroutines-base.goroutines)/f)
}

// measure waits, asks for a garbage collection (the heap profile's gc=1,
// when the admin port serves pprof) and reads the numbers.
func measure(pid int, adminURL string, settle time.Duration) sample {
	time.Sleep(settle)
	if resp, err := http.Get(adminURL + "/debug/pprof/heap?gc=1"); err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	time.Sleep(200 * time.Millisecond)
	var s sample
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
				s.rss = kb * 1024
			}
		}
	}
	resp, err := http.Get(adminURL + "/metrics")
	if err != nil {
		return s
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		v, _ := strconv.ParseFloat(val, 64)
		switch name {
		case "go_memstats_heap_inuse_bytes":
			s.heap = v
		case "go_memstats_stack_inuse_bytes":
			s.stack = v
		case "go_goroutines":
			s.goroutines = v
		}
	}
	return s
}
