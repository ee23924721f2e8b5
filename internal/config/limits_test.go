package config

import (
	"strings"
	"testing"
	"time"
)

func TestLimitsDefaults(t *testing.T) {
	cfg, err := Parse("/cfg/gateway.yaml", []byte("listen: \"127.0.0.1:0\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	l := cfg.Limits
	if l.URL != 16<<10 || l.HeaderLine != 32<<10 || l.Headers != 100 || l.Head != 64<<10 ||
		l.HeaderTimeout.D() != 30*time.Second || l.BodyGrace.D() != 20*time.Second || l.BodyMinRate != 500 ||
		l.IdleTimeout.D() != 4*time.Minute || l.MaxConnections != 10000 || l.BufferedBody != 100<<20 || l.UnderscoresInHeaders {
		t.Errorf("defaults: %+v", l)
	}
}

func TestLimitsSet(t *testing.T) {
	cfg, err := Parse("/cfg/gateway.yaml", []byte(`limits:
  url: 8KiB
  headerLine: 4096
  headers: 50
  head: 1MiB
  headerTimeout: 5s
  bodyGrace: 2s
  bodyMinRate: -1
  idleTimeout: 75s
  maxConnections: 3
  bufferedBody: 10MB
  underscoresInHeaders: true
`))
	if err != nil {
		t.Fatal(err)
	}
	l := cfg.Limits
	if l.URL != 8<<10 || l.HeaderLine != 4096 || l.Headers != 50 || l.Head != 1<<20 || l.HeaderTimeout.D() != 5*time.Second ||
		l.BodyGrace.D() != 2*time.Second || l.BodyMinRate != -1 || l.IdleTimeout.D() != 75*time.Second ||
		l.MaxConnections != 3 || l.BufferedBody != 10<<20 || !l.UnderscoresInHeaders {
		t.Errorf("got %+v", l)
	}
}

func TestLimitsErrors(t *testing.T) {
	cases := []struct{ yaml, want string }{
		{"limits:\n  url: 16 kilo\n", `gateway.yaml:2:8: invalid size "16 kilo"`},
		{"limits:\n  uri: 1\n", `gateway.yaml:2:3: unknown key "uri"`},
		{"limits:\n  headers: -5\n", `gateway.yaml:2:3: limits.headers must not be negative`},
		{"limits:\n  bodyMinRate: -2\n", `limits.bodyMinRate must be a rate`},
		{"limits:\n  headerLine: 128KiB\n", `limits.headerLine (131072) must not exceed limits.head (65536)`},
		{"limits:\n  idleTimeout: forever\n", `gateway.yaml:2:16: invalid duration "forever"`},
	}
	for _, c := range cases {
		_, err := Parse("/cfg/gateway.yaml", []byte(c.yaml))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want %q", c.yaml, err, c.want)
		}
	}
}
