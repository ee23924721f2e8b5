// Package testnet holds network helpers for tests: servers on loopback that
// speak raw bytes, for the misbehaviour real HTTP servers do not produce.
package testnet

import (
	"net"
	"sync"
	"testing"
	"time"
)

// RawServer accepts TCP connections on 127.0.0.1 and hands each to serve in
// its own goroutine, with a deadline of deadline (none when 0) and the
// connection closed when serve returns. It returns the address; the test's
// cleanup closes the listener and waits for every serve to return.
func RawServer(t testing.TB, deadline time.Duration, serve func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				if deadline > 0 {
					_ = c.SetDeadline(time.Now().Add(deadline))
				}
				serve(c)
			})
		}
	})
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return ln.Addr().String()
}
