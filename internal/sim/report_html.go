package sim

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"strings"
)

// svgLine is one series of a chart.
type svgLine struct {
	name   string
	color  string
	values []float64
	dashed bool
}

// svgChart renders lines over the run's time axis as an inline SVG. Its
// text is only numbers and fixed labels, so it is safe to embed as is.
func svgChart(title string, lines []svgLine, durationSec float64) template.HTML {
	const w, h, left, right, top, bottom = 900.0, 260.0, 70.0, 20.0, 30.0, 30.0
	maxV := 0.0
	n := 0
	for _, l := range lines {
		n = max(n, len(l.values))
		for _, v := range l.values {
			maxV = math.Max(maxV, v)
		}
	}
	maxV = niceCeil(maxV * 1.05)
	x := func(i, count int) float64 {
		if count <= 1 {
			return left
		}
		return left + (w-left-right)*float64(i)/float64(count-1)
	}
	y := func(v float64) float64 { return top + (h-top-bottom)*(1-v/maxV) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg viewBox="0 0 %g %g" width="100%%" role="img" xmlns="http://www.w3.org/2000/svg">`, w, h)
	fmt.Fprintf(&b, `<text x="%g" y="18" class="t">%s</text>`, left, template.HTMLEscapeString(title))
	for k := 0; k <= 4; k++ {
		v := maxV * float64(k) / 4
		fmt.Fprintf(&b, `<line x1="%g" x2="%g" y1="%.1f" y2="%.1f" class="grid"/>`, left, w-right, y(v), y(v))
		fmt.Fprintf(&b, `<text x="%g" y="%.1f" class="ax" text-anchor="end">%s</text>`, left-6, y(v)+4, num(v))
	}
	for k := 0; k <= 4; k++ {
		xx := left + (w-left-right)*float64(k)/4
		fmt.Fprintf(&b, `<text x="%.1f" y="%g" class="ax" text-anchor="middle">%s</text>`, xx, h-8,
			secondsString(durationSec*float64(k)/4))
	}
	lx := w - right - 130*float64(len(lines))
	for _, l := range lines {
		if len(l.values) == 0 {
			continue
		}
		var pts strings.Builder
		for i, v := range l.values {
			fmt.Fprintf(&pts, "%.1f,%.1f ", x(i, len(l.values)), y(v))
		}
		dash := ""
		if l.dashed {
			dash = ` stroke-dasharray="6 4"`
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.6"%s points="%s"/>`, l.color, dash, strings.TrimSpace(pts.String()))
		fmt.Fprintf(&b, `<rect x="%.1f" y="%g" width="12" height="3" fill="%s"/><text x="%.1f" y="%g" class="ax">%s</text>`,
			lx, top-12, l.color, lx+16, top-8, template.HTMLEscapeString(l.name))
		lx += 130
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // numbers and escaped labels only
}

// niceCeil rounds v up to 1, 2, 2.5 or 5 times a power of ten, so the
// axis ticks (quarters) are round numbers.
func niceCeil(v float64) float64 {
	if v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func constant(n int, v float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// htmlTemplate is the self-contained HTML report.
var htmlTemplate = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>apimgw simulate</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:960px;color:#222}
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:2em}
table{border-collapse:collapse}td,th{padding:3px 10px;border-bottom:1px solid #ddd;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.t{font-size:14px;font-weight:600}.ax{font-size:11px;fill:#555}.grid{stroke:#eee}
.bad{color:#b00020}.ok{color:#1b7f3b}
</style></head><body>
<h1>apimgw simulate</h1>
<p>{{.Traffic}} for {{.Duration}} (step {{.Step}}).<br>{{.Ports}}</p>
<h2>Summary</h2>
<table>
{{range .Rows}}<tr><th>{{.Label}}</th><td class="n">{{.Value}}</td><td>{{.Note}}</td></tr>
{{end}}</table>
{{if .Exhausted}}<p class="bad">Ports ran out {{.Exhausted}} after the start.</p>{{else}}<p class="ok">The port budget was never reached.</p>{{end}}
<h2>Over time</h2>
{{range .Charts}}<figure>{{.}}</figure>
{{end}}
{{if .Outcomes}}<h2>Mitigations ranked by failed requests avoided</h2>
<table><tr><th>rank</th><th>mitigation</th><th>change</th><th>failed</th><th>avoided</th><th>peak ports</th><th>cost</th></tr>
{{range .Outcomes}}<tr><td class="n">{{.Rank}}</td><td>{{.Title}}<br><small>{{.ID}}</small></td><td><code>{{.Change}}</code></td>
<td class="n">{{.Failed}}</td><td class="n">{{.Avoided}}</td><td class="n">{{.Peak}}</td><td>{{.Cost}}</td></tr>
{{end}}</table>{{end}}
</body></html>
`))

type htmlRow struct{ Label, Value, Note string }

type htmlOutcome struct {
	Rank                    int
	ID, Title, Change, Cost string
	Failed, Avoided, Peak   string
}

// WriteHTML writes the run (and the comparison when c is not nil) as a
// self-contained HTML page with inline SVG charts.
func WriteHTML(w io.Writer, r *Result, c *Comparison) error {
	s, sum := &r.Scenario, r.Summary
	n := len(r.Series)
	mean, peak, conns, queued := make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
	reqs, failed := make([]float64, n), make([]float64, n)
	for i, p := range r.Series {
		mean[i], peak[i], conns[i], queued[i] = p.PortsInUse, p.MaxPortsInUse, p.Connections, p.Queued
		reqs[i], failed[i] = float64(p.Requests), float64(p.Failed)
	}
	dur := s.Duration.Seconds()
	charts := []template.HTML{
		svgChart("Ports in use per destination IP:port", []svgLine{
			{"mean", "#1f77b4", mean, false}, {"max", "#9ecae1", peak, false},
			{"budget", "#d62728", constant(n, float64(sum.PortBudget)), true},
		}, dur),
		svgChart("Requests and failures per "+r.Interval.String(), []svgLine{
			{"requests", "#2ca02c", reqs, false}, {"failed", "#d62728", failed, false},
		}, dur),
	}
	if s.Pooling {
		charts = append(charts, svgChart("Connections per destination and queued requests", []svgLine{
			{"connections", "#9467bd", conns, false}, {"queued", "#ff7f0e", queued, false},
		}, dur))
	} else {
		charts = append(charts, svgChart("Open connections per destination IP:port", []svgLine{
			{"connections", "#9467bd", conns, false},
		}, dur))
	}
	data := struct {
		Traffic, Ports, Duration, Step, Exhausted string
		Rows                                      []htmlRow
		Charts                                    []template.HTML
		Outcomes                                  []htmlOutcome
	}{
		Traffic: describeTraffic(s), Ports: strings.ReplaceAll(describePorts(s), "\n  ", " "),
		Duration: s.Duration.String(), Step: r.Step.String(), Charts: charts,
		Rows: []htmlRow{
			{"requests", thousands(sum.Requests), ""},
			{"failed", thousands(sum.Failed), percent(sum.Failed, sum.Requests) + " of requests"},
			{"connection failures", thousands(sum.ConnectionFailures), "502 BackendConnectionFailure: no port"},
			{"timeouts", thousands(sum.Timeouts), "504"},
			{"circuit open", thousands(sum.CircuitOpen), "503"},
			{"throttled", thousands(sum.Throttled), "429"},
			{"cache hits", thousands(sum.CacheHits), ""},
			{"backend attempts", thousands(sum.Attempts), thousands(sum.Retries) + " retries"},
			{"port budget", thousands(int64(sum.PortBudget)), "per destination IP:port (" + plural(sum.Destinations, "destination") + ")"},
			{"peak ports in use", num(sum.PeakPortsInUse), percentF(sum.PeakPortsInUse, float64(sum.PortBudget)) + " of budget"},
			{"steady ports in use", num(sum.SteadyPortsInUse), "mean over the last quarter"},
			{"peak connections", num(sum.PeakConnections), ""},
			{"peak queued", num(sum.PeakQueued), ""},
		},
	}
	if sum.SustainableRate != nil {
		data.Rows = append(data.Rows, htmlRow{"sustainable rate", num(*sum.SustainableRate), "requests/s the ports carry at steady state"})
	}
	if sum.FirstExhaustionSeconds != nil {
		data.Exhausted = secondsString(*sum.FirstExhaustionSeconds)
	}
	if c != nil {
		for _, o := range c.Outcomes {
			data.Outcomes = append(data.Outcomes, htmlOutcome{
				Rank: o.Rank, ID: o.ID, Title: o.Title, Change: o.Change, Cost: o.Cost,
				Failed: thousands(o.Summary.Failed), Avoided: thousands(o.FailuresAvoided), Peak: num(o.Summary.PeakPortsInUse),
			})
		}
	}
	if err := htmlTemplate.Execute(w, data); err != nil {
		return fmt.Errorf("write HTML report: %w", err)
	}
	return nil
}
