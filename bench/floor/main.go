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
//
// With -cert and -key it terminates TLS (crypto/tls, HTTP/1.1 by ALPN,
// session tickets on, Go's defaults otherwise): what Go's TLS alone costs a
// TLS-terminating proxy, per request on a kept-alive connection and per new
// connection with a resumed session (bench/run.sh's floor-tls). A client
// connection that ends after a whole answer hands its backend connection
// to the next one, so that a connection per request does not also cost a
// backend connection per request, as with a proxy's upstream pool.
package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
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
	certFile := flag.String("cert", "", "with -key: terminate TLS with this certificate (PEM)")
	keyFile := flag.String("key", "", "the certificate's private key (PEM)")
	flag.Parse()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	if *certFile != "" || *keyFile != "" {
		cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
		if err != nil {
			log.Fatal(err)
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}})
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go serve(c, strings.TrimPrefix(*backend, "http://"))
	}
}

// upstream is a backend connection and its reader.
type upstream struct {
	net.Conn
	r *bufio.Reader
}

// idle holds backend connections left after a whole answer, for the next
// client connection.
var idle = make(chan *upstream, 1024)

func dial(backend string) (*upstream, error) {
	select {
	case u := <-idle:
		return u, nil
	default:
	}
	b, err := net.Dial("tcp", backend)
	if err != nil {
		return nil, err
	}
	return &upstream{Conn: b, r: bufio.NewReaderSize(b, 4096)}, nil
}

// release keeps u for another client connection if it is between answers,
// and closes it otherwise.
func release(u *upstream, clean bool) {
	if clean && u.r.Buffered() == 0 {
		select {
		case idle <- u:
			return
		default:
		}
	}
	u.Close()
}

var contentLength = []byte("content-length:")

func serve(c net.Conn, backend string) {
	defer c.Close()
	b, err := dial(backend)
	if err != nil {
		log.Print(err)
		return
	}
	clean := true // b is between answers
	defer func() { release(b, clean) }()
	cr := bufio.NewReaderSize(c, 4096)
	br := b.r
	buf := make([]byte, 0, 4096)
	var arena *connArena
	if reuse && allocs > 0 {
		arena = newArena()
	}
	for {
		closing := false
		buf, err = readHead(cr, buf[:0], nil, &closing)
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
		clean = false
		if _, err := b.Write(buf); err != nil {
			return
		}
		n := 0
		if buf, err = readHead(br, buf[:0], &n, nil); err != nil {
			return
		}
		head := len(buf)
		buf = append(buf, make([]byte, n)...)[:head+n]
		if _, err := io.ReadFull(br, buf[head:]); err != nil {
			return
		}
		clean = true
		if _, err := c.Write(buf); err != nil || closing {
			return
		}
		_ = keep
	}
}

var connection = []byte("connection:")

// readHead appends a message head to buf. For a response (cl not nil) it
// stores the Content-Length in *cl; for a request (closing not nil) it
// leaves out the Connection field (the backend connection is kept
// whatever the client asks) and sets *closing when that field asked to
// close.
func readHead(r *bufio.Reader, buf []byte, cl *int, closing *bool) ([]byte, error) {
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return buf, err
		}
		if closing != nil && isField(line, connection) {
			*closing = bytes.Contains(bytes.ToLower(line), []byte("close"))
			continue
		}
		buf = append(buf, line...)
		if len(line) <= 2 {
			return buf, nil
		}
		if cl != nil && isField(line, contentLength) {
			*cl, _ = strconv.Atoi(string(bytes.TrimSpace(line[len(contentLength):])))
		}
	}
}

// isField reports whether line is a field named by name (lower case, with
// its colon).
func isField(line, name []byte) bool {
	return len(line) > len(name) && bytes.EqualFold(line[:len(name)], name)
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
