package logs

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	recs := []Record{
		{},
		{
			TimeGenerated: time.Date(2026, 11, 2, 8, 0, 0, 123e6, time.UTC), CorrelationId: "c1", Method: "GET",
			Url: "http://x/a?b=<c>&d", ResponseCode: 502, ResponseSize: 10, BackendMethod: "GET", BackendUrl: "http://b:80/a",
			BackendTime: 12, ClientTime: 1, TotalTime: 14, Cache: CacheNone, CallerIpAddress: "127.0.0.1",
			ApiId: "orders", OperationId: "get", ProductId: "p", ApimSubscriptionId: "alice", BackendId: "b",
			LastErrorReason: "BackendConnectionFailure", LastErrorMessage: "Unable to connect \"x\"\n\u2028\xff",
			LastErrorSource: "forward-request", LastErrorSection: "backend",
			LastErrorDetail: "connect 127.0.0.1:9001: connection not established: snat port budget exhausted",
			Errors:          []Error{{Source: "forward-request", Reason: "BackendConnectionFailure", Message: "m", Section: "backend", Elapsed: 3}},
		},
	}
	for i, r := range recs {
		got := r.AppendJSON(nil)
		var back Record
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("%d: invalid JSON %s: %v", i, got, err)
		}
		want := r
		want.TimeGenerated = want.TimeGenerated.Truncate(time.Millisecond)
		if strings.ContainsRune(r.LastErrorMessage, '\xff') || strings.Contains(r.LastErrorMessage, "\xff") {
			want.LastErrorMessage = strings.ToValidUTF8(want.LastErrorMessage, "\ufffd")
		}
		if !reflect.DeepEqual(back.TimeGenerated.UTC(), want.TimeGenerated.UTC()) {
			t.Errorf("%d: time %v, want %v", i, back.TimeGenerated, want.TimeGenerated)
		}
		back.TimeGenerated, want.TimeGenerated = time.Time{}, time.Time{}
		if !reflect.DeepEqual(back, want) {
			t.Errorf("%d: round trip\n got %+v\nwant %+v", i, back, want)
		}
	}
}

func TestWriterSamplingKeepsFailures(t *testing.T) {
	var out bytes.Buffer
	w := NewWriter(&out, nil, 0)
	w.Write(&Record{IsRequestSuccess: true, CorrelationId: "ok"})
	w.Write(&Record{IsRequestSuccess: false, CorrelationId: "failed"})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], `"CorrelationId":"failed"`) {
		t.Fatalf("sampling 0 should keep only failures, got %q", out.String())
	}
}

func BenchmarkAppendJSON(b *testing.B) {
	r := Record{TimeGenerated: time.Now(), CorrelationId: "0f8fad5b-d9cb-469f-a165-70867728950e", Method: "GET", Url: "http://localhost:8080/orders/42", ResponseCode: 200, BackendUrl: "http://127.0.0.1:9001/orders/42", Cache: "none", IsRequestSuccess: true}
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf = r.AppendJSON(buf[:0])
	}
}

// BenchmarkWriteLine is a BenchmarkProxyPath request's log line as Write
// encodes it (the timestamp cached within the second).
func BenchmarkWriteLine(b *testing.B) {
	r := Record{TimeGenerated: time.Now(), CorrelationId: "0f8fad5b-d9cb-469f-a165-70867728950e", Method: "GET",
		Url: "http://127.0.0.1:38659/bench", ResponseCode: 200, ResponseSize: 64, BackendMethod: "GET",
		BackendUrl: "http://127.0.0.1:45985/bench", BackendResponseCode: 200, Cache: CacheNone,
		CallerIpAddress: "127.0.0.1", ApiId: "bench", OperationId: "all", IsRequestSuccess: true}
	var lb lineBuf
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		lb.line = r.appendJSON(lb.line[:0], &lb.stamp)
	}
}

// TestAppendTimestamp: the hand-written TimeGenerated format is
// AppendFormat's, for times in and out of UTC, at millisecond edges, and
// outside four-digit years.
func TestAppendTimestamp(t *testing.T) {
	east := time.FixedZone("east", 5*3600+30*60)
	times := []time.Time{
		time.Date(2026, 11, 25, 18, 28, 47, 339_999_999, time.UTC),
		time.Date(1999, 12, 31, 23, 59, 59, 999_999_999, east),
		time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 1_000_000, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
		{},
	}
	for i := range 1000 {
		times = append(times, time.Unix(int64(i)*7919*86413, int64(i)*999_983).In(east))
	}
	for _, tm := range times {
		got, want := string(appendTimestamp(nil, tm)), tm.UTC().Format(timestampLayout)
		if got != want {
			t.Fatalf("%v: %q, want %q", tm, got, want)
		}
	}
}

// AppendJSONString writes what encoding/json writes for any string, byte
// for byte: escapes, HTML characters, U+2028/U+2029 and invalid UTF-8.
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", "a\"b\\c<d>&e", "\x00\x1f\x7f\n\r\t", "\u2028\u2029", "\xff\xfe", "é€𝄞"} {
		f.Add(s)
	}
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	f.Add(string(all))
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := AppendJSONString(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("%q: got %s, encoding/json %s", s, got, want)
		}
	})
}

// TestAppendJSONStringEveryByteEveryPlace puts each byte value, and a
// multi-byte rune, at each place of plain strings of every length the
// word-at-a-time scan treats differently (short, whole words, tails).
func TestAppendJSONStringEveryByteEveryPlace(t *testing.T) {
	for n := 1; n <= 26; n++ {
		for pos := 0; pos < n; pos++ {
			b := []byte(strings.Repeat("a", n))
			check := func(b []byte) {
				t.Helper()
				s := string(b)
				want, _ := json.Marshal(s)
				if got := AppendJSONString(nil, s); !bytes.Equal(got, want) {
					t.Fatalf("%q: got %s, encoding/json %s", s, got, want)
				}
			}
			for c := range 256 {
				b[pos] = byte(c)
				check(b)
			}
			if pos+3 <= n {
				copy(b[pos:], "\u2028")
				check(b)
				copy(b[pos:], "€")
				check(b)
			}
		}
	}
}
