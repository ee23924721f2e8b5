package httplex

import (
	"bufio"
	"bytes"
	"math/rand/v2"
	"net/textproto"
	"strings"
	"testing"
)

// The byte-at-a-time validators the table and SWAR versions replaced, as
// references.

var refTchar = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

func refValidToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !refTchar[s[i]] {
			return false
		}
	}
	return true
}

func refValidFieldValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

func refHasCRLF(s string) bool { return strings.ContainsAny(s, "\r\n") }

func checkLex(t *testing.T, s string) {
	t.Helper()
	if got, want := ValidToken(s), refValidToken(s); got != want {
		t.Fatalf("ValidToken(%q) = %v, want %v", s, got, want)
	}
	if got, want := ValidFieldValue(s), refValidFieldValue(s); got != want {
		t.Fatalf("ValidFieldValue(%q) = %v, want %v", s, got, want)
	}
	if got, want := CanonicalKey(s, nil), canonicalBytes(s, nil); got != want {
		t.Fatalf("CanonicalKey(%q) = %q, want %q", s, got, want)
	}
	if refValidToken(s) {
		if got, want := CanonicalKey(s, nil), textproto.CanonicalMIMEHeaderKey(s); got != want {
			t.Fatalf("CanonicalKey(%q) = %q, want %q", s, got, want)
		}
	}
	if got, want := TrimSpace(s), strings.TrimSpace(s); got != want {
		t.Fatalf("TrimSpace(%q) = %q, want %q", s, got, want)
	}
	if got, want := HasCRLF(s), refHasCRLF(s); got != want {
		t.Fatalf("HasCRLF(%q) = %v, want %v", s, got, want)
	}
}

// TestValidatorsMatchReference puts each byte value at each position of
// strings of every length up to 40 (so in every group and tail the
// validators split them into), then random strings.
func TestValidatorsMatchReference(t *testing.T) {
	for n := 0; n <= 40; n++ {
		for _, fill := range []byte{'a', 'A', '-', ' ', '\t', 0x80} {
			base := []byte(strings.Repeat(string(fill), n))
			checkLex(t, string(base))
			for i := 0; i < n; i++ {
				for c := 0; c < 256; c++ {
					b := append([]byte(nil), base...)
					b[i] = byte(c)
					checkLex(t, string(b))
				}
			}
		}
	}
	for _, s := range []string{" a", "a ", "a\u00a0", "\u0085a", "\u2000x\u3000", "\ufeffa", "!", "~", "\x7f1", "1\x7f", "\x20"} {
		checkLex(t, s)
	}
	r := rand.New(rand.NewPCG(1, 2))
	alphabets := []string{
		"abcXYZ-_09!~", "aA-", "aZ-z`{@[", "abc\t \r\n\x00\x1f\x7f\x80\xff:\"", "ab\x0d\x0e\x0a\x09\x20\x21\x7e\x7f",
	}
	for range 200000 {
		alpha := alphabets[r.IntN(len(alphabets))]
		b := make([]byte, r.IntN(40))
		for i := range b {
			if r.IntN(4) == 0 {
				b[i] = byte(r.IntN(256))
			} else {
				b[i] = alpha[r.IntN(len(alpha))]
			}
		}
		checkLex(t, string(b))
	}
}

func FuzzValidators(f *testing.F) {
	for _, s := range []string{"", "GET", "Content-Type", "text/plain; charset=utf-8", "a\tb", "a\r\nb", "\x7f", "ünï"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { checkLex(t, s) })
}

// refHeadLen is headEnd's search as it was: the earlier of the first
// "\n\n" and the first "\n\r\n".
func refHeadLen(p []byte, limit int) int {
	end := -1
	if i := bytes.Index(p, []byte("\n\n")); i >= 0 {
		end = i + 2
	}
	if i := bytes.Index(p, []byte("\n\r\n")); i >= 0 && (end < 0 || i+3 < end) {
		end = i + 3
	}
	if end < 0 || limit > 0 && end > limit {
		return 0
	}
	return end
}

func checkHeadLen(t *testing.T, p []byte, limit int) {
	t.Helper()
	var lines Lines
	got, want := headLen(p, limit, &lines), refHeadLen(p, limit)
	if got != want {
		t.Fatalf("headLen(%q, %d) = %d, want %d", p, limit, got, want)
	}
	if got > 0 {
		checkCursor(t, string(p[:got]), &lines)
	}
}

// checkCursor compares the lines and counts of a Cursor using the
// recorded lines with NextLine and strings.Count.
func checkCursor(t *testing.T, head string, lines *Lines) {
	t.Helper()
	c := NewCursor(head, lines)
	rest := head
	for {
		if c.More() != (rest != "") || c.Count() != strings.Count(rest, "\n") {
			t.Fatalf("head %q (lines %v): More %v, Count %d at %q", head, lines, c.More(), c.Count(), rest)
		}
		if rest == "" {
			return
		}
		var want string
		want, rest = NextLine(rest)
		if got := c.Next(); got != want {
			t.Fatalf("head %q (lines %v): Next = %q, want %q", head, lines, got, want)
		}
	}
}

func TestHeadLenMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	const alpha = "\r\n\r\n\r\nab: "
	for range 300000 {
		b := make([]byte, r.IntN(40))
		for i := range b {
			b[i] = alpha[r.IntN(len(alpha))]
		}
		checkHeadLen(t, b, r.IntN(45)-2)
	}
	// More lines than a Lines records, and a line too long for it.
	for _, n := range []int{maxLines - 2, maxLines - 1, maxLines, maxLines + 1, 100} {
		head := "GET / HTTP/1.1\r\n" + strings.Repeat("A: b\r\n", n) + "\r\nbody"
		checkHeadLen(t, []byte(head), 0)
	}
	checkHeadLen(t, []byte("GET / HTTP/1.1\r\nA: "+strings.Repeat("b", 70000)+"\r\n\r\n"), 0)
}

func FuzzHeadLen(f *testing.F) {
	f.Add([]byte("GET / HTTP/1.1\r\nHost: a\r\n\r\nbody"), 0)
	f.Add([]byte("HTTP/1.1 200 OK\nA: b\n\n"), 10)
	f.Fuzz(func(t *testing.T, p []byte, limit int) { checkHeadLen(t, p, limit) })
}

func TestWriteField(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for range 20000 {
		var out bytes.Buffer
		bw := bufio.NewWriterSize(&out, 16+r.IntN(48))
		var want strings.Builder
		for range r.IntN(5) {
			k, v := strings.Repeat("K", r.IntN(20)), strings.Repeat("v", r.IntN(40))
			WriteField(bw, k, v)
			want.WriteString(k + ": " + v + "\r\n")
		}
		bw.Flush()
		if out.String() != want.String() {
			t.Fatalf("wrote %q, want %q", out.String(), want.String())
		}
	}
}
