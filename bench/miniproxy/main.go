// Command miniproxy is a minimal reverse proxy over backend.Manager, used
// to benchmark the outbound connection manager on its own (without the
// policy pipeline): every request is forwarded to -backend with its
// method, path, query and end-to-end headers, and the response streamed
// back. -profile writes a CPU profile of the run.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime/pprof"
	"sync"
	"time"

	"github.com/apimgw/apimgw/bench/internal/serve"

	"github.com/apimgw/apimgw/internal/backend"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8081", "address to listen on (loopback)")
	target := flag.String("backend", "http://127.0.0.1:9001", "backend base URL")
	stdlib := flag.Bool("stdlib", false, "use a tuned net/http Transport instead of backend.Manager (for comparison)")
	profile := flag.String("profile", "", "write a CPU profile to this file")
	flag.Parse()
	if err := run(*listen, *target, *stdlib, *profile); err != nil {
		fmt.Fprintln(os.Stderr, "miniproxy:", err)
		os.Exit(1)
	}
}

var hopByHop = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func run(listen, target string, stdlib bool, profile string) error {
	base, err := url.Parse(target)
	if err != nil {
		return fmt.Errorf("backend URL: %w", err)
	}
	var rt http.RoundTripper
	if stdlib {
		rt = &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256, IdleConnTimeout: 50 * time.Second, DisableCompression: true}
	} else {
		m, err := backend.NewManager(backend.Options{}, nil, nil)
		if err != nil {
			return err
		}
		defer m.Close()
		rt = m
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out := r.Clone(r.Context())
		out.RequestURI = ""
		u := *base
		u.Path, u.RawPath, u.RawQuery = r.URL.Path, r.URL.RawPath, r.URL.RawQuery
		out.URL = &u
		out.Host = base.Host
		if r.ContentLength == 0 {
			out.Body = nil
		}
		for _, k := range hopByHop {
			out.Header.Del(k)
		}
		resp, err := rt.RoundTrip(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		dst := w.Header()
		for k, vv := range resp.Header {
			dst[k] = vv
		}
		for _, k := range hopByHop {
			dst.Del(k)
		}
		w.WriteHeader(resp.StatusCode)
		bp := bufPool.Get().(*[]byte)
		_, _ = io.CopyBuffer(w, resp.Body, *bp)
		bufPool.Put(bp)
	})
	if profile != "" {
		f, err := os.Create(profile)
		if err != nil {
			return fmt.Errorf("profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", listen, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	log.Printf("miniproxy on http://%s -> %s", ln.Addr(), target)
	return serve.UntilSignal(srv, ln)
}
