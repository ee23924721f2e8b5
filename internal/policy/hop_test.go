package policy

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"

	"github.com/apimgw/apimgw/internal/httplex"
)

// TestRemoveHopHeaders: hop-by-hop fields and those Connection names go,
// end-to-end fields stay, for small maps (walked) and larger ones (probed).
func TestRemoveHopHeaders(t *testing.T) {
	for _, c := range []struct {
		in, want http.Header
	}{
		{http.Header{"Accept": {"*/*"}, "User-Agent": {"x"}}, http.Header{"Accept": {"*/*"}, "User-Agent": {"x"}}},
		{http.Header{"Accept": {"*/*"}, "Keep-Alive": {"timeout=5"}, "Te": {"trailers"}}, http.Header{"Accept": {"*/*"}}},
		{http.Header{"Connection": {"close, X-Drop"}, "X-Drop": {"1"}, "X-Keep": {"2"}}, http.Header{"X-Keep": {"2"}}},
		{http.Header{"Upgrade": {"websocket"}, "Transfer-Encoding": {"chunked"}, "Trailer": {"X-Sum"}, "Proxy-Authorization": {"p"},
			"Proxy-Authenticate": {"q"}, "Proxy-Connection": {"keep-alive"}, "A": {"a"}}, http.Header{"A": {"a"}}},
	} {
		for _, extra := range []int{0, 12} { // the same, in a map too large to walk
			in, want := maps.Clone(c.in), maps.Clone(c.want)
			for i := range extra {
				k := fmt.Sprintf("X-Extra-%d", i)
				in[k], want[k] = []string{"v"}, []string{"v"}
			}
			RemoveHopHeaders(in)
			if fmt.Sprint(in) != fmt.Sprint(want) {
				t.Errorf("RemoveHopHeaders(%v)\n got %v\nwant %v", c.in, in, want)
			}
		}
	}
}

// removeHopHeadersRef is RemoveHopHeaders as it was before it skipped the
// canonical form of hop-by-hop names in Connection.
func removeHopHeadersRef(h http.Header) {
	for _, v := range h["Connection"] {
		for _, name := range strings.Split(v, ",") {
			if name = strings.TrimSpace(name); name != "" {
				if httplex.ValidToken(name) {
					name = httplex.CanonicalKey(name, nil)
				}
				delete(h, name)
			}
		}
	}
	for _, name := range hopHeaders {
		delete(h, name)
	}
}

// TestRemoveHopHeadersMatchesRef: random maps and Connection values (names
// in any case, hop-by-hop or not, spaces, empty elements, non-tokens).
func TestRemoveHopHeadersMatchesRef(t *testing.T) {
	names := []string{"Keep-Alive", "keep-alive", "KEEP-ALIVE", "close", "Te", "te", "TE", "trailer", "Upgrade", "upgrade",
		"X-Drop", "x-drop", "X-Keep", "Proxy-Connection", "proxy-authorization", "Transfer-Encoding", "transfer-encodinG",
		"Connection", "x y", "é", "", " ", "Accept", "Proxy-Authenticate", "Keep-Alivee", "Te2"}
	fields := []string{"Accept", "X-Drop", "X-Keep", "Keep-Alive", "Te", "Trailer", "Upgrade", "Proxy-Connection",
		"Transfer-Encoding", "Proxy-Authorization", "Proxy-Authenticate", "x y", "é", "Keep-Alivee", "Te2"}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		h := http.Header{}
		for range rng.IntN(12) {
			h[fields[rng.IntN(len(fields))]] = []string{"v"}
		}
		for range rng.IntN(3) {
			var parts []string
			for range rng.IntN(5) {
				sp := []string{"", " ", "\t"}[rng.IntN(3)]
				parts = append(parts, sp+names[rng.IntN(len(names))]+sp)
			}
			h["Connection"] = append(h["Connection"], strings.Join(parts, ","))
		}
		in := fmt.Sprint(h)
		want := maps.Clone(h)
		removeHopHeadersRef(want)
		RemoveHopHeaders(h)
		if fmt.Sprint(h) != fmt.Sprint(want) {
			t.Fatalf("RemoveHopHeaders(%s)\n got %v\nwant %v", in, h, want)
		}
	}
}

// TestRemoveHopHeadersKeepAliveAllocs: the usual response of a keep-alive
// backend (nginx's "Connection: keep-alive") costs no allocation.
func TestRemoveHopHeadersKeepAliveAllocs(t *testing.T) {
	h, ct, conn := http.Header{}, []string{"text/plain"}, []string{"keep-alive"}
	if n := testing.AllocsPerRun(100, func() {
		h["Content-Type"], h["Connection"] = ct, conn
		RemoveHopHeaders(h)
	}); n != 0 || len(h) != 1 {
		t.Fatalf("%v allocations, %v left; want 0, Content-Type", n, h)
	}
}

// TestDropConnectionOnlyMatchesRemoveHopHeaders: the parsers' shortcut
// (httplex.DropConnectionOnly, then RemoveHopHeaders only for what it
// leaves) removes what the reference removal does, on random maps whose
// fields it is told as a parser notes them; and it takes the shortcut for
// the keep-alive and close Connections that are its purpose.
func TestDropConnectionOnlyMatchesRemoveHopHeaders(t *testing.T) {
	tokens := []string{"keep-alive", "Keep-Alive", "KEEP-ALIVE", "close", "Close", "cLoSe", "", " ", "Te", "upgrade", "X-Drop", "Close2"}
	fields := []string{"Accept", "X-Drop", "Close", "Keep-Alive", "Te", "Trailer", "Upgrade", "Proxy-Connection",
		"Transfer-Encoding", "Proxy-Authenticate", "Keep-Alivee", "Close2"}
	rng := rand.New(rand.NewPCG(3, 4))
	shortcuts := 0
	for range 20000 {
		h := http.Header{}
		for range rng.IntN(6) {
			h[fields[rng.IntN(len(fields))]] = []string{"v"}
		}
		if rng.IntN(4) > 0 {
			// Mostly fields apart from Connection that are no hop-by-hop
			// ones, for the shortcut to be taken.
			for k := range h {
				if httplex.FieldOf(k)&httplex.FieldsHop&^httplex.FieldKeepAlive != 0 {
					delete(h, k)
				}
			}
		}
		for range rng.IntN(3) {
			var parts []string
			for range 1 + rng.IntN(3) {
				sp := []string{"", " ", "\t"}[rng.IntN(3)]
				tok := tokens[rng.IntN(3)] // keep-alive, mostly
				if rng.IntN(3) == 0 {
					tok = tokens[rng.IntN(len(tokens))]
				}
				parts = append(parts, sp+tok+sp)
			}
			h["Connection"] = append(h["Connection"], strings.Join(parts, ","))
		}
		if hop, rest := dropConnectionOnlyAsRef(t, h); hop != 0 && rest == 0 {
			shortcuts++
		}
	}
	if shortcuts < 5000 {
		t.Fatalf("the shortcut was taken %d times in 20,000; want most Connection-only maps", shortcuts)
	}
}

// FuzzDropConnectionOnly: for any Connection values and fields beside
// them, the shortcut and then the general removal for what it leaves
// remove what the reference removal does.
// Run: go test -run XXX -fuzz FuzzDropConnectionOnly ./internal/policy
func FuzzDropConnectionOnly(f *testing.F) {
	f.Add("keep-alive", "", "Server,Keep-Alive")
	f.Add("close, Keep-Alive", "x", "Close,X-A")
	f.Add("keep-alive, X-Secret", "", "X-Secret")
	f.Add(" , \tclose ,", "keep-alive", "Te,Upgrade")
	f.Fuzz(func(t *testing.T, conn1, conn2, names string) {
		h := http.Header{"Connection": {conn1}}
		if conn2 != "" {
			h["Connection"] = append(h["Connection"], conn2)
		}
		for _, k := range strings.Split(names, ",") {
			if k != "" && len(h) < 16 {
				h[http.CanonicalHeaderKey(k)] = []string{"v"}
			}
		}
		dropConnectionOnlyAsRef(t, h)
	})
}

// dropConnectionOnlyAsRef removes h's hop-by-hop fields as the parsers'
// callers do: httplex.DropConnectionOnly told the fields h has, then
// RemoveHopHeaders when it leaves any. It fails t unless that removes what
// the reference removal does, and unless a map left to the general
// removal was left unchanged. It returns h's hop-by-hop fields and those
// the shortcut left.
func dropConnectionOnlyAsRef(t *testing.T, h http.Header) (hop, rest httplex.Fields) {
	t.Helper()
	var f httplex.Fields
	for k := range h {
		f |= httplex.FieldOf(k)
	}
	in := fmt.Sprint(h)
	want := maps.Clone(h)
	removeHopHeadersRef(want)
	rest = httplex.DropConnectionOnly(h, f)
	if rest != 0 {
		if rest != f&httplex.FieldsHop || fmt.Sprint(h) != in {
			t.Fatalf("DropConnectionOnly(%s) left %v with %b; want it unchanged with %b", in, h, rest, f&httplex.FieldsHop)
		}
		RemoveHopHeaders(h)
	}
	if fmt.Sprint(h) != fmt.Sprint(want) {
		t.Fatalf("DropConnectionOnly(%s) (rest %b)\n got %v\nwant %v", in, rest, h, want)
	}
	return f & httplex.FieldsHop, rest
}
