package store

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// waiting returns the number of callers waiting on key's load.
func (g *Coalescer[V]) waiting(key string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if c, ok := g.calls[key]; ok {
		return c.waiters
	}
	return 0
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestCoalescerOneLoadForConcurrentCallers(t *testing.T) {
	var g Coalescer[string]
	var loads atomic.Int32
	release := make(chan struct{})
	load := func(context.Context) (string, error) {
		loads.Add(1)
		<-release
		return "value", nil
	}
	const callers = 50
	var wg sync.WaitGroup
	var sharedCount atomic.Int32
	results := make([]string, callers)
	for i := range callers {
		wg.Go(func() {
			v, shared, err := g.Do(context.Background(), "k", load)
			if err != nil {
				t.Errorf("caller %d: %v", i, err)
			}
			if shared {
				sharedCount.Add(1)
			}
			results[i] = v
		})
	}
	waitUntil(t, "every caller to join the load", func() bool { return g.waiting("k") == callers })
	close(release)
	wg.Wait()
	if loads.Load() != 1 {
		t.Fatalf("%d loads for %d concurrent callers, want 1", loads.Load(), callers)
	}
	if sharedCount.Load() != callers-1 {
		t.Fatalf("%d callers report a shared result, want %d", sharedCount.Load(), callers-1)
	}
	for i, v := range results {
		if v != "value" {
			t.Fatalf("caller %d got %q", i, v)
		}
	}
	// The next call after completion loads afresh.
	if _, shared, _ := g.Do(context.Background(), "k", func(context.Context) (string, error) { return "again", nil }); shared {
		t.Fatal("a call after the load finished shared a stale result")
	}
}

func TestCoalescerCallerCancellation(t *testing.T) {
	var g Coalescer[int]
	loadCtx := make(chan context.Context, 1)
	release := make(chan struct{})
	load := func(ctx context.Context) (int, error) {
		loadCtx <- ctx
		select {
		case <-release:
			return 7, nil
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	first, cancelFirst := context.WithCancel(context.Background())
	firstDone := make(chan error, 1)
	go func() {
		_, _, err := g.Do(first, "k", load)
		firstDone <- err
	}()
	lctx := <-loadCtx
	secondDone := make(chan int, 1)
	go func() {
		v, _, _ := g.Do(context.Background(), "k", load)
		secondDone <- v
	}()
	waitUntil(t, "the second caller", func() bool { return g.waiting("k") == 2 })

	// The first caller leaving neither cancels the load nor the second caller.
	cancelFirst()
	if err := <-firstDone; !errors.Is(err, context.Canceled) {
		t.Fatalf("first caller: %v, want context.Canceled", err)
	}
	if lctx.Err() != nil {
		t.Fatal("load cancelled while a caller still waits")
	}
	close(release)
	if v := <-secondDone; v != 7 {
		t.Fatalf("second caller got %d", v)
	}

	// When every caller leaves, the load is cancelled.
	only, cancelOnly := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		_, _, _ = g.Do(only, "k2", func(ctx context.Context) (int, error) {
			loadCtx <- ctx
			<-ctx.Done()
			return 0, ctx.Err()
		})
		close(done)
	}()
	lctx = <-loadCtx
	cancelOnly()
	<-done
	select {
	case <-lctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("load not cancelled after its only caller left")
	}
}

func TestCoalescerPanicIsAnError(t *testing.T) {
	var g Coalescer[int]
	_, _, err := g.Do(context.Background(), "k", func(context.Context) (int, error) { panic("boom") })
	if err == nil {
		t.Fatal("panicking load returned no error")
	}
}
