package httpserver

import (
	"context"
	"net"
	"syscall"
	"time"
)

// Keep-alive probes on accepted connections, as net.Listen sets them (Go's
// defaults): the first after 15 s idle, then every 15 s, 9 unanswered and
// the connection is dropped.
const (
	keepAliveIdle     = 15 * time.Second
	keepAliveInterval = 15 * time.Second
	keepAliveCount    = 9
)

// Listen announces on the TCP address addr as net.Listen does, and its
// accepted connections are the same (TCP_NODELAY, keep-alive probes as
// above), at one system call fewer than four per connection: net.Listen's
// listener sets the four keep-alive options on each connection it accepts,
// this one sets them once, on the listening socket, and Linux gives
// accepted sockets its options. At a few microseconds a call, that is a
// measurable share of a new TLS connection's cost (docs/benchmarks.md).
// Where the listening socket refuses one of the options (a sandbox's
// network stack, say), the listener is net.Listen's.
func Listen(addr string) (net.Listener, error) {
	var refused bool
	lc := net.ListenConfig{
		KeepAlive: -1, // not per connection: inherited from the listener
		Control: func(_, _ string, c syscall.RawConn) error {
			return c.Control(func(fd uintptr) {
				for _, o := range []struct{ level, name, value int }{
					{syscall.SOL_SOCKET, syscall.SO_KEEPALIVE, 1},
					{syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE, int(keepAliveIdle / time.Second)},
					{syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL, int(keepAliveInterval / time.Second)},
					{syscall.IPPROTO_TCP, syscall.TCP_KEEPCNT, keepAliveCount},
				} {
					if !refused && syscall.SetsockoptInt(int(fd), o.level, o.name, o.value) != nil {
						refused = true
					}
				}
			})
		},
	}
	ln, err := lc.Listen(context.Background(), "tcp", addr)
	if err == nil && refused {
		ln.Close()
		return net.Listen("tcp", addr)
	}
	return ln, err
}
