// Command tlsconns measures new TLS connections per second: each of -c
// workers, in a loop for -d, opens a TLS connection (HTTP/1.1 by ALPN),
// sends one GET with Connection: close, reads the whole response and
// closes. The workers share one client session cache, so after its first
// connection a worker resumes a session (a ticket from the server) rather
// than doing a full handshake: what a fleet of returning clients costs a
// TLS-terminating proxy. The key exchange offered is X25519 or P-256 (see
// -pq), what wrk, OpenSSL 3.0 and an nginx built on it do. The server's certificate is not verified
// (loopback benchmark only).
//
// Output, one line: connections per second, the share that resumed,
// errors, connections, and the CPU time this client used over the run's
// wall time (cpu=, user and system: near 100 % with the client pinned to
// one core, the client, not the server, sets the rate).
package main

import (
	"bufio"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	target := flag.String("url", "https://127.0.0.1:8092/bench", "https URL to GET (loopback)")
	dur := flag.Duration("d", 10*time.Second, "duration")
	conns := flag.Int("c", 16, "concurrent workers")
	resume := flag.Bool("resume", true, "keep sessions for resumption")
	pq := flag.Bool("pq", false, "offer Go's default key exchanges, post-quantum hybrids included (the OpenSSL 3.0 of an nginx cannot do them); default: X25519 and P-256 only, as both sides of the comparison can")
	flag.Parse()
	u, err := url.Parse(*target)
	if err != nil || u.Scheme != "https" {
		fmt.Fprintln(os.Stderr, "tlsconns: -url must be an https URL")
		os.Exit(2)
	}
	host, _, err := net.SplitHostPort(u.Host)
	if err != nil || !net.ParseIP(host).IsLoopback() {
		fmt.Fprintln(os.Stderr, "tlsconns: loopback only")
		os.Exit(2)
	}
	cfg := &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}}
	if !*pq {
		cfg.CurvePreferences = []tls.CurveID{tls.X25519, tls.CurveP256}
	}
	if *resume {
		cfg.ClientSessionCache = tls.NewLRUClientSessionCache(4 * *conns)
	}
	req := "GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host + "\r\nConnection: close\r\n\r\n"
	var done, resumed, errs atomic.Int64
	stop := time.Now().Add(*dur)
	var wg sync.WaitGroup
	for range *conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				r, err := once(u.Host, cfg, req)
				if err != nil {
					errs.Add(1)
					continue
				}
				done.Add(1)
				if r {
					resumed.Add(1)
				}
			}
		}()
	}
	start := time.Now()
	wg.Wait()
	el := time.Since(start).Seconds()
	n := done.Load()
	share := 0.0
	if n > 0 {
		share = float64(resumed.Load()) / float64(n)
	}
	var ru syscall.Rusage
	cpu := "-"
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		used := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		cpu = fmt.Sprintf("%.0f%%", 100*used.Seconds()/el)
	}
	fmt.Printf("conns/s=%.0f resumed=%.3f errors=%d conns=%d cpu=%s\n", float64(n)/el, share, errs.Load(), n, cpu)
}

// once makes one connection and one request on it; it reports whether the
// session resumed.
func once(addr string, cfg *tls.Config, req string) (bool, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return false, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		return false, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return false, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err == nil && resp.StatusCode != 200 {
		err = fmt.Errorf("status %d", resp.StatusCode)
	}
	return c.ConnectionState().DidResume, err
}
