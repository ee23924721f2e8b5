package sim

import (
	"slices"
	"testing"
	"time"
)

func TestCompare(t *testing.T) {
	tests := []struct {
		name     string
		s        Scenario
		first    []string // acceptable rank-1 mitigations
		absent   []string // mitigations already in place
		allFixed []string // mitigations that must avoid every failure
	}{
		{"incident", scenario(func(s *Scenario) { s.Rate, s.Latency = 20, 200*time.Millisecond }),
			[]string{"connection-pooling"}, nil, []string{"connection-pooling", "nat-gateway"}},
		{"already-pooled-too-many-calls", scenario(func(s *Scenario) {
			s.Rate, s.Latency, s.Pooling, s.Duration = 12000, 100*time.Millisecond, true, 5*time.Minute
		}), []string{"response-caching", "multiple-backend-ips", "scale-units", "nat-gateway"}, []string{"connection-pooling"}, []string{"nat-gateway"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Compare(tt.s)
			if err != nil {
				t.Fatal(err)
			}
			if c.Baseline.Summary.Failed == 0 {
				t.Fatal("baseline has no failures: nothing to compare")
			}
			ids := map[string]Outcome{}
			for i, o := range c.Outcomes {
				ids[o.ID] = o
				if o.Rank != i+1 {
					t.Errorf("outcome %d has rank %d", i, o.Rank)
				}
				if i > 0 && c.Outcomes[i-1].FailuresAvoided < o.FailuresAvoided {
					t.Errorf("not ranked by failures avoided: %s before %s", c.Outcomes[i-1].ID, o.ID)
				}
				if o.FailuresAvoided != c.Baseline.Summary.Failed-o.Summary.Failed {
					t.Errorf("%s: failuresAvoided %d inconsistent", o.ID, o.FailuresAvoided)
				}
				if o.Change == "" || o.Title == "" || o.Cost == "" {
					t.Errorf("%s lacks change, title or cost: %+v", o.ID, o)
				}
			}
			if !slices.Contains(tt.first, c.Outcomes[0].ID) {
				t.Errorf("rank 1 = %s, want one of %v", c.Outcomes[0].ID, tt.first)
			}
			for _, id := range tt.absent {
				if _, ok := ids[id]; ok {
					t.Errorf("%s is already in place but was compared", id)
				}
			}
			for _, id := range tt.allFixed {
				if o, ok := ids[id]; !ok || o.Summary.Failed != 0 {
					t.Errorf("%s: failed %d, want 0", id, o.Summary.Failed)
				}
			}
		})
	}
}
