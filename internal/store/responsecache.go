package store

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// DefaultFillWait bounds how long a request waits for another request of
// the same replica to fill the cache entry it missed.
const DefaultFillWait = 30 * time.Second

// ResponseCache is the response cache of cache-lookup and cache-store, on
// top of a Store, with request coalescing shaped for a policy pipeline:
// cache-lookup (inbound) and cache-store (outbound) are separate steps with
// the backend call between them, so a miss is a Fill that the request
// completes later rather than a closure.
//
// Concurrent misses for one key on one replica become one backend call: the
// first miss gets a Fill and goes to the backend; the others wait until the
// Fill is stored (and are served that response, as hits) or abandoned (the
// response was not storable: then they all go to the backend themselves,
// at once, rather than one after another). Across replicas each replica
// coalesces its own misses, so a key reaches the backend at most once per
// replica.
type ResponseCache struct {
	store    Store
	fillWait time.Duration
	now      func() time.Time

	mu       sync.Mutex
	inflight map[string]*Fill
}

// NewResponseCache returns a ResponseCache storing into s. fillWait bounds
// how long a miss waits for another request's Fill before going to the
// backend itself; 0 means DefaultFillWait.
func NewResponseCache(s Store, fillWait time.Duration) *ResponseCache {
	if fillWait <= 0 {
		fillWait = DefaultFillWait
	}
	return &ResponseCache{store: s, fillWait: fillWait, now: time.Now, inflight: make(map[string]*Fill)}
}

// Fill is a cache miss that one request has taken on to fill. Exactly one
// of Store or Abandon must be called; calling Abandon in a defer right after
// Lookup is safe, since Abandon after Store does nothing.
type Fill struct {
	c    *ResponseCache
	key  string
	once sync.Once
	done chan struct{}
	resp *CachedResponse // set before done is closed; nil when abandoned

	waiters int // requests waiting on this Fill, guarded by c.mu
}

// Lookup looks key up for cache-lookup. It returns exactly one of:
//   - a stored response (a hit, possibly filled by a concurrent request):
//     its Header is the caller's own, its Body is shared and read-only;
//   - a Fill: a miss this request must fill by calling Store or Abandon;
//   - neither: a miss that was being filled by another request whose
//     response turned out not to be storable; go to the backend uncached.
//
// Store errors (an unreadable or corrupt entry) are misses: the cache never
// fails a request. The error returned is only ctx's, when the request ends
// while waiting for another request's Fill.
func (c *ResponseCache) Lookup(ctx context.Context, key string) (*CachedResponse, *Fill, error) {
	if r := c.get(ctx, key); r != nil {
		return r, nil, nil
	}
	c.mu.Lock()
	f, ok := c.inflight[key]
	if !ok {
		f = &Fill{c: c, key: key, done: make(chan struct{})}
		c.inflight[key] = f
		c.mu.Unlock()
		return nil, f, nil
	}
	f.waiters++
	c.mu.Unlock()
	t := time.NewTimer(c.fillWait)
	defer t.Stop()
	select {
	case <-f.done:
		if f.resp == nil {
			return nil, nil, nil
		}
		// Each waiter gets its own header map to edit; the body is shared
		// and read-only, like a body read from the Store.
		r := *f.resp
		r.Header = r.Header.Clone()
		return &r, nil, nil
	case <-t.C:
		return nil, nil, nil // the filler is slow: do not wait on it any longer
	case <-ctx.Done():
		return nil, nil, fmt.Errorf("wait for cache fill of %q: %w", key, ctx.Err())
	}
}

func (c *ResponseCache) get(ctx context.Context, key string) *CachedResponse {
	b, ok, err := c.store.Get(ctx, key)
	if err != nil || !ok {
		return nil
	}
	var r CachedResponse
	if r.UnmarshalBinary(b) != nil || r.Expired(c.now()) {
		return nil
	}
	return &r
}

// Store stores resp for cache-store (its TTL is resp.TTL and StoredAt is
// set if zero) and hands it to the requests waiting on this Fill. A store
// failure is returned for logging only: the waiters are served resp anyway.
func (f *Fill) Store(ctx context.Context, resp *CachedResponse) error {
	if resp.StoredAt.IsZero() {
		resp.StoredAt = f.c.now()
	}
	var err error
	b, merr := resp.MarshalBinary()
	switch {
	case merr != nil:
		err = merr
		resp = nil
	default:
		if serr := f.c.store.Set(ctx, f.key, b, resp.TTL); serr != nil {
			err = fmt.Errorf("cache-store %q: %w", f.key, serr)
		}
	}
	f.finish(resp)
	return err
}

// Abandon releases the Fill without a response: the waiting requests go to
// the backend themselves. It does nothing after Store or a first Abandon.
func (f *Fill) Abandon() { f.finish(nil) }

func (f *Fill) finish(resp *CachedResponse) {
	f.once.Do(func() {
		f.c.mu.Lock()
		if f.c.inflight[f.key] == f {
			delete(f.c.inflight, f.key)
		}
		f.c.mu.Unlock()
		f.resp = resp
		close(f.done)
	})
}
