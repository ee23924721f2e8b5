package httpserver

import (
	"net"
	"syscall"
	"testing"
)

// TestListenInheritedOptions checks that a connection Listen accepts has
// what net.Listen's would: TCP_NODELAY and keep-alive probes after 15 s
// idle, every 15 s, 9 of them, read back from the accepted socket; and
// that the connection it accepts carries data.
func TestListenInheritedOptions(t *testing.T) {
	for _, listen := range []struct {
		name string
		f    func() (net.Listener, error)
	}{
		{"net.Listen", func() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }},
		{"Listen", func() (net.Listener, error) { return Listen("127.0.0.1:0") }},
	} {
		ln, err := listen.f()
		if err != nil {
			t.Fatal(err)
		}
		client, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		ln.Close()
		rc, err := c.(*net.TCPConn).SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int{}
		rc.Control(func(fd uintptr) {
			for name, o := range map[string][2]int{
				"SO_KEEPALIVE":  {syscall.SOL_SOCKET, syscall.SO_KEEPALIVE},
				"TCP_KEEPIDLE":  {syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE},
				"TCP_KEEPINTVL": {syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL},
				"TCP_KEEPCNT":   {syscall.IPPROTO_TCP, syscall.TCP_KEEPCNT},
				"TCP_NODELAY":   {syscall.IPPROTO_TCP, syscall.TCP_NODELAY},
			} {
				v, err := syscall.GetsockoptInt(int(fd), o[0], o[1])
				if err != nil {
					t.Errorf("%s: getsockopt %s: %v", listen.name, name, err)
				}
				got[name] = v
			}
		})
		for name, want := range map[string]int{"SO_KEEPALIVE": 1, "TCP_KEEPIDLE": 15, "TCP_KEEPINTVL": 15, "TCP_KEEPCNT": 9, "TCP_NODELAY": 1} {
			if got[name] != want {
				t.Errorf("%s: accepted connection's %s = %d, want %d", listen.name, name, got[name], want)
			}
		}
		if _, err := client.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 1)
		if n, err := c.Read(b); n != 1 || b[0] != 'x' {
			t.Errorf("%s: read %q, %v", listen.name, b[:n], err)
		}
		c.Close()
		client.Close()
	}
}
