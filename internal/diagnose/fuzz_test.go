package diagnose

import (
	"bytes"
	"compress/gzip"
	"io"
	"testing"
)

func FuzzScanObject(f *testing.F) {
	f.Add([]byte(`{"TimeGenerated":"2026-11-02T08:00:00.123Z","ResponseCode":502,"BackendResponseCode":0,"BackendUrl":"https://a.b:8443/x","LastErrorReason":"BackendConnectionFailure","Errors":[{"Source":"x"}]}`))
	f.Add([]byte(`{"TimeGenerated":"5/1/2024, 10:00:00.000 AM","ResponseCode":"200","BackendTime":12.5}`))
	f.Add([]byte(`{"a":{"b":[1,2,{"c":"\"}"}]},"TimeGenerated":"2026-11-02 08:00:00"}`))
	f.Add([]byte(`{`))
	f.Fuzz(func(t *testing.T, line []byte) {
		sc := scanner{dests: newDestTable()}
		var e entry
		if err := sc.scanObject(line, &e); err == nil {
			if e.dest >= int32(len(sc.dests.names)) {
				t.Fatalf("dest %d out of range", e.dest)
			}
			if e.backendTime < 0 || e.totalTime < 0 {
				t.Fatalf("negative times %+v", e)
			}
		}
	})
}

func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"2024-05-01T10:00:00.000Z", "5/1/2024, 10:00:00.000 PM", "2024-05-01T12:00:00+02:00", "1/1/1, 1:1:1"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		parseTime(b, 0)
	})
}

// FuzzAnalyze feeds arbitrary bytes (as any format, also gzip) to the
// whole pipeline: it must return a report or an error, never panic.
func FuzzAnalyze(f *testing.F) {
	f.Add([]byte("{\"TimeGenerated\":\"2026-11-02T08:00:00Z\",\"ResponseCode\":502,\"LastErrorReason\":\"BackendConnectionFailure\",\"BackendUrl\":\"http://x\"}\n"))
	f.Add([]byte("TimeGenerated [UTC],ResponseCode,BackendUrl\n\"5/1/2024, 10:00:00.000 AM\",200,https://a\n"))
	f.Add([]byte(`{"tables":[{"name":"t","columns":[{"name":"TimeGenerated"},{"name":"ResponseCode"}],"rows":[["2024-05-01T10:00:00Z",503]]}]}`))
	f.Add([]byte(`[{"TimeGenerated":"2024-05-01T10:00:00Z","ResponseCode":"429"}]`))
	f.Add([]byte(`{"records":[{"time":"2024-05-01T10:00:00Z","properties":{"responseCode":502,"lastError":{"reason":"BackendConnectionFailure"}}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if r, err := Analyze(Options{}, Input{Name: "fuzz", R: bytes.NewReader(data)}); err == nil {
			for _, write := range []func(io.Writer, *Report) error{WriteJSON, WriteText, WriteHTML} {
				if err := write(io.Discard, r); err != nil {
					t.Fatalf("render: %v", err)
				}
			}
		}
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		zw.Write(data)
		zw.Close()
		Analyze(Options{}, Input{Name: "fuzz.gz", R: bytes.NewReader(gz.Bytes()[:len(gz.Bytes())*3/4])})
	})
}
