package testnet

import (
	"errors"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TCPPair returns the two ends of a TCP connection on loopback, closed
// when the test ends.
func TCPPair(t testing.TB) (client, server *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := <-accepted
	if s == nil {
		c.Close()
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c.(*net.TCPConn), s.(*net.TCPConn)
}

// ReadSyscalls returns how many read system calls the process has made
// (syscr in /proc/self/io), for tests that count a code path's reads; an
// error where the system does not tell.
func ReadSyscalls() (int64, error) { return procIO("syscr") }

// WriteSyscalls is ReadSyscalls for writes (syscw).
func WriteSyscalls() (int64, error) { return procIO("syscw") }

func procIO(name string) (int64, error) {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+": "); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, errors.New("no " + name + " in /proc/self/io")
}

// ReadsPerCall runs f once (to set up connections), then n times, and
// returns the read system calls the process made per call; the test is
// skipped where ReadSyscalls has no count.
func ReadsPerCall(t testing.TB, n int, f func()) float64 {
	t.Helper()
	if _, err := ReadSyscalls(); err != nil {
		t.Skip("no read system call count:", err)
	}
	f()
	before, _ := ReadSyscalls()
	for range n {
		f()
	}
	after, _ := ReadSyscalls()
	return float64(after-before) / float64(n)
}
