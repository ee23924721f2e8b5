//go:build !linux

package httpserver

import "net"

// Listen announces on the TCP address addr: net.Listen (on Linux, a
// listener whose accepted connections inherit its keep-alive options).
func Listen(addr string) (net.Listener, error) {
	return net.Listen("tcp", addr)
}
