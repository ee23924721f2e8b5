package store

import (
	"context"
	"fmt"
	"sync"
)

// Coalescer collapses concurrent loads of the same key into one call: while
// a load for a key is running, further callers for that key wait for its
// result instead of starting their own. cache-lookup uses it so that a burst
// of misses for one response reaches the backend once (APIM sends each miss
// to the backend).
//
// The load runs on its own goroutine with a context that keeps the first
// caller's values but not its cancellation: a caller that gives up (client
// gone, timeout) returns at once with its context's error while the others
// keep waiting, and the load's context is cancelled only when every caller
// has given up. The zero value is ready to use; a Coalescer must not be
// copied after first use.
type Coalescer[V any] struct {
	mu    sync.Mutex
	calls map[string]*coalescedCall[V]
}

type coalescedCall[V any] struct {
	done    chan struct{}
	val     V
	err     error
	waiters int
	cancel  context.CancelFunc
}

// Do returns the result of load for key, running load only if no load for
// key is already in flight. shared is true when the result came from a load
// started by another caller. The value is handed to every waiter as is, so
// it must be treated as read-only. A panic in load is returned as an error
// to every waiter rather than crashing the process.
func (g *Coalescer[V]) Do(ctx context.Context, key string, load func(context.Context) (V, error)) (v V, shared bool, err error) {
	g.mu.Lock()
	if g.calls == nil {
		g.calls = make(map[string]*coalescedCall[V])
	}
	if c, ok := g.calls[key]; ok {
		c.waiters++
		g.mu.Unlock()
		return g.wait(ctx, key, c, true)
	}
	lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c := &coalescedCall[V]{done: make(chan struct{}), waiters: 1, cancel: cancel}
	g.calls[key] = c
	g.mu.Unlock()
	go g.run(lctx, key, c, load)
	return g.wait(ctx, key, c, false)
}

func (g *Coalescer[V]) run(ctx context.Context, key string, c *coalescedCall[V], load func(context.Context) (V, error)) {
	defer c.cancel()
	defer close(c.done)
	defer func() {
		if p := recover(); p != nil {
			var zero V
			c.val, c.err = zero, fmt.Errorf("coalesced load of %q panicked: %v", key, p)
		}
		g.mu.Lock()
		if g.calls[key] == c {
			delete(g.calls, key)
		}
		g.mu.Unlock()
	}()
	c.val, c.err = load(ctx)
}

func (g *Coalescer[V]) wait(ctx context.Context, key string, c *coalescedCall[V], shared bool) (V, bool, error) {
	select {
	case <-c.done:
		return c.val, shared, c.err
	case <-ctx.Done():
	}
	g.mu.Lock()
	c.waiters--
	if c.waiters == 0 {
		// Nobody is left to receive the result: stop the load and let the
		// next caller start afresh.
		c.cancel()
		if g.calls[key] == c {
			delete(g.calls, key)
		}
	}
	g.mu.Unlock()
	var zero V
	return zero, shared, fmt.Errorf("wait for coalesced load of %q: %w", key, ctx.Err())
}
