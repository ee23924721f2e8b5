package reqctx

import (
	"context"
	"math"
	"math/rand/v2"
	"sync"
	"time"
)

// Timeouts wait in queues rather than each on a runtime timer of its own.
// Arming, stopping and clearing away a runtime timer for every request
// (most of which end long before their timeout) costs far more than the
// request's other context work; a queue costs an append and an unlink.
//
// A queue holds the Ctxs of one timeout duration, in the order they
// started, which is also the order of their deadlines: the one runtime
// timer of the queue need only fire at the deadline of its head. It is
// not re-armed when a Ctx joins or leaves: when it fires, it expires the
// Ctxs whose deadline has come and sets itself for the new head, so every
// timeout still fires at its deadline, as a timer of its own would.
//
// Each duration has a few queues (shards), so that Ctxs on different
// cores seldom share a lock. Queues are made on first use and kept: a
// process uses few distinct durations (forward-request's timeout is
// configured in whole milliseconds, or seconds by expression). Since an
// expression may take its timeout from the request, the durations that get
// queues are bounded (maxQueued); a timeout of any other duration waits on
// a runtime timer of its own, as every timeout did before the queues.

// queueShards is the number of queues per duration.
const queueShards = 8

type timerQueue struct {
	d  time.Duration
	mu sync.Mutex
	// head and tail of the queue, linked through Ctx.tprev and tnext.
	head, tail *Ctx
	t          *time.Timer // fires q.fire; made when first armed
	armed      bool        // t will fire
}

// maxQueued is the number of distinct durations that get queues.
const maxQueued = 64

var (
	queues    sync.Map // time.Duration → *[queueShards]timerQueue
	queuedMu  sync.Mutex
	queuedLen int // durations in queues, under queuedMu
)

// queueFor returns a queue for timeout d, or nil when maxQueued other
// durations have queues already.
func queueFor(d time.Duration) *timerQueue {
	v, ok := queues.Load(d)
	if !ok {
		queuedMu.Lock()
		if v, ok = queues.Load(d); !ok {
			if queuedLen >= maxQueued {
				queuedMu.Unlock()
				return nil
			}
			qs := new([queueShards]timerQueue)
			for i := range qs {
				qs[i].d = d
			}
			queues.Store(d, qs)
			queuedLen++
			v = qs
		}
		queuedMu.Unlock()
	}
	return &v.(*[queueShards]timerQueue)[rand.N(queueShards)]
}

// epoch anchors mono.
var epoch = time.Now()

// mono reads the monotonic clock (the runtime timers' own) in
// nanoseconds, which is cheaper than time.Now.
func mono() int64 { return int64(time.Since(epoch)) }

// startTimer starts c's timeout. c.mu must be held.
func (c *Ctx) startTimer(d time.Duration) {
	c.tgen++
	q := c.lastQ
	if q == nil || q.d != d {
		if q = queueFor(d); q == nil {
			gen := c.tgen
			c.own = time.AfterFunc(d, func() { c.expireOwn(gen) })
			return
		}
		c.lastQ = q
	}
	c.tq = q
	q.add(c)
}

// expireOwn cancels c with context.DeadlineExceeded if its timeout gen,
// on a runtime timer of its own, still runs.
func (c *Ctx) expireOwn(gen uint64) {
	c.mu.Lock()
	if c.own == nil || c.tgen != gen {
		c.mu.Unlock()
		return
	}
	c.own = nil
	c.cancelLocked(context.DeadlineExceeded)
}

// add queues c, whose tgen is that of the timeout starting now.
func (q *timerQueue) add(c *Ctx) {
	q.mu.Lock()
	// The clock is read under the lock, so that the queue stays in
	// deadline order.
	now := mono()
	c.deadline = now + int64(q.d)
	if c.deadline < now {
		c.deadline = math.MaxInt64
	}
	c.qgen, c.queued = c.tgen, true
	c.tprev, c.tnext = q.tail, nil
	if q.tail != nil {
		q.tail.tnext = c
	} else {
		q.head = c
	}
	q.tail = c
	if !q.armed {
		// Otherwise the timer fires at an earlier deadline (or while the
		// queue was empty), and sets itself again from there.
		q.armed = true
		if q.t == nil {
			q.t = time.AfterFunc(q.d, q.fire)
		} else {
			q.t.Reset(q.d)
		}
	}
	q.mu.Unlock()
}

// remove unqueues c and reports whether it was still queued (its timeout
// had not fired). c.mu must be held.
func (q *timerQueue) remove(c *Ctx) bool {
	q.mu.Lock()
	ok := c.queued
	if ok {
		q.unlinkLocked(c)
	}
	q.mu.Unlock()
	return ok
}

func (q *timerQueue) unlinkLocked(c *Ctx) {
	if c.tprev != nil {
		c.tprev.tnext = c.tnext
	} else {
		q.head = c.tnext
	}
	if c.tnext != nil {
		c.tnext.tprev = c.tprev
	} else {
		q.tail = c.tprev
	}
	c.tprev, c.tnext, c.queued = nil, nil, false
}

// fire expires the Ctxs whose deadline has come and sets the timer for
// the next one.
func (q *timerQueue) fire() {
	q.mu.Lock()
	for {
		c := q.head
		if c == nil {
			q.armed = false
			break
		}
		now := mono()
		if c.deadline > now {
			q.t.Reset(time.Duration(c.deadline - now))
			break
		}
		q.unlinkLocked(c)
		gen := c.qgen
		q.mu.Unlock() // c.mu comes first
		c.expireBy(q, gen)
		q.mu.Lock()
	}
	q.mu.Unlock()
}

// expireBy cancels c with context.DeadlineExceeded if its timeout gen,
// taken from q, still runs: not when it was stopped, or c cancelled (and
// perhaps renewed) since.
func (c *Ctx) expireBy(q *timerQueue, gen uint64) {
	c.mu.Lock()
	if c.tq != q || c.tgen != gen {
		c.mu.Unlock()
		return
	}
	c.tq = nil
	c.cancelLocked(context.DeadlineExceeded)
}
