package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Key namespaces in Redis. Every key the gateway writes starts with
// "apimgw:" so one Redis can serve other applications too.
const (
	redisRatePrefix  = "apimgw:rl:"
	redisQuotaPrefix = "apimgw:q:"
	redisCachePrefix = "apimgw:c:"
)

// rateScript is one sliding-window decision, atomically and in one round
// trip. The window is the same slotted window as the memory store's: a
// sorted set of slot indexes (KEYS[1]) and a hash of their counts plus the
// total "t" (KEYS[2]). Time is Redis's own clock, so every replica sees the
// same window whatever its local clock says.
//
// ARGV: limit, period ms, slot width ms, n, mode (0 admit-and-count, 1 count).
// Returns {allowed 0|1, total after, retry-after ms}.
var rateScript = redis.NewScript(`
local z, h = KEYS[1], KEYS[2]
local limit, period, width = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local n, mode = tonumber(ARGV[4]), tonumber(ARGV[5])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cutoff = math.floor((now - period) / width)
local total = tonumber(redis.call('HGET', h, 't') or '0')
local old = redis.call('ZRANGEBYSCORE', z, '-inf', '(' .. cutoff)
if #old > 0 then
  local counts = redis.call('HMGET', h, unpack(old))
  for i = 1, #old do total = total - (tonumber(counts[i]) or 0) end
  if total < 0 then total = 0 end
  redis.call('HDEL', h, unpack(old))
  redis.call('ZREMRANGEBYSCORE', z, '-inf', '(' .. cutoff)
  redis.call('HSET', h, 't', total)
end
local allowed, retry, add = 0, 0, 0
if mode == 1 then
  add = n
else
  local need = n
  if need < 1 then need = 1 end
  if total + need <= limit then
    allowed, add = 1, n
  elseif need > limit then
    retry = period
  else
    retry = period
    local slots = redis.call('ZRANGE', z, 0, -1)
    if #slots > 0 then
      local counts = redis.call('HMGET', h, unpack(slots))
      local freed = 0
      for i = 1, #slots do
        freed = freed + (tonumber(counts[i]) or 0)
        if total - freed + need <= limit then
          retry = (tonumber(slots[i]) + 1) * width + period - now
          if retry < 1 then retry = 1 end
          if retry > period then retry = period end
          break
        end
      end
    end
  end
end
if add > 0 then
  local cur = math.floor(now / width)
  local last = redis.call('ZRANGE', z, -1, -1)
  if #last > 0 and tonumber(last[1]) > cur then cur = tonumber(last[1]) end
  redis.call('HINCRBY', h, cur, add)
  total = redis.call('HINCRBY', h, 't', add)
  redis.call('ZADD', z, cur, cur)
end
if mode == 1 and total <= limit then allowed = 1 end
if redis.call('EXISTS', h) == 1 then
  redis.call('PEXPIRE', h, period + 2 * width)
  redis.call('PEXPIRE', z, period + 2 * width)
end
return {allowed, total, retry}
`)

// quotaScript is one fixed-period quota decision (same rules as
// quotaDecide). KEYS[1] is a hash {p: period index, c: calls, b: bytes}.
//
// ARGV: first period start ms, period ms (0 = lifetime), max calls, max
// bytes, calls, bytes, mode (0 admit-and-count, 1 count).
// Returns {exceeded 0|1|2, calls used, bytes used, renews-in ms}.
var quotaScript = redis.NewScript(`
local h = KEYS[1]
local start, period = tonumber(ARGV[1]), tonumber(ARGV[2])
local maxCalls, maxBytes = tonumber(ARGV[3]), tonumber(ARGV[4])
local calls, bytes, mode = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local idx, renew = 0, 0
if period > 0 then
  idx = math.floor((now - start) / period)
  renew = start + (idx + 1) * period - now
end
local v = redis.call('HMGET', h, 'p', 'c', 'b')
local c, b = 0, 0
if v[1] and tonumber(v[1]) == idx then
  c, b = tonumber(v[2]) or 0, tonumber(v[3]) or 0
end
local exceeded = 0
if mode == 1 then
  c, b = c + calls, b + bytes
  if maxCalls > 0 and c > maxCalls then exceeded = 1
  elseif maxBytes > 0 and b > maxBytes then exceeded = 2 end
else
  local need = calls
  if need < 1 then need = 1 end
  if maxCalls > 0 and c + need > maxCalls then exceeded = 1
  elseif maxBytes > 0 and b >= maxBytes then exceeded = 2
  else c = c + calls end
end
redis.call('HSET', h, 'p', string.format('%.0f', idx), 'c', string.format('%.0f', c), 'b', string.format('%.0f', b))
if period > 0 then redis.call('PEXPIRE', h, renew + 1000) end
return {exceeded, c, b, renew}
`)

// Redis is the distributed Store: counters and cache entries live in one
// Redis shared by every replica, so limits hold across the whole fleet.
// It reports every Redis failure as an error; New wraps it so that failures
// fall back to local state instead (see the package documentation).
type Redis struct {
	client    *redis.Client
	closeOnce sync.Once
	closeErr  error
}

// NewRedis returns a Redis store for cfg. It does not connect until first
// used.
func NewRedis(cfg RedisConfig) (*Redis, error) {
	if cfg.Addr == "" {
		return nil, errors.New("redis store: addr is required")
	}
	cfg = cfg.withDefaults()
	c := redis.NewClient(&redis.Options{
		Addr:         cfg.Addr,
		Username:     cfg.Username,
		Password:     cfg.Password,
		DB:           cfg.DB,
		DialTimeout:  cfg.DialTimeout,
		ReadTimeout:  cfg.Timeout,
		WriteTimeout: cfg.Timeout,
		PoolTimeout:  cfg.Timeout,
		PoolSize:     cfg.PoolSize,
		// A failed command is not retried: the caller falls back at once
		// instead of waiting through retries on a Redis that is down.
		MaxRetries:      -1,
		DialerRetries:   1, // one dial attempt, bounded by DialTimeout
		DisableIdentity: true,
	})
	return &Redis{client: c}, nil
}

// Ping checks that Redis answers.
func (r *Redis) Ping(ctx context.Context) error {
	if err := r.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis store: ping: %w", err)
	}
	return nil
}

// RateLimit implements Store.
func (r *Redis) RateLimit(ctx context.Context, key string, spec RateSpec, n int64) (RateDecision, error) {
	return r.rate(ctx, key, spec, n, 0)
}

// RateCount implements Store.
func (r *Redis) RateCount(ctx context.Context, key string, spec RateSpec, n int64) (RateDecision, error) {
	return r.rate(ctx, key, spec, n, 1)
}

func (r *Redis) rate(ctx context.Context, key string, spec RateSpec, n int64, mode int) (RateDecision, error) {
	if err := spec.validate(n); err != nil {
		return RateDecision{}, err
	}
	p := strconv.FormatInt(spec.Period.Milliseconds(), 10)
	keys := []string{redisRatePrefix + "z:" + p + ":" + key, redisRatePrefix + "h:" + p + ":" + key}
	res, err := rateScript.Run(ctx, r.client, keys,
		spec.Limit, spec.Period.Milliseconds(), slotWidthMillis(spec.Period), n, mode).Int64Slice()
	if err != nil {
		return RateDecision{}, fmt.Errorf("redis store: rate limit %q: %w", key, err)
	}
	if len(res) != 3 {
		return RateDecision{}, fmt.Errorf("redis store: rate limit %q: script returned %d values, want 3", key, len(res))
	}
	d := RateDecision{Allowed: res[0] == 1, Limit: spec.Limit, Remaining: max(spec.Limit-res[1], 0)}
	if !d.Allowed && mode == 0 {
		d.RetryAfter = msDuration(res[2])
	}
	return d, nil
}

// Quota implements Store.
func (r *Redis) Quota(ctx context.Context, key string, spec QuotaSpec, calls int64) (QuotaDecision, error) {
	return r.quota(ctx, key, spec, calls, 0, 0)
}

// QuotaCount implements Store.
func (r *Redis) QuotaCount(ctx context.Context, key string, spec QuotaSpec, calls, bytes int64) (QuotaDecision, error) {
	return r.quota(ctx, key, spec, calls, bytes, 1)
}

func (r *Redis) quota(ctx context.Context, key string, spec QuotaSpec, calls, bytes int64, mode int) (QuotaDecision, error) {
	if err := spec.validate(calls, bytes); err != nil {
		return QuotaDecision{}, err
	}
	start := spec.FirstPeriodStart.UnixMilli()
	period := spec.Period.Milliseconds()
	k := redisQuotaPrefix + strconv.FormatInt(period, 10) + ":" + strconv.FormatInt(start, 10) + ":" + key
	res, err := quotaScript.Run(ctx, r.client, []string{k},
		start, period, spec.Calls, spec.Bandwidth, calls, bytes, mode).Int64Slice()
	if err != nil {
		return QuotaDecision{}, fmt.Errorf("redis store: quota %q: %w", key, err)
	}
	if len(res) != 4 {
		return QuotaDecision{}, fmt.Errorf("redis store: quota %q: script returned %d values, want 4", key, len(res))
	}
	d := QuotaDecision{
		Exceeded:  QuotaExceeded(res[0]),
		CallsUsed: res[1],
		BytesUsed: res[2],
		RenewsIn:  msDuration(res[3]),
	}
	d.Allowed = d.Exceeded == QuotaNotExceeded
	if spec.Calls > 0 {
		d.CallsRemaining = max(spec.Calls-d.CallsUsed, 0)
	}
	if spec.Bandwidth > 0 {
		d.BytesRemaining = max(spec.Bandwidth-d.BytesUsed, 0)
	}
	return d, nil
}

// Get implements Store.
func (r *Redis) Get(ctx context.Context, key string) ([]byte, bool, error) {
	b, err := r.client.Get(ctx, redisCachePrefix+key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("redis store: get %q: %w", key, err)
	}
	return b, true, nil
}

// Set implements Store.
func (r *Redis) Set(ctx context.Context, key string, val []byte, ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("%w: cache ttl %s for %q", ErrInvalidSpec, ttl, key)
	}
	if err := r.client.Set(ctx, redisCachePrefix+key, val, ttl).Err(); err != nil {
		return fmt.Errorf("redis store: set %q: %w", key, err)
	}
	return nil
}

// Delete implements Store.
func (r *Redis) Delete(ctx context.Context, key string) error {
	if err := r.client.Del(ctx, redisCachePrefix+key).Err(); err != nil {
		return fmt.Errorf("redis store: delete %q: %w", key, err)
	}
	return nil
}

// Close implements Store. It is safe to call more than once.
func (r *Redis) Close() error {
	r.closeOnce.Do(func() {
		if err := r.client.Close(); err != nil {
			r.closeErr = fmt.Errorf("redis store: close: %w", err)
		}
	})
	return r.closeErr
}
