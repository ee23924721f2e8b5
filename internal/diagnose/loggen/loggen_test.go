package loggen

import (
	"bytes"
	"github.com/apimgw/apimgw/internal/logs"
	"slices"
	"testing"
)

func TestGenerate(t *testing.T) {
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			a, err := Generate(name, 7)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := Generate(name, 7)
			if len(a.Records) == 0 || len(a.Records) != len(b.Records) || a.Records[len(a.Records)/2].CorrelationId != b.Records[len(b.Records)/2].CorrelationId {
				t.Fatalf("not deterministic: %d vs %d records", len(a.Records), len(b.Records))
			}
			if !slices.IsSortedFunc(a.Records, func(x, y logs.Record) int { return x.TimeGenerated.Compare(y.TimeGenerated) }) {
				t.Error("records not in time order")
			}
			if (name == "healthy") != (len(a.Labels) == 0) {
				t.Errorf("labels %+v", a.Labels)
			}
			for _, l := range a.Labels {
				if !l.End.After(l.Start) || l.Start.Before(Epoch()) {
					t.Errorf("bad label %+v", l)
				}
			}
			for _, w := range []func(*bytes.Buffer) error{
				func(b *bytes.Buffer) error { return WriteJSONLines(b, a.Records[:10]) },
				func(b *bytes.Buffer) error { return WriteCSV(b, a.Records[:10], TimeUS) },
				func(b *bytes.Buffer) error { return WriteJSONTables(b, a.Records[:10]) },
				func(b *bytes.Buffer) error { return WriteJSONArray(b, a.Records[:10]) },
			} {
				var buf bytes.Buffer
				if err := w(&buf); err != nil || buf.Len() == 0 {
					t.Errorf("write: %v, %d bytes", err, buf.Len())
				}
			}
		})
	}
	if _, err := Generate("nope", 1); err == nil {
		t.Error("unknown scenario accepted")
	}
}
