package backend

import (
	"sync"
	"time"
)

// reclaimSlots bounds the memory of a PortLedger: closes within one
// reclaim/reclaimSlots slice of time share one entry.
const reclaimSlots = 512

// PortLedger counts the source ports held towards one destination IP:port:
// open connections plus closed ones whose port is still inside the SNAT
// reclaim window. It is shared by every pool that connects to the
// destination and survives configuration reloads.
type PortLedger struct {
	mu      sync.Mutex
	open    int
	closed  []closeSlot // oldest first
	nClosed int         // sum of closed[i].n
	budget  int
	reclaim time.Duration
	enforce bool

	exhausted uint64 // connections refused by the budget
	lastWarn  time.Time
	now       func() time.Time
}

type closeSlot struct {
	at time.Time
	n  int
}

func newPortLedger(s SNAT, now func() time.Time) *PortLedger {
	return &PortLedger{budget: s.Ports, reclaim: s.Reclaim, enforce: s.Enforce, now: now}
}

// configure applies new SNAT settings; held ports keep counting.
func (l *PortLedger) configure(s SNAT) {
	l.mu.Lock()
	l.budget, l.reclaim, l.enforce = s.Ports, s.Reclaim, s.Enforce
	l.mu.Unlock()
}

// expire drops closes older than the reclaim window. l.mu must be held.
func (l *PortLedger) expire(now time.Time) {
	i := 0
	for i < len(l.closed) && now.Sub(l.closed[i].at) >= l.reclaim {
		l.nClosed -= l.closed[i].n
		i++
	}
	if i > 0 {
		l.closed = append(l.closed[:0], l.closed[i:]...)
	}
}

// acquire takes a port for a new connection. With enforcement on it fails,
// and counts an exhaustion, when the budget is already used.
func (l *PortLedger) acquire() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.expire(l.now())
	if l.enforce && l.open+l.nClosed >= l.budget {
		l.exhausted++
		return false
	}
	l.open++
	return true
}

// abandon returns a port taken by acquire whose connection attempt failed
// before a flow existed.
func (l *PortLedger) abandon() {
	l.mu.Lock()
	l.open--
	l.mu.Unlock()
}

// release records that a connection closed: its port stays held until the
// reclaim window has passed.
func (l *PortLedger) release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.open--
	if l.reclaim <= 0 {
		return
	}
	l.expire(now)
	slot := l.reclaim / reclaimSlots
	if n := len(l.closed); n > 0 && now.Sub(l.closed[n-1].at) < slot {
		l.closed[n-1].n++
	} else {
		l.closed = append(l.closed, closeSlot{at: now, n: 1})
	}
	l.nClosed++
}

// LedgerSnapshot is a point-in-time view of a PortLedger.
type LedgerSnapshot struct {
	// Open is the number of open connections.
	Open int
	// InReclaim is the number of closed connections whose port is still held.
	InReclaim int
	// Held is Open + InReclaim.
	Held int
	// Budget is the SNAT port budget.
	Budget int
	// Exhausted counts connections refused because the budget was used.
	Exhausted uint64
}

// Snapshot returns the ledger's current counts.
func (l *PortLedger) Snapshot() LedgerSnapshot {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.expire(l.now())
	return LedgerSnapshot{Open: l.open, InReclaim: l.nClosed, Held: l.open + l.nClosed, Budget: l.budget, Exhausted: l.exhausted}
}

// warnDue reports whether an exhaustion warning may be logged now.
func (l *PortLedger) warnDue(now time.Time, every time.Duration) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.lastWarn.IsZero() && now.Sub(l.lastWarn) < every {
		return false
	}
	l.lastWarn = now
	return true
}
