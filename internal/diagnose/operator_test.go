package diagnose

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"
)

// azureCSV renders an Azure ApiManagementGatewayLogs CSV export: from
// start, one request every step, failing with BackendConnectionFailure
// while fail(i) says so, all to BackendUrl host, with BackendId id.
func azureCSV(start time.Time, n int, step time.Duration, host, id string, fail func(int) bool) []byte {
	var b bytes.Buffer
	b.WriteString("TimeGenerated [UTC],ResponseCode,BackendResponseCode,BackendTime,TotalTime,BackendUrl,BackendId,LastErrorReason,LastErrorMessage\n")
	for i := range n {
		ts := start.Add(time.Duration(i) * step).Format("2006-01-02T15:04:05.000Z")
		if fail(i) {
			fmt.Fprintf(&b, "%s,502,0,0,1,https://%s/orders/%d,%s,BackendConnectionFailure,Unable to connect to the remote server\n", ts, host, i, id)
		} else {
			fmt.Fprintf(&b, "%s,200,200,120,121,https://%s/orders/%d,%s,,\n", ts, host, i, id)
		}
	}
	return b.Bytes()
}

// TestMitigationsNameTheLogsBackend: an Azure export whose BackendId is
// "orders-v2" gets snippets that change backend orders-v2, not a new entry
// "orders" made up from the host orders.contoso.internal; the same log
// without a BackendId column keeps the entry built from the URL.
func TestMitigationsNameTheLogsBackend(t *testing.T) {
	start := time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)
	// 40 minutes, 2 requests/s; from minute 20 to 30 calls fail in bursts
	// while others pass (ports run out intermittently under a peak).
	fail := func(i int) bool { return i >= 2400 && i < 3600 && i%3 != 0 }
	log := azureCSV(start, 4800, 500*time.Millisecond, "orders.contoso.internal", "orders-v2", fail)
	r := analyzeBytes(t, log)
	if len(r.Incidents) == 0 {
		t.Fatalf("no incident: verdict %s", r.Verdict)
	}
	in := r.Incidents[0]
	if in.BackendID != "orders-v2" || r.Destinations[0].BackendID != "orders-v2" {
		t.Errorf("incident backendId %q, destination %q; want orders-v2", in.BackendID, r.Destinations[0].BackendID)
	}
	n := 0
	for _, m := range r.Mitigations {
		if !strings.HasPrefix(m.Config, "backends:") {
			continue
		}
		n++
		if !strings.HasPrefix(m.Config, "backends:\n  orders-v2:   # your existing backend") || strings.Contains(m.Config, "url:") {
			t.Errorf("mitigation %s:\n%s", m.ID, m.Config)
		}
	}
	if n == 0 {
		t.Fatalf("no backends: snippet among %d mitigations", len(r.Mitigations))
	}

	// Without BackendId: a new entry named after the host, with its URL.
	noID := bytes.ReplaceAll(log, []byte(",orders-v2,"), []byte(",,"))
	r = analyzeBytes(t, noID)
	for _, m := range r.Mitigations {
		if strings.HasPrefix(m.Config, "backends:") && !strings.HasPrefix(m.Config, "backends:\n  orders:\n    url: https://orders.contoso.internal\n") {
			t.Errorf("without BackendId, mitigation %s:\n%s", m.ID, m.Config)
		}
	}
	if r.Incidents[0].BackendID != "" {
		t.Errorf("backendId %q from a log without one", r.Incidents[0].BackendID)
	}
}

// TestIncidentClippedToLog: a log from 10:02:30 to 10:03:59 whose
// requests all fail has one incident, and it spans the records, not the
// 10:00–10:05 analysis window around them.
func TestIncidentClippedToLog(t *testing.T) {
	start := time.Date(2026, 11, 2, 10, 2, 30, 0, time.UTC)
	log := azureCSV(start, 90, time.Second, "orders.contoso.internal", "orders", func(int) bool { return true })
	r := analyzeBytes(t, log)
	if len(r.Incidents) != 1 {
		t.Fatalf("incidents %+v", r.Incidents)
	}
	in := r.Incidents[0]
	last := start.Add(89 * time.Second)
	if !in.Start.Equal(start) || !in.End.Equal(last) {
		t.Errorf("incident %s – %s, want the log's %s – %s", in.Start, in.End, start, last)
	}
	var text bytes.Buffer
	if err := WriteText(&text, r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "1. 10:02 – 10:03") {
		t.Errorf("text report incident line:\n%s", text.String())
	}
}

// TestShortLogChartsHaveData: a 90-second log has fine bins (2 s here:
// the finest width with at most 60 bins), every request in them, and its
// HTML charts draw lines through several points and bars in several
// columns; the text chart is per 2 s.
func TestShortLogChartsHaveData(t *testing.T) {
	start := time.Date(2026, 11, 2, 10, 2, 30, 0, time.UTC)
	log := azureCSV(start, 900, 100*time.Millisecond, "orders.contoso.internal", "orders", func(i int) bool { return i > 600 && i%2 == 0 })
	r := analyzeBytes(t, log)
	if r.Series.FineBinMs != 2000 || len(r.Series.Fine) != 45 {
		t.Fatalf("fine series: %d bins of %d ms, want 45 of 2000", len(r.Series.Fine), r.Series.FineBinMs)
	}
	var sum, failed int64
	nonEmpty := 0
	for _, p := range r.Series.Fine {
		sum += p.Requests
		failed += p.Failed
		if p.Requests > 0 {
			nonEmpty++
		}
	}
	if sum != r.Totals.Requests || failed != r.Totals.Failed || nonEmpty != 45 {
		t.Errorf("fine bins hold %d requests (%d failed) in %d bins; totals %d (%d)", sum, failed, nonEmpty, r.Totals.Requests, r.Totals.Failed)
	}
	var page bytes.Buffer
	if err := WriteHTML(&page, r); err != nil {
		t.Fatal(err)
	}
	html := page.String()
	if !strings.Contains(html, "Requests per 2 s") {
		t.Error("HTML chart title does not name the 2 s bins")
	}
	// The backend-time polyline has one point per bin.
	i := strings.Index(html, `<polyline fill="none" stroke="#2b6cb0" stroke-width="1.8" points="`)
	if i < 0 {
		t.Fatal("no backend time line")
	}
	pts := strings.Fields(html[i+len(`<polyline fill="none" stroke="#2b6cb0" stroke-width="1.8" points="`) : i+strings.Index(html[i:], `"/>`)])
	if len(pts) != 45 {
		t.Errorf("backend time line has %d points, want 45", len(pts))
	}
	if !strings.Contains(html, `class="xl">10:02:40<`) {
		t.Error("x axis does not label seconds")
	}
	var text bytes.Buffer
	if err := WriteText(&text, r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "REQUESTS PER 2 S") || !strings.Contains(text.String(), "(2 s/column)") {
		t.Errorf("text chart:\n%s", text.String())
	}

	// A 20-minute log has no fine series: one-minute bins chart it.
	long := azureCSV(start, 1200, time.Second, "orders.contoso.internal", "orders", func(int) bool { return false })
	if r := analyzeBytes(t, long); r.Series.Fine != nil || r.Series.FineBinMs != 0 {
		t.Errorf("20-minute log: fine series of %d bins", len(r.Series.Fine))
	}
}
