// Command pollorder prints the order in which Go's runtime runs goroutines
// woken together by network readiness: n goroutines each wait to read
// their own loopback connection, the connections are made readable one
// after another (0 to n-1) without the scheduler running in between, and
// each goroutine notes its number when its read returns. With one P
// (GOMAXPROCS=1) they run in the order the poller lists them. TestPollOrder
// (cmd/apimgw) builds it with go build and with scripts/build.
package main

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

const n = 32

func main() {
	runtime.GOMAXPROCS(1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	defer ln.Close()
	var (
		fds     [n]uintptr // the writing ends' descriptors
		writers [n]net.Conn
		readers [n]net.Conn
	)
	for i := range n {
		c, err := net.Dial("tcp", ln.Addr().String())
		check(err)
		s, err := ln.Accept()
		check(err)
		writers[i], readers[i] = c, s
		raw, err := c.(*net.TCPConn).SyscallConn()
		check(err)
		check(raw.Control(func(fd uintptr) { fds[i] = fd }))
	}
	var (
		mu      sync.Mutex
		order   []string
		wg      sync.WaitGroup
		started atomic.Int32
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var b [1]byte
			started.Add(1)
			if _, err := readers[i].Read(b[:]); err != nil {
				check(err)
			}
			mu.Lock()
			order = append(order, fmt.Sprint(i))
			mu.Unlock()
		}()
	}
	// Every reader runs until its read waits in the poller: with one P, a
	// reader that has counted itself runs on into its read before this
	// goroutine runs again.
	for started.Load() < n {
		runtime.Gosched()
	}
	time.Sleep(10 * time.Millisecond)
	// Raw system calls: the scheduler does not run between the writes, and
	// no other thread takes this one's P to poll the network meanwhile, so
	// the readers are ready in this order when the poller next looks.
	b := [1]byte{'x'}
	for i := range n {
		if _, _, errno := syscall.RawSyscall(syscall.SYS_WRITE, fds[i], uintptr(unsafe.Pointer(&b[0])), 1); errno != 0 {
			check(errno)
		}
	}
	wg.Wait()
	fmt.Println(strings.Join(order, " "))
	for i := range n {
		writers[i].Close()
		readers[i].Close()
	}
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "pollorder:", err)
		os.Exit(1)
	}
}
