package store

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Store types accepted in Config.Type.
const (
	TypeMemory = "memory"
	TypeRedis  = "redis"
)

// Redis store defaults, used when RedisConfig leaves a field zero. The
// timeouts are short on purpose: a request must not wait long on a Redis
// that has gone away before the store falls back to local state.
const (
	DefaultRedisDialTimeout    = 250 * time.Millisecond
	DefaultRedisTimeout        = 250 * time.Millisecond
	DefaultHealthCheckInterval = time.Second
	MaxHealthCheckInterval     = 30 * time.Second
)

// Config is the store section of gateway.yaml.
type Config struct {
	// Type is "memory" (default) or "redis".
	Type string `yaml:"type"`
	// Memory sizes the embedded store (also the local fallback of redis).
	Memory MemoryConfig `yaml:"memory"`
	// Redis is the shared store used when Type is "redis".
	Redis RedisConfig `yaml:"redis"`
}

// MemoryConfig bounds the embedded store.
type MemoryConfig struct {
	// MaxBytes bounds the cache (keys, values and bookkeeping); default 64 MiB.
	MaxBytes int64 `yaml:"maxBytes"`
	// MaxCounters bounds the number of live rate-limit and quota counters;
	// default 1,000,000.
	MaxCounters int `yaml:"maxCounters"`
}

// RedisConfig says how to reach the Redis shared by every replica.
type RedisConfig struct {
	// Addr is host:port of the Redis server.
	Addr string `yaml:"addr"`
	// Username and Password authenticate (ACL user, or password only).
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// DB is the database number.
	DB int `yaml:"db"`
	// DialTimeout bounds connecting; default 250ms.
	DialTimeout time.Duration `yaml:"dialTimeout"`
	// Timeout bounds each command's read and write; default 250ms.
	Timeout time.Duration `yaml:"timeout"`
	// PoolSize is the number of connections per replica; default 10 per CPU.
	PoolSize int `yaml:"poolSize"`
	// HealthCheckInterval is how often a Redis marked down is probed to
	// detect its return (and how often a healthy one is pinged); default 1s,
	// at most 30s.
	HealthCheckInterval time.Duration `yaml:"healthCheckInterval"`
	// FallbackReplicas is the number of gateway replicas sharing the limits.
	// While Redis is down each replica limits locally to ceil(limit /
	// FallbackReplicas) so the fleet stays near the configured limit;
	// default 1 (each replica enforces the whole limit alone).
	FallbackReplicas int `yaml:"fallbackReplicas"`
}

func (c MemoryConfig) withDefaults() MemoryConfig {
	if c.MaxBytes == 0 {
		c.MaxBytes = DefaultMemoryMaxBytes
	}
	if c.MaxCounters == 0 {
		c.MaxCounters = DefaultMemoryMaxCounters
	}
	return c
}

func (c RedisConfig) withDefaults() RedisConfig {
	if c.DialTimeout == 0 {
		c.DialTimeout = DefaultRedisDialTimeout
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultRedisTimeout
	}
	if c.HealthCheckInterval == 0 {
		c.HealthCheckInterval = DefaultHealthCheckInterval
	}
	if c.FallbackReplicas == 0 {
		c.FallbackReplicas = 1
	}
	return c
}

// Validate reports the first problem in c, naming the offending field as
// it is spelled in gateway.yaml.
func (c Config) Validate() error {
	switch c.Type {
	case "", TypeMemory:
	case TypeRedis:
		if c.Redis.Addr == "" {
			return fmt.Errorf("store.redis.addr: required when store.type is redis")
		}
	default:
		return fmt.Errorf("store.type: %q is not one of memory, redis", c.Type)
	}
	if c.Memory.MaxBytes < 0 {
		return fmt.Errorf("store.memory.maxBytes: %d must not be negative", c.Memory.MaxBytes)
	}
	if c.Memory.MaxCounters < 0 {
		return fmt.Errorf("store.memory.maxCounters: %d must not be negative", c.Memory.MaxCounters)
	}
	r := c.Redis
	switch {
	case r.DB < 0:
		return fmt.Errorf("store.redis.db: %d must not be negative", r.DB)
	case r.DialTimeout < 0:
		return fmt.Errorf("store.redis.dialTimeout: %s must not be negative", r.DialTimeout)
	case r.Timeout < 0:
		return fmt.Errorf("store.redis.timeout: %s must not be negative", r.Timeout)
	case r.PoolSize < 0:
		return fmt.Errorf("store.redis.poolSize: %d must not be negative", r.PoolSize)
	case r.HealthCheckInterval < 0 || r.HealthCheckInterval > MaxHealthCheckInterval:
		return fmt.Errorf("store.redis.healthCheckInterval: %s must be between 0 and %s", r.HealthCheckInterval, MaxHealthCheckInterval)
	case r.FallbackReplicas < 0:
		return fmt.Errorf("store.redis.fallbackReplicas: %d must not be negative", r.FallbackReplicas)
	}
	return nil
}

// New builds the Store that cfg selects. reg receives the store's metrics
// (nil registers none); log receives outage warnings (nil discards them).
// A "redis" store whose Redis is unreachable at start still starts: it
// serves from local state and switches to Redis once it answers.
func New(cfg Config, reg prometheus.Registerer, log *slog.Logger) (Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := newMetrics(reg, cfg.Type == TypeRedis)
	switch cfg.Type {
	case TypeRedis:
		return newFailover(cfg, m, log, realClock())
	default:
		mem, err := newMemory(cfg.Memory, realClock(), m.counterEvictions.Inc)
		if err != nil {
			return nil, err
		}
		return mem, nil
	}
}
