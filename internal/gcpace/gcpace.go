// Package gcpace sets the garbage collector's pace for a gateway.
//
// A gateway allocates short-lived garbage per request and holds little
// else, so it collects less often than Go's default (GOGC=100, a heap of
// twice the live heap between collections): at GOGC=400 a small gateway
// serves about a tenth more (docs/benchmarks.md). But GOGC is a ratio: a
// gateway whose configuration holds tens of megabytes (1,000 APIs of 10
// operations hold about 15 MB) would keep five times its live heap. What
// makes collections rare is the headroom, the heap allocated between two
// of them, not the ratio; Start keeps that headroom near Headroom: GOGC is
// Headroom over the live heap, between 100 and 400, set again after every
// collection.
package gcpace

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
)

const (
	// Headroom is the heap allocated between two collections that Start
	// aims for: 4 × 8 MiB, a small gateway's live heap at GOGC=400.
	Headroom = 32 << 20
	// MaxPercent and MinPercent bound GOGC: a small live heap gets 400,
	// a large one Go's default.
	MaxPercent = 400
	MinPercent = 100
)

// Percent is the GOGC that gives a live heap of live bytes Headroom, within
// MinPercent and MaxPercent.
func Percent(live uint64) int {
	if live == 0 {
		return MaxPercent
	}
	return max(MinPercent, min(MaxPercent, int(Headroom*100/live)))
}

// sentinel is the object whose finalizer runs after each collection. It
// holds a pointer, so that it is not one of the runtime's tiny objects,
// whose finalizers may wait for a neighbour.
type sentinel struct{ _ *int }

// Start sets GOGC to Percent of the live heap now and after every
// collection until stop is called.
func Start() (stop func()) {
	var stopped atomic.Bool
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	last := -1
	adjust := func() {
		metrics.Read(sample)
		live := uint64(0)
		if sample[0].Value.Kind() == metrics.KindUint64 {
			live = sample[0].Value.Uint64()
		}
		if p := Percent(live); p != last {
			debug.SetGCPercent(p)
			last = p
		}
	}
	var arm func()
	arm = func() {
		runtime.SetFinalizer(&sentinel{}, func(*sentinel) {
			if stopped.Load() {
				return
			}
			adjust()
			arm()
		})
	}
	adjust()
	arm()
	return func() { stopped.Store(true) }
}
