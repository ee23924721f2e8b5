package gateway

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/apimgw/apimgw/internal/expr"
)

// formatRequestID writes what expr.Guid.String does for the same 16
// random bytes with the version 4 bits set, as newRequestID used to.
func TestFormatRequestIDMatchesGuidString(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 100000 {
		lo, hi := rng.Uint64(), rng.Uint64()
		switch i {
		case 0:
			lo, hi = 0, 0
		case 1:
			lo, hi = ^uint64(0), ^uint64(0)
		case 2:
			lo, hi = 0x0123456789abcdef, 0xfedcba9876543210
		}
		var g expr.Guid
		binary.LittleEndian.PutUint64(g[:8], lo)
		binary.LittleEndian.PutUint64(g[8:], hi)
		g[6] = g[6]&0x0f | 0x40
		g[8] = g[8]&0x3f | 0x80
		if got, want := formatRequestID(lo, hi), g.String(); got != want {
			t.Fatalf("%#x %#x: %s, want %s", lo, hi, got, want)
		}
	}
}
