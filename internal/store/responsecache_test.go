package store

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// waiting returns the number of requests waiting on key's Fill.
func (c *ResponseCache) waiting(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f, ok := c.inflight[key]; ok {
		return f.waiters
	}
	return 0
}

// cachingProxy is the smallest gateway that wires cache-lookup and
// cache-store the way the policy engine does: lookup, on a Fill forward to
// the backend, store if storable, answer. With a nil cache it is a plain
// pass-through proxy.
type cachingProxy struct {
	cache   *ResponseCache
	backend string
	client  *http.Client
	rules   CacheRules
	opts    CacheKeyOptions
	ttl     time.Duration
}

func (p *cachingProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var fill *Fill
	if p.cache != nil && RequestCacheable(r, p.rules) {
		resp, f, err := p.cache.Lookup(r.Context(), ResponseCacheKey(r, p.opts))
		if err != nil {
			return // the client went away
		}
		if resp != nil {
			for k, v := range resp.Header {
				w.Header()[k] = v
			}
			w.Header().Set("X-Cache", "hit")
			w.WriteHeader(resp.StatusCode)
			_, _ = w.Write(resp.Body)
			return
		}
		if f != nil {
			fill = f
			defer fill.Abandon()
		}
	}
	req, err := http.NewRequestWithContext(r.Context(), r.Method, p.backend+r.URL.RequestURI(), nil)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	res, err := p.client.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	if fill != nil && ResponseStorable(r, res.StatusCode, res.Header, p.rules) {
		_ = fill.Store(r.Context(), &CachedResponse{StatusCode: res.StatusCode, Header: res.Header.Clone(), Body: body, TTL: p.ttl})
	}
	for k, v := range res.Header {
		w.Header()[k] = v
	}
	w.Header().Set("X-Cache", "miss")
	w.WriteHeader(res.StatusCode)
	_, _ = w.Write(body)
}

// countingBackend answers GETs with a JSON body naming the path and counts
// the calls; hold, when set, blocks each call until it is closed.
type countingBackend struct {
	calls atomic.Int64
	hold  chan struct{}
	srv   *httptest.Server
}

func newCountingBackend(t testing.TB, hold chan struct{}) *countingBackend {
	b := &countingBackend{hold: hold}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.calls.Add(1)
		if b.hold != nil {
			<-b.hold
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"path":"`+r.URL.Path+`","n":`+strconv.FormatInt(b.calls.Load(), 10)+`}`)
	}))
	t.Cleanup(b.srv.Close)
	return b
}

func newCachingProxy(t testing.TB, s Store, backend string) *httptest.Server {
	p := &cachingProxy{
		cache:   NewResponseCache(s, 0),
		backend: backend,
		client:  &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}},
		opts:    CacheKeyOptions{API: "orders", Operation: "get-order"},
		ttl:     time.Minute,
	}
	srv := httptest.NewServer(p)
	t.Cleanup(func() {
		srv.Close()
		p.client.CloseIdleConnections()
	})
	return srv
}

func get(t testing.TB, client *http.Client, url string) (string, string) {
	t.Helper()
	res, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, res.StatusCode, err)
	}
	return string(body), res.Header.Get("X-Cache")
}

// TestCacheAcrossReplicas: cache-store on one replica, cache-lookup on the
// other serves the second request without a backend call (Redis), and on
// one memory-store replica likewise.
func TestCacheAcrossReplicas(t *testing.T) {
	addr := redisAddr(t)
	backend := newCountingBackend(t, nil)
	open := func() Store {
		s, err := New(Config{Type: TypeRedis, Redis: RedisConfig{Addr: addr, Timeout: 3 * time.Second}}, prometheus.NewRegistry(), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	a, b := newCachingProxy(t, open(), backend.srv.URL), newCachingProxy(t, open(), backend.srv.URL)
	path := "/orders/" + strconv.FormatInt(time.Now().UnixNano(), 10)
	first, how := get(t, a.Client(), a.URL+path)
	if how != "miss" || backend.calls.Load() != 1 {
		t.Fatalf("first request: %s, %d backend calls", how, backend.calls.Load())
	}
	second, how := get(t, b.Client(), b.URL+path)
	if how != "hit" || second != first || backend.calls.Load() != 1 {
		t.Fatalf("second request on the other replica: %s %q, %d backend calls", how, second, backend.calls.Load())
	}
	if _, how := get(t, b.Client(), b.URL+path+"0"); how != "miss" {
		t.Fatalf("another path was served from the cache")
	}
}

// TestConcurrentMissesReachBackendOnce: 50 concurrent misses for one key
// make one backend call; every client gets the response.
func TestConcurrentMissesReachBackendOnce(t *testing.T) {
	for _, impl := range implementations(t) {
		t.Run(impl.name, func(t *testing.T) {
			s := impl.open(t)
			t.Cleanup(func() { _ = s.Close() })
			hold := make(chan struct{})
			backend := newCountingBackend(t, hold)
			p := &cachingProxy{
				cache:   NewResponseCache(s, 0),
				backend: backend.srv.URL,
				client:  &http.Client{},
				opts:    CacheKeyOptions{API: "orders", Operation: "get-order"},
				ttl:     time.Minute,
			}
			srv := httptest.NewServer(p)
			defer srv.Close()
			path := "/orders/" + strconv.FormatInt(time.Now().UnixNano(), 10)
			key := ResponseCacheKey(httptest.NewRequest(http.MethodGet, path, nil), p.opts)

			const clients = 50
			bodies := make([]string, clients)
			var wg sync.WaitGroup
			for i := range clients {
				wg.Go(func() { bodies[i], _ = get(t, srv.Client(), srv.URL+path) })
			}
			waitUntil(t, "49 requests waiting on the first one's fill", func() bool {
				return p.cache.waiting(key) == clients-1 && backend.calls.Load() == 1
			})
			close(hold)
			wg.Wait()
			if n := backend.calls.Load(); n != 1 {
				t.Fatalf("%d backend calls for %d concurrent misses, want 1", n, clients)
			}
			for i, b := range bodies {
				if b != bodies[0] || b == "" {
					t.Fatalf("client %d got %q, client 0 got %q", i, b, bodies[0])
				}
			}
		})
	}
}

// TestAbandonedFillReleasesWaiters: when the filler's response is not
// storable the waiters go to the backend themselves, all at once.
func TestAbandonedFillReleasesWaiters(t *testing.T) {
	s, err := NewMemory(MemoryConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := NewResponseCache(s, 0)
	ctx := context.Background()
	_, fill, _ := c.Lookup(ctx, "k")
	if fill == nil {
		t.Fatal("first miss got no Fill")
	}
	type result struct {
		resp *CachedResponse
		fill *Fill
	}
	results := make(chan result, 3)
	for range 3 {
		go func() {
			r, f, _ := c.Lookup(ctx, "k")
			results <- result{r, f}
		}()
	}
	waitUntil(t, "three waiters", func() bool { return c.waiting("k") == 3 })
	fill.Abandon()
	fill.Abandon() // idempotent
	for range 3 {
		if r := <-results; r.resp != nil || r.fill != nil {
			t.Fatalf("waiter after abandon got %+v, want to go uncached", r)
		}
	}
	// Cancelled waiters return their context's error.
	_, fill, _ = c.Lookup(ctx, "k")
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := c.Lookup(cctx, "k"); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled waiter: %v", err)
	}
	if err := fill.Store(ctx, &CachedResponse{StatusCode: 200, Header: http.Header{}, Body: []byte("b"), TTL: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if r, f, _ := c.Lookup(ctx, "k"); r == nil || f != nil || string(r.Body) != "b" {
		t.Fatalf("lookup after Store: %+v %v", r, f)
	}
}
