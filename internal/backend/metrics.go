package backend

import (
	"maps"

	"github.com/prometheus/client_golang/prometheus"
)

// collector exports the pools and port ledgers at scrape time, so the
// request path never touches a metric except the wait histogram.
type collector struct {
	m *Manager

	conns      *prometheus.Desc
	opened     *prometheus.Desc
	closed     *prometheus.Desc
	queue      *prometheus.Desc
	portsInUse *prometheus.Desc
	budget     *prometheus.Desc
	exhausted  *prometheus.Desc
}

func newCollector(m *Manager) *collector {
	dh := []string{"destination", "host"}
	d := []string{"destination"}
	return &collector{
		m: m,
		conns: prometheus.NewDesc("apimgw_backend_connections",
			"Backend connections per destination IP:port and host, by state (open, idle, in_use).",
			[]string{"destination", "host", "state"}, nil),
		opened: prometheus.NewDesc("apimgw_backend_connections_opened_total",
			"Backend connections opened.", dh, nil),
		closed: prometheus.NewDesc("apimgw_backend_connections_closed_total",
			"Backend connections closed.", dh, nil),
		queue: prometheus.NewDesc("apimgw_backend_wait_queue_length",
			"Requests waiting for a backend connection.", dh, nil),
		portsInUse: prometheus.NewDesc("apimgw_snat_ports_in_use",
			"Source ports held towards a destination IP:port: open connections plus closed ones inside the SNAT reclaim window.", d, nil),
		budget: prometheus.NewDesc("apimgw_snat_port_budget",
			"SNAT port budget per destination IP:port (snat.ports).", d, nil),
		exhausted: prometheus.NewDesc("apimgw_snat_port_exhaustion_total",
			"New backend connections refused because the SNAT port budget was used (snat.enforce).", d, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.conns, c.opened, c.closed, c.queue, c.portsInUse, c.budget, c.exhausted} {
		ch <- d
	}
}

// Collect implements prometheus.Collector. Pools of one destination and
// host (one per client certificate) are summed into one series.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	stats := c.m.Stats()
	c.m.mu.Lock()
	retired := maps.Clone(c.m.retired)
	c.m.mu.Unlock()
	var order []seriesKey
	sums := map[seriesKey]*DestinationStats{}
	for _, s := range stats {
		k := seriesKey{s.Destination, s.Host}
		t, ok := sums[k]
		if !ok {
			cp := s
			r := retired[k]
			cp.Opened += r.opened
			cp.Closed += r.closed
			sums[k] = &cp
			order = append(order, k)
			continue
		}
		t.Open += s.Open
		t.Idle += s.Idle
		t.InUse += s.InUse
		t.Opened += s.Opened
		t.Closed += s.Closed
		t.WaitQueue += s.WaitQueue
	}
	seen := map[string]bool{}
	for _, k := range order {
		s := sums[k]
		ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, float64(s.Open), s.Destination, s.Host, "open")
		ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, float64(s.Idle), s.Destination, s.Host, "idle")
		ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, float64(s.InUse), s.Destination, s.Host, "in_use")
		ch <- prometheus.MustNewConstMetric(c.opened, prometheus.CounterValue, float64(s.Opened), s.Destination, s.Host)
		ch <- prometheus.MustNewConstMetric(c.closed, prometheus.CounterValue, float64(s.Closed), s.Destination, s.Host)
		ch <- prometheus.MustNewConstMetric(c.queue, prometheus.GaugeValue, float64(s.WaitQueue), s.Destination, s.Host)
		if seen[s.Destination] {
			continue
		}
		seen[s.Destination] = true
		ch <- prometheus.MustNewConstMetric(c.portsInUse, prometheus.GaugeValue, float64(s.Ports.Held), s.Destination)
		ch <- prometheus.MustNewConstMetric(c.budget, prometheus.GaugeValue, float64(s.Ports.Budget), s.Destination)
		ch <- prometheus.MustNewConstMetric(c.exhausted, prometheus.CounterValue, float64(s.Ports.Exhausted), s.Destination)
	}
}
