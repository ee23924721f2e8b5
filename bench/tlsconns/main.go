// Command tlsconns measures new TLS connections per second: each of -c
// workers, in a loop for -d, opens a TLS connection (HTTP/1.1 by ALPN),
// sends one GET with Connection: close, reads the whole response and
// closes. The workers share one client session cache, so after its first
// connection a worker resumes a session (a ticket from the server) rather
// than doing a full handshake: what a fleet of returning clients costs a
// TLS-terminating proxy. The key exchange offered is X25519 or P-256 (see
// -pq), what wrk, OpenSSL 3.0 and an nginx built on it do; TLS 1.3 where
// the server has it (TLS 1.2 at most with -tls12). The server's
// certificate is not verified (loopback benchmark only).
//
// Output, one line: connections per second, the share that resumed,
// errors, connections, the CPU time this client used over the run's wall
// time (cpu=, user and system: near 100 % with the client pinned to one
// core, the client, not the server, sets the rate), and the protocol
// versions and cipher suites negotiated (proto=): two servers compare only
// at the same version, since a resumed TLS 1.2 session makes no key
// exchange and a resumed TLS 1.3 one does.
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
	"runtime/pprof"
	"sort"
	"strings"
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
	cpuprofile := flag.String("cpuprofile", "", "write this client's CPU profile to `FILE`")
	tls12 := flag.Bool("tls12", false, "offer TLS 1.2 at most: a resumed session is then the abbreviated handshake, without a key exchange (TLS 1.3's resumption makes a new X25519 secret every time)")
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
	if *tls12 {
		cfg.MaxVersion = tls.VersionTLS12
	}
	if *resume {
		cfg.ClientSessionCache = tls.NewLRUClientSessionCache(4 * *conns)
	}
	req := "GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host + "\r\nConnection: close\r\n\r\n"
	var done, resumed, errs atomic.Int64
	var protoMu sync.Mutex
	protos := map[string]int64{}
	stop := time.Now().Add(*dur)
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "tlsconns:", err)
			os.Exit(1)
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	var wg sync.WaitGroup
	for range *conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			seen := map[string]int64{}
			for time.Now().Before(stop) {
				st, err := once(u.Host, cfg, req)
				if err != nil {
					errs.Add(1)
					continue
				}
				done.Add(1)
				if st.DidResume {
					resumed.Add(1)
				}
				seen[tls.VersionName(st.Version)+"/"+tls.CipherSuiteName(st.CipherSuite)]++
			}
			protoMu.Lock()
			for k, n := range seen {
				protos[k] += n
			}
			protoMu.Unlock()
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
	fmt.Printf("conns/s=%.0f resumed=%.3f errors=%d conns=%d cpu=%s proto=%s\n", float64(n)/el, share, errs.Load(), n, cpu, protoSummary(protos))
}

// protoSummary names the protocol versions and cipher suites the
// connections negotiated, with a "+" between them when there was more than
// one (a comparison of servers is only like for like with one each):
// "TLS 1.3/TLS_AES_128_GCM_SHA256", spaces taken out.
func protoSummary(protos map[string]int64) string {
	if len(protos) == 0 {
		return "-"
	}
	names := make([]string, 0, len(protos))
	for k := range protos {
		names = append(names, strings.ReplaceAll(k, " ", ""))
	}
	sort.Strings(names)
	return strings.Join(names, "+")
}

// once makes one connection and one request on it; it reports the
// connection's state (whether the session resumed, the version and suite).
func once(addr string, cfg *tls.Config, req string) (tls.ConnectionState, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		return tls.ConnectionState{}, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err == nil && resp.StatusCode != 200 {
		err = fmt.Errorf("status %d", resp.StatusCode)
	}
	return c.ConnectionState(), err
}
