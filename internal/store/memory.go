package store

import (
	"context"
	"fmt"
	"hash/maphash"
	"math"
	"sync"
	"time"

	"github.com/maypok86/otter/v2"
)

// Memory store defaults, used when MemoryConfig leaves a field zero.
const (
	DefaultMemoryMaxBytes    = 64 << 20
	DefaultMemoryMaxCounters = 1_000_000
	memoryShards             = 64
	memorySweepInterval      = 10 * time.Second
	cacheEntryOverhead       = 64 // approximate bytes of bookkeeping per cache entry
)

// Memory is the embedded Store: exact counters in sharded maps and a cache
// bounded by bytes with per-entry TTL and frequency-aware eviction (otter).
// Its state belongs to one process; replicas do not share it.
type Memory struct {
	clk       clock
	seed      maphash.Seed
	shards    [memoryShards]counterShard
	perShard  int
	cache     *otter.Cache[string, cacheEntry]
	onEvict   func() // counts a live counter evicted because the table was full
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

type counterShard struct {
	mu     sync.Mutex
	rates  map[rateKey]*window
	quotas map[quotaKey]*quotaCounter
	_      [40]byte // keep hot shard locks on separate cache lines
}

type rateKey struct {
	key    string
	period time.Duration
}

type quotaKey struct {
	key    string
	period time.Duration
	start  int64
}

type quotaCounter struct {
	period int64 // index of the period the totals belong to
	used   [2]int64
}

type cacheEntry struct {
	val []byte
	ttl time.Duration
}

// NewMemory returns a Memory store sized by cfg. It starts one goroutine that
// drops expired counters; Close stops it.
func NewMemory(cfg MemoryConfig) (*Memory, error) {
	return newMemory(cfg, realClock(), nil)
}

// clock is the memory store's time source: wall time for quota periods,
// which are aligned to calendar instants, and a cheaper monotonic
// millisecond count for sliding windows, which only measure elapsed time
// (and so are immune to wall-clock steps).
type clock struct {
	wall   func() time.Time
	monoMs func() int64
}

// realClock anchors the monotonic count to the wall clock at creation.
func realClock() clock {
	base := time.Now()
	baseMs := base.UnixMilli()
	return clock{
		wall:   time.Now,
		monoMs: func() int64 { return baseMs + time.Since(base).Milliseconds() },
	}
}

func newMemory(cfg MemoryConfig, clk clock, onEvict func()) (*Memory, error) {
	cfg = cfg.withDefaults()
	if cfg.MaxBytes <= 0 || cfg.MaxCounters <= 0 {
		return nil, fmt.Errorf("memory store: maxBytes %d and maxCounters %d must be positive", cfg.MaxBytes, cfg.MaxCounters)
	}
	c, err := otter.New(&otter.Options[string, cacheEntry]{
		MaximumWeight: uint64(cfg.MaxBytes),
		Weigher: func(k string, v cacheEntry) uint32 {
			return uint32(min(len(k)+len(v.val)+cacheEntryOverhead, math.MaxUint32))
		},
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[string, cacheEntry]) time.Duration {
			return e.Value.ttl
		}),
	})
	if err != nil {
		return nil, fmt.Errorf("memory store: build cache: %w", err)
	}
	if onEvict == nil {
		onEvict = func() {}
	}
	m := &Memory{
		clk:      clk,
		seed:     maphash.MakeSeed(),
		perShard: max(cfg.MaxCounters/memoryShards, 1),
		cache:    c,
		onEvict:  onEvict,
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	for i := range m.shards {
		m.shards[i].rates = make(map[rateKey]*window)
		m.shards[i].quotas = make(map[quotaKey]*quotaCounter)
	}
	go m.sweepLoop()
	return m, nil
}

func (m *Memory) shard(key string) *counterShard {
	return &m.shards[maphash.String(m.seed, key)%memoryShards]
}

// RateLimit implements Store.
func (m *Memory) RateLimit(_ context.Context, key string, spec RateSpec, n int64) (RateDecision, error) {
	return m.rate(key, spec, n, false)
}

// RateCount implements Store.
func (m *Memory) RateCount(_ context.Context, key string, spec RateSpec, n int64) (RateDecision, error) {
	return m.rate(key, spec, n, true)
}

func (m *Memory) rate(key string, spec RateSpec, n int64, count bool) (RateDecision, error) {
	if err := spec.validate(n); err != nil {
		return RateDecision{}, err
	}
	nowMs := m.clk.monoMs()
	s := m.shard(key)
	k := rateKey{key: key, period: spec.Period}
	s.mu.Lock()
	w, ok := s.rates[k]
	if !ok {
		if n == 0 && !count {
			// A pure check on an unknown key: nothing is counted, so
			// nothing needs to be stored.
			s.mu.Unlock()
			return RateDecision{Allowed: spec.Limit >= 1, Limit: spec.Limit, Remaining: spec.Limit,
				RetryAfter: rateRefusedWait(spec)}, nil
		}
		m.makeRoom(s)
		w = newWindow(spec)
		s.rates[k] = w
	}
	d := w.decide(nowMs, spec.Limit, n, count)
	s.mu.Unlock()
	return d, nil
}

// rateRefusedWait is the RetryAfter of a call refused by an empty window:
// only a zero limit refuses there, and it never admits anything.
func rateRefusedWait(spec RateSpec) time.Duration {
	if spec.Limit >= 1 {
		return 0
	}
	return spec.Period
}

// Quota implements Store.
func (m *Memory) Quota(_ context.Context, key string, spec QuotaSpec, calls int64) (QuotaDecision, error) {
	return m.quota(key, spec, calls, 0, false)
}

// QuotaCount implements Store.
func (m *Memory) QuotaCount(_ context.Context, key string, spec QuotaSpec, calls, bytes int64) (QuotaDecision, error) {
	return m.quota(key, spec, calls, bytes, true)
}

func (m *Memory) quota(key string, spec QuotaSpec, calls, bytes int64, count bool) (QuotaDecision, error) {
	if err := spec.validate(calls, bytes); err != nil {
		return QuotaDecision{}, err
	}
	idx, renewMs := quotaPeriod(spec, m.clk.wall().UnixMilli())
	s := m.shard(key)
	k := quotaKey{key: key, period: spec.Period, start: spec.FirstPeriodStart.UnixMilli()}
	s.mu.Lock()
	q, ok := s.quotas[k]
	if !ok {
		m.makeRoom(s)
		q = &quotaCounter{period: idx}
		s.quotas[k] = q
	}
	if q.period != idx {
		q.period, q.used = idx, [2]int64{}
	}
	d := quotaDecide(spec, &q.used, calls, bytes, count)
	s.mu.Unlock()
	d.RenewsIn = msDuration(renewMs)
	return d, nil
}

// makeRoom keeps a shard within its share of MaxCounters. Called with s.mu
// held before inserting. It first drops expired counters; if the shard is
// still full it evicts one live counter (which forgets that key's usage),
// because refusing traffic for unseen keys would let anyone who can mint
// keys deny service to everyone.
func (m *Memory) makeRoom(s *counterShard) {
	if len(s.rates)+len(s.quotas) < m.perShard {
		return
	}
	sweepShard(s, m.clk.monoMs(), m.clk.wall().UnixMilli())
	if len(s.rates)+len(s.quotas) < m.perShard {
		return
	}
	for k := range s.rates {
		delete(s.rates, k)
		m.onEvict()
		return
	}
	for k := range s.quotas {
		delete(s.quotas, k)
		m.onEvict()
		return
	}
}

// sweepShard drops counters that no longer hold anything: windows whose
// calls have all left the window and quotas whose period has ended.
func sweepShard(s *counterShard, monoMs, wallMs int64) {
	for k, w := range s.rates {
		w.expire(monoMs)
		if w.total == 0 {
			delete(s.rates, k)
		}
	}
	for k, q := range s.quotas {
		if k.period <= 0 {
			continue // lifetime quotas never expire
		}
		p := k.period.Milliseconds()
		if floorDiv(wallMs-k.start, p) != q.period {
			delete(s.quotas, k)
		}
	}
}

func (m *Memory) sweepLoop() {
	defer close(m.done)
	t := time.NewTicker(memorySweepInterval)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			m.sweep()
		}
	}
}

func (m *Memory) sweep() {
	monoMs, wallMs := m.clk.monoMs(), m.clk.wall().UnixMilli()
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		sweepShard(s, monoMs, wallMs)
		s.mu.Unlock()
	}
}

// Get implements Store.
func (m *Memory) Get(_ context.Context, key string) ([]byte, bool, error) {
	e, ok := m.cache.GetIfPresent(key)
	if !ok {
		return nil, false, nil
	}
	return e.val, true, nil
}

// Set implements Store.
func (m *Memory) Set(_ context.Context, key string, val []byte, ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("%w: cache ttl %s for %q", ErrInvalidSpec, ttl, key)
	}
	m.cache.Set(key, cacheEntry{val: append([]byte(nil), val...), ttl: ttl})
	return nil
}

// Delete implements Store.
func (m *Memory) Delete(_ context.Context, key string) error {
	m.cache.Invalidate(key)
	return nil
}

// Close implements Store. It is safe to call more than once.
func (m *Memory) Close() error {
	m.closeOnce.Do(func() {
		close(m.stop)
		<-m.done
		m.cache.StopAllGoroutines()
	})
	return nil
}

func msDuration(ms int64) time.Duration {
	if ms <= 0 {
		return 0
	}
	return time.Duration(ms) * time.Millisecond
}
