package resilience

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestFakeClockFiresInOrder(t *testing.T) {
	clk := NewFakeClock(t0)
	var got []time.Duration
	record := func() { got = append(got, clk.Now().Sub(t0)) }
	clk.AfterFunc(3*time.Second, record)
	clk.AfterFunc(time.Second, record)
	stopped := clk.AfterFunc(2*time.Second, record)
	if !stopped.Stop() || stopped.Stop() {
		t.Fatal("Stop should report true once, then false")
	}
	clk.Advance(5 * time.Second)
	if len(got) != 2 || got[0] != time.Second || got[1] != 3*time.Second {
		t.Fatalf("fired at %v, want [1s 3s]", got)
	}
	if clk.Now() != t0.Add(5*time.Second) || clk.Pending() != 0 {
		t.Fatalf("now %v pending %d", clk.Now(), clk.Pending())
	}
}

func TestSleep(t *testing.T) {
	tests := []struct {
		name    string
		d       time.Duration
		cancel  bool
		wantErr error
	}{
		{"zero", 0, false, nil},
		{"elapses", time.Minute, false, nil},
		{"cancelled", time.Minute, true, context.Canceled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := NewFakeClock(t0)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- Sleep(ctx, clk, tc.d) }()
			if tc.d > 0 {
				for clk.Pending() == 0 {
					time.Sleep(time.Millisecond)
				}
				if tc.cancel {
					cancel()
				} else {
					clk.Advance(tc.d)
				}
			}
			if err := <-done; !errors.Is(err, tc.wantErr) {
				t.Fatalf("Sleep = %v, want %v", err, tc.wantErr)
			}
		})
	}
	if err := Sleep(context.Background(), SystemClock{}, time.Millisecond); err != nil {
		t.Fatalf("real Sleep: %v", err)
	}
}

func TestNewMetricsTwiceOnOneRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	m1, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	m2, err := NewMetrics(reg) // a reload
	if err != nil {
		t.Fatalf("second NewMetrics: %v", err)
	}
	m1.trip("b", "r")
	m2.trip("b", "r")
	if got := metricValue(t, reg, "apimgw_circuit_breaker_trips_total", "backend", "b"); got != 2 {
		t.Fatalf("trips = %v, want 2 (shared collectors)", got)
	}
	var nilMetrics *Metrics
	nilMetrics.trip("b", "r") // a nil *Metrics records nothing and does not panic
	if _, err := NewMetrics(nil); err != nil {
		t.Fatal(err)
	}
}
