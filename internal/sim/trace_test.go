package sim

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestReadTrace(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name      string
		in        string
		arrivals  []time.Duration
		latencies []time.Duration
		err       string
	}{
		{"json-lines", `{"TimeGenerated":"2026-11-02T08:00:01.500Z","BackendResponseCode":200,"BackendTime":120}

{"TimeGenerated":"2026-11-02T08:00:00.000Z","ResponseCode":502,"BackendResponseCode":0,"BackendTime":0}
`, []time.Duration{0, 1500 * ms}, []time.Duration{120 * ms}, ""},
		{"csv-export", "\ufeffTimeGenerated [UTC],BackendTime,BackendResponseCode,Url\n" +
			"\"11/2/2026, 8:00:00.250 AM\",80,200,https://x/a\n" +
			"2026-11-02T08:00:00.000Z,,,https://x/b\n" +
			"2026-11-02T08:00:02Z,95.5,201,https://x/c\n",
			[]time.Duration{0, 250 * ms, 2000 * ms}, []time.Duration{80 * ms, 95500 * time.Microsecond}, ""},
		{"azure-json", `{"tables":[{"name":"PrimaryResult","columns":[{"name":"TimeGenerated","type":"datetime"},
			{"name":"BackendResponseCode","type":"int"},{"name":"BackendTime","type":"long"}],
			"rows":[["2026-11-02T08:00:00.5Z",200,30],["2026-11-02T08:00:00Z",null,null]]}]}`,
			[]time.Duration{0, 500 * ms}, []time.Duration{30 * ms}, ""},
		{"bad-json-line", "{\"TimeGenerated\":\"2026-11-02T08:00:00Z\"}\n{oops\n", nil, nil, "x.log:2: not a gateway log record"},
		{"no-time", "{\"ResponseCode\":200}\n", nil, nil, "x.log:1: record has no TimeGenerated"},
		{"csv-bad-time", "TimeGenerated,BackendTime\nyesterday,5\n", nil, nil, "x.log:2: TimeGenerated \"yesterday\""},
		{"csv-no-time-column", "Url,BackendTime\nhttps://x,5\n", nil, nil, "x.log:1: not an ApiManagementGatewayLogs export"},
		{"azure-bad-row", `{"tables":[{"columns":[{"name":"TimeGenerated"}],"rows":[["2026-11-02T08:00:00Z"],[7]]}]}`, nil, nil, "x.log: row 2"},
		{"empty", "  \n", nil, nil, "x.log: no log records"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, err := ReadTrace(strings.NewReader(tt.in), "x.log")
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error = %v, want it to contain %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(tr.Arrivals, tt.arrivals) || !slices.Equal(tr.Latencies, tt.latencies) {
				t.Errorf("arrivals %v latencies %v; want %v %v", tr.Arrivals, tr.Latencies, tt.arrivals, tt.latencies)
			}
		})
	}
}

func TestReplayCounts(t *testing.T) {
	s := time.Second
	tests := []struct {
		name  string
		arr   []time.Duration
		steps int
		want  []float64
	}{
		{"once", []time.Duration{0, s, 2 * s}, 3, []float64{1, 1, 1}},
		{"repeated-with-a-gap", []time.Duration{0, s}, 5, []float64{1, 1, 1, 1, 1}},
		{"same-instant-replayed-once", []time.Duration{0, 0, 0}, 4, []float64{3, 0, 0, 0}},
		{"truncated", []time.Duration{0, 3 * s, 9 * s}, 4, []float64{1, 0, 0, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := replayCounts(&Trace{Arrivals: tt.arr}, 1, tt.steps)
			if !slices.Equal(got, tt.want) {
				t.Errorf("counts = %v, want %v", got, tt.want)
			}
		})
	}
}
