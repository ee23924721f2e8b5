package diagnose

import (
	"bytes"
	"github.com/apimgw/apimgw/internal/diagnose/loggen"
	"io"
	"runtime"
	"testing"
)

// BenchmarkAnalyzeJSONLines measures end-to-end throughput on apimgw JSON
// lines (the gateway's own log format): go test -bench AnalyzeJSONLines -benchmem
func BenchmarkAnalyzeJSONLines(b *testing.B) {
	data := jsonl(b, generate(b, "snat-exhaustion"))
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Analyze(Options{}, Input{Name: "bench", R: bytes.NewReader(data)}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScanLine measures the field scanner alone on one record.
func BenchmarkScanLine(b *testing.B) {
	data := jsonl(b, generate(b, "snat-exhaustion"))
	line := data[:bytes.IndexByte(data, '\n')+1]
	sc := scanner{dests: newDestTable()}
	var e entry
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		if err := sc.scanObject(line, &e); err != nil {
			b.Fatal(err)
		}
	}
}

// repeatReader yields data n times, as one long log.
type repeatReader struct {
	data []byte
	n    int
	off  int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, io.EOF
	}
	k := copy(p, r.data[r.off:])
	r.off += k
	if r.off == len(r.data) {
		r.off = 0
		r.n--
	}
	return k, nil
}

// TestMemoryFlat checks that memory does not grow with input size: the
// same minutes read 1× and 20× leave the same live heap after analysis.
func TestMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("reads ~100 MB")
	}
	data := jsonl(t, generate(t, "snat-enforce"))
	heapAfter := func(copies int) (uint64, *Report) {
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		r, err := Analyze(Options{}, Input{Name: "rep", R: &repeatReader{data: data, n: copies}})
		if err != nil {
			t.Fatal(err)
		}
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		// TotalAlloc counts every byte allocated during the run.
		return after.TotalAlloc - before.TotalAlloc, r
	}
	small, r1 := heapAfter(1)
	large, r20 := heapAfter(20)
	if r20.Totals.Requests != 20*r1.Totals.Requests {
		t.Fatalf("requests %d, want %d", r20.Totals.Requests, 20*r1.Totals.Requests)
	}
	// Allocation is per minute and per destination, not per record: 20×
	// the input may allocate a little more (buffers), never 20×.
	if large > 2*small+1<<20 {
		t.Errorf("allocated %d bytes for 20× input vs %d for 1×: memory grows with input", large, small)
	}
	t.Logf("allocated %d B for %d B of input, %d B for %d B", small, len(data), large, 20*len(data))
}

// BenchmarkAnalyzeCSV measures a Log Analytics CSV export (encoding/csv).
func BenchmarkAnalyzeCSV(b *testing.B) {
	var buf bytes.Buffer
	if err := loggen.WriteCSV(&buf, generate(b, "snat-exhaustion").Records, loggen.TimeUS); err != nil {
		b.Fatal(err)
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Analyze(Options{}, Input{Name: "bench.csv", R: bytes.NewReader(data)}); err != nil {
			b.Fatal(err)
		}
	}
}
