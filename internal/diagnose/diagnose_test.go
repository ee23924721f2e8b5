package diagnose

import (
	"bytes"
	"compress/gzip"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apimgw/apimgw/internal/diagnose/loggen"
	"github.com/apimgw/apimgw/internal/logs"
)

// tolerance is how far an incident edge may be from its label: one bin of
// the analysis window.
const tolerance = 5 * time.Minute

// cache holds generated scenarios and their JSON lines across tests (they
// are read-only once built); parallel tests share it.
var cache struct {
	sync.Mutex
	scenarios map[string]*loggen.Scenario
	jsonl     map[*loggen.Scenario][]byte
}

func generate(t testing.TB, name string) *loggen.Scenario {
	t.Helper()
	cache.Lock()
	defer cache.Unlock()
	if s, ok := cache.scenarios[name]; ok {
		return s
	}
	s, err := loggen.Generate(name, 1)
	if err != nil {
		t.Fatalf("generate %s: %v", name, err)
	}
	if cache.scenarios == nil {
		cache.scenarios = map[string]*loggen.Scenario{}
	}
	cache.scenarios[name] = s
	return s
}

func jsonl(t testing.TB, s *loggen.Scenario) []byte {
	t.Helper()
	cache.Lock()
	defer cache.Unlock()
	if b, ok := cache.jsonl[s]; ok {
		return b
	}
	var buf bytes.Buffer
	if err := loggen.WriteJSONLines(&buf, s.Records); err != nil {
		t.Fatal(err)
	}
	if cache.jsonl == nil {
		cache.jsonl = map[*loggen.Scenario][]byte{}
	}
	cache.jsonl[s] = buf.Bytes()
	return buf.Bytes()
}

func analyzeBytes(t testing.TB, inputs ...[]byte) *Report {
	t.Helper()
	var ins []Input
	for i, b := range inputs {
		ins = append(ins, Input{Name: "input" + string(rune('0'+i)), R: bytes.NewReader(b), Size: int64(len(b))})
	}
	r, err := Analyze(Options{}, ins...)
	if err != nil {
		t.Fatalf("Analyze: %v", err)
	}
	return r
}

func near(a, b time.Time) bool {
	d := a.Sub(b)
	return d >= -tolerance && d <= tolerance
}

// checkLabels asserts the report found exactly the labelled incidents
// (cause, destination, edges within one bin) and the verdict.
func checkLabels(t *testing.T, r *Report, s *loggen.Scenario) {
	t.Helper()
	if r.Verdict != s.Verdict {
		t.Errorf("verdict = %q, want %q", r.Verdict, s.Verdict)
	}
	if len(r.Incidents) != len(s.Labels) {
		t.Fatalf("got %d incidents %+v, want %d %+v", len(r.Incidents), r.Incidents, len(s.Labels), s.Labels)
	}
	for i, l := range s.Labels {
		in := r.Incidents[i]
		if in.Cause != l.Cause {
			t.Errorf("incident %d cause = %q, want %q (evidence %q)", i, in.Cause, l.Cause, in.Evidence)
		}
		if l.BackendURL != "" && in.BackendURL != l.BackendURL {
			t.Errorf("incident %d backendUrl = %q, want %q", i, in.BackendURL, l.BackendURL)
		}
		if !near(in.Start, l.Start) || !near(in.End, l.End) {
			t.Errorf("incident %d spans %s–%s, want %s–%s ±%s", i, in.Start, in.End, l.Start, l.End, tolerance)
		}
		if in.FailedRequests <= 0 || len(in.Evidence) == 0 {
			t.Errorf("incident %d has no failures or evidence: %+v", i, in)
		}
	}
}

func TestScenarios(t *testing.T) {
	for _, name := range loggen.Names() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := generate(t, name)
			r := analyzeBytes(t, jsonl(t, s))
			checkLabels(t, r, s)
			if r.Totals.Requests != int64(len(s.Records)) {
				t.Errorf("requests = %d, want %d", r.Totals.Requests, len(s.Records))
			}
			if r.Verdict == CauseHealthy && len(r.Mitigations) != 0 {
				t.Errorf("healthy log got mitigations %+v", r.Mitigations)
			}
			if r.Verdict != CauseHealthy && len(r.Mitigations) == 0 {
				t.Errorf("verdict %s without mitigations", r.Verdict)
			}
			for i := 1; i < len(r.Mitigations); i++ {
				if r.Mitigations[i-1].Rank >= r.Mitigations[i].Rank {
					t.Errorf("mitigations not ordered by rank: %v then %v", r.Mitigations[i-1].ID, r.Mitigations[i].ID)
				}
			}
		})
	}
}

func TestSNATEvidenceAndMitigations(t *testing.T) {
	r := analyzeBytes(t, jsonl(t, generate(t, "snat-exhaustion")))
	in := r.Incidents[0]
	m := in.Metrics
	if m.NoBackendCodeShare < 0.99 || m.DestinationShare < 0.99 {
		t.Errorf("metrics %+v: want all failures without backend code, on one destination", m)
	}
	if m.LoadCorrelation < 0.5 {
		t.Errorf("load correlation %.2f, want ≥ 0.5", m.LoadCorrelation)
	}
	// 6 req/s × (0.9 s + 240 s) ≈ 1,450 ports without reuse; ≈ 5.5 with keep-alive.
	if m.PeakPortsWithoutReuse < 1200 || m.PeakPortsWithoutReuse > 1900 {
		t.Errorf("peak ports without reuse = %v, want ≈ 1,450", m.PeakPortsWithoutReuse)
	}
	if m.PeakConcurrency < 4 || m.PeakConcurrency > 9 {
		t.Errorf("peak concurrency = %v, want ≈ 5.5", m.PeakConcurrency)
	}
	if len(r.Mitigations) != 10 || r.Mitigations[0].ID != "connection-pooling" || r.Mitigations[9].ID != "vnet-service-endpoints" {
		var ids []string
		for _, m := range r.Mitigations {
			ids = append(ids, m.ID)
		}
		t.Fatalf("mitigations %v, want the 10 SNAT remedies from connection-pooling to vnet-service-endpoints", ids)
	}
	for _, mit := range r.Mitigations {
		if mit.Config == "" || mit.Azure == "" || mit.ExpectedEffect == "" || mit.Title == "" {
			t.Errorf("mitigation %s incomplete: %+v", mit.ID, mit)
		}
	}
	if eff := r.Mitigations[0].ExpectedEffect; !strings.Contains(eff, "connections") || !strings.Contains(eff, "ports") {
		t.Errorf("pooling effect %q should compare connections with ports", eff)
	}
	// Seed query: BackendConnectionFailure per 5 minutes by BackendUrl.
	var sum int64
	for _, b := range r.Series.ConnectionFailures5m {
		if b.BackendURL != "https://orders.contoso.internal" {
			t.Errorf("5m bin for %s, only orders fails", b.BackendURL)
		}
		sum += b.BackendConnectionFailures
	}
	if sum != r.Totals.BackendConnectionFailures || sum == 0 {
		t.Errorf("5m bins sum to %d, totals say %d", sum, r.Totals.BackendConnectionFailures)
	}
	if got := len(r.Series.OneMinute); got != 70 {
		t.Errorf("1m series has %d points, want 70", got)
	}
}

// TestExportsAgree: the same records as JSON lines and as each Azure export
// shape give the same verdict, incidents and totals. The CSV exports carry
// the two-incident "mixed" log; the (slower to decode) JSON shapes the
// smaller SNAT log of the gateway.
func TestExportsAgree(t *testing.T) {
	cases := []struct {
		name, scenario, format string
		write                  func(io.Writer, []logs.Record) error
	}{
		{"csv-iso", "mixed", FormatCSV, func(w io.Writer, r []logs.Record) error { return loggen.WriteCSV(w, r, loggen.TimeISO) }},
		{"csv-us", "mixed", FormatCSV, func(w io.Writer, r []logs.Record) error { return loggen.WriteCSV(w, r, loggen.TimeUS) }},
		{"json-tables", "snat-enforce", FormatJSONTables, loggen.WriteJSONTables},
		{"json-array", "snat-enforce", FormatJSONArray, loggen.WriteJSONArray},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := generate(t, c.scenario)
			want := analyzeBytes(t, jsonl(t, s))
			var buf bytes.Buffer
			if err := c.write(&buf, s.Records); err != nil {
				t.Fatal(err)
			}
			got := analyzeBytes(t, buf.Bytes())
			if got.Inputs[0].Format != c.format {
				t.Errorf("format detected %q, want %q", got.Inputs[0].Format, c.format)
			}
			if got.Totals != want.Totals {
				t.Errorf("totals %+v, want %+v", got.Totals, want.Totals)
			}
			if got.Verdict != want.Verdict || len(got.Incidents) != len(want.Incidents) {
				t.Fatalf("verdict %s with %d incidents, want %s with %d", got.Verdict, len(got.Incidents), want.Verdict, len(want.Incidents))
			}
			for i := range want.Incidents {
				g, w := got.Incidents[i], want.Incidents[i]
				if !g.Start.Equal(w.Start) || !g.End.Equal(w.End) || g.Cause != w.Cause || g.BackendURL != w.BackendURL || g.FailedRequests != w.FailedRequests {
					t.Errorf("incident %d = %+v, want %+v", i, g, w)
				}
			}
		})
	}
}

func TestGzipAndMerge(t *testing.T) {
	s := generate(t, "backend-timeouts")
	// Split the log into two files by record parity, one gzip-compressed:
	// they interleave in time and must be merged.
	var a, b []byte
	{
		var even, odd bytes.Buffer
		loggen.WriteJSONLines(&even, everyOther(s, 0))
		loggen.WriteJSONLines(&odd, everyOther(s, 1))
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		zw.Write(even.Bytes())
		zw.Close()
		a, b = gz.Bytes(), odd.Bytes()
	}
	r := analyzeBytes(t, a, b)
	checkLabels(t, r, s)
	if r.Inputs[0].Format != "gzip+"+FormatJSONLines || r.Inputs[1].Format != FormatJSONLines {
		t.Errorf("formats %+v", r.Inputs)
	}
	if r.Totals.Requests != int64(len(s.Records)) {
		t.Errorf("requests %d, want %d", r.Totals.Requests, len(s.Records))
	}
}

func everyOther(s *loggen.Scenario, parity int) []logs.Record {
	var out []logs.Record
	for i := parity; i < len(s.Records); i += 2 {
		out = append(out, s.Records[i])
	}
	return out
}

func TestBadLinesAreCounted(t *testing.T) {
	s := generate(t, "snat-enforce")
	lines := strings.Split(strings.TrimSpace(string(jsonl(t, s))), "\n")
	bad := []string{
		`not json at all`,
		`{"TimeGenerated": "yesterday", "ResponseCode": 200}`,
		`{"ResponseCode": 200}`,
		`{"TimeGenerated": "2026-11-02T08:01:00Z", "ResponseCode": "abc"}`,
		`{"TimeGenerated": "2026-11-02T08:01:00Z", "ResponseCode": 200`,
		`["an", "array"]`,
	}
	// Insert the bad lines after lines 10, 20, ...
	var out []string
	for i, l := range lines {
		out = append(out, l)
		if k := i / 10; i%10 == 9 && k < len(bad) {
			out = append(out, bad[k])
		}
	}
	out = append(out, "") // blank lines are not bad
	r := analyzeBytes(t, []byte(strings.Join(out, "\n")))
	if r.Totals.BadLines != int64(len(bad)) {
		t.Errorf("bad lines = %d, want %d: %+v", r.Totals.BadLines, len(bad), r.BadLines)
	}
	if r.Totals.Requests != int64(len(lines)) {
		t.Errorf("requests = %d, want %d", r.Totals.Requests, len(lines))
	}
	if len(r.BadLines) == 0 || r.BadLines[0].Line != 11 {
		t.Errorf("first bad line sample = %+v, want line 11", r.BadLines)
	}
	if r.Verdict != CauseSNATExhaustion {
		t.Errorf("verdict %s", r.Verdict)
	}
}

func TestBadCSVRowsAreCounted(t *testing.T) {
	s := generate(t, "healthy")
	var buf bytes.Buffer
	loggen.WriteCSV(&buf, s.Records[:100], loggen.TimeUS)
	text := buf.String() + "not-a-time,x\n\"unterminated,quote\n" + "13/45/2026, 1:00:00.000 AM,x\n"
	r := analyzeBytes(t, []byte(text))
	if r.Totals.Requests != 100 || r.Totals.BadLines == 0 {
		t.Errorf("requests %d bad %d (%+v), want 100 and some bad", r.Totals.Requests, r.Totals.BadLines, r.BadLines)
	}
}

func TestUnreadableInput(t *testing.T) {
	_, err := AnalyzeFiles([]string{"testdata/does-not-exist.jsonl"}, Options{})
	if err == nil || !strings.Contains(err.Error(), "does-not-exist.jsonl") {
		t.Errorf("err = %v, want it to name the file", err)
	}
	_, err = Analyze(Options{}, Input{Name: "empty", R: strings.NewReader("")})
	if !errors.Is(err, ErrNoRecords) {
		t.Errorf("empty input: err = %v, want ErrNoRecords", err)
	}
	_, err = Analyze(Options{}, Input{Name: "junk.csv", R: strings.NewReader("a,b,c\n1,2,3\n")})
	if err == nil || !strings.Contains(err.Error(), "junk.csv") {
		t.Errorf("CSV without TimeGenerated: err = %v, want it to name the file", err)
	}
	_, err = Analyze(Options{}, Input{Name: "nocode.csv", R: strings.NewReader("TimeGenerated [UTC],BackendUrl\n2024-05-01T10:00:00Z,http://x\n")})
	if err == nil || !strings.Contains(err.Error(), "nocode.csv:1") || !strings.Contains(err.Error(), "ResponseCode") {
		t.Errorf("CSV without ResponseCode: err = %v, want it to name the file and the column", err)
	}
	_, err = Analyze(Options{}, Input{Name: "nocode.jsonl", R: strings.NewReader(`{"TimeGenerated":"2024-05-01T10:00:00Z"}` + "\n")})
	if !errors.Is(err, ErrNoRecords) || !strings.Contains(err.Error(), "nocode.jsonl:1:") || !strings.Contains(err.Error(), "no ResponseCode") {
		t.Errorf("JSON line without ResponseCode: err = %v, want ErrNoRecords naming the line", err)
	}
}

func TestParseTime(t *testing.T) {
	want := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC).UnixMilli()
	pm := time.Date(2024, 5, 1, 22, 3, 4, 560_000_000, time.UTC).UnixMilli()
	cases := []struct {
		in     string
		offset int
		want   int64
		ok     bool
	}{
		{"2024-05-01T10:00:00.000Z", 0, want, true},
		{"2024-05-01T10:00:00Z", 0, want, true},
		{"2024-05-01 10:00:00", 0, want, true},
		{"2024-05-01T12:00:00.0000000+02:00", 0, want, true},
		{"2024-05-01T12:00:00", 120, want, true},
		{"5/1/2024, 10:00:00.000 AM", 0, want, true},
		{"5/1/2024 10:00:00 AM", 0, want, true},
		{"05/01/2024, 10:03:04.560 PM", 0, pm + 0 - 0, false},
		{"5/1/2024, 10:03:04.560 PM", 0, pm, true},
		{"5/1/2024, 12:00:00.000 AM", 0, time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC).UnixMilli(), true},
		{"5/1/2024, 22:03:04.560", 0, pm, true},
		{"2024-13-01T10:00:00Z", 0, 0, false},
		{"yesterday", 0, 0, false},
		{"", 0, 0, false},
	}
	for _, c := range cases {
		got, ok := parseTime([]byte(c.in), c.offset)
		if c.in == "05/01/2024, 10:03:04.560 PM" { // zero-padded month and day are fine too
			c.ok, c.want = true, pm
		}
		if ok != c.ok || (ok && got != c.want) {
			t.Errorf("parseTime(%q) = %v, %v; want %v, %v", c.in, msTime(got), ok, msTime(c.want), c.ok)
		}
	}
}

func TestColumnNames(t *testing.T) {
	cases := map[string]field{
		"TimeGenerated":         fieldTime,
		"TimeGenerated [UTC]":   fieldTime,
		"timegenerated":         fieldTime,
		"ResponseCode":          fieldResponseCode,
		"responseCode_d":        fieldResponseCode,
		"backendResponseCode_d": fieldBackendResponseCode,
		"lastError_reason_s":    fieldReason,
		"BackendTime":           fieldBackendTime,
		"backendUrl_s":          fieldBackendURL,
		"DurationMs":            fieldTotalTime,
		"CorrelationId":         fieldNone,
		"Something":             fieldNone,
	}
	for in, want := range cases {
		if got := fieldOf([]byte(in)); got != want {
			t.Errorf("fieldOf(%q) = %v, want %v", in, got, want)
		}
	}
	if got := zoneOffset("TimeGenerated [UTC+02:00]"); got != 120 {
		t.Errorf("zoneOffset = %d, want 120", got)
	}
}

func TestDestinationOf(t *testing.T) {
	cases := map[string]string{
		"https://Orders.Contoso.internal/api/orders/1?x=1": "https://orders.contoso.internal",
		"https://orders.contoso.internal:443/api":          "https://orders.contoso.internal",
		"http://127.0.0.1:9001/orders":                     "http://127.0.0.1:9001",
		"http://user:pw@10.0.0.5:80/":                      "http://10.0.0.5",
		"orders.internal:8080":                             "orders.internal:8080",
		"":                                                 "",
	}
	for in, want := range cases {
		var buf [256]byte
		if got := string(destinationOf(&buf, []byte(in))); got != want {
			t.Errorf("destinationOf(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestHistogramQuantile(t *testing.T) {
	var h histogram
	for v := int64(1); v <= 1000; v++ {
		h.add(v)
	}
	if got := h.quantile(0.95, 1000); got < 900 || got > 1010 {
		t.Errorf("p95 of 1..1000 = %v, want ≈ 950", got)
	}
	if got := h.quantile(0.5, 1000); got < 470 || got > 530 {
		t.Errorf("p50 of 1..1000 = %v, want ≈ 500", got)
	}
}

// TestRealGatewayLog diagnoses a log written by `apimgw serve` itself
// (keepAlive: false, snat.enforce: true, a 30-port budget, 200 requests;
// produced by TestGatewaySNATEnforce with DIAGNOSE_KEEP_GATEWAY_LOG, then
// gzip-compressed).
func TestRealGatewayLog(t *testing.T) {
	r, err := AnalyzeFiles([]string{"testdata/gateway-snat-enforce.jsonl.gz"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Inputs[0].Format != "gzip+"+FormatJSONLines {
		t.Errorf("format %q", r.Inputs[0].Format)
	}
	if r.Totals.BadLines != 0 || r.Totals.Requests != 200 {
		t.Errorf("totals %+v, want 200 requests and no bad line", r.Totals)
	}
	if r.Verdict != CauseSNATExhaustion || len(r.Incidents) != 1 {
		t.Fatalf("verdict %s, incidents %+v", r.Verdict, r.Incidents)
	}
	if in := r.Incidents[0]; !strings.HasPrefix(in.BackendURL, "http://127.0.0.1:") || in.FailedRequests != r.Totals.BackendConnectionFailures {
		t.Errorf("incident %+v", in)
	}
}

func TestByteOrderMarkAndProgress(t *testing.T) {
	s := generate(t, "snat-enforce")
	for _, name := range []string{"jsonl", "csv", "json-array"} {
		var buf bytes.Buffer
		buf.WriteString("\xef\xbb\xbf")
		switch name {
		case "jsonl":
			loggen.WriteJSONLines(&buf, s.Records)
		case "csv":
			loggen.WriteCSV(&buf, s.Records, loggen.TimeISO)
		case "json-array":
			loggen.WriteJSONArray(&buf, s.Records)
		}
		var progress bytes.Buffer
		data := buf.Bytes()
		r, err := Analyze(Options{Progress: &progress}, Input{Name: name, R: bytes.NewReader(data), Size: int64(len(data))})
		if err != nil {
			t.Fatalf("%s with BOM: %v", name, err)
		}
		if r.Totals.BadLines != 0 || r.Totals.Requests != int64(len(s.Records)) {
			t.Errorf("%s with BOM: totals %+v", name, r.Totals)
		}
	}
	var out bytes.Buffer
	p := newProgress(&out, 1000)
	p.draw(500, p.start.Add(time.Second))
	p.done(1000)
	if got := out.String(); !strings.Contains(got, " 50%") || !strings.Contains(got, "100%") || !strings.HasSuffix(got, "\n") {
		t.Errorf("progress output %q", got)
	}
}

// TestDiagnosticSettingsRecords reads Azure's diagnostic-settings shape
// (storage account / Event Hub): columns nested in "properties", the last
// error in "lastError", lower-camel names.
func TestDiagnosticSettingsRecords(t *testing.T) {
	line := func(ts string, code, backendCode int, reason string) string {
		le := ""
		if reason != "" {
			le = `,"lastError":{"elapsed":3,"source":"forward-request","reason":"` + reason + `","message":"Unable to connect to the remote server","section":"backend"}`
		}
		return `{"DeploymentVersion":"0.46.0","Level":4,"isRequestSuccess":false,"time":"` + ts + `","operationName":"Microsoft.ApiManagement/GatewayLogs","category":"GatewayLogs","durationMs":5,"callerIpAddress":"203.0.113.7","correlationId":"x","location":"West Europe","properties":{"method":"GET","url":"https://contoso.azure-api.net/orders/1","backendResponseCode":` +
			fmt.Sprint(backendCode) + `,"responseCode":` + fmt.Sprint(code) + `,"responseSize":100,"cache":"none","backendTime":3,"requestSize":0,"apiId":"orders","operationId":"get","backendMethod":"GET","backendUrl":"https://orders.internal/orders/1","backendProtocol":"HTTP/1.1"` + le + `},"resourceId":"/SUBSCRIPTIONS/X"}`
	}
	var b strings.Builder
	for i := range 600 {
		ts := time.Date(2024, 5, 1, 10, i/60, i%60, 0, time.UTC).Format(time.RFC3339)
		if i%2 == 0 && i >= 300 {
			b.WriteString(line(ts, 502, 0, "BackendConnectionFailure") + "\n")
		} else {
			b.WriteString(line(ts, 200, 200, "") + "\n")
		}
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	// The same records as JSON lines (storage account) and wrapped in
	// {"records": [...]} (Event Hub).
	for format, data := range map[string]string{
		FormatJSONLines:   b.String(),
		FormatJSONRecords: `{"records": [` + strings.Join(lines, ",\n") + `]}`,
	} {
		r := analyzeBytes(t, []byte(data))
		if r.Inputs[0].Format != format {
			t.Errorf("format %q, want %q", r.Inputs[0].Format, format)
		}
		if r.Totals.BadLines != 0 || r.Totals.Requests != 600 || r.Totals.BackendConnectionFailures != 150 {
			t.Fatalf("%s: totals %+v, bad %+v", format, r.Totals, r.BadLines)
		}
		if r.Destinations[0].BackendURL != "https://orders.internal" {
			t.Errorf("%s: destinations %+v", format, r.Destinations)
		}
	}
}

func TestLeadingBlankSpace(t *testing.T) {
	data := append(bytes.Repeat([]byte(" \n"), 5000), jsonl(t, generate(t, "snat-enforce"))...)
	r := analyzeBytes(t, data)
	if r.Totals.Requests != int64(len(generate(t, "snat-enforce").Records)) || r.Totals.BadLines != 0 {
		t.Errorf("totals %+v", r.Totals)
	}
}

func TestPartialThresholds(t *testing.T) {
	data := jsonl(t, generate(t, "snat-exhaustion"))
	r, err := Analyze(Options{Thresholds: &Thresholds{PortsPerInstance: 256}}, Input{Name: "x", R: bytes.NewReader(data)})
	if err != nil {
		t.Fatal(err)
	}
	if r.Thresholds.PortsPerInstance != 256 || r.Thresholds.WindowMinutes != 5 || r.Verdict != CauseSNATExhaustion {
		t.Errorf("thresholds %+v verdict %s", r.Thresholds, r.Verdict)
	}
	for _, m := range r.Mitigations {
		if strings.Contains(m.ExpectedEffect, "Inf") || strings.Contains(m.ExpectedEffect, "NaN") {
			t.Errorf("%s: %s", m.ID, m.ExpectedEffect)
		}
	}
}

func TestCSVDelimiters(t *testing.T) {
	s := generate(t, "snat-enforce")
	var buf bytes.Buffer
	loggen.WriteCSV(&buf, s.Records, loggen.TimeUS)
	for _, d := range []string{";", "\t"} {
		var out bytes.Buffer
		r := csv.NewReader(bytes.NewReader(buf.Bytes()))
		w := csv.NewWriter(&out)
		w.Comma = rune(d[0])
		recs, err := r.ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		w.WriteAll(recs)
		got := analyzeBytes(t, out.Bytes())
		if got.Totals.Requests != int64(len(s.Records)) || got.Totals.BadLines != 0 || got.Verdict != CauseSNATExhaustion {
			t.Errorf("delimiter %q: totals %+v verdict %s", d, got.Totals, got.Verdict)
		}
	}
}

// TestLongLine: a record longer than the read buffer is still read.
func TestLongLine(t *testing.T) {
	pad := strings.Repeat("x", 3*readBufferSize/2)
	data := `{"TimeGenerated":"2024-05-01T10:00:00Z","ResponseCode":200,"Pad":"` + pad + `"}` + "\n" +
		`{"TimeGenerated":"2024-05-01T10:00:01Z","ResponseCode":502,"LastErrorReason":"BackendConnectionFailure","Pad":"` + pad + `"}`
	r := analyzeBytes(t, []byte(data))
	if r.Totals.Requests != 2 || r.Totals.BackendConnectionFailures != 1 || r.Totals.BadLines != 0 {
		t.Errorf("totals %+v, bad %+v", r.Totals, r.BadLines)
	}
}

// An apimgw log of an enforced SNAT budget with no keep-alive under a tight
// loop: a few calls pass, then nearly every call fails at once within the
// same minute. From APIM's columns alone that reads as a backend gone down
// (no baseline, no load curve, over 95 % failing); apimgw's LastErrorDetail
// says its own port budget refused the connections, so the verdict is SNAT
// exhaustion.
func TestGatewaySNATDetailDecides(t *testing.T) {
	var buf bytes.Buffer
	start := time.Date(2026, 11, 25, 15, 49, 53, 0, time.UTC)
	for i := range 2000 {
		ts := start.Add(time.Duration(i) * 10 * time.Millisecond).Format("2006-01-02T15:04:05.000Z07:00")
		if i < 20 {
			fmt.Fprintf(&buf, `{"TimeGenerated":%q,"ResponseCode":200,"BackendUrl":"http://127.0.0.1:9001/1","BackendResponseCode":200,"BackendTime":2,"TotalTime":3,"IsRequestSuccess":true}`+"\n", ts)
			continue
		}
		fmt.Fprintf(&buf, `{"TimeGenerated":%q,"ResponseCode":502,"BackendUrl":"http://127.0.0.1:9001/1","BackendResponseCode":0,"BackendTime":0,"TotalTime":0,"IsRequestSuccess":false,"LastErrorReason":"BackendConnectionFailure","LastErrorMessage":"Unable to connect to the remote server","LastErrorSource":"forward-request","LastErrorSection":"backend","LastErrorDetail":"connect 127.0.0.1:9001: connection not established: snat port budget exhausted (budget of 20 ports, 20 held)"}`+"\n", ts)
	}
	withDetail := buf.Bytes()
	r := analyzeBytes(t, withDetail)
	if r.Verdict != CauseSNATExhaustion || len(r.Incidents) != 1 {
		t.Fatalf("verdict %s, incidents %+v; want snat-exhaustion", r.Verdict, r.Incidents)
	}
	if m := r.Incidents[0].Metrics; m.GatewaySNATShare != 1 || !strings.Contains(strings.Join(r.Incidents[0].Evidence, "\n"), "apimgw's own SNAT port budget") {
		t.Errorf("share %v, evidence %q", m.GatewaySNATShare, r.Incidents[0].Evidence)
	}
	// The budget the detail names replaces the default 1,024 in the port
	// figures, unless one was given.
	if r.Thresholds.PortsPerInstance != 20 || !strings.Contains(strings.Join(r.Incidents[0].Evidence, "\n"), "(budget 20 per instance") {
		t.Errorf("budget %d, evidence %q; want the log's 20", r.Thresholds.PortsPerInstance, r.Incidents[0].Evidence)
	}
	given := DefaultThresholds()
	given.PortsPerInstance = 64
	if r, err := Analyze(Options{Thresholds: &given}, Input{Name: "log", R: bytes.NewReader(withDetail), Size: int64(len(withDetail))}); err != nil || r.Thresholds.PortsPerInstance != 64 {
		t.Errorf("--snat-ports 64 given: budget %v (%v), want 64", r.Thresholds.PortsPerInstance, err)
	}
	// Without the detail (an Azure export, or an older apimgw), the same
	// pattern is a backend that stopped answering.
	without := bytes.ReplaceAll(withDetail, []byte(`,"LastErrorDetail":"connect 127.0.0.1:9001: connection not established: snat port budget exhausted (budget of 20 ports, 20 held)"`), nil)
	if r := analyzeBytes(t, without); r.Verdict != CauseBackendErrors {
		t.Errorf("without LastErrorDetail: verdict %s, want backend-errors", r.Verdict)
	}
}
