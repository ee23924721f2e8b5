package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestMainExitCodes(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "good.yaml", "# capacity plan\nrate: 10\nduration: 2m\nports-per-unit: 1024\nreclaim: 4m\npooling: false\n")
	unknown := writeFile(t, dir, "unknown.yaml", "rate: 10\nports: 50\n")
	badValue := writeFile(t, dir, "bad.yaml", "rate: 10\nduration: ten minutes\n")
	outOfRange := writeFile(t, dir, "range.yaml", "rate: 10\n\nunits: 0\n")
	dup := writeFile(t, dir, "dup.yaml", "rate: 10\nrate: 20\n")
	notMap := writeFile(t, dir, "list.yaml", "- rate\n")
	nested := writeFile(t, dir, "nested.yaml", "rate:\n  value: 10\n")
	empty := writeFile(t, dir, "empty.yaml", "")
	badLog := writeFile(t, dir, "bad.jsonl", "{\"TimeGenerated\":\"2026-01-01T00:00:00Z\"}\nnot json\n")

	tests := []struct {
		name     string
		args     []string
		code     int
		inStderr string
	}{
		{"flags", []string{"--rate", "5", "--duration", "1m"}, 0, ""},
		{"file", []string{"-f", good}, 0, ""},
		{"empty-file", []string{"-f", empty, "--duration", "10s"}, 0, ""},
		{"help", []string{"-h"}, 0, "usage: apimgw simulate"},
		{"unknown-flag", []string{"--ports", "5"}, 2, "flag provided but not defined"},
		{"bad-flag-value", []string{"--rate", "fast"}, 2, "not a number"},
		{"out-of-range-flag", []string{"--units", "0"}, 2, "--units: must be between 1"},
		{"bad-format", []string{"--format", "xml"}, 2, "--format"},
		{"positional", []string{"scenario.yaml"}, 2, "unexpected argument"},
		{"missing-file", []string{"-f", filepath.Join(dir, "nope.yaml")}, 1, "nope.yaml"},
		{"unknown-key", []string{"-f", unknown}, 1, "unknown.yaml:2:1: unknown key \"ports\""},
		{"bad-file-value", []string{"-f", badValue}, 1, "bad.yaml:2:11: duration:"},
		{"out-of-range-file", []string{"-f", outOfRange}, 1, "range.yaml:3:8: units: must be between 1"},
		{"flag-fixes-file", []string{"-f", outOfRange, "--units", "2", "--duration", "10s"}, 0, ""},
		{"duplicate-key", []string{"-f", dup}, 1, "dup.yaml:2:1: rate is already set on line 1"},
		{"not-a-mapping", []string{"-f", notMap}, 1, "list.yaml:1:1"},
		{"nested-value", []string{"-f", nested}, 1, "nested.yaml:2:3: rate needs a single value"},
		{"log-needs-file", []string{"--arrivals", "log"}, 2, "needs a gateway log"},
		{"bad-log", []string{"--arrivals", "log", "--log", badLog}, 1, "bad.jsonl:2:"},
		{"unwritable-output", []string{"--duration", "10s", "-o", filepath.Join(dir, "missing", "r.txt")}, 1, "write report"},
		{"log-unused", []string{"--log", badLog}, 2, "--log: is only used with"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := Main(tt.args, &stdout, &stderr)
			if code != tt.code {
				t.Fatalf("exit code = %d, want %d; stderr:\n%s", code, tt.code, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.inStderr) {
				t.Errorf("stderr = %q, want it to contain %q", stderr.String(), tt.inStderr)
			}
			if code == 0 && tt.inStderr == "" && stdout.Len() == 0 {
				t.Error("no report on stdout")
			}
		})
	}
}

func TestMainFormats(t *testing.T) {
	dir := t.TempDir()
	scen := writeFile(t, dir, "s.yaml", "rate: 10\nduration: 5m\nformat: json\n")
	out := filepath.Join(dir, "report.html")
	tests := []struct {
		name  string
		args  []string
		check func(t *testing.T, stdout string)
	}{
		{"json-from-file", []string{"-f", scen}, func(t *testing.T, stdout string) {
			var rep struct {
				Scenario map[string]any `json:"scenario"`
				Summary  struct {
					Requests               int64    `json:"requests"`
					Failed                 int64    `json:"failed"`
					PortBudget             int      `json:"portBudget"`
					PeakPortsInUse         float64  `json:"peakPortsInUse"`
					SteadyPortsInUse       float64  `json:"steadyPortsInUse"`
					FirstExhaustionSeconds *float64 `json:"firstExhaustionSeconds"`
				} `json:"summary"`
				Series []map[string]float64 `json:"series"`
			}
			if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
				t.Fatalf("not JSON: %v\n%s", err, stdout)
			}
			if rep.Scenario["rate"] != 10.0 || rep.Scenario["duration"] != "5m0s" {
				t.Errorf("scenario = %v", rep.Scenario)
			}
			s := rep.Summary
			if s.Requests != 3000 || s.PortBudget != 1024 || s.PeakPortsInUse != 1024 || s.FirstExhaustionSeconds == nil || *s.FirstExhaustionSeconds != 102.4 {
				t.Errorf("summary = %+v", s)
			}
			if len(rep.Series) == 0 {
				t.Fatal("no series")
			}
			for _, k := range []string{"t", "portsInUse", "connections", "requests", "failed"} {
				if _, ok := rep.Series[0][k]; !ok {
					t.Errorf("series point lacks %q", k)
				}
			}
		}},
		{"json-null-exhaustion", []string{"--rate", "1", "--duration", "1m", "--format", "json"}, func(t *testing.T, stdout string) {
			if !strings.Contains(stdout, `"firstExhaustionSeconds": null`) {
				t.Errorf("want firstExhaustionSeconds null in\n%s", stdout)
			}
		}},
		{"text-fits-100-columns", []string{"--rate", "300", "--latency", "2s", "--latency-dist", "lognormal", "--retries", "2",
			"--breaker-failures", "5", "--rate-limit", "250", "--cache-hit-ratio", "0.1", "--compare"}, func(t *testing.T, stdout string) {
			for i, line := range strings.Split(stdout, "\n") {
				if n := len([]rune(line)); n > 100 {
					t.Errorf("line %d has %d columns: %q", i+1, n, line)
				}
			}
			for _, want := range []string{"Summary", "Ports in use", "Mitigations ranked", "connection-pooling", "nat-gateway"} {
				if !strings.Contains(stdout, want) {
					t.Errorf("text report lacks %q", want)
				}
			}
		}},
		{"html-to-file", []string{"--rate", "10", "--compare", "--format", "html", "-o", out}, func(t *testing.T, stdout string) {
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing with -o", stdout)
			}
			b, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			h := string(b)
			for _, want := range []string{"<!DOCTYPE html>", "<svg", "<polyline", "connection-pooling", "<style>"} {
				if !strings.Contains(h, want) {
					t.Errorf("HTML lacks %q", want)
				}
			}
			for _, bad := range []string{"<script", "src=\"http", "href=\"http"} {
				if strings.Contains(h, bad) {
					t.Errorf("HTML is not self-contained: has %q", bad)
				}
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := Main(tt.args, &stdout, &stderr); code != 0 {
				t.Fatalf("exit code %d: %s", code, stderr.String())
			}
			tt.check(t, stdout.String())
		})
	}
}

// TestMainLogReplay replays a gateway log: arrivals and backend times.
func TestMainLogReplay(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	start := time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)
	// 10 requests/s for 60 s, backend 500 ms; the last second's calls failed.
	for i := range 600 {
		code, bt := 200, 500
		if i >= 590 {
			code, bt = 0, 0
		}
		at := start.Add(time.Duration(i) * 100 * time.Millisecond).Format("2006-01-02T15:04:05.000Z07:00")
		fmt.Fprintf(&b, `{"TimeGenerated":%q,"ResponseCode":200,"BackendResponseCode":%d,"BackendTime":%d}`+"\n", at, code, bt)
	}
	logPath := writeFile(t, dir, "gw.jsonl", b.String())
	scen := writeFile(t, dir, "replay.yaml", "arrivals: log\nlatency-dist: log\nlog: gw.jsonl\nports-per-unit: 100\nreclaim: 10s\nformat: json\n")
	var stdout, stderr bytes.Buffer
	if code := Main([]string{"-f", scen}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var rep struct {
		Scenario struct {
			Duration string `json:"duration"`
			Log      string `json:"log"`
		} `json:"scenario"`
		Summary Summary `json:"summary"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Summary.Requests != 600 || rep.Scenario.Duration != "1m0s" || rep.Scenario.Log != logPath {
		t.Errorf("replay: requests %d, scenario %+v", rep.Summary.Requests, rep.Scenario)
	}
	// 10/s × (0.5 s + 10 s) = 105 ports needed of 100: exhausted at 10 s.
	if f := rep.Summary.FirstExhaustionSeconds; f == nil || !within(*f, 10, 0.02) {
		t.Errorf("firstExhaustionSeconds = %v, want ≈ 10", f)
	}
}

// TestDocsScenario runs the scenario file shown in docs/simulate.md.
func TestDocsScenario(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := Main([]string{"-f", filepath.Join("testdata", "campaign.yaml"), "--format", "json", "--duration", "16m"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var rep struct {
		Scenario map[string]any `json:"scenario"`
		Compare  []Outcome      `json:"compare"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Scenario["arrivals"] != "bursts" || rep.Scenario["units"] != 2.0 || len(rep.Compare) == 0 {
		t.Errorf("scenario %v, %d compared mitigations", rep.Scenario, len(rep.Compare))
	}
}
