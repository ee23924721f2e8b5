// Command floor is the leanest goroutine-per-connection HTTP/1.1 proxy for
// the benchmark: each client connection gets a backend connection of its
// own, request heads go to the backend byte for byte, and the answer comes
// back by its Content-Length. It parses nothing else, allocates nothing per
// request, and handles only what bench/run.sh sends (GETs without bodies,
// answers with Content-Length). It is not a proxy to use; it measures what
// Go's runtime, its netpoller and the same system calls cost per request on
// this machine, so that a gateway's own per-request work can be told apart
// from them (docs/benchmarks.md).
//
// -allocs N allocates N small objects per request and keeps them until the
// answer is sent, to measure what allocation alone costs under load; with
// -reuse the same objects are made once per connection and cleared for
// each request instead, to measure what reusing memory saves. -spin D
// burns D of CPU per request, allocating nothing: a gateway's work without
// its allocations.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"io"
	"log"
	"net"
	"strconv"
	"strings"
	"time"
)

var (
	allocs int
	reuse  bool
	spin   time.Duration
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8087", "address to serve")
	backend := flag.String("backend", "http://127.0.0.1:9001", "backend (http://host:port)")
	flag.IntVar(&allocs, "allocs", 0, "small objects allocated per request (0: none)")
	flag.BoolVar(&reuse, "reuse", false, "with -allocs: clear per-connection objects instead of allocating")
	flag.DurationVar(&spin, "spin", 0, "CPU to burn per request, allocating nothing")
	flag.Parse()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go serve(c, strings.TrimPrefix(*backend, "http://"))
	}
}

var contentLength = []byte("content-length:")

func serve(c net.Conn, backend string) {
	defer c.Close()
	b, err := net.Dial("tcp", backend)
	if err != nil {
		log.Print(err)
		return
	}
	defer b.Close()
	cr := bufio.NewReaderSize(c, 4096)
	br := bufio.NewReaderSize(b, 4096)
	buf := make([]byte, 0, 4096)
	var arena *connArena
	if reuse && allocs > 0 {
		arena = newArena()
	}
	for {
		buf, err = readHead(cr, buf[:0], nil)
		if err != nil {
			return
		}
		var keep []any
		if arena != nil {
			arena.clear()
		} else {
			keep = churn()
		}
		for end := time.Now().Add(spin); spin > 0 && time.Now().Before(end); {
		}
		if _, err := b.Write(buf); err != nil {
			return
		}
		n := 0
		if buf, err = readHead(br, buf[:0], &n); err != nil {
			return
		}
		head := len(buf)
		buf = append(buf, make([]byte, n)...)[:head+n]
		if _, err := io.ReadFull(br, buf[head:]); err != nil {
			return
		}
		if _, err := c.Write(buf); err != nil {
			return
		}
		_ = keep
	}
}

// readHead appends a message head to buf; with cl not nil it stores the
// Content-Length there.
func readHead(r *bufio.Reader, buf []byte, cl *int) ([]byte, error) {
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return buf, err
		}
		buf = append(buf, line...)
		if len(line) <= 2 {
			return buf, nil
		}
		if cl != nil && len(line) > len(contentLength) && bytes.EqualFold(line[:len(contentLength)], contentLength) {
			*cl, _ = strconv.Atoi(string(bytes.TrimSpace(line[len(contentLength):])))
		}
	}
}

// object is the pointer-holding kind of churn's objects.
type object struct {
	_ [3]*int
	_ string
	_ [8]int
}

// churn allocates like a gateway's request path: allocs objects of about
// 110 bytes on average, a third of them with pointers.
//
//go:noinline
func churn() []any {
	if allocs == 0 {
		return nil
	}
	keep := make([]any, 0, allocs)
	for i := range allocs {
		switch i % 3 {
		case 0:
			keep = append(keep, make([]byte, 64))
		case 1:
			keep = append(keep, &object{})
		default:
			keep = append(keep, make([]string, 6))
		}
	}
	return keep
}

// connArena is churn's objects made once per connection (-reuse).
type connArena struct {
	bytes [][]byte
	objs  []*object
	strs  [][]string
}

func newArena() *connArena {
	a := &connArena{}
	for i := range allocs {
		switch i % 3 {
		case 0:
			a.bytes = append(a.bytes, make([]byte, 64))
		case 1:
			a.objs = append(a.objs, &object{})
		default:
			a.strs = append(a.strs, make([]string, 6))
		}
	}
	return a
}

// clear resets every object, as a request would before using them.
//
//go:noinline
func (a *connArena) clear() {
	for _, b := range a.bytes {
		clear(b)
	}
	for _, o := range a.objs {
		*o = object{}
	}
	for _, s := range a.strs {
		clear(s)
	}
}
