// Command loadgen sends GET requests at a fixed rate (open loop) over a
// bounded set of keep-alive connections and reports the latency
// distribution. Unlike wrk, which sends as fast as its connections allow
// and so measures queueing at saturation, loadgen measures what a proxy adds
// at a load it can carry. Latency runs from sending a request to having
// read its whole response; a request is sent when it is due on a free
// connection. "late" counts requests sent more than 1 ms after they were
// due (the generator's own timer slack, or every connection busy): when it
// is a small share, the percentiles are not hiding a stalled server behind
// a waiting generator (coordinated omission).
//
// An https URL is served over TLS (HTTP/1.1 by ALPN, the server's
// certificate not verified: loopback only); a connection's handshake is
// made when it is first used (in the warm-up, as a rule) and is not part
// of any request's latency.
//
// Output, one line: achieved rate, errors, late, and p50/p90/p99/p99.9/max
// in ms.
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
	"slices"
	"sync"
	"time"
)

func main() {
	target := flag.String("url", "http://127.0.0.1:8081/bench", "URL to GET (loopback)")
	rate := flag.Int("rate", 2000, "requests per second")
	dur := flag.Duration("d", 10*time.Second, "measured duration")
	warmup := flag.Duration("warmup", time.Second, "unmeasured warm-up at the same rate")
	conns := flag.Int("c", 64, "connections (the most requests in flight)")
	flag.Parse()
	if err := run(*target, *rate, *dur, *warmup, *conns); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

type result struct {
	latency time.Duration
	err     bool
}

func run(target string, rate int, dur, warmup time.Duration, conns int) error {
	u, err := url.Parse(target)
	if err != nil {
		return err
	}
	if rate <= 0 || conns <= 0 {
		return fmt.Errorf("rate and connections must be positive")
	}
	dial := func() (net.Conn, error) { return net.Dial("tcp", u.Host) }
	switch u.Scheme {
	case "http":
	case "https":
		host, _, err := net.SplitHostPort(u.Host)
		if err != nil || !net.ParseIP(host).IsLoopback() {
			return fmt.Errorf("https: loopback only")
		}
		cfg := &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}}
		dial = func() (net.Conn, error) {
			c, err := tls.Dial("tcp", u.Host, cfg)
			if err != nil {
				return nil, err
			}
			return c, nil
		}
	default:
		return fmt.Errorf("-url must be http or https")
	}
	req := fmt.Sprintf("GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: loadgen\r\n\r\n", u.RequestURI(), u.Host)
	interval := time.Second / time.Duration(rate)
	total := int((warmup + dur) / interval)
	skip := int(warmup / interval)

	// due carries each request's scheduled time; a worker (one connection
	// each) takes the next due request when it is free.
	due := make(chan time.Time, total)
	results := make([]result, total)
	var next, late int
	var mu, lateMu sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < conns; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var c net.Conn
			var br *bufio.Reader
			for at := range due {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if c == nil {
					var derr error
					if c, derr = dial(); derr != nil {
						results[i] = result{time.Since(at), true}
						c = nil
						continue
					}
					br = bufio.NewReader(c)
				}
				sent := time.Now()
				if sent.Sub(at) > time.Millisecond {
					lateMu.Lock()
					late++
					lateMu.Unlock()
				}
				ok := roundTrip(c, br, req)
				results[i] = result{time.Since(sent), !ok}
				if !ok {
					c.Close()
					c = nil
				}
			}
			if c != nil {
				c.Close()
			}
		}()
	}
	start := time.Now()
	for i := 0; i < total; i++ {
		at := start.Add(time.Duration(i) * interval)
		if d := time.Until(at); d > 0 {
			time.Sleep(d)
		}
		due <- at
	}
	close(due)
	wg.Wait()
	elapsed := time.Since(start.Add(warmup))

	measured := results[skip:]
	var lat []time.Duration
	errs := 0
	for _, r := range measured {
		if r.err {
			errs++
			continue
		}
		lat = append(lat, r.latency)
	}
	if len(lat) == 0 {
		return fmt.Errorf("every request failed (%d)", errs)
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))]) / 1e6
	}
	fmt.Printf("rate=%.0f errors=%d late=%d p50=%.3f p90=%.3f p99=%.3f p999=%.3f max=%.3f\n",
		float64(len(measured))/elapsed.Seconds(), errs, late, pct(0.5), pct(0.9), pct(0.99), pct(0.999), float64(lat[len(lat)-1])/1e6)
	return nil
}

// roundTrip sends one request and reads the whole response.
func roundTrip(c net.Conn, br *bufio.Reader, req string) bool {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		return false
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return false
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return err == nil && resp.StatusCode == http.StatusOK && !resp.Close
}
