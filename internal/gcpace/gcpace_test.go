package gcpace

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

func TestPercent(t *testing.T) {
	for _, c := range []struct {
		live uint64
		want int
	}{
		{0, 400},
		{1 << 20, 400},
		{8 << 20, 400},
		{10 << 20, 320},
		{16 << 20, 200},
		{25 << 20, 128},
		{32 << 20, 100},
		{1 << 30, 100},
	} {
		if got := Percent(c.live); got != c.want {
			t.Errorf("Percent(%d MiB) = %d, want %d", c.live>>20, got, c.want)
		}
	}
}

// gogc reads the runtime's GOGC.
func gogc() int64 {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64())
}

// waitGOGC collects until the runtime's GOGC is want (the finalizer that
// sets it runs after a collection, on the finalizer goroutine), for up to
// 5 s.
func waitGOGC(t *testing.T, want int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for gogc() != want {
		if time.Now().After(deadline) {
			t.Fatalf("GOGC %d, want %d", gogc(), want)
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
}

// With 64 MiB held, the live heap is over Headroom: Start sets GOGC to
// 100 after a collection; with it let go, back to 400; after stop, GOGC
// is left as it is.
func TestStartFollowsTheLiveHeap(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	stop := Start()
	waitGOGC(t, 400)
	held := make([][]byte, 64)
	for i := range held {
		held[i] = make([]byte, 1<<20)
	}
	waitGOGC(t, 100)
	runtime.KeepAlive(held)
	held = nil
	waitGOGC(t, 400)
	stop()
	runtime.GC()
	debug.SetGCPercent(250)
	held = make([][]byte, 64)
	for i := range held {
		held[i] = make([]byte, 1<<20)
	}
	for range 3 {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	runtime.KeepAlive(held)
	if g := gogc(); g != 250 {
		t.Fatalf("GOGC %d after stop, want it left at 250", g)
	}
}
