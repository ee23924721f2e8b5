package httplex

import (
	"net/http"
	"net/textproto"
	"testing"
)

// CanonicalKey must agree with net/textproto, the oracle, on every token.
func TestCanonicalKeyMatchesTextproto(t *testing.T) {
	var scratch []byte
	for _, name := range []string{
		"content-type", "Content-Type", "CONTENT-TYPE", "x-my-header", "X-MY-HEADER", "a", "A",
		"keep-alive", "te", "TE", "www-authenticate", "x--y", "-x", "x-", "etag", "ETag",
		"ocp-apim-subscription-key", "x.custom", "x~1", "123-abc", "set-cookie",
	} {
		got := CanonicalKey(name, &scratch)
		if want := textproto.CanonicalMIMEHeaderKey(name); got != want {
			t.Errorf("CanonicalKey(%q) = %q, textproto says %q", name, got, want)
		}
		if got2 := CanonicalKey(name, nil); got2 != got {
			t.Errorf("CanonicalKey(%q, nil) = %q, with scratch %q", name, got2, got)
		}
	}
	// The result never aliases the scratch buffer.
	a := CanonicalKey("x-first-custom", &scratch)
	_ = CanonicalKey("x-other-thing!", &scratch)
	if a != "X-First-Custom" {
		t.Errorf("an earlier result changed with the scratch buffer: %q", a)
	}
}

func TestFirst(t *testing.T) {
	h := http.Header{"Upgrade": {"websocket", "h2c"}, "Empty": {}}
	if got := First(h, "Upgrade"); got != "websocket" {
		t.Errorf("First = %q", got)
	}
	if got := First(h, "Empty"); got != "" {
		t.Errorf("First(empty) = %q", got)
	}
	if got := First(h, "Missing"); got != "" {
		t.Errorf("First(missing) = %q", got)
	}
}

func FuzzCanonicalKey(f *testing.F) {
	for _, s := range []string{"content-type", "X-Y", "a-b-c", "ETAG"} {
		f.Add(s)
	}
	var scratch []byte
	f.Fuzz(func(t *testing.T, name string) {
		if !ValidToken(name) {
			return
		}
		if got, want := CanonicalKey(name, &scratch), textproto.CanonicalMIMEHeaderKey(name); got != want {
			t.Fatalf("CanonicalKey(%q) = %q, textproto says %q", name, got, want)
		}
	})
}
