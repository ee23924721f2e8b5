package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	cases := []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{[]string{"-scenario", "snat-enforce"}, 0, `"TimeGenerated"`, "verdict snat-exhaustion"},
		{[]string{"-scenario", "throttling", "-format", "csv-us"}, 0, "TimeGenerated [UTC]", "incident throttling"},
		{[]string{"-scenario", "healthy", "-format", "json-tables"}, 0, `{"tables"`, "verdict healthy"},
		{[]string{"-scenario", "nope"}, 2, "", "unknown scenario"},
		{[]string{"-format", "xml"}, 2, "", "unknown -format"},
	}
	for _, c := range cases {
		var out, errb bytes.Buffer
		if code := run(c.args, &out, &errb); code != c.code {
			t.Errorf("%v: exit %d, want %d (%s)", c.args, code, c.code, errb.String())
		}
		if !strings.Contains(out.String()[:min(out.Len(), 2000)], c.stdout) || !strings.Contains(errb.String(), c.stderr) {
			t.Errorf("%v: stdout %.100q stderr %q", c.args, out.String(), errb.String())
		}
	}
}
