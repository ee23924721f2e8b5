package store

// window is one sliding-window counter: the calls counted in each slot of
// width ms that is still inside the window, oldest first. It holds at most
// period/width+2 slots (about slotsPerWindow) however many calls it counts,
// and only slots in which calls were counted.
type window struct {
	slots  []slotCount
	start  int   // index of the oldest live slot in slots
	total  int64 // sum of slots[start:].n
	width  int64 // slot width, ms
	period int64 // window length, ms
}

type slotCount struct {
	idx int64 // slot index: time in ms / width
	n   int64
}

func newWindow(spec RateSpec) *window {
	return &window{width: slotWidthMillis(spec.Period), period: spec.Period.Milliseconds()}
}

// expire drops the slots that have left the window at nowMs. A slot leaves
// once its end plus the period has passed, so a call is never forgotten
// early.
func (w *window) expire(nowMs int64) {
	cutoff := floorDiv(nowMs-w.period, w.width)
	for w.start < len(w.slots) && w.slots[w.start].idx < cutoff {
		w.total -= w.slots[w.start].n
		w.start++
	}
	switch {
	case w.start == len(w.slots):
		w.slots, w.start, w.total = w.slots[:0], 0, 0
	case w.start > 32 && w.start*2 >= len(w.slots):
		n := copy(w.slots, w.slots[w.start:])
		w.slots, w.start = w.slots[:n], 0
	}
}

// add counts n calls at nowMs. A clock that steps back counts into the
// newest slot rather than reordering the window.
func (w *window) add(nowMs, n int64) {
	cur := floorDiv(nowMs, w.width)
	if l := len(w.slots); l > w.start && w.slots[l-1].idx >= cur {
		w.slots[l-1].n = satAdd(w.slots[l-1].n, n)
	} else {
		w.slots = append(w.slots, slotCount{idx: cur, n: n})
	}
	w.total = satAdd(w.total, n)
}

// retryAfterMs is how long until enough slots expire for a call of weight
// need to fit under limit, capped at the period (a slot leaves the window up
// to one slot width after the period, so the uncapped wait could read
// "61 seconds" for a 60 s window; a client retrying at the capped time is at
// worst refused once more for less than a slot width). A call heavier than
// the limit never fits: it is told to wait a whole period.
func (w *window) retryAfterMs(nowMs, need, limit int64) int64 {
	if need > limit {
		return w.period
	}
	var freed int64
	for i := w.start; i < len(w.slots); i++ {
		freed += w.slots[i].n
		if w.total-freed+need <= limit {
			return min(max((w.slots[i].idx+1)*w.width+w.period-nowMs, 1), w.period)
		}
	}
	return w.period
}

// decide runs one decision at nowMs. With count false the call is counted
// only when admitted (RateLimit); with count true it is always counted and
// Allowed reports whether the window is still within the limit (RateCount).
func (w *window) decide(nowMs, limit, n int64, count bool) RateDecision {
	w.expire(nowMs)
	d := RateDecision{Limit: limit}
	if count {
		if n > 0 {
			w.add(nowMs, n)
		}
		d.Allowed = w.total <= limit
	} else {
		need := max(n, 1)
		if satAdd(w.total, need) <= limit {
			d.Allowed = true
			if n > 0 {
				w.add(nowMs, n)
			}
		} else {
			d.RetryAfter = msDuration(w.retryAfterMs(nowMs, need, limit))
		}
	}
	d.Remaining = max(limit-w.total, 0)
	return d
}
