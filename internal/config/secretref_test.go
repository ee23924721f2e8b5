package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSecretRefs(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "secrets"), 0o755)
	os.WriteFile(filepath.Join(dir, "secrets", "primary"), []byte("k-primary\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "redis-password"), []byte("p@ss: word"), 0o600)
	t.Setenv("APIMGW_TEST_SECONDARY", "k-secondary")
	file := filepath.Join(dir, "gateway.yaml")
	src := `
store:
  type: redis
  redis: {addr: 127.0.0.1:6379, password: "${file:` + filepath.Join(dir, "redis-password") + `}"}
products:
  p: {name: P}
subscriptions:
  - {id: s, name: S, product: p, primaryKey: "${file:secrets/primary}", secondaryKey: "${env:APIMGW_TEST_SECONDARY}"}
apis:
  - {id: a, path: a, serviceUrl: "http://127.0.0.1:1", products: [p], operations: [{id: o, method: GET, urlTemplate: "/"}]}
`
	cfg, err := Parse(file, []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Subscriptions[0]
	if s.PrimaryKey != "k-primary" || s.SecondaryKey != "k-secondary" || cfg.Store.Redis.Password != "p@ss: word" {
		t.Fatalf("expanded %q %q %q", s.PrimaryKey, s.SecondaryKey, cfg.Store.Redis.Password)
	}

	// Missing ones are errors at their positions, all of them.
	bad := strings.ReplaceAll(src, "secrets/primary", "secrets/missing")
	bad = strings.ReplaceAll(bad, "APIMGW_TEST_SECONDARY", "APIMGW_TEST_UNSET_VARIABLE")
	_, err = Parse(file, []byte(bad))
	list, ok := err.(ErrorList)
	if !ok || len(list) != 2 {
		t.Fatalf("want two errors, got %v", err)
	}
	if !strings.Contains(list[0].Error(), "gateway.yaml:8:") || !strings.Contains(list[0].Error(), "secrets/missing") ||
		!strings.Contains(list[1].Error(), "APIMGW_TEST_UNSET_VARIABLE is not set") {
		t.Fatalf("errors: %v", err)
	}
	// Only a whole value is a reference; text around it stays literal.
	lit := strings.ReplaceAll(src, `"${file:secrets/primary}"`, `"key-${file:secrets/primary}"`)
	cfg, err = Parse(file, []byte(lit))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Subscriptions[0].PrimaryKey != "key-${file:secrets/primary}" {
		t.Fatalf("partial reference expanded: %q", cfg.Subscriptions[0].PrimaryKey)
	}
}
