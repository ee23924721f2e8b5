package httplex

import (
	"bufio"
	"io"
	"math/rand/v2"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func TestLexicalRules(t *testing.T) {
	for s, want := range map[string]bool{"GET": true, "X-Custom_1": true, "": false, "a b": false, "a:b": false, "ä": false} {
		if ValidToken(s) != want {
			t.Errorf("ValidToken(%q) = %v", s, !want)
		}
	}
	for s, want := range map[string]bool{"a\tb c": true, "a\rb": false, "a\nb": false, "a\x00": false, "\x7f": false, "ünï": true} {
		if ValidFieldValue(s) != want {
			t.Errorf("ValidFieldValue(%q) = %v", s, !want)
		}
	}
	for s, want := range map[string]int64{"0": 0, "42": 42, "+1": -1, "1 ": -1, "": -1, "1,1": -1, "9999999999999999999": -1} {
		n, ok := ParseContentLength(s)
		if !ok {
			n = -1
		}
		if n != want {
			t.Errorf("ParseContentLength(%q) = %d", s, n)
		}
	}
	if !HasToken([]string{"keep-alive, Close"}, "close") || HasToken([]string{"closed"}, "close") {
		t.Error("HasToken")
	}
	if l, r := NextLine("a\r\nb\nc"); l != "a" || r != "b\nc" {
		t.Errorf("NextLine: %q %q", l, r)
	}
	if TrimOWS(" \ta b\t ") != "a b" || !IsEmptyLine([]byte("\r\n")) || IsEmptyLine([]byte("x\n")) {
		t.Error("TrimOWS/IsEmptyLine")
	}
}

func TestAddValue(t *testing.T) {
	h := http.Header{}
	vals := make([]string, 2)
	vals = AddValue(h, "A", "1", vals)
	vals = AddValue(h, "A", "2", vals)
	vals = AddValue(h, "B", "3", vals)
	vals = AddValue(h, "C", "4", vals) // beyond the prepared array
	if len(vals) != 0 || !reflect.DeepEqual(h, http.Header{"A": {"1", "2"}, "B": {"3"}, "C": {"4"}}) {
		t.Fatalf("%v (left %d)", h, len(vals))
	}
	h["B"] = append(h["B"], "5") // a full-capacity slice: must not overwrite C's
	if h["C"][0] != "4" {
		t.Fatal("values share storage")
	}
}

func TestReadHeadAndTrailer(t *testing.T) {
	br := bufio.NewReaderSize(strings.NewReader("\r\n\nGET / HTTP/1.1\r\nA: b\r\n\r\nrest"), 16)
	head, err := ReadHead(br, nil, 0, 2)
	if err != nil || string(head) != "GET / HTTP/1.1\r\nA: b\r\n\r\n" {
		t.Fatalf("head %q, %v", head, err)
	}
	if _, err := ReadHead(bufio.NewReader(strings.NewReader("\r\nX")), nil, 0, 0); err != nil {
		t.Fatalf("an empty line without skipping is an empty head: %v", err)
	}
	if _, err := ReadHead(bufio.NewReader(strings.NewReader("GET / HTTP/1.1\r\nA: "+strings.Repeat("b", 100)+"\r\n\r\n")), nil, 64, 0); err != ErrHeadTooLarge {
		t.Fatalf("over the limit: %v", err)
	}
	if _, err := ReadHead(bufio.NewReader(strings.NewReader("GET / HTTP/1.1\r\nA:")), nil, 0, 0); err != io.ErrUnexpectedEOF {
		t.Fatalf("cut short: %v", err)
	}
	if _, err := ReadHead(bufio.NewReader(strings.NewReader("")), nil, 0, 0); err != io.EOF {
		t.Fatalf("nothing: %v", err)
	}

	got := map[string]string{}
	err = ReadTrailer(bufio.NewReader(strings.NewReader("X-Sum: 9 \r\nY:1\r\n\r\nnext")), 1024, func(k, v string) error { got[k] = v; return nil })
	if err != nil || got["X-Sum"] != "9" || got["Y"] != "1" {
		t.Fatalf("trailer %v, %v", got, err)
	}
	if err := ReadTrailer(bufio.NewReader(strings.NewReader("bad line\r\n\r\n")), 1024, func(k, v string) error { return nil }); err == nil {
		t.Fatal("malformed trailer accepted")
	}
	if err := ReadTrailer(bufio.NewReader(strings.NewReader("bad line\r\n\r\n")), 1024, nil); err != nil {
		t.Fatalf("dropped trailer: %v", err)
	}
	if err := ReadTrailer(bufio.NewReader(strings.NewReader(strings.Repeat("a", 100)+"\r\n\r\n")), 50, nil); err != ErrTrailerTooLarge {
		t.Fatalf("over the limit: %v", err)
	}
}

// FuzzReadHead holds ReadHead's buffered fast path to the line-by-line
// reader: the same heads, errors and bytes left behind, whatever the input
// and buffer size.
func FuzzReadHead(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\nbody",
		"HTTP/1.1 200 OK\nA: b\n\nrest",
		"\r\n\r\nGET / HTTP/1.1\r\n\r\n",
		"A\n\r\nB\r\n\r\n",
		"A\r\nB\n\nC\r\n\r\n",
		"no end\r\n",
		"X: " + strings.Repeat("y", 300) + "\r\n\r\n",
	} {
		f.Add(s, 16, 200, 2)
	}
	f.Fuzz(func(t *testing.T, in string, size, limit, skip int) {
		size = 16 + int(uint(size)%512)
		limit, skip = int(uint(limit)%1024), int(uint(skip)%5)
		fast := bufio.NewReaderSize(strings.NewReader(in), size)
		slow := bufio.NewReaderSize(strings.NewReader(in), size)
		if size%2 == 0 { // a buffer filled already, or one ReadHead fills
			fast.Peek(1)
			slow.Peek(1)
		}
		got, gerr := ReadHead(fast, nil, limit, skip)
		want, werr := readHeadLines(slow, nil, limit, skip)
		if gerr != werr || string(got) != string(want) {
			t.Fatalf("ReadHead(%q, size %d, limit %d, skip %d) = %q, %v; line by line %q, %v", in, size, limit, skip, got, gerr, want, werr)
		}
		if gerr == nil {
			restF, _ := io.ReadAll(fast)
			restS, _ := io.ReadAll(slow)
			if string(restF) != string(restS) {
				t.Fatalf("%q: left %q, line by line %q", in, restF, restS)
			}
		}
	})
}

// TestFieldOf: FieldOf knows exactly the names of its bits, and
// FieldsHop exactly the hop-by-hop names (policy's list).
func TestFieldOf(t *testing.T) {
	want := map[string]Fields{
		"Connection": FieldConnection, "Content-Length": FieldContentLength, "Transfer-Encoding": FieldTransferEncoding,
		"Trailer": FieldTrailer, "Expect": FieldExpect, "Upgrade": FieldUpgrade, "Keep-Alive": FieldKeepAlive,
		"Proxy-Connection": FieldOtherHop, "Proxy-Authenticate": FieldOtherHop, "Proxy-Authorization": FieldOtherHop, "Te": FieldOtherHop,
	}
	hop := map[string]bool{"Connection": true, "Proxy-Connection": true, "Keep-Alive": true, "Proxy-Authenticate": true,
		"Proxy-Authorization": true, "Te": true, "Trailer": true, "Transfer-Encoding": true, "Upgrade": true}
	for k, f := range want {
		if got := FieldOf(k); got != f {
			t.Errorf("FieldOf(%q) = %b, want %b", k, got, f)
		}
		if got := FieldOf(k)&FieldsHop != 0; got != hop[k] {
			t.Errorf("%q in FieldsHop: %v", k, got)
		}
	}
	for _, k := range []string{"", "TE", "te", "connection", "Content-Type", "Host", "Date", "Expected", "Upgrades", "Keep-alive", "X-Connection", "Trailers", "Content-Length2"} {
		if f := FieldOf(k); f != 0 {
			t.Errorf("FieldOf(%q) = %b, want 0", k, f)
		}
	}
}

// TestFillerMatchesAddValue: Filler builds the same map as AddValue (and
// http.Header.Add) for heads of few and many fields, repeated or not.
func TestFillerMatchesAddValue(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	names := []string{"A", "B", "Content-Length", "X-Forwarded-For", "Cookie", "Accept", "X-1", "X-2", "X-3", "X-4", "X-5", "X-6",
		"X-7", "X-8", "X-9", "X-10", "X-11", "X-12", "X-13", "X-14", "X-15", "X-16", "X-17", "X-18", "Bb", "Ab"}
	for i := 0; i < 20000; i++ {
		n := rng.IntN(40)
		spare := rng.IntN(n + 2)
		want, got := http.Header{}, http.Header{}
		wantVals := make([]string, spare)
		f := NewFiller(got, make([]string, spare))
		for j := 0; j < n; j++ {
			k := names[rng.IntN(1+rng.IntN(len(names)))]
			v := strconv.Itoa(j)
			wantVals = AddValue(want, k, v, wantVals)
			f.Add(k, v)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("Filler %v, AddValue %v", got, want)
		}
	}
}
