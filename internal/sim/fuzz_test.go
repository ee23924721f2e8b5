package sim

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// FuzzScenarioFile feeds arbitrary YAML to the scenario parser: it must
// return an error or settings, never panic, and a scenario that passes
// validation must run (with a short duration to keep the fuzzer fast).
func FuzzScenarioFile(f *testing.F) {
	for _, seed := range []string{
		"rate: 10\nduration: 10m\n",
		"rate: 20\nports-per-unit: 50\nreclaim: 10s\npooling: true\nmax-conns: 4\n",
		"arrivals: bursts\nburst-rate: 100\nburst-every: 1m\nburst-length: 5s\n",
		"- a\n- b\n",
		"rate: [1, 2]\n",
		"rate: 1\nrate: 2\n",
		"",
		"---\n---\n",
		"{rate: 1e308, retries: 50, latency-dist: lognormal, latency-sigma: 4}",
	} {
		f.Add(seed)
	}
	opts := options()
	known := make(map[string]option, len(opts))
	for _, o := range opts {
		known[o.name] = o
	}
	f.Fuzz(func(t *testing.T, data string) {
		sf, err := parseScenarioFile("fuzz.yaml", []byte(data), known)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.yaml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		st := defaultSettings()
		if err := sf.apply(&st, known); err != nil {
			return
		}
		st.Scenario.Duration = min(max(st.Scenario.Duration, time.Second), 10*time.Second)
		st.Scenario.Step = 0
		if st.Scenario.Validate() != nil {
			return
		}
		if _, err := Run(st.Scenario); err != nil {
			t.Fatalf("valid scenario failed to run: %v", err)
		}
	})
}

// FuzzReadTrace feeds arbitrary bytes to the gateway log reader.
func FuzzReadTrace(f *testing.F) {
	f.Add(`{"TimeGenerated":"2026-11-02T08:00:00.000Z","BackendResponseCode":200,"BackendTime":120}` + "\n")
	f.Add("\n\n{}\n")
	f.Add(`{"TimeGenerated":"2026-11-02T08:00:00Z"}` + "\n" + `{"TimeGenerated":"2020-01-01T00:00:00Z","BackendTime":-5}`)
	f.Add("not json")
	f.Add("TimeGenerated [UTC],BackendTime,BackendResponseCode\n\"5/1/2024, 10:00:00.000 AM\",12,200\n")
	f.Add(`{"tables":[{"columns":[{"name":"TimeGenerated"},{"name":"BackendTime"}],"rows":[["2024-05-01T10:00:00Z",3]]}]}`)
	f.Fuzz(func(t *testing.T, data string) {
		tr, err := ReadTrace(bytes.NewReader([]byte(data)), "fuzz.jsonl")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.jsonl") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		for i := 1; i < len(tr.Arrivals); i++ {
			if tr.Arrivals[i] < tr.Arrivals[i-1] || tr.Arrivals[0] != 0 {
				t.Fatalf("arrivals not sorted from 0: %v", tr.Arrivals)
			}
		}
	})
}
