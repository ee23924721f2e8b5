package diagnose

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMainCommand(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "gateway.jsonl")
	if err := os.WriteFile(logPath, jsonl(t, generate(t, "snat-enforce")), 0o600); err != nil {
		t.Fatal(err)
	}
	htmlPath := filepath.Join(dir, "report.html")
	cases := []struct {
		name       string
		args       []string
		code       int
		stdout     string // substring
		stderr     string // substring
		outputFile string
	}{
		{"text", []string{logPath}, 0, "VERDICT: SNAT EXHAUSTION", "", ""},
		{"json", []string{"--format", "json", logPath}, 0, `"verdict": "snat-exhaustion"`, "", ""},
		{"flags after files", []string{logPath, "-format=json"}, 0, `"verdict"`, "", ""},
		{"html to file", []string{"--format", "html", "-o", htmlPath, logPath}, 0, "", "", htmlPath},
		{"missing file", []string{filepath.Join(dir, "nope.jsonl")}, 1, "", "nope.jsonl", ""},
		{"no files", nil, 2, "", "no LOGFILE", ""},
		{"bad format", []string{"--format", "xml", logPath}, 2, "", "unknown --format", ""},
		{"bad flag", []string{"--bogus", logPath}, 2, "", "bogus", ""},
		{"help", []string{"-h"}, 0, "", "usage: apimgw diagnose", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := Main(c.args, &out, &errb)
			if code != c.code {
				t.Fatalf("exit %d, want %d; stderr: %s", code, c.code, errb.String())
			}
			if !strings.Contains(out.String(), c.stdout) {
				t.Errorf("stdout lacks %q: %.300s", c.stdout, out.String())
			}
			if !strings.Contains(errb.String(), c.stderr) {
				t.Errorf("stderr lacks %q: %s", c.stderr, errb.String())
			}
			if c.outputFile != "" {
				b, err := os.ReadFile(c.outputFile)
				if err != nil || !bytes.Contains(b, []byte("<svg")) {
					t.Errorf("output file %s: %v, %d bytes", c.outputFile, err, len(b))
				}
			}
			if strings.Contains(c.stdout, `"verdict"`) {
				var doc map[string]any
				if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
					t.Errorf("stdout is not one JSON object: %v", err)
				}
			}
		})
	}
}
