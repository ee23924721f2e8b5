package apiops

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad feeds arbitrary bytes as information files and as a publisher
// override file: Load returns an error or a configuration, never panics.
func FuzzLoad(f *testing.F) {
	f.Add([]byte(`{"properties": {"path": "a", "serviceUrl": "http://127.0.0.1:1", "apiVersionSetId": "/apiVersionSets/v"}}`))
	f.Add([]byte(`{"properties": {"type": "Pool", "pool": {"services": [{"id": "/backends/b", "priority": 1}]}, "circuitBreaker": {"rules": [{"failureCondition": {"interval": "PT1M"}}]}}}`))
	f.Add([]byte(`{"properties": {"scope": "/apis", "state": "active"}}`))
	f.Add([]byte("apis:\n  - name: a\n    properties: {path: b}\n    operations: [{name: o, policies: [{name: policy, properties: {value: x}}]}]\n"))
	f.Add([]byte(`{"name": "a;rev=2", "properties": {"isCurrent": false, "apiRevision": "2"}}`))
	f.Fuzz(fuzzBody)
}

func fuzzBody(t *testing.T, data []byte) {
	{
		dir := t.TempDir()
		files := map[string][]byte{
			"apis/a/apiInformation.json":                   data,
			"apis/a/specification.yaml":                    []byte("openapi: 3.0.1\ninfo: {title: t, version: '1'}\npaths:\n  /x:\n    get: {operationId: o, responses: {'200': {description: OK}}}\n"),
			"apis/a;rev=2/apiInformation.json":             data,
			"backends/b/backendInformation.json":           data,
			"subscriptions/s/subscriptionInformation.json": data,
			"version sets/v/versionSetInformation.json":    data,
			"named values/n/namedValueInformation.json":    data,
			"products/p/productInformation.json":           data,
			"products/p/apis.json":                         data,
			"diagnostics/d/diagnosticInformation.json":     data,
		}
		for name, content := range files {
			p := filepath.Join(dir, name)
			os.MkdirAll(filepath.Dir(p), 0o755)
			os.WriteFile(p, content, 0o644)
		}
		ov := filepath.Join(dir, "configuration.fuzz.yaml")
		os.WriteFile(ov, data, 0o644)
		Load(Options{Dir: dir, Placeholders: true})
		Load(Options{Dir: dir, Placeholders: true, Overrides: []string{ov}})
	}
}
