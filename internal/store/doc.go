// Package store holds the gateway's shared state: the counters behind the
// rate-limit, rate-limit-by-key, quota and quota-by-key policies, and the
// cache behind cache-lookup/cache-store and the cache-*-value policies.
//
// Two implementations sit behind one Store interface, chosen by store.type:
// "memory" (embedded, per process, bounded with eviction) and "redis" (shared
// by every replica, one atomic Lua round trip per decision). The Redis store
// is wrapped so that a Redis outage never fails a request: counters fall back
// to per-replica local limiting, the cache is bypassed, and the store returns
// to Redis by itself once Redis answers again.
//
// The package also provides what the caching policies need around the Store:
// the APIM cacheability rules, cache-key composition, the CachedResponse
// encoding shared across replicas, and a Coalescer that collapses concurrent
// cache misses for one key into a single backend call.
package store
