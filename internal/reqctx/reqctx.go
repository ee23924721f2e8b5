package reqctx

import (
	"context"
	"sync"
	"time"
)

// Ctx is a cancellable context. The zero value is not usable; use New.
type Ctx struct {
	parent context.Context

	mu       sync.Mutex
	done     chan struct{} // made on demand
	err      error
	funcs    []*afterFunc
	children []*Ctx
	// Inline room for the usual one function and one child, so that
	// registering them allocates nothing.
	f0     afterFunc
	f0Used bool
	fs     [1]*afterFunc
	kids   [1]*Ctx
	unlink func() bool // stops the registration with a non-Ctx parent

	// The timeout: tq is the queue it waits in while it runs (nil when
	// there is none, it was stopped or it fired), tgen counts c's
	// timeouts so that a late expiry of an earlier one is told apart.
	// lastQ is the queue of c's last timeout, which a renewed Ctx usually
	// needs again.
	tq, lastQ *timerQueue
	tgen      uint64
	// own is the timeout's runtime timer when its duration has no queue.
	own *time.Timer
	// Guarded by the mutex of the queue c is in (see timerQueue).
	tprev, tnext *Ctx
	deadline     int64  // on the monotonic clock (mono)
	qgen         uint64 // tgen of the timeout queued
	queued       bool
}

type afterFunc struct{ f func() }

// closedChan is the done channel of a Ctx cancelled before Done was asked.
var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// New returns a Ctx that is cancelled when parent is (with parent's
// error), when Cancel is called, or, if timeout > 0, after timeout (with
// context.DeadlineExceeded).
func New(parent context.Context, timeout time.Duration) *Ctx {
	c := new(Ctx)
	c.Init(parent, timeout)
	return c
}

// Init sets up a zero Ctx in place, as New does, so that a Ctx can live
// inside a larger per-request object instead of costing an allocation of
// its own. c must be a zero Ctx never used before.
func (c *Ctx) Init(parent context.Context, timeout time.Duration) {
	c.parent = parent
	c.link(timeout)
}

// Parent returns the context c was made from (by Init, or New), which
// Renew keeps.
func (c *Ctx) Parent() context.Context { return c.parent }

// Renew makes c, once cancelled, a new Ctx with the same parent, as if
// just made by Init(parent, timeout), for storage that serves request after
// request. Whoever kept c from before may still ask its Value and
// Deadline, which are its parent's and stay as they were; anything else
// they do with c is the new Ctx's, so the stop functions of c's earlier
// AfterFunc and Watch registrations must not be called after Renew.
func (c *Ctx) Renew(timeout time.Duration) {
	c.mu.Lock()
	if c.err == nil {
		c.mu.Unlock()
		panic("reqctx: Renew of a Ctx not cancelled")
	}
	c.done, c.err, c.funcs, c.children = nil, nil, nil, nil
	c.f0, c.f0Used, c.fs, c.kids, c.unlink = afterFunc{}, false, [1]*afterFunc{}, [1]*Ctx{}, nil
	c.mu.Unlock()
	c.link(timeout)
}

// link registers c with its parent and starts its timeout.
func (c *Ctx) link(timeout time.Duration) {
	parent := c.parent
	// Held until c is set up: once linked, the parent may cancel c.
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := parent.(*Ctx); ok {
		p.mu.Lock()
		if p.err != nil {
			c.err = p.err
		} else {
			if p.children == nil {
				p.children = p.kids[:0]
			}
			p.children = append(p.children, c)
		}
		p.mu.Unlock()
	} else if parent.Done() != nil {
		if err := parent.Err(); err != nil {
			c.err = err
		} else {
			c.unlink = context.AfterFunc(parent, func() { c.Cancel(parent.Err()) })
		}
	}
	if timeout > 0 && c.err == nil {
		c.startTimer(timeout)
	}
}

// Deadline reports the parent's deadline: a timeout given to New is not
// reported, as it is enforced by the Ctx itself.
func (c *Ctx) Deadline() (time.Time, bool) { return c.parent.Deadline() }

// Value returns the parent's value for key.
func (c *Ctx) Value(key any) any { return c.parent.Value(key) }

// Done returns a channel closed when the Ctx is cancelled.
func (c *Ctx) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done == nil {
		if c.err != nil {
			c.done = closedChan
		} else {
			c.done = make(chan struct{})
		}
	}
	return c.done
}

// Err returns nil until the Ctx is cancelled, then why.
func (c *Ctx) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// StopTimer stops the timeout given to New, so that from now on only the
// parent or Cancel end the Ctx; it reports whether the timeout had not
// fired yet (true also when there was none).
func (c *Ctx) StopTimer() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t := c.own; t != nil {
		c.own = nil // a firing under way leaves c alone
		return t.Stop()
	}
	q := c.tq
	if q == nil {
		return c.err != context.DeadlineExceeded
	}
	c.tq = nil // an expiry already under way leaves c alone
	return q.remove(c)
}

// TimedOut reports whether the Ctx ended by its own timeout (not by an
// expired parent deadline).
func (c *Ctx) TimedOut() bool {
	return c.Err() == context.DeadlineExceeded && c.parent.Err() != context.DeadlineExceeded
}

// Cancel cancels the Ctx and those derived from it with err
// (context.Canceled when nil); later calls do nothing. It releases the
// Ctx's timer and its link to the parent, so call it when done with a Ctx.
func (c *Ctx) Cancel(err error) {
	if err == nil {
		err = context.Canceled
	}
	c.mu.Lock()
	c.cancelLocked(err)
}

// cancelLocked is Cancel with c.mu held; it unlocks it.
func (c *Ctx) cancelLocked(err error) {
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = err
	if c.done != nil {
		close(c.done)
	}
	// What runs after the unlock is copied out of c's inline storage
	// (fs, kids, f0) first: Renew may reuse it as soon as c is cancelled.
	var kid *Ctx
	children := c.children
	if len(children) == 1 {
		kid, children = children[0], nil
	}
	var one func()
	var more []func()
	switch len(c.funcs) {
	case 0:
	case 1:
		one = c.funcs[0].f
	default:
		more = make([]func(), len(c.funcs))
		for i, a := range c.funcs {
			more[i] = a.f
		}
	}
	if c.tq != nil {
		// Under c.mu: a Renew may queue c again as soon as it is unlocked.
		c.tq.remove(c)
		c.tq = nil
	}
	if c.own != nil {
		c.own.Stop()
		c.own = nil
	}
	unlink := c.unlink
	c.funcs, c.children, c.unlink = nil, nil, nil
	c.mu.Unlock()
	if unlink != nil {
		unlink()
	}
	if kid != nil {
		kid.Cancel(err)
	}
	for _, child := range children {
		child.Cancel(err)
	}
	if one != nil {
		one()
	}
	for _, f := range more {
		f()
	}
}

// AfterFunc arranges for f to run when the Ctx is cancelled (at once, in
// this goroutine, if it already is). stop unregisters f and reports
// whether it did so before f ran. f must be quick and must not block.
// Go's context package uses this method when a standard context is
// derived from a Ctx, and context.AfterFunc ends up here too.
func (c *Ctx) AfterFunc(f func()) (stop func() bool) {
	return c.Watch(f).Stop
}

// Watch is a registration made by Ctx.Watch.
type Watch struct {
	c *Ctx
	a *afterFunc
}

// Stop unregisters the function and reports whether it did so before the
// function ran.
func (w Watch) Stop() bool {
	if w.c == nil {
		return false
	}
	return w.c.remove(w.a)
}

// Watch is AfterFunc returning a Watch instead of a stop function, which
// costs no allocation for the first function registered with a Ctx.
func (c *Ctx) Watch(f func()) Watch {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		f()
		return Watch{c: c} // registered, and already run: Stop reports false
	}
	var a *afterFunc
	if !c.f0Used {
		c.f0Used, c.f0.f = true, f
		a = &c.f0
	} else {
		a = &afterFunc{f: f}
	}
	if c.funcs == nil {
		c.funcs = c.fs[:0]
	}
	c.funcs = append(c.funcs, a)
	c.mu.Unlock()
	return Watch{c, a}
}

func (c *Ctx) remove(a *afterFunc) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, x := range c.funcs {
		if x == a {
			c.funcs = append(c.funcs[:i], c.funcs[i+1:]...)
			return true
		}
	}
	return false
}
