package gateway

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// TestRequestMetricsCount checks the request metrics against what was
// sent: successes (whose series the gateway resolves once per operation),
// backend errors and unmatched requests, each in its own series, and the
// duration histograms' counts. A reload keeps counting into the same series.
func TestRequestMetricsCount(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/items/bad" {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.Write([]byte("ok"))
	}))
	defer backend.Close()
	yaml := `
apis:
  - id: m
    path: m
    serviceUrl: ` + backend.URL + `
    subscriptionRequired: false
    operations: [{id: get, method: GET, urlTemplate: "/items/{id}"}]
`
	h := start(t, map[string]string{"gateway.yaml": yaml})
	get := func(path string, want int) {
		t.Helper()
		if resp, _ := h.do("GET", path, nil, nil); resp.StatusCode != want {
			t.Fatalf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
	for range 5 {
		get("/m/items/1", 200)
	}
	get("/m/items/bad", 500)
	get("/m/nowhere", 404)
	if err := h.gw.ReloadFile(filepath.Join(h.dir, "gateway.yaml")); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		get("/m/items/2", 200)
	}
	h.records() // waits for the requests to finish

	m := h.gw.metrics
	for _, c := range []struct {
		labels []string
		want   float64
	}{
		{[]string{"m", "get", "2xx", "2xx", ""}, 7},
		{[]string{"m", "get", "5xx", "5xx", ""}, 1},
		{[]string{"m", "", "4xx", "none", "OperationNotFound"}, 1},
	} {
		var got dto.Metric
		if err := m.Requests.WithLabelValues(c.labels...).Write(&got); err != nil {
			t.Fatal(err)
		}
		if got.GetCounter().GetValue() != c.want {
			t.Errorf("apimgw_requests_total%v = %v, want %v", c.labels, got.GetCounter().GetValue(), c.want)
		}
	}
	series := make(chan prometheus.Metric, 16)
	m.Requests.Collect(series)
	if n := len(series); n != 3 {
		t.Errorf("%d request series, want 3", n)
	}
	if got := histogramCount(t, m.Duration.WithLabelValues("m")); got != 9 {
		t.Errorf("request duration count %d, want 9", got)
	}
	if got := histogramCount(t, m.BackendDuration.WithLabelValues("m")); got != 8 {
		t.Errorf("backend duration count %d, want 8 (the 404 called no backend)", got)
	}
}

func histogramCount(t *testing.T, o prometheus.Observer) uint64 {
	t.Helper()
	var m dto.Metric
	if err := o.(prometheus.Metric).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount()
}
