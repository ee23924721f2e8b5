package diagnose

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Mitigation ids, ranked from least to most invasive (SPEC §7).
var mitigationRank = []string{
	"connection-pooling", "backend-timeout", "retry-backoff", "circuit-breaker", "rate-limiting",
	"response-caching", "multiple-backend-ips", "scale-units", "nat-gateway", "vnet-service-endpoints",
}

// mitigationsFor lists the mitigations that address a cause.
var mitigationsFor = map[string][]string{
	CauseSNATExhaustion:    mitigationRank,
	CauseBackendErrors:     {"retry-backoff", "circuit-breaker", "rate-limiting", "response-caching", "multiple-backend-ips"},
	CauseBackendTimeouts:   {"backend-timeout", "retry-backoff", "circuit-breaker", "response-caching"},
	CauseClientDisconnects: {"backend-timeout", "response-caching"},
	CauseThrottling:        {"rate-limiting", "response-caching"},
	CauseCircuitOpen:       {"circuit-breaker", "retry-backoff", "multiple-backend-ips"},
}

// mitigations builds the remedies for every cause found, each computed
// from the cause's largest incident, ordered by rank.
func mitigations(incs []Incident, th Thresholds) []Mitigation {
	largest := map[string]*Incident{}
	for i := range incs {
		in := &incs[i]
		if cur, ok := largest[in.Cause]; !ok || in.FailedRequests > cur.FailedRequests {
			largest[in.Cause] = in
		}
	}
	byID := map[string]*Mitigation{}
	// Causes in verdict priority, so that the dominant cause's numbers win.
	causes := []string{verdict(incs)}
	for _, c := range []string{CauseSNATExhaustion, CauseCircuitOpen, CauseBackendTimeouts, CauseBackendErrors, CauseThrottling, CauseClientDisconnects} {
		if c != causes[0] {
			causes = append(causes, c)
		}
	}
	for _, cause := range causes {
		in, ok := largest[cause]
		if !ok {
			continue
		}
		for _, id := range mitigationsFor[cause] {
			if m, ok := byID[id]; ok {
				m.For = append(m.For, cause)
				continue
			}
			m := buildMitigation(id, in, th)
			m.For = []string{cause}
			byID[id] = &m
		}
	}
	out := make([]Mitigation, 0, len(byID))
	for _, m := range byID {
		out = append(out, *m)
	}
	slices.SortFunc(out, func(a, b Mitigation) int { return a.Rank - b.Rank })
	return out
}

// load are the numbers a mitigation's effect is computed from.
type load struct {
	backend    string  // destination, or a placeholder
	id         string  // a backend id for config snippets
	known      bool    // id is the log's BackendId: the entry exists already
	host       string  // host[:port] of backend
	rate       float64 // peak requests per second
	latencyS   float64 // average backend time, seconds
	p95S       float64
	ports      float64 // ports without reuse at the peak
	conc       float64 // concurrent connections with keep-alive
	budget     float64
	reclaimS   float64
	failed     int64
	failRatio  float64
	incidentSp string
}

func loadOf(in *Incident, th Thresholds) load {
	m := in.Metrics
	l := load{
		backend:  in.BackendURL,
		rate:     float64(m.PeakRequestsPerMinute) / 60,
		latencyS: m.AvgBackendTime / 1000,
		p95S:     m.P95BackendTime / 1000,
		ports:    m.PeakPortsWithoutReuse,
		conc:     math.Max(1, math.Ceil(m.PeakConcurrency)),
		budget:   float64(th.PortsPerInstance),
		reclaimS: float64(th.PortReclaimSeconds),
		failed:   in.FailedRequests,
	}
	l.failRatio = m.FailureRatio
	if l.backend == "" {
		l.backend = "https://backend.example"
	}
	l.host = l.backend
	if i := strings.Index(l.host, "://"); i >= 0 {
		l.host = l.host[i+3:]
	}
	l.incidentSp = in.Start.Format("15:04") + "–" + in.End.Format("15:04")
	l.id = backendID(l.host)
	if in.BackendID != "" {
		l.id, l.known = in.BackendID, true
	}
	return l
}

// entry opens a backends: snippet for the incident's backend: the entry
// the log names (BackendId), changed in place; or, when the log names
// none, a new entry for its URL.
func (l load) entry() string {
	if l.known {
		return fmt.Sprintf("backends:\n  %s:   # your existing backend (BackendId in the log); add or change:\n", yamlKey(l.id))
	}
	return fmt.Sprintf("backends:\n  %s:\n    url: %s\n", l.id, l.backend)
}

// yamlKey quotes a backend id that is not a plain YAML key.
func yamlKey(s string) string {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return strconv.Quote(s)
		}
	}
	return s
}

// backendID names a backend after the first label of its host name
// ("orders.contoso.internal" → "orders"), or "backend" for an IP address.
func backendID(host string) string {
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.Contains(host[i:], "]") {
		host = host[:i]
	}
	label, _, _ := strings.Cut(host, ".")
	if label == "" || strings.IndexFunc(label, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-')
	}) >= 0 || (label[0] >= '0' && label[0] <= '9') {
		return "backend"
	}
	return label
}

func buildMitigation(id string, in *Incident, th Thresholds) Mitigation {
	l := loadOf(in, th)
	m := Mitigation{ID: id, Rank: slices.Index(mitigationRank, id) + 1}
	snat := in.Cause == CauseSNATExhaustion
	portsNeeded := math.Max(l.ports, 1)
	switch id {
	case "connection-pooling":
		conns := int(math.Max(16, math.Ceil(2*l.conc)))
		m.Title = "Reuse backend connections (keep-alive pooling)"
		m.Config = l.entry() + fmt.Sprintf("    keepAlive: true\noutbound:\n  maxConnsPerHost: %d\n  maxIdleConnsPerHost: %d\n  idleConnTimeout: 50s\n", conns, conns)
		m.Azure = "Keep HTTP keep-alive on end to end: remove any policy that sets `Connection: close`, make the backend keep idle connections open longer than the gateway (> 4 min), and do not disable connection reuse in forward-request."
		m.ExpectedEffect = fmt.Sprintf("keep-alive pooling would hold ≈ %s connections to %s instead of ≈ %s ports (budget %s)",
			fnum(l.conc), l.host, fnum(portsNeeded), fnum(l.budget))
	case "backend-timeout":
		t := math.Ceil(math.Max(1, 3*l.p95S))
		if in.Cause == CauseBackendTimeouts || l.p95S == 0 {
			t = math.Ceil(math.Max(5, 2*l.latencyS))
		}
		t = math.Min(t, 300)
		m.Title = "Set a forward-request timeout close to the backend's real latency"
		m.Config = fmt.Sprintf("<backend>\n  <forward-request timeout=\"%.0f\" />\n</backend>\n", t)
		m.Azure = fmt.Sprintf("Same policy in APIM: <forward-request timeout=\"%.0f\" /> (the default is 300 s).", t)
		held := l.rate * math.Max(l.latencyS, l.p95S)
		m.ExpectedEffect = fmt.Sprintf("a %.0f s timeout bounds the connections a slow backend can hold to ≈ %s (%.1f req/s × %.0f s) and fails hung calls in %.0f s instead of up to 300 s",
			t, fnum(math.Ceil(l.rate*t)), l.rate, t, t)
		if held > 0 && !snat {
			m.ExpectedEffect += fmt.Sprintf("; today ≈ %s calls are in flight at the peak", fnum(math.Ceil(held)))
		}
	case "retry-backoff":
		m.Title = "Retry transient failures with exponential backoff, not immediately"
		m.Config = "<backend>\n  <retry condition=\"@(context.Response == null || context.Response.StatusCode >= 500)\"\n         count=\"3\" interval=\"1\" max-interval=\"10\" delta=\"1\" first-fast-retry=\"false\">\n    <forward-request buffer-request-body=\"true\" timeout=\"30\" />\n  </retry>\n</backend>\n"
		m.Azure = "Same retry policy in APIM; make clients back off too (honour Retry-After)."
		m.ExpectedEffect = fmt.Sprintf("%s calls failed during %s (%s of calls); backing off 1 s, 2 s, 4 s… spreads retries over the time ports or the backend need to recover instead of multiplying connection attempts at the peak",
			num(l.failed), l.incidentSp, pct(l.failRatio))
	case "circuit-breaker":
		m.Title = "Trip a circuit breaker on connection failures and 5xx"
		m.Config = l.entry() + "    circuitBreaker:\n      rules:\n        - name: backend-failures\n          failureCondition:\n            count: 5\n            interval: 1m\n            statusCodeRanges: [{min: 500, max: 599}]\n            errorReasons: [BackendConnectionFailure, Timeout]\n          tripDuration: 30s\n          acceptRetryAfter: true\n"
		m.Azure = "Backend entity with circuitBreaker.rules (failureCondition count 5, interval PT1M, errorReasons BackendConnectionFailure/Timeout, tripDuration PT30S)."
		if snat {
			m.ExpectedEffect = fmt.Sprintf("during %s the breaker would stop new connection attempts for 30 s after 5 failures, answering 503 at once while ≈ %s ports are reclaimed, instead of %s failing connects",
				l.incidentSp, fnum(math.Min(portsNeeded, l.budget)), num(l.failed))
		} else {
			m.ExpectedEffect = fmt.Sprintf("%s failed calls during %s; the breaker answers fast for 30 s after 5 failures, sparing the backend ≈ %s calls per trip",
				num(l.failed), l.incidentSp, fnum(math.Ceil(l.rate*30)))
		}
	case "rate-limiting":
		safe := l.budget / (l.latencyS + l.reclaimS) // req/s a port budget sustains without reuse
		if in.Cause == CauseThrottling {
			m.Title = "Review the rate-limit and quota policies that rejected these calls"
			m.Config = fmt.Sprintf("<inbound>\n  <rate-limit-by-key calls=\"%.0f\" renewal-period=\"60\" counter-key=\"@(context.Subscription.Id)\" />\n</inbound>\n", math.Ceil(l.rate*60*1.2))
			m.Azure = "Same policy in APIM; or move heavy clients to a product with a higher limit."
			m.ExpectedEffect = fmt.Sprintf("%s calls were rejected during %s at a peak of %s requests/min; a limit of %.0f calls/min per subscription would have admitted the peak",
				num(l.failed), l.incidentSp, fnum(math.Round(l.rate*60)), math.Ceil(l.rate*60*1.2))
			break
		}
		limit := math.Max(1, math.Floor(safe*60))
		m.Title = "Rate-limit callers to what the backend (and the port budget) sustains"
		m.Config = fmt.Sprintf("<inbound>\n  <rate-limit-by-key calls=\"%.0f\" renewal-period=\"60\" counter-key=\"@(context.Request.IpAddress)\" />\n</inbound>\n", limit)
		m.Azure = "Same policy in APIM (rate-limit-by-key), applied to the API that calls this backend."
		m.ExpectedEffect = fmt.Sprintf("without connection reuse a budget of %s ports sustains ≈ %.1f req/s (%s ÷ (%.1f s + %.0f s reclaim)); the peak was %.1f req/s",
			fnum(l.budget), safe, fnum(l.budget), l.latencyS, l.reclaimS, l.rate)
	case "response-caching":
		m.Title = "Cache cacheable GET responses in the gateway"
		m.Config = "<inbound>\n  <cache-lookup vary-by-developer=\"false\" vary-by-developer-groups=\"false\" downstream-caching-type=\"none\" />\n</inbound>\n<outbound>\n  <cache-store duration=\"60\" />\n</outbound>\n"
		m.Azure = "Same policies in APIM (built-in or external Redis cache)."
		if snat && portsNeeded > l.budget {
			m.ExpectedEffect = fmt.Sprintf("a hit ratio of %s would bring ≈ %s ports under the budget of %s; every 10%% of hits removes ≈ %s ports",
				pct(1-l.budget/portsNeeded), fnum(portsNeeded), fnum(l.budget), fnum(math.Round(portsNeeded/10)))
		} else {
			m.ExpectedEffect = fmt.Sprintf("every 10%% of cache hits removes ≈ %.1f backend calls/s of the %.1f req/s peak", l.rate/10, l.rate)
		}
	case "multiple-backend-ips":
		n := math.Max(2, math.Ceil(portsNeeded/l.budget))
		m.Title = "Spread calls over several backend IPs (each has its own SNAT budget)"
		m.Config = l.entry() + fmt.Sprintf("    addresses: [%s]\n", ipList(int(n), l.host))
		m.Azure = "A backend pool (type Pool) of several backends, or a backend host name that resolves to several IPs; each destination IP:port gets its own SNAT port budget."
		if snat {
			m.ExpectedEffect = fmt.Sprintf("%.0f destination IPs × %s ports cover the ≈ %s ports needed without reuse", n, fnum(l.budget), fnum(portsNeeded))
		} else {
			m.ExpectedEffect = fmt.Sprintf("%.0f backend instances share the load, so one failing instance affects ≈ %s of calls", n, pct(1/n))
		}
	case "scale-units":
		u := math.Max(2, math.Ceil(portsNeeded/l.budget))
		m.Title = "Scale out the gateway (more units, more SNAT ports)"
		m.Config = fmt.Sprintf("# run %.0f gateway replicas behind the load balancer, each with its own source IP\noutbound:\n  snat: {ports: %.0f}\n", u, l.budget)
		m.Azure = fmt.Sprintf("Scale the APIM instance to %.0f units (each unit adds ≈ %s SNAT ports per destination).", u, fnum(l.budget))
		m.ExpectedEffect = fmt.Sprintf("%.0f units × %s ports = %s ports for the ≈ %s needed without reuse", u, fnum(l.budget), fnum(u*l.budget), fnum(portsNeeded))
	case "nat-gateway":
		ips := math.Max(1, math.Ceil(portsNeeded/64512))
		m.Title = "Send outbound traffic through a NAT gateway"
		m.Config = "# apimgw: place the gateway behind a NAT gateway / egress proxy with its own public IPs\n"
		m.Azure = fmt.Sprintf("Attach an Azure NAT Gateway with %.0f public IP(s) to the APIM subnet (VNet-injected APIM); 64,512 ports per IP, idle timeout 4–120 min.", ips)
		m.ExpectedEffect = fmt.Sprintf("%.0f × 64,512 ports for the ≈ %s needed: ≈ %s of the NAT budget at the peak", ips, fnum(portsNeeded), pct(portsNeeded/(ips*64512)))
	case "vnet-service-endpoints":
		m.Title = "Reach the backend privately (VNet, service or private endpoints)"
		m.Config = "# apimgw: run next to the backend on a private network so no SNAT happens on the path\n"
		m.Azure = "Inject APIM into a VNet and reach the backend through a service endpoint or private endpoint; those flows bypass SNAT."
		m.ExpectedEffect = fmt.Sprintf("SNAT ports used for %s drop from ≈ %s to 0", l.host, fnum(portsNeeded))
	}
	return m
}

func ipList(n int, host string) string {
	port := "443"
	if i := strings.LastIndexByte(host, ':'); i >= 0 {
		port = host[i+1:]
	}
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf("\"10.0.0.%d:%s\"", 5+i, port)
	}
	return strings.Join(parts, ", ")
}
