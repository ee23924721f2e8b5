package httpserver

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// refValidHost is validHost a byte at a time, as it was before the table.
func refValidHost(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isHostByte(s[i]) {
			return false
		}
	}
	return true
}

func TestValidHostMatchesReference(t *testing.T) {
	for n := 0; n <= 20; n++ {
		for i := 0; i < n; i++ {
			for c := 0; c < 256; c++ {
				b := []byte("example.com:8080[::1]"[:n])
				b[i] = byte(c)
				if got, want := validHost(string(b)), refValidHost(string(b)); got != want {
					t.Fatalf("validHost(%q) = %v, want %v", b, got, want)
				}
			}
		}
	}
	r := rand.New(rand.NewPCG(5, 6))
	for range 100000 {
		b := make([]byte, r.IntN(30))
		for i := range b {
			if r.IntN(8) == 0 {
				b[i] = byte(r.IntN(256))
			} else {
				b[i] = "ab.9:[]-%"[r.IntN(9)]
			}
		}
		if got, want := validHost(string(b)), refValidHost(string(b)); got != want {
			t.Fatalf("validHost(%q) = %v, want %v", b, got, want)
		}
	}
}

// refPlainPath is plainPath a byte at a time, as it was before the table.
func refPlainPath(p string) bool {
	for i := 0; i < len(p); i++ {
		if !isPlainPathByte(p[i]) {
			return false
		}
	}
	return true
}

func TestPlainPathMatchesReference(t *testing.T) {
	for n := 0; n <= 20; n++ {
		for i := 0; i < n; i++ {
			for c := 0; c < 256; c++ {
				b := []byte("/api/v1/items;x=1@a~"[:n])
				b[i] = byte(c)
				if got, want := plainPath(string(b)), refPlainPath(string(b)); got != want {
					t.Fatalf("plainPath(%q) = %v, want %v", b, got, want)
				}
			}
		}
	}
}

// isPlainPathByte is the server's own rule for plainPath before it asked
// net/url (httplex.PlainPath): the same bytes.
func isPlainPathByte(b byte) bool {
	switch {
	case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		return true
	}
	return strings.IndexByte("-_.~$&+,;=:@/", b) >= 0
}
