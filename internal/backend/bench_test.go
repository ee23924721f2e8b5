package backend

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"
)

// BenchmarkRoundTrip compares the Manager's HTTP/1.1 path with a tuned
// net/http Transport against the same loopback backend, from parallel
// clients. Run: go test -run XXX -bench RoundTrip -benchmem ./internal/backend
func BenchmarkRoundTrip(b *testing.B) {
	srv := newBenchBackend(b, false)
	m, err := NewManager(Options{}, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	std := &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256, IdleConnTimeout: 50 * time.Second, DisableCompression: true}
	defer std.CloseIdleConnections()
	benchRoundTrippers(b, srv, m, std)
}

// BenchmarkRoundTripH2C is the same over cleartext HTTP/2 (one connection,
// many streams): the Manager's own HTTP/2 pool against net/http's.
// Run: go test -run XXX -bench RoundTripH2C -benchmem ./internal/backend
func BenchmarkRoundTripH2C(b *testing.B) {
	srv := newBenchBackend(b, true)
	m, err := NewManager(Options{Hosts: map[string]HostOptions{hostPort(srv): {Protocol: ProtocolH2C}}}, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	std := &http.Transport{Protocols: new(http.Protocols), DisableCompression: true}
	std.Protocols.SetUnencryptedHTTP2(true)
	defer std.CloseIdleConnections()
	benchRoundTrippers(b, srv, m, std)
}

func benchRoundTrippers(b *testing.B, srv string, m, std http.RoundTripper) {
	for _, tc := range []struct {
		name string
		rt   http.RoundTripper
	}{{"manager", m}, {"net-http-transport", std}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, srv+"/bench", nil)
				buf := make([]byte, 4096)
				for pb.Next() {
					resp, err := tc.rt.RoundTrip(req)
					if err != nil {
						b.Error(err)
						return
					}
					for {
						if _, err := resp.Body.Read(buf); err != nil {
							if err != io.EOF {
								b.Error(err)
							}
							break
						}
					}
					resp.Body.Close()
				}
			})
		})
	}
}

func newBenchBackend(b *testing.B, h2c bool) string {
	b.Helper()
	body := []byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header()["Content-Length"] = []string{"64"}
		_, _ = w.Write(body)
	})
	return benchServer{}.start(b, h, h2c)
}
