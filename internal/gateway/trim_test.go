package gateway

import (
	"strings"
	"testing"
)

// FuzzTrimBrackets: trimBrackets is strings.Trim(s, "[]").
func FuzzTrimBrackets(f *testing.F) {
	for _, s := range []string{"", "[", "]", "[]", "[::1]", "[[a]]", "]a[", "host", "[a]b]", "a[", "ü]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := trimBrackets(s), strings.Trim(s, "[]"); got != want {
			t.Errorf("trimBrackets(%q) = %q, want %q", s, got, want)
		}
	})
}
