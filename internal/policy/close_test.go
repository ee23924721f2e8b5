package policy

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// countingBody is a backend body that counts what was read of it.
type countingBody struct {
	r      io.Reader
	n      int
	closed bool
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.n += n
	return n, err
}

func (b *countingBody) Close() error { b.closed = true; return nil }

// TestCloseDrains: State.Close reads what is left of the backend's body,
// at most 64 KiB of it (as io.Copy of an io.LimitReader), and closes it,
// whether the body was read to its end or not at all.
func TestCloseDrains(t *testing.T) {
	for _, c := range []struct{ size, read, want int }{
		{0, 0, 0},
		{64, 64, 64},
		{64, 0, 64},
		{1, 0, 1},
		{64 << 10, 0, 64 << 10},
		{100 << 10, 0, 64 << 10},
		{100 << 10, 10, 10 + 64<<10},
	} {
		body := &countingBody{r: strings.NewReader(strings.Repeat("x", c.size))}
		io.CopyN(io.Discard, body, int64(c.read))
		st := &State{backendResp: &http.Response{Body: body}}
		st.Close()
		if body.n != c.want || !body.closed || st.backendResp != nil {
			t.Errorf("size %d, %d read: Close read %d in all (closed %v), want %d", c.size, c.read, body.n, body.closed, c.want)
		}
	}
}
