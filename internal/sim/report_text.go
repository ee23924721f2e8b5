package sim

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// chartWidth and chartHeight size the ASCII charts so a report fits 100
// columns.
const (
	chartWidth  = 80
	chartHeight = 12
	labelWidth  = 9
)

// WriteText writes the run as a plain-text report: the scenario, the
// summary, ASCII charts of ports in use and failures, and, when c is not
// nil, the ranking of mitigations. Lines fit 100 columns.
func WriteText(w io.Writer, r *Result, c *Comparison) error {
	bw := bufio.NewWriter(w)
	s, sum := &r.Scenario, r.Summary
	fmt.Fprintln(bw, wrap(fmt.Sprintf("apimgw simulate: %s, for %s (step %s)", describeTraffic(s), s.Duration, r.Step), 98, "\n  "))
	fmt.Fprintf(bw, "  %s\n\n", describePorts(s))

	fmt.Fprintln(bw, "Summary")
	row := func(label, value, note string) {
		fmt.Fprintln(bw, strings.TrimRight(fmt.Sprintf("  %-22s %12s  %s", label, value, note), " "))
	}
	row("requests", thousands(sum.Requests), "")
	row("failed", thousands(sum.Failed), percent(sum.Failed, sum.Requests)+" of requests")
	row("  connection failures", thousands(sum.ConnectionFailures), "502 BackendConnectionFailure: no port")
	row("  timeouts", thousands(sum.Timeouts), "504: call or wait for a connection too long")
	row("  circuit open", thousands(sum.CircuitOpen), "503: rejected by the circuit breaker")
	row("  throttled", thousands(sum.Throttled), "429: over the rate limit")
	row("cache hits", thousands(sum.CacheHits), "")
	row("backend attempts", thousands(sum.Attempts), fmt.Sprintf("%s retries", thousands(sum.Retries)))
	row("port budget", thousands(int64(sum.PortBudget)), "per destination IP:port ("+plural(sum.Destinations, "destination")+")")
	row("peak ports in use", num(sum.PeakPortsInUse), percentF(sum.PeakPortsInUse, float64(sum.PortBudget))+" of budget")
	row("steady ports in use", num(sum.SteadyPortsInUse), "mean over the last quarter")
	row("peak connections", num(sum.PeakConnections), "per destination IP:port")
	if sum.SustainableRate != nil {
		row("sustainable rate", num(*sum.SustainableRate), "requests/s the ports carry at steady state")
	}
	if s.Pooling {
		row("peak queued", num(sum.PeakQueued), "requests waiting for a pooled connection")
	}
	if sum.FirstExhaustionSeconds != nil {
		row("first exhaustion", secondsString(*sum.FirstExhaustionSeconds), "first connection refused for want of a port")
	} else {
		row("first exhaustion", "never", "the budget was never reached")
	}

	ports := make([]float64, len(r.Series))
	failed := make([]float64, len(r.Series))
	for i, p := range r.Series {
		ports[i] = p.MaxPortsInUse
		failed[i] = float64(p.Failed)
	}
	end := s.Duration.String()
	fmt.Fprintf(bw, "\nPorts in use per destination IP:port (# ports, - budget %s)\n", thousands(int64(sum.PortBudget)))
	writeChart(bw, ports, float64(sum.PortBudget), chartHeight, end)
	fmt.Fprintf(bw, "\nFailed requests per %s\n", r.Interval)
	writeChart(bw, failed, -1, chartHeight/2, end)

	if c != nil {
		writeComparisonText(bw, c)
	} else if sum.FirstExhaustionSeconds != nil {
		fmt.Fprintln(bw, "\nThe ports ran out: run again with --compare to rank the mitigations.")
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write text report: %w", err)
	}
	return nil
}

func writeComparisonText(w io.Writer, c *Comparison) {
	base := c.Baseline.Summary
	fmt.Fprintf(w, "\nMitigations ranked by failed requests avoided (baseline: %s failed, peak %s ports)\n",
		thousands(base.Failed), num(base.PeakPortsInUse))
	fmt.Fprintf(w, "  %-4s %-21s %-36s %9s %9s %10s\n", "rank", "mitigation", "change", "failed", "avoided", "peak ports")
	for _, o := range c.Outcomes {
		fmt.Fprintf(w, "  %-4d %-21s %-36s %9s %9s %10s\n", o.Rank, o.ID, clip(o.Change, 36),
			thousands(o.Summary.Failed), thousands(o.FailuresAvoided), num(o.Summary.PeakPortsInUse))
	}
	fmt.Fprintln(w)
	for _, o := range c.Outcomes {
		fmt.Fprintf(w, "  %s\n", wrap(fmt.Sprintf("%d. %s: %s", o.Rank, o.Title, o.Cost), 96, "\n     "))
	}
}

// writeChart draws values (one per series point) as columns of '#',
// resampled to chartWidth columns by taking each column's maximum, with an
// optional reference line (ref >= 0) drawn as '-'.
func writeChart(w io.Writer, values []float64, ref float64, height int, end string) {
	cols := min(len(values), chartWidth)
	if cols == 0 {
		fmt.Fprintln(w, "  (no data)")
		return
	}
	col := make([]float64, cols)
	for c := range cols {
		lo, hi := c*len(values)/cols, (c+1)*len(values)/cols
		for _, v := range values[lo:max(hi, lo+1)] {
			col[c] = math.Max(col[c], v)
		}
	}
	top := ref
	for _, v := range col {
		top = math.Max(top, v)
	}
	if top <= 0 {
		top = 1
	}
	refRow := -1
	if ref >= 0 {
		refRow = int(math.Round(ref / top * float64(height)))
	}
	for r := height; r >= 1; r-- {
		label := ""
		switch {
		case r == height:
			label = num(top)
		case r == refRow:
			label = num(ref)
		}
		var b strings.Builder
		fmt.Fprintf(&b, "%*s |", labelWidth, label)
		threshold := top * (float64(r) - 0.5) / float64(height)
		for _, v := range col {
			switch {
			case v > 0 && v >= threshold:
				b.WriteByte('#')
			case r == refRow:
				b.WriteByte('-')
			default:
				b.WriteByte(' ')
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
	fmt.Fprintf(w, "%*s +%s\n", labelWidth, "0", strings.Repeat("-", cols))
	pad := max(1, cols-len(end))
	fmt.Fprintf(w, "%*s  0s%*s\n", labelWidth, "", pad-1, end)
}

func describeTraffic(s *Scenario) string {
	var arr string
	switch s.Arrivals {
	case ArrivalsBursts:
		arr = fmt.Sprintf("%s requests/s with bursts of %s/s for %s every %s", num(s.Rate), num(s.BurstRate), s.BurstLength, s.BurstEvery)
	case ArrivalsDaily:
		arr = fmt.Sprintf("daily curve peaking at %s requests/s", num(s.Rate))
	case ArrivalsLog:
		arr = "arrivals replayed from " + traceName(s)
	default:
		arr = fmt.Sprintf("%s requests/s (%s)", num(s.Rate), s.Arrivals)
	}
	var lat string
	switch s.LatencyDist {
	case LatencyLogNormal:
		lat = fmt.Sprintf("log-normal latency, mean %s, sigma %g", s.Latency, s.LatencySigma)
	case LatencyLog:
		lat = fmt.Sprintf("latency from %s (mean %s)", traceName(s), meanLatency(s).Round(time.Millisecond))
	default:
		lat = fmt.Sprintf("latency %s", s.Latency)
	}
	return arr + ", " + lat
}

func traceName(s *Scenario) string {
	if s.TraceFile != "" {
		return s.TraceFile
	}
	return "a gateway log"
}

func describePorts(s *Scenario) string {
	var parts []string
	if s.NATGatewayIPs > 0 {
		parts = append(parts, fmt.Sprintf("%s behind a NAT gateway with %s (%s ports)", plural(s.Units, "unit"), plural(s.NATGatewayIPs, "IP"),
			thousands(int64(s.NATGatewayIPs*NATGatewayPortsPerIP))))
	} else {
		parts = append(parts, fmt.Sprintf("%s x %s ports", plural(s.Units, "unit"), thousands(int64(s.PortsPerUnit))))
	}
	parts = append(parts, "reclaim "+s.Reclaim.String())
	if s.Pooling {
		mc := "unbounded"
		if s.MaxConns > 0 {
			mc = strconv.Itoa(s.MaxConns)
		}
		parts = append(parts, "pooling (max-conns "+mc+")")
	} else {
		parts = append(parts, "no pooling")
	}
	parts = append(parts, plural(s.BackendIPs, "backend IP"), "timeout "+s.Timeout.String())
	if s.CacheHitRatio > 0 {
		parts = append(parts, fmt.Sprintf("cache hits %g", s.CacheHitRatio))
	}
	if s.RateLimit > 0 {
		parts = append(parts, "rate limit "+num(s.RateLimit)+"/s")
	}
	if s.Retries > 0 {
		parts = append(parts, fmt.Sprintf("%s every %s", plural(s.Retries, "retry"), s.RetryInterval))
	}
	if s.BreakerFailures > 0 {
		parts = append(parts, fmt.Sprintf("breaker %d/%s trips %s", s.BreakerFailures, s.BreakerInterval, s.BreakerTrip))
	}
	return wrap(strings.Join(parts, ", "), 96, "\n  ")
}

// wrap breaks text at spaces so lines stay within width.
func wrap(text string, width int, sep string) string {
	var out, line strings.Builder
	for _, word := range strings.Fields(text) {
		if line.Len() > 0 && line.Len()+1+len(word) > width {
			out.WriteString(line.String())
			out.WriteString(sep)
			line.Reset()
		}
		if line.Len() > 0 {
			line.WriteByte(' ')
		}
		line.WriteString(word)
	}
	out.WriteString(line.String())
	return out.String()
}

// plural writes n and the noun, in the plural when n is not 1.
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	if strings.HasSuffix(noun, "y") {
		return fmt.Sprintf("%d %sies", n, strings.TrimSuffix(noun, "y"))
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}

// thousands formats n with comma separators.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// num formats a quantity: whole numbers with separators, else one decimal.
func num(v float64) string {
	if math.Abs(v-math.Round(v)) < 0.05 || math.Abs(v) >= 1000 {
		return thousands(int64(math.Round(v)))
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

func percent(part, whole int64) string {
	return percentF(float64(part), float64(whole))
}

func percentF(part, whole float64) string {
	if whole <= 0 {
		return "-"
	}
	return strconv.FormatFloat(100*part/whole, 'f', 1, 64) + "%"
}

func secondsString(sec float64) string {
	return secondsToDuration(sec).Round(time.Millisecond).String()
}
