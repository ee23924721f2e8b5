package backend

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
)

// rawCodec hands gRPC messages over as bytes, so that the server needs no
// generated code: the test speaks gRPC's framing itself.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *v.(*[]byte), nil }
func (rawCodec) Unmarshal(b []byte, v any) error {
	*v.(*[]byte) = append([]byte(nil), b...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

// countingListener counts the connections accepted.
type countingListener struct {
	net.Listener
	n atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// A real gRPC server (grpc-go, its default keepalive enforcement) behind
// the pool's health check: a call whose answer takes 25 times
// connectTimeout (five reaper passes), with nothing sent meanwhile, is
// answered, and a connection left idle for 8 times connectTimeout is
// still the one used afterwards. A
// client that pinged every connectTimeout of silence, as net/http's
// health check does, had both closed by the server after its third PING
// (GOAWAY ENHANCE_YOUR_CALM, "too_many_pings"): the call failed with the
// connection.
func TestH2GRPCServerTakesTheHealthCheck(t *testing.T) {
	const timeout = 100 * time.Millisecond
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &countingListener{Listener: ln}
	srv := grpc.NewServer(grpc.ForceServerCodec(rawCodec{}), grpc.UnknownServiceHandler(func(_ any, st grpc.ServerStream) error {
		var in []byte
		if err := st.RecvMsg(&in); err != nil {
			return err
		}
		if m, _ := grpc.MethodFromServerStream(st); strings.HasSuffix(m, "/Slow") {
			time.Sleep(25 * timeout)
		}
		out := append([]byte("echo:"), in...)
		return st.SendMsg(&out)
	}))
	go func() { _ = srv.Serve(cl) }()
	t.Cleanup(srv.Stop)

	m, _ := newTestManager(t, Options{ConnectTimeout: timeout, Hosts: map[string]HostOptions{cl.Addr().String(): {Protocol: ProtocolH2C}}})
	call := func(method string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		// One gRPC message: uncompressed, 2 bytes long, "hi".
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+cl.Addr().String()+"/test.Echo/"+method, strings.NewReader("\x00\x00\x00\x00\x02hi"))
		req.Header.Set("Content-Type", "application/grpc")
		req.Header.Set("Te", "trailers")
		start := time.Now()
		resp, err := m.RoundTrip(req)
		if err != nil {
			t.Fatalf("%s, after %v: %v", method, time.Since(start), err)
		}
		body, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil {
			t.Fatalf("%s: the answer broke off after %v: %v", method, time.Since(start), err)
		}
		if want := "\x00\x00\x00\x00\x07echo:hi"; string(body) != want || resp.Trailer.Get("Grpc-Status") != "0" {
			t.Fatalf("%s: %q, grpc-status %q (%s), want %q and 0", method, body, resp.Trailer.Get("Grpc-Status"), resp.Trailer.Get("Grpc-Message"), want)
		}
	}
	call("Fast")
	call("Slow")
	time.Sleep(8 * timeout) // idle
	call("Fast")
	if n := cl.n.Load(); n != 1 {
		t.Errorf("the server accepted %d connections, want 1: the first was closed", n)
	}
}
