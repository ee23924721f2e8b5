package store

import (
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// TestConfigYAML decodes the store section as gateway.yaml spells it,
// strictly (unknown keys are errors, as in the gateway's config loader).
func TestConfigYAML(t *testing.T) {
	const doc = `
type: redis
memory: {maxBytes: 1048576, maxCounters: 5000}
redis:
  addr: 127.0.0.1:6379
  password: secret
  db: 2
  dialTimeout: 100ms
  timeout: 300ms
  poolSize: 20
  healthCheckInterval: 2s
  fallbackReplicas: 3
`
	var cfg Config
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		t.Fatalf("decode: %v", err)
	}
	want := Config{
		Type:   TypeRedis,
		Memory: MemoryConfig{MaxBytes: 1 << 20, MaxCounters: 5000},
		Redis: RedisConfig{Addr: "127.0.0.1:6379", Password: "secret", DB: 2, DialTimeout: 100 * time.Millisecond,
			Timeout: 300 * time.Millisecond, PoolSize: 20, HealthCheckInterval: 2 * time.Second, FallbackReplicas: 3},
	}
	if cfg != want {
		t.Fatalf("decoded %+v\nwant %+v", cfg, want)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	dec = yaml.NewDecoder(strings.NewReader("type: memory\nmaxbytes: 1\n"))
	dec.KnownFields(true)
	if err := dec.Decode(&Config{}); err == nil {
		t.Fatal("unknown key accepted")
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string // substring of the error; "" for valid
	}{
		{Config{}, ""},
		{Config{Type: "memory"}, ""},
		{Config{Type: "redis", Redis: RedisConfig{Addr: "127.0.0.1:6379"}}, ""},
		{Config{Type: "redis"}, "store.redis.addr"},
		{Config{Type: "memcached"}, "store.type"},
		{Config{Memory: MemoryConfig{MaxBytes: -1}}, "store.memory.maxBytes"},
		{Config{Redis: RedisConfig{HealthCheckInterval: time.Hour}}, "store.redis.healthCheckInterval"},
		{Config{Redis: RedisConfig{FallbackReplicas: -2}}, "store.redis.fallbackReplicas"},
	} {
		err := c.cfg.Validate()
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%+v: unexpected error %v", c.cfg, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%+v: error %v, want one naming %s", c.cfg, err, c.want)
		}
	}
}
