package reqctx

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

type key struct{}

func TestCancelPropagatesDown(t *testing.T) {
	base := context.WithValue(context.Background(), key{}, "v")
	req := New(base, 0)
	call := New(req, 0)
	std, stdCancel := context.WithCancel(call)
	defer stdCancel()
	ran := 0
	call.AfterFunc(func() { ran++ })
	if call.Value(key{}) != "v" || std.Value(key{}) != "v" {
		t.Fatal("values not inherited")
	}
	if req.Err() != nil || call.Err() != nil || std.Err() != nil {
		t.Fatal("cancelled too early")
	}
	req.Cancel(nil)
	<-call.Done()
	<-std.Done()
	if !errors.Is(call.Err(), context.Canceled) || !errors.Is(std.Err(), context.Canceled) || ran != 1 {
		t.Fatalf("after parent cancel: call %v, std %v, afterFunc ran %d", call.Err(), std.Err(), ran)
	}
	req.Cancel(nil) // idempotent
	if ran != 1 {
		t.Fatal("AfterFunc ran twice")
	}
}

func TestChildCancelLeavesParent(t *testing.T) {
	req := New(context.Background(), 0)
	call := New(req, 0)
	call.Cancel(nil)
	if req.Err() != nil {
		t.Fatal("child cancel reached the parent")
	}
	if c := New(call, 0); !errors.Is(c.Err(), context.Canceled) {
		t.Fatal("a Ctx derived from a cancelled one is not cancelled")
	}
}

func TestStandardParent(t *testing.T) {
	parent, cancel := context.WithCancel(context.Background())
	c := New(parent, 0)
	cancel()
	select {
	case <-c.Done():
	case <-time.After(2 * time.Second):
		t.Fatal("standard parent's cancel not propagated")
	}
	if !errors.Is(c.Err(), context.Canceled) || c.TimedOut() {
		t.Fatalf("err %v timedOut %v", c.Err(), c.TimedOut())
	}
	// A Ctx released first unregisters from its standard parent.
	parent2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	c2 := New(parent2, 0)
	c2.Cancel(nil)
	if c2.unlink != nil {
		t.Fatal("link to the standard parent kept")
	}
}

func TestTimeout(t *testing.T) {
	c := New(New(context.Background(), 0), 20*time.Millisecond)
	select {
	case <-c.Done():
	case <-time.After(2 * time.Second):
		t.Fatal("timeout did not fire")
	}
	if !c.TimedOut() || !errors.Is(c.Err(), context.DeadlineExceeded) {
		t.Fatalf("err %v timedOut %v", c.Err(), c.TimedOut())
	}
	if _, ok := c.Deadline(); ok {
		t.Fatal("own timeout reported as the parent's deadline")
	}
	// A parent's expiry is not this Ctx's timeout.
	p, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	c2 := New(p, time.Hour)
	<-c2.Done()
	if c2.TimedOut() {
		t.Fatal("parent's deadline counted as the Ctx's timeout")
	}
	c2.Cancel(nil)
}

func TestAfterFuncStop(t *testing.T) {
	c := New(context.Background(), 0)
	ran := false
	stop := c.AfterFunc(func() { ran = true })
	if !stop() || stop() {
		t.Fatal("stop: first call must report true, second false")
	}
	c.Cancel(nil)
	if ran {
		t.Fatal("stopped function ran")
	}
	ran2 := false
	if c.AfterFunc(func() { ran2 = true })() || !ran2 {
		t.Fatal("AfterFunc on a cancelled Ctx must run at once")
	}
	// context.AfterFunc on a Ctx goes through the same hook.
	c3 := New(context.Background(), 0)
	done := make(chan struct{})
	context.AfterFunc(c3, func() { close(done) })
	c3.Cancel(nil)
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("context.AfterFunc on a Ctx did not run")
	}
}

func TestConcurrentUse(t *testing.T) {
	for i := 0; i < 200; i++ {
		req := New(context.Background(), 0)
		var wg sync.WaitGroup
		for j := 0; j < 4; j++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				call := New(req, time.Millisecond)
				stop := call.AfterFunc(func() {})
				<-call.Done()
				stop()
				call.Cancel(nil)
			}()
		}
		req.Cancel(nil)
		wg.Wait()
	}
}

// TestQueuedTimeouts checks the queues timeouts wait in: a queue whose
// earlier Ctxs stopped their timeouts expires its new Ctx, at its new
// timeout, and never an old one, also when timeouts are stopped and
// started from many goroutines.
func TestQueuedTimeouts(t *testing.T) {
	for range 50 {
		c := New(context.Background(), time.Hour)
		if !c.StopTimer() {
			t.Fatal("StopTimer before the timeout reported it fired")
		}
		c.Cancel(nil)
	}
	c := New(context.Background(), 20*time.Millisecond)
	select {
	case <-c.Done():
	case <-time.After(2 * time.Second):
		t.Fatal("a Ctx on a reused timer did not time out")
	}
	if !c.TimedOut() {
		t.Fatalf("err %v, want its own timeout", c.Err())
	}

	var wg sync.WaitGroup
	var mu sync.Mutex
	var wrong []string
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				short := (g+i)%4 == 0
				d := time.Hour
				if short {
					d = time.Millisecond
				}
				c := New(context.Background(), d)
				if short {
					<-c.Done()
					if !c.TimedOut() {
						mu.Lock()
						wrong = append(wrong, "a short timeout ended otherwise")
						mu.Unlock()
					}
				} else {
					time.Sleep(time.Duration(i%3) * 100 * time.Microsecond)
					if c.Err() != nil {
						mu.Lock()
						wrong = append(wrong, "a Ctx with an hour to go ended: "+c.Err().Error())
						mu.Unlock()
					}
					c.StopTimer()
				}
				c.Cancel(nil)
			}
		}()
	}
	wg.Wait()
	if len(wrong) > 0 {
		t.Fatalf("%d wrong outcomes, first: %s", len(wrong), wrong[0])
	}
}

// TestWatchAllocatesNothing: the first function a Ctx watches (a backend
// call's one) costs no allocation, nor does stopping it.
func TestWatchAllocatesNothing(t *testing.T) {
	ctxs := make([]*Ctx, 101) // AllocsPerRun runs once more than asked
	for i := range ctxs {
		ctxs[i] = New(context.Background(), 0)
		defer ctxs[i].Cancel(nil)
	}
	f := func() {}
	next := 0
	if n := testing.AllocsPerRun(100, func() {
		w := ctxs[next].Watch(f)
		next++
		if !w.Stop() {
			t.Fatal("Stop of a registered function reported false")
		}
	}); n != 0 {
		t.Fatalf("%v allocations per Watch and Stop, want 0", n)
	}
	ran := false
	c2 := New(context.Background(), 0)
	w := c2.Watch(func() { ran = true })
	c2.Cancel(nil)
	if !ran || w.Stop() {
		t.Fatalf("after Cancel: ran %v; Stop must report false", ran)
	}
	// On a Ctx already cancelled, f runs at once, and the backend must
	// learn from Stop that it did (its connection is not reused).
	ran = false
	w = c2.Watch(func() { ran = true })
	if !ran || w == (Watch{}) || w.Stop() {
		t.Fatalf("Watch on a cancelled Ctx: ran %v, watch %+v; want run, a registration, Stop false", ran, w)
	}
}

// A renewed Ctx is a new one with the same parent: open, cancellable,
// with working functions, children and timeout; Value and Deadline are
// the parent's throughout. Renew may follow a Cancel still running its
// functions on another goroutine (the timeout's).
func TestRenew(t *testing.T) {
	type key struct{}
	deadline := time.Now().Add(time.Hour)
	parent, cancelParent := context.WithDeadline(context.WithValue(context.Background(), key{}, "v"), deadline)
	defer cancelParent()
	fired := make(chan int, 10)
	c := New(parent, 0)
	c.AfterFunc(func() { fired <- -1 })
	c.Cancel(nil)
	if c.Err() != context.Canceled || <-fired != -1 {
		t.Fatalf("first life: err %v", c.Err())
	}
	done := c.Done()
	for round := range 3 {
		c.Renew(20 * time.Millisecond)
		if c.Err() != nil || c.Done() == done {
			t.Fatalf("round %d: renewed Ctx is not open: %v", round, c.Err())
		}
		if c.Value(key{}) != "v" {
			t.Fatalf("round %d: Value lost", round)
		}
		if d, ok := c.Deadline(); !ok || !d.Equal(deadline) {
			t.Fatalf("round %d: Deadline %v %v", round, d, ok)
		}
		child := New(c, 0)
		w := c.Watch(func() { fired <- round })
		if round == 0 {
			w.Stop() // unregistered: must not run
		}
		select {
		case <-child.Done():
		case <-time.After(5 * time.Second):
			t.Fatalf("round %d: timeout did not reach the child", round)
		}
		if !c.TimedOut() || child.Err() != context.DeadlineExceeded {
			t.Fatalf("round %d: err %v, child %v", round, c.Err(), child.Err())
		}
		if round > 0 {
			if got := <-fired; got != round {
				t.Fatalf("round %d: function of round %d ran", round, got)
			}
		}
		done = c.Done()
	}
	select {
	case got := <-fired:
		t.Fatalf("a function of round %d ran more than once, or after Stop", got)
	default:
	}
	defer func() {
		if recover() == nil {
			t.Fatal("Renew of a live Ctx did not panic")
		}
	}()
	c.Renew(0)
	c.Renew(0)
}

// TestTimeoutPrecision: every Ctx ends by its timeout at its deadline,
// not before, whatever the Ctxs queued with it did (stopped, cancelled,
// renewed with another timeout): the queue's timer, armed for an earlier
// deadline, sets itself again for the later ones.
func TestTimeoutPrecision(t *testing.T) {
	durations := []time.Duration{3 * time.Millisecond, 7 * time.Millisecond, 7 * time.Millisecond, 15 * time.Millisecond, 40 * time.Millisecond}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var wrong []string
	report := func(s string) {
		mu.Lock()
		wrong = append(wrong, s)
		mu.Unlock()
	}
	for g := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := New(context.Background(), time.Hour)
			c.Cancel(nil)
			for i := range 40 {
				d := durations[(g+i)%len(durations)]
				start := time.Now()
				c.Renew(d)
				switch i % 3 {
				case 0: // stopped early (unless a loaded machine slept past d)
					time.Sleep(d / 3)
					stopped := c.StopTimer()
					if el := time.Since(start); !stopped && el < d {
						report("StopTimer " + el.String() + " into a timeout of " + d.String() + " reported it fired")
					}
					time.Sleep(d)
					if stopped && c.Err() != nil {
						report("a stopped timeout fired: " + c.Err().Error())
					}
					c.Cancel(nil)
				case 1: // cancelled early (idem)
					time.Sleep(d / 4)
					c.Cancel(nil)
					el := time.Since(start)
					time.Sleep(d)
					if err := c.Err(); err != context.Canceled && !(err == context.DeadlineExceeded && el >= d) {
						report("a cancelled Ctx ended otherwise")
					}
				default: // runs out
					<-c.Done()
					if el := time.Since(start); el < d {
						report("timeout of " + d.String() + " fired after " + el.String())
					}
					if !c.TimedOut() || c.StopTimer() {
						report("not ended by its own timeout")
					}
				}
			}
		}()
	}
	wg.Wait()
	if len(wrong) > 0 {
		t.Fatalf("%d wrong outcomes, first: %s", len(wrong), wrong[0])
	}
}

// TestStopTimerRacesExpiry: a timeout stopped while it fires either was
// stopped in time (StopTimer true, the Ctx open) or had fired (false);
// the Ctx is never left expired while StopTimer said it was not.
func TestStopTimerRacesExpiry(t *testing.T) {
	for i := range 300 {
		c := New(context.Background(), time.Duration(i%50)*time.Microsecond+time.Microsecond)
		time.Sleep(time.Duration(i%7) * 10 * time.Microsecond)
		stopped := c.StopTimer()
		time.Sleep(200 * time.Microsecond) // a late expiry would show by now
		if stopped && c.Err() != nil {
			t.Fatalf("StopTimer reported the timeout stopped, but the Ctx ended: %v", c.Err())
		}
		if c.Err() == context.DeadlineExceeded && c.StopTimer() {
			t.Fatal("StopTimer after the expiry reported true")
		}
		c.Cancel(nil)
	}
}

// TestTimeoutAllocatesNothing: starting and stopping the timeout of a
// renewed Ctx costs no allocation.
func TestTimeoutAllocatesNothing(t *testing.T) {
	c := New(context.Background(), time.Minute)
	c.Cancel(nil)
	if n := testing.AllocsPerRun(100, func() {
		c.Renew(time.Minute)
		c.StopTimer()
		c.Cancel(nil)
	}); n != 0 {
		t.Fatalf("%v allocations per timeout, want 0", n)
	}
}

// TestManyDurations: timeouts of more distinct durations than get queues
// (an expression may take its timeout from the request) keep queues
// bounded, and the others still fire, stop and cancel as queued ones do.
func TestManyDurations(t *testing.T) {
	var long []*Ctx
	for i := range maxQueued + 8 {
		long = append(long, New(context.Background(), time.Hour+time.Duration(i)*time.Nanosecond))
	}
	queuedMu.Lock()
	n := queuedLen
	queuedMu.Unlock()
	if n > maxQueued {
		t.Fatalf("%d durations with queues, want at most %d", n, maxQueued)
	}
	// A duration beyond the bound fires at its deadline, not before.
	start := time.Now()
	c := New(context.Background(), 20*time.Millisecond+7*time.Nanosecond)
	if c.own == nil {
		t.Fatal("a duration beyond the bound got a queue")
	}
	select {
	case <-c.Done():
	case <-time.After(2 * time.Second):
		t.Fatal("timeout did not fire")
	}
	if el := time.Since(start); el < 20*time.Millisecond {
		t.Fatalf("fired after %v, before its 20ms", el)
	}
	if !c.TimedOut() || c.StopTimer() {
		t.Fatalf("err %v timedOut %v after the expiry", c.Err(), c.TimedOut())
	}
	// Stopped before its deadline, it never fires; renewed, it runs again.
	c.Renew(5*time.Millisecond + 7*time.Nanosecond)
	if !c.StopTimer() {
		t.Fatal("StopTimer of a running timeout reported false")
	}
	time.Sleep(20 * time.Millisecond)
	if c.Err() != nil {
		t.Fatalf("stopped timeout ended the Ctx: %v", c.Err())
	}
	c.Cancel(nil)
	c.Renew(time.Hour + 3*time.Nanosecond)
	c.Cancel(nil) // stops its timer
	if c.own != nil || !errors.Is(c.Err(), context.Canceled) {
		t.Fatalf("after Cancel: own timer %v, err %v", c.own, c.Err())
	}
	for _, l := range long {
		l.Cancel(nil)
	}
}
