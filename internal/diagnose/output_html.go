package diagnose

import (
	"fmt"
	"html"
	"html/template"
	"io"
	"math"
	"strings"
	"time"
)

// WriteHTML writes the report as one self-contained HTML page: inline CSS
// and SVG timecharts of requests, failures, backend time and port demand,
// with the incidents shaded. It loads nothing from elsewhere.
func WriteHTML(w io.Writer, r *Report) error {
	data := htmlData{
		R:        r,
		Title:    fmt.Sprintf("apimgw diagnose: %s", r.Verdict),
		Span:     fmt.Sprintf("%s – %s UTC", r.Window.Start.Format("2006-01-02 15:04"), r.Window.End.Format("2006-01-02 15:04")),
		FailPct:  pct(ratio(r.Totals.Failed, r.Totals.Requests)),
		Requests: num(r.Totals.Requests),
		Color:    causeColor(r.Verdict),
	}
	all, step := chartPoints(r)
	pts := downsample(all, maxChartColumns)
	var peakPorts, peakConc float64
	for _, p := range all {
		peakPorts, peakConc = math.Max(peakPorts, p.PortsWithoutReuse), math.Max(peakConc, p.Concurrency)
	}
	data.Charts = []template.HTML{
		svgChart(r, pts, chartSpec{
			title: "Requests per " + stepName(step) + " (failed in red, throttled in purple)", unit: "requests/" + stepName(step),
			bars: []barSeries{
				{name: "ok", color: "#9ec5e8", value: func(p Point) float64 { return float64(p.Requests - p.Failed - p.Throttled) }},
				{name: "throttled", color: "#9b59b6", value: func(p Point) float64 { return float64(p.Throttled) }},
				{name: "failed", color: "#d93a3a", value: func(p Point) float64 { return float64(p.Failed) }},
			},
		}),
		svgChart(r, pts, chartSpec{
			title: "Backend time (ms)", unit: "ms",
			lines: []lineSeries{
				{name: "avg", color: "#2b6cb0", value: func(p Point) float64 { return p.AvgBackendTime }},
				{name: "p95", color: "#dd8a16", value: func(p Point) float64 { return p.P95BackendTime }},
			},
		}),
		svgChart(r, pts, chartSpec{
			title: "SNAT ports: new connection per call vs keep-alive", unit: "ports",
			lines: []lineSeries{
				{name: "ports without reuse (peak " + fnum(peakPorts) + ")", color: "#7b3fb5", value: func(p Point) float64 { return p.PortsWithoutReuse }},
				{name: "keep-alive connections (peak " + fnum(math.Ceil(peakConc)) + ")", color: "#2f9e5b", value: func(p Point) float64 { return p.Concurrency }},
			},
			budget: float64(r.Thresholds.PortsPerInstance),
		}),
	}
	if err := htmlPage.Execute(w, data); err != nil {
		return fmt.Errorf("write HTML report: %w", err)
	}
	return nil
}

const (
	maxChartColumns = 600
	chartW          = 1100.0
	chartH          = 230.0
	padL            = 64.0
	padR            = 16.0
	padT            = 28.0
	padB            = 28.0
)

type htmlData struct {
	R        *Report
	Title    string
	Span     string
	FailPct  string
	Requests string
	Color    string
	Charts   []template.HTML
}

type barSeries struct {
	name, color string
	value       func(Point) float64
}

type lineSeries = barSeries

type chartSpec struct {
	title, unit string
	bars        []barSeries // stacked
	lines       []lineSeries
	budget      float64 // dashed horizontal line when > 0
}

// downsample groups minutes so that at most n columns remain: counts are
// summed, times averaged, p95 and port figures take the maximum.
func downsample(pts []Point, n int) []Point {
	if len(pts) <= n {
		return pts
	}
	per := (len(pts) + n - 1) / n
	out := make([]Point, 0, n)
	for i := 0; i < len(pts); i += per {
		g := pts[i:min(i+per, len(pts))]
		p := Point{T: g[0].T}
		var bt float64
		for _, q := range g {
			p.Requests += q.Requests
			p.Failed += q.Failed
			p.BackendConnectionFailures += q.BackendConnectionFailures
			p.Throttled += q.Throttled
			bt += q.AvgBackendTime
			p.P95BackendTime = math.Max(p.P95BackendTime, q.P95BackendTime)
			p.PortsWithoutReuse = math.Max(p.PortsWithoutReuse, q.PortsWithoutReuse)
			p.Concurrency = math.Max(p.Concurrency, q.Concurrency)
		}
		p.AvgBackendTime = bt / float64(len(g))
		out = append(out, p)
	}
	return out
}

func causeColor(c string) string {
	switch c {
	case CauseSNATExhaustion:
		return "#d93a3a"
	case CauseBackendErrors:
		return "#e06c1f"
	case CauseBackendTimeouts:
		return "#c9a000"
	case CauseClientDisconnects:
		return "#6b7bd6"
	case CauseThrottling:
		return "#9b59b6"
	case CauseCircuitOpen:
		return "#7f8c8d"
	}
	return "#2f9e5b"
}

// niceMax rounds v up to 1, 2 or 5 × a power of ten.
func niceMax(v float64) float64 {
	if v <= 0 {
		return 1
	}
	e := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*e >= v {
			return m * e
		}
	}
	return 10 * e
}

// svgChart renders one timechart.
func svgChart(r *Report, pts []Point, spec chartSpec) template.HTML {
	var b strings.Builder
	t0, t1 := r.Window.Start, r.Window.End
	_, step := chartPoints(r)
	if len(pts) > 0 && step < time.Minute {
		// A short log's fine bins: the axis spans them, not whole minutes.
		t0, t1 = pts[0].T, pts[len(pts)-1].T.Add(step)
	}
	span := t1.Sub(t0).Seconds()
	if span <= 0 {
		span = 60
	}
	plotW, plotH := chartW-padL-padR, chartH-padT-padB
	x := func(t time.Time) float64 { return padL + t.Sub(t0).Seconds()/span*plotW }
	top := spec.budget * 1.1
	for _, p := range pts {
		var stack float64
		for _, s := range spec.bars {
			stack += s.value(p)
		}
		top = math.Max(top, stack)
		for _, s := range spec.lines {
			top = math.Max(top, s.value(p))
		}
	}
	top = niceMax(top)
	y := func(v float64) float64 { return padT + plotH - v/top*plotH }

	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %.0f %.0f" width="100%%" role="img" aria-label="%s">`,
		chartW, chartH, html.EscapeString(spec.title))
	fmt.Fprintf(&b, `<text x="%.0f" y="18" class="ct">%s</text>`, padL, html.EscapeString(spec.title))
	// Incidents first, so the data draws over them.
	for _, in := range r.Incidents {
		x0, x1 := x(in.Start), x(in.End)
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.0f" width="%.1f" height="%.0f" fill="%s" fill-opacity="0.15"><title>%s</title></rect>`,
			x0, padT, math.Max(1, x1-x0), plotH, causeColor(in.Cause), html.EscapeString(in.Cause+" "+in.Start.Format("15:04")+"–"+in.End.Format("15:04")))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" class="il" fill="%s">%s</text>`, x0+3, padT+12, causeColor(in.Cause), html.EscapeString(in.Cause))
	}
	// Grid and y labels.
	for i := 0; i <= 4; i++ {
		v := top * float64(i) / 4
		fmt.Fprintf(&b, `<line x1="%.0f" x2="%.0f" y1="%.1f" y2="%.1f" class="g"/>`, padL, chartW-padR, y(v), y(v))
		fmt.Fprintf(&b, `<text x="%.0f" y="%.1f" class="yl">%s</text>`, padL-6, y(v)+4, fnum(v))
	}
	// x labels: about eight.
	tick := niceStep(t1.Sub(t0))
	layout := "15:04"
	if tick < time.Minute {
		layout = "15:04:05"
	}
	if tick < time.Second {
		layout = "15:04:05.0"
	}
	for t := t0.Truncate(tick); !t.After(t1); t = t.Add(tick) {
		if t.Before(t0) {
			continue
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" class="xl">%s</text>`, x(t), chartH-8, t.Format(layout))
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.0f" y2="%.0f" class="g"/>`, x(t), x(t), padT+plotH, padT+plotH+4)
	}
	// Stacked bars.
	if len(pts) > 0 && len(spec.bars) > 0 {
		colDur := step
		if len(pts) > 1 {
			colDur = pts[1].T.Sub(pts[0].T)
		}
		w := math.Max(0.5, x(t0.Add(colDur))-x(t0)-0.3)
		for _, s := range spec.bars {
			fmt.Fprintf(&b, `<g fill="%s">`, s.color)
			for _, p := range pts {
				var base float64
				for _, o := range spec.bars {
					if o.name == s.name {
						break
					}
					base += o.value(p)
				}
				v := s.value(p)
				if v <= 0 {
					continue
				}
				fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f"/>`, x(p.T), y(base+v), w, y(base)-y(base+v))
			}
			b.WriteString(`</g>`)
		}
	}
	// Lines.
	for _, s := range spec.lines {
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.8" points="`, s.color)
		for _, p := range pts {
			fmt.Fprintf(&b, "%.1f,%.1f ", x(p.T.Add(step/2)), y(s.value(p)))
		}
		b.WriteString(`"/>`)
	}
	if spec.budget > 0 {
		fmt.Fprintf(&b, `<line x1="%.0f" x2="%.0f" y1="%.1f" y2="%.1f" stroke="#d93a3a" stroke-dasharray="6 4"/>`, padL, chartW-padR, y(spec.budget), y(spec.budget))
		fmt.Fprintf(&b, `<text x="%.0f" y="%.1f" class="bl">SNAT budget %s per instance</text>`, chartW-padR-4, y(spec.budget)-4, fnum(spec.budget))
	}
	// Legend.
	lx := chartW - padR
	all := append(append([]barSeries{}, spec.bars...), spec.lines...)
	for i := len(all) - 1; i >= 0; i-- {
		s := all[i]
		lx -= float64(len(s.name))*6.5 + 26
		fmt.Fprintf(&b, `<rect x="%.0f" y="9" width="12" height="10" fill="%s"/><text x="%.0f" y="18" class="lg">%s</text>`, lx, s.color, lx+16, html.EscapeString(s.name))
	}
	fmt.Fprintf(&b, `<line x1="%.0f" x2="%.0f" y1="%.0f" y2="%.0f" class="ax"/>`, padL, chartW-padR, padT+plotH, padT+plotH)
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // built from numbers and escaped text only
}

// niceStep picks the x-label spacing for a span.
func niceStep(span time.Duration) time.Duration {
	for _, s := range []time.Duration{100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute,
		30 * time.Minute, time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour} {
		if span/s <= 10 {
			return s
		}
	}
	return span / 8
}

var htmlPage = template.Must(template.New("report").Funcs(template.FuncMap{
	"num":   num,
	"pct":   pct,
	"color": causeColor,
	"hm":    func(t time.Time) string { return t.Format("15:04") },
	"join":  strings.Join,
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;max-width:1150px;color:#1d2733;padding:0 16px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #dde3ea;padding-bottom:4px}
.sub{color:#5a6878}
.verdict{display:inline-block;color:#fff;border-radius:6px;padding:6px 14px;font-weight:600;font-size:18px;margin:12px 0}
.cards{display:flex;flex-wrap:wrap;gap:10px}
.card{border:1px solid #dde3ea;border-radius:6px;padding:8px 12px;min-width:120px}
.card b{display:block;font-size:18px}
table{border-collapse:collapse;width:100%;margin:6px 0}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #eef1f4;vertical-align:top}
th{background:#f6f8fa;font-weight:600}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.cause{display:inline-block;border-radius:4px;padding:1px 7px;color:#fff;font-size:12px;font-weight:600}
ul.ev{margin:4px 0 0 0;padding-left:18px;color:#33414f}
pre{background:#f6f8fa;border:1px solid #e4e8ec;border-radius:5px;padding:8px 10px;overflow:auto;font-size:12.5px;margin:6px 0}
.mit{border:1px solid #dde3ea;border-radius:6px;padding:10px 14px;margin:10px 0}
.mit h3{margin:0 0 4px;font-size:15px} .rank{color:#5a6878;font-weight:400}
.effect{background:#eef7ee;border-left:3px solid #2f9e5b;padding:4px 8px;margin:6px 0}
svg{display:block;margin:10px 0 4px;background:#fff;border:1px solid #eef1f4;border-radius:6px}
svg .ct{font-size:13px;font-weight:600;fill:#1d2733} svg .yl{font-size:11px;fill:#5a6878;text-anchor:end}
svg .xl{font-size:11px;fill:#5a6878;text-anchor:middle} svg .g{stroke:#eef1f4} svg .ax{stroke:#9aa7b4}
svg .il{font-size:11px;font-weight:600} svg .lg{font-size:11px;fill:#33414f} svg .bl{font-size:11px;fill:#d93a3a;text-anchor:end}
</style></head><body>
<h1>apimgw diagnose</h1>
<div class="sub">{{.Span}} · {{.Requests}} requests · {{len .R.Inputs}} input(s)</div>
<div class="verdict" style="background:{{.Color}}">verdict: {{.R.Verdict}}</div>
<div class="cards">
<div class="card">requests<b>{{num .R.Totals.Requests}}</b></div>
<div class="card">failed<b>{{num .R.Totals.Failed}} ({{.FailPct}})</b></div>
<div class="card">BackendConnectionFailure<b>{{num .R.Totals.BackendConnectionFailures}}</b></div>
<div class="card">backend 5xx<b>{{num .R.Totals.BackendErrors}}</b></div>
<div class="card">timeouts<b>{{num .R.Totals.Timeouts}}</b></div>
<div class="card">throttled<b>{{num .R.Totals.Throttled}}</b></div>
<div class="card">circuit open<b>{{num .R.Totals.CircuitOpen}}</b></div>
<div class="card">bad lines<b>{{num .R.Totals.BadLines}}</b></div>
</div>
<h2>Timecharts</h2>
{{range .Charts}}{{.}}{{end}}
<h2>Incidents</h2>
{{if not .R.Incidents}}<p>No 5-minute window had failures above the thresholds.</p>{{else}}
<table><tr><th>start</th><th>end</th><th>cause</th><th>backendUrl</th><th>failed</th><th>requests</th></tr>
{{range .R.Incidents}}<tr><td>{{hm .Start}}</td><td>{{hm .End}}</td><td><span class="cause" style="background:{{color .Cause}}">{{.Cause}}</span></td><td>{{.BackendURL}}</td><td class="n">{{num .FailedRequests}}</td><td class="n">{{num .Requests}}</td></tr>
<tr><td></td><td colspan="5"><ul class="ev">{{range .Evidence}}<li>{{.}}</li>{{end}}</ul></td></tr>
{{end}}</table>{{end}}
<h2>Mitigations, least to most invasive</h2>
{{if not .R.Mitigations}}<p>None needed.</p>{{end}}
{{range .R.Mitigations}}<div class="mit"><h3><span class="rank">{{.Rank}}.</span> {{.Title}} <span class="rank">({{.ID}}; for {{join .For ", "}})</span></h3>
<div class="effect">{{.ExpectedEffect}}</div>
<div>apimgw:</div><pre>{{.Config}}</pre>
<div>Azure: {{.Azure}}</div></div>
{{end}}
<h2>BackendConnectionFailure per 5 minutes by BackendUrl</h2>
{{if not .R.Series.ConnectionFailures5m}}<p>None.</p>{{else}}
<table><tr><th>time</th><th>backendUrl</th><th>failures</th><th>requests</th></tr>
{{range .R.Series.ConnectionFailures5m}}<tr><td>{{hm .T}}</td><td>{{.BackendURL}}</td><td class="n">{{num .BackendConnectionFailures}}</td><td class="n">{{num .Requests}}</td></tr>
{{end}}</table>{{end}}
<h2>Destinations</h2>
<table><tr><th>backendUrl</th><th>requests</th><th>connection failures</th><th>5xx</th><th>timeouts</th><th>avg backend ms</th></tr>
{{range .R.Destinations}}<tr><td>{{.BackendURL}}</td><td class="n">{{num .Requests}}</td><td class="n">{{num .BackendConnectionFailures}}</td><td class="n">{{num .BackendErrors}}</td><td class="n">{{num .Timeouts}}</td><td class="n">{{.AvgBackendTime}}</td></tr>
{{end}}</table>
<h2>Inputs</h2>
<table><tr><th>file</th><th>format</th><th>records</th><th>bad lines</th></tr>
{{range .R.Inputs}}<tr><td>{{.Name}}</td><td>{{.Format}}</td><td class="n">{{num .Records}}</td><td class="n">{{num .BadLines}}</td></tr>
{{end}}</table>
{{if .R.BadLines}}<pre>{{range .R.BadLines}}{{.}}
{{end}}</pre>{{end}}
</body></html>
`))
