package policy

import (
	"fmt"
	"maps"
	"net/http"
	"testing"
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
