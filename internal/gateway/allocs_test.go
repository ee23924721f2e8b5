package gateway

import (
	"bufio"
	"net"
	"runtime"
	"testing"
)

// TestProxyPathAllocations: a request through the whole cleartext data
// plane (apimgw's server, the gateway, the outbound pool; a raw client and
// backend that allocate nothing per request) allocates no more than
// BenchmarkProxyPath and its siblings have: 5 times with the empty
// pipeline, with nginx's heads too, and 8 with the typical policies. The
// count is of the whole process, so the slack is for the gateway's
// background work (its clock, the log's flush). Not under the race
// detector, whose sync.Pool drops objects: scripts/test runs it once more
// without -race. Built with a profile (go test -pgo=FILE) it checks what
// profile-guided optimisation would do to the counts: a profile with TLS
// handshakes in it adds three to the policies' (docs/benchmarks.md).
func TestProxyPathAllocations(t *testing.T) {
	if raceDetector {
		t.Skip("allocation counts mean nothing under the race detector")
	}
	if testing.Short() {
		t.Skip("short")
	}
	for _, c := range []struct {
		name, answer, headers string
		policies              bool
		want                  float64
	}{
		{"empty", plainAnswer, "", false, 5},
		{"nginx heads", nginxAnswer, "Connection: keep-alive\r\n", false, 5},
		{"policies", plainAnswer, "Ocp-Apim-Subscription-Key: bench-subscription-key\r\nAuthorization: Bearer " + benchJWT(t) + "\r\n", true, 8},
	} {
		t.Run(c.name, func(t *testing.T) {
			yaml, files := emptyPipelineYAML, map[string]string(nil)
			if c.policies {
				yaml, files = policiesPipelineYAML, policiesFiles(t)
			}
			addr := startDataPlane(t, yaml, files, c.answer)
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			br := bufio.NewReaderSize(conn, 4<<10)
			req := []byte("GET /bench HTTP/1.1\r\nHost: " + addr + "\r\n" + c.headers + "\r\n")
			do := func(n int) {
				for range n {
					if _, err := conn.Write(req); err != nil {
						t.Fatal(err)
					}
					if n, err := readAnswer(br); err != nil || n != 64 {
						t.Fatalf("answer: %d bytes, %v", n, err)
					}
				}
			}
			do(500) // pools, buffers and caches filled
			const n = 5000
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			do(n)
			runtime.ReadMemStats(&after)
			got := float64(after.Mallocs-before.Mallocs) / n
			t.Logf("%.2f allocations per request", got)
			if got > c.want+0.5 {
				t.Errorf("%.2f allocations per request, want %v (BenchmarkProxyPath's)", got, c.want)
			}
		})
	}
}
