package diagnose

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/apimgw/apimgw/internal/diagnose/loggen"
	"gopkg.in/yaml.v3"
)

func TestWriteText(t *testing.T) {
	r := analyzeBytes(t, jsonl(t, generate(t, "snat-exhaustion")))
	var buf bytes.Buffer
	if err := WriteText(&buf, r); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"VERDICT: SNAT EXHAUSTION", "snat-exhaustion", "https://orders.contoso.internal",
		"1. connection-pooling", "10. vnet-service-endpoints", "#", "^", "BACKENDCONNECTIONFAILURE PER 5 MINUTES"} {
		if !strings.Contains(out, want) {
			t.Errorf("text report lacks %q", want)
		}
	}
	if testing.Verbose() {
		t.Log("\n" + out)
	}
}

func TestWriteJSONSchema(t *testing.T) {
	r := analyzeBytes(t, jsonl(t, generate(t, "snat-exhaustion")))
	var buf bytes.Buffer
	if err := WriteJSON(&buf, r); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	// SPEC §7 names; these must never be renamed.
	paths := [][]string{
		{"window", "start"}, {"window", "end"},
		{"totals", "requests"}, {"totals", "failed"}, {"totals", "backendConnectionFailures"}, {"totals", "badLines"},
		{"verdict"}, {"incidents"}, {"mitigations"}, {"series", "1m"},
	}
	for _, p := range paths {
		var cur any = doc
		for _, k := range p {
			m, ok := cur.(map[string]any)
			if !ok {
				t.Fatalf("%v: not an object", p)
			}
			if cur, ok = m[k]; !ok {
				t.Errorf("JSON report lacks %s", strings.Join(p, "."))
				break
			}
		}
	}
	inc := doc["incidents"].([]any)[0].(map[string]any)
	for _, k := range []string{"start", "end", "cause", "backendUrl", "failedRequests", "evidence"} {
		if _, ok := inc[k]; !ok {
			t.Errorf("incident lacks %q", k)
		}
	}
	mit := doc["mitigations"].([]any)[0].(map[string]any)
	for _, k := range []string{"id", "rank", "title", "config", "expectedEffect"} {
		if _, ok := mit[k]; !ok {
			t.Errorf("mitigation lacks %q", k)
		}
	}
	pt := doc["series"].(map[string]any)["1m"].([]any)[0].(map[string]any)
	for _, k := range []string{"t", "requests", "failed", "avgBackendTime", "p95BackendTime"} {
		if _, ok := pt[k]; !ok {
			t.Errorf("1m point lacks %q", k)
		}
	}
}

func TestWriteHTML(t *testing.T) {
	r := analyzeBytes(t, jsonl(t, generate(t, "snat-exhaustion")))
	var buf bytes.Buffer
	if err := WriteHTML(&buf, r); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if n := strings.Count(out, "<svg"); n != 3 {
		t.Errorf("%d SVG charts, want 3", n)
	}
	for _, want := range []string{"verdict: snat-exhaustion", `fill-opacity="0.15"`, "connection-pooling", "<polyline"} {
		if !strings.Contains(out, want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	// Self-contained: no external references.
	for _, bad := range []string{"<script src", "<link", "@import", "url(http"} {
		if strings.Contains(out, bad) {
			t.Errorf("HTML references an external asset: %q", bad)
		}
	}
}

// TestMitigationConfigsParse checks that every config snippet is valid
// YAML (gateway.yaml fragments) or well-formed policy XML.
func TestMitigationConfigsParse(t *testing.T) {
	for _, name := range []string{"snat-exhaustion", "backend-timeouts", "throttling", "circuit-open"} {
		r := analyzeBytes(t, jsonl(t, generate(t, name)))
		for _, m := range r.Mitigations {
			cfg := strings.TrimSpace(m.Config)
			if strings.HasPrefix(cfg, "<") {
				dec := xml.NewDecoder(strings.NewReader("<policies>" + cfg + "</policies>"))
				for {
					_, err := dec.Token()
					if err == io.EOF {
						break
					}
					if err != nil {
						t.Errorf("%s/%s: policy XML: %v\n%s", name, m.ID, err, cfg)
						break
					}
				}
				continue
			}
			var doc any
			if err := yaml.Unmarshal([]byte(cfg), &doc); err != nil {
				t.Errorf("%s/%s: YAML: %v\n%s", name, m.ID, err, cfg)
			}
		}
	}
}

// TestRenderEveryScenario renders every scenario in every format.
func TestRenderEveryScenario(t *testing.T) {
	for _, name := range loggen.Names() {
		r := analyzeBytes(t, jsonl(t, generate(t, name)))
		for format, write := range map[string]func(io.Writer, *Report) error{"text": WriteText, "json": WriteJSON, "html": WriteHTML} {
			var buf bytes.Buffer
			if err := write(&buf, r); err != nil {
				t.Errorf("%s as %s: %v", name, format, err)
			}
			if !strings.Contains(buf.String(), r.Verdict) {
				t.Errorf("%s as %s does not name the verdict %s", name, format, r.Verdict)
			}
		}
	}
}

// TestOrderDoesNotMatter: the same records in reverse order give the same
// analysis (records are binned, so disorder within a file is harmless).
func TestOrderDoesNotMatter(t *testing.T) {
	s := generate(t, "backend-errors")
	rev := slices.Clone(s.Records)
	slices.Reverse(rev)
	var buf bytes.Buffer
	if err := loggen.WriteJSONLines(&buf, rev); err != nil {
		t.Fatal(err)
	}
	got, want := analyzeBytes(t, buf.Bytes()), analyzeBytes(t, jsonl(t, s))
	if got.Totals != want.Totals || got.Verdict != want.Verdict || len(got.Incidents) != len(want.Incidents) ||
		!got.Incidents[0].Start.Equal(want.Incidents[0].Start) || !got.Incidents[0].End.Equal(want.Incidents[0].End) {
		t.Errorf("reversed log: %+v %s %+v; want %+v %s %+v", got.Totals, got.Verdict, got.Incidents, want.Totals, want.Verdict, want.Incidents)
	}
}
