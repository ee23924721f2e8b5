//go:build unix

package sockio

import (
	"bytes"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/apimgw/apimgw/internal/testnet"
)

func write(t *testing.T, c *net.TCPConn, p []byte) (n int, err error) {
	t.Helper()
	rc, rerr := c.SyscallConn()
	if rerr != nil {
		t.Fatal(rerr)
	}
	if cerr := rc.Write(func(fd uintptr) bool { n, err = Write(fd, p); return true }); cerr != nil {
		t.Fatal(cerr)
	}
	return n, err
}

// What the socket takes arrives whole; a full socket stops the write
// short, without an error.
func TestWrite(t *testing.T) {
	c, s := testnet.TCPPair(t)
	if n, err := write(t, c, []byte("hello")); n != 5 || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	buf := make([]byte, 5)
	s.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(s, buf); err != nil || string(buf) != "hello" {
		t.Fatalf("peer got %q, %v", buf, err)
	}
	big := bytes.Repeat([]byte("x"), 16<<20) // more than the socket buffers hold
	n, err := write(t, c, big)
	if err != nil || n == 0 || n >= len(big) {
		t.Fatalf("Write of 16 MiB to an unread socket = %d, %v; want a short write and no error", n, err)
	}
}

// A write to a reset connection reports the system's error.
func TestWriteReset(t *testing.T) {
	c, s := testnet.TCPPair(t)
	s.SetLinger(0)
	s.Close()
	time.Sleep(20 * time.Millisecond)
	var err error
	for i := 0; i < 3 && err == nil; i++ {
		_, err = write(t, c, []byte("hello"))
	}
	if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("err = %v, want ECONNRESET or EPIPE", err)
	}
}

// Peek sees a waiting byte without taking it, nothing (EAGAIN) on an
// empty socket, and the end of the stream.
func TestPeek(t *testing.T) {
	c, s := testnet.TCPPair(t)
	peek := func() (n int, err error) {
		rc, _ := c.SyscallConn()
		rc.Read(func(fd uintptr) bool { n, err = Peek(fd); return true })
		return n, err
	}
	if n, err := peek(); n > 0 || err != syscall.EAGAIN {
		t.Fatalf("empty socket: %d, %v; want EAGAIN", n, err)
	}
	s.Write([]byte("ab"))
	time.Sleep(20 * time.Millisecond)
	if n, err := peek(); n != 1 || err != nil {
		t.Fatalf("waiting bytes: %d, %v", n, err)
	}
	buf := make([]byte, 2)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ab" {
		t.Fatalf("read after Peek: %q, %v", buf, err)
	}
	s.Close()
	time.Sleep(20 * time.Millisecond)
	if n, err := peek(); n != 0 || err != nil {
		t.Fatalf("closed peer: %d, %v; want 0, nil", n, err)
	}
}

// Read takes what waits (no more than p holds), reports EAGAIN on an empty
// socket and 0 at the end of the stream.
func TestRead(t *testing.T) {
	c, s := testnet.TCPPair(t)
	read := func(p []byte) (n int, err error) {
		rc, _ := c.SyscallConn()
		rc.Read(func(fd uintptr) bool { n, err = Read(fd, p); return true })
		return n, err
	}
	buf := make([]byte, 3)
	if n, err := read(buf); n != 0 || err != syscall.EAGAIN {
		t.Fatalf("empty socket: %d, %v; want EAGAIN", n, err)
	}
	s.Write([]byte("hello"))
	time.Sleep(20 * time.Millisecond)
	if n, err := read(buf); n != 3 || err != nil || string(buf) != "hel" {
		t.Fatalf("first read: %d %q, %v", n, buf[:n], err)
	}
	if n, err := read(buf); n != 2 || err != nil || string(buf[:2]) != "lo" {
		t.Fatalf("second read: %d %q, %v", n, buf[:n], err)
	}
	s.Close()
	time.Sleep(20 * time.Millisecond)
	if n, err := read(buf); n != 0 || err != nil {
		t.Fatalf("closed peer: %d, %v; want 0, nil", n, err)
	}
}

// ReadReady reports an empty socket as a wait to go on, and the end of the
// stream and a failure as c's Read would: io.EOF, a *net.OpError.
func TestReadReady(t *testing.T) {
	c, s := testnet.TCPPair(t)
	ready := func(p []byte) (n int, again bool, err error) {
		rc, _ := c.SyscallConn()
		rc.Read(func(fd uintptr) bool { n, again, err = ReadReady(fd, p, c); return true })
		return n, again, err
	}
	buf := make([]byte, 8)
	if n, again, err := ready(buf); n != 0 || !again || err != nil {
		t.Fatalf("empty socket: %d, %v, %v; want again", n, again, err)
	}
	s.Write([]byte("hi"))
	time.Sleep(20 * time.Millisecond)
	if n, again, err := ready(buf); n != 2 || again || err != nil || string(buf[:2]) != "hi" {
		t.Fatalf("waiting bytes: %d %q, %v, %v", n, buf[:n], again, err)
	}
	s.SetLinger(0)
	s.Close() // a reset
	time.Sleep(20 * time.Millisecond)
	var oe *net.OpError
	if n, again, err := ready(buf); n != 0 || again || !errors.As(err, &oe) || oe.Op != "read" || !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("reset peer: %d, %v, %v; want a read *net.OpError for ECONNRESET", n, again, err)
	}
	c2, s2 := testnet.TCPPair(t)
	c = c2
	s2.Close()
	time.Sleep(20 * time.Millisecond)
	if n, again, err := ready(buf); n != 0 || again || err != io.EOF {
		t.Fatalf("closed peer: %d, %v, %v; want io.EOF", n, again, err)
	}
}

// AwaitWrite writes on the first step and says to wait when all of it
// went; later steps leave the rest to the caller; a failed write ends the
// wait and comes back from End as c's Write would report it.
func TestAwaitWrite(t *testing.T) {
	c, s := testnet.TCPPair(t)
	step := func(w *AwaitWrite) (first, done bool) {
		rc, _ := c.SyscallConn()
		rc.Read(func(fd uintptr) bool { first, done = w.Step(fd); return true })
		return first, done
	}
	var w AwaitWrite
	w.Begin([]byte("hello"))
	if first, done := step(&w); !first || done {
		t.Fatalf("first step: first %v, done %v; want a write and a wait", first, done)
	}
	if first, done := step(&w); first || done {
		t.Fatalf("second step: first %v, done %v; want neither", first, done)
	}
	if n, err := w.End(c); n != 5 || err != nil {
		t.Fatalf("End: %d, %v; want 5, nil", n, err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(s, buf); err != nil || string(buf) != "hello" {
		t.Fatalf("peer read %q, %v", buf, err)
	}
	s.SetLinger(0)
	s.Close() // a reset
	time.Sleep(20 * time.Millisecond)
	w.Begin([]byte("again"))
	if first, done := step(&w); !first || !done {
		t.Fatalf("step on a reset socket: first %v, done %v; want a failed write", first, done)
	}
	var oe *net.OpError
	if n, err := w.End(c); n != 0 || !errors.As(err, &oe) || oe.Op != "write" {
		t.Fatalf("End on a reset socket: %d, %v; want a write *net.OpError", n, err)
	}
}
