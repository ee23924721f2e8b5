package backend

import (
	"math/rand/v2"
	"net/url"
	"strings"
	"testing"
)

func checkRequestURI(t *testing.T, u *url.URL) {
	t.Helper()
	got, clean := requestURI(u)
	if want := u.RequestURI(); got != want {
		t.Fatalf("requestURI(%#v) = %q, want %q", u, got, want)
	}
	if clean && strings.ContainsAny(got, " \r\n") {
		t.Fatalf("requestURI(%#v) = %q, clean", u, got)
	}
}

// TestRequestURIMatchesNetURL compares requestURI with url.URL.RequestURI
// for every byte in a path, and for random paths, raw paths and queries.
func TestRequestURIMatchesNetURL(t *testing.T) {
	for c := 0; c < 256; c++ {
		for _, p := range []string{string([]byte{byte(c)}), "/a" + string([]byte{byte(c)}) + "b", "/" + string([]byte{byte(c)})} {
			checkRequestURI(t, &url.URL{Path: p})
			checkRequestURI(t, &url.URL{Path: p, RawQuery: "q=1"})
		}
	}
	for _, u := range []*url.URL{
		{}, {Path: "*"}, {Path: "/"}, {Path: "/a b"}, {Path: "/a", ForceQuery: true},
		{Path: "/a/b", RawPath: "/a%2Fb"}, {Path: "/a b", RawPath: "/a%20b"}, {Opaque: "//x/y", Scheme: "http"},
		{Opaque: "/o"}, {Path: "/bench"},
	} {
		checkRequestURI(t, u)
	}
	r := rand.New(rand.NewPCG(3, 4))
	const alpha = "/abc-_.~%20?#*!$&'()+,;=:@ \r\n\x00\x7f\x80\xff"
	rnd := func() string {
		b := make([]byte, r.IntN(12))
		for i := range b {
			b[i] = alpha[r.IntN(len(alpha))]
		}
		return string(b)
	}
	for range 100000 {
		u := &url.URL{Path: rnd()}
		if r.IntN(4) == 0 {
			u.RawPath = rnd()
		}
		if r.IntN(4) == 0 {
			u.RawQuery = rnd()
		}
		u.ForceQuery = r.IntN(8) == 0
		checkRequestURI(t, u)
	}
}

// refValidHost is validHost a byte at a time, as it was before the table.
func refValidHost(h string) bool {
	if h == "" {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if c <= ' ' || c == 0x7f || c == '/' || c == '?' || c == '#' || c == '\\' {
			return false
		}
	}
	return true
}

func TestValidHostMatchesReference(t *testing.T) {
	check := func(h string) {
		if got, want := validHost(h), refValidHost(h); got != want {
			t.Fatalf("validHost(%q) = %v, want %v", h, got, want)
		}
	}
	for n := 0; n <= 20; n++ {
		check("backend.example:8443"[:n])
		for i := 0; i < n; i++ {
			for c := 0; c < 256; c++ {
				b := []byte("backend.example:8443"[:n])
				b[i] = byte(c)
				check(string(b))
			}
		}
	}
	r := rand.New(rand.NewPCG(9, 10))
	for range 100000 {
		b := make([]byte, r.IntN(30))
		for i := range b {
			if r.IntN(8) == 0 {
				b[i] = byte(r.IntN(256))
			} else {
				b[i] = "ab.9:[]-%"[r.IntN(9)]
			}
		}
		check(string(b))
	}
}
