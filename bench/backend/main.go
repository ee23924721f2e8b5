// Command backend is the benchmark backend: an HTTP server with a fixed
// small body that counts the TCP connections it accepts, so a benchmark can
// tell how many connections a proxy opened towards it. GET /stats answers
// {"accepted": N, "open": N}; POST /stats/reset zeroes the accepted count.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/apimgw/apimgw/bench/internal/serve"
)

func main() {
	addr := flag.String("listen", "127.0.0.1:9001", "address to listen on (loopback)")
	size := flag.Int("body", 64, "response body size in bytes")
	idle := flag.Duration("idle-timeout", 75*time.Second, "keep-alive idle timeout")
	flag.Parse()
	if err := run(*addr, *size, *idle); err != nil {
		fmt.Fprintln(os.Stderr, "backend:", err)
		os.Exit(1)
	}
}

type counters struct {
	accepted atomic.Int64
	open     atomic.Int64
}

func run(addr string, size int, idle time.Duration) error {
	if size < 0 {
		return fmt.Errorf("body size %d is negative", size)
	}
	body := []byte(strings.Repeat("x", size))
	clen := strconv.Itoa(len(body))
	var c counters
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]int64{"accepted": c.accepted.Load(), "open": c.open.Load()})
	})
	mux.HandleFunc("POST /stats/reset", func(w http.ResponseWriter, _ *http.Request) {
		c.accepted.Store(0)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		h := w.Header()
		h["Content-Type"] = []string{"text/plain"}
		h["Content-Length"] = []string{clen}
		_, _ = w.Write(body)
	})
	srv := &http.Server{
		Handler:           mux,
		IdleTimeout:       idle,
		ReadHeaderTimeout: 10 * time.Second,
		ConnState: func(_ net.Conn, s http.ConnState) {
			switch s {
			case http.StateNew:
				c.accepted.Add(1)
				c.open.Add(1)
			case http.StateClosed, http.StateHijacked:
				c.open.Add(-1)
			}
		},
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	log.Printf("benchmark backend on http://%s (body %d bytes)", ln.Addr(), size)
	return serve.UntilSignal(srv, ln)
}
