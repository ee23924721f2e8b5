package diagnose

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// textChartWidth and textChartHeight size the ASCII timechart.
const (
	textChartWidth  = 72
	textChartHeight = 8
	textMaxMinutes  = 60
)

// WriteText writes the report for a terminal: summary, incidents with
// evidence, an ASCII timechart, the seed's tables and the mitigations.
func WriteText(w io.Writer, r *Report) error {
	bw := bufio.NewWriter(w)
	span := r.Window.End.Sub(r.Window.Start)
	fmt.Fprintf(bw, "apimgw diagnose: %s – %s UTC (%s), %s requests from %d input(s)\n",
		r.Window.Start.Format("2006-01-02 15:04"), r.Window.End.Format("2006-01-02 15:04"), span.Round(time.Minute), num(r.Totals.Requests), len(r.Inputs))
	fmt.Fprintf(bw, "\nVERDICT: %s (%s)\n\n", strings.ToUpper(strings.ReplaceAll(r.Verdict, "-", " ")), r.Verdict)
	t := r.Totals
	fmt.Fprintf(bw, "Totals: %s failed (%s) · BackendConnectionFailure %s · backend 5xx %s · timeouts %s · client disconnects %s · throttled %s · circuit open %s · bad lines %s\n",
		num(t.Failed), pct(ratio(t.Failed, t.Requests)), num(t.BackendConnectionFailures), num(t.BackendErrors), num(t.Timeouts),
		num(t.ClientDisconnects), num(t.Throttled), num(t.CircuitOpen), num(t.BadLines))
	for _, in := range r.Inputs {
		fmt.Fprintf(bw, "  %s: %s, %s records, %s bad lines\n", in.Name, in.Format, num(in.Records), num(in.BadLines))
	}
	for _, b := range r.BadLines {
		fmt.Fprintf(bw, "  bad line %s\n", b)
	}

	fmt.Fprintf(bw, "\nINCIDENTS (%d)\n", len(r.Incidents))
	if len(r.Incidents) == 0 {
		fmt.Fprintln(bw, "  none: no 5-minute window had failures above the thresholds")
	}
	for i, in := range r.Incidents {
		dest := in.BackendURL
		if dest == "" {
			dest = "(all destinations)"
		}
		fmt.Fprintf(bw, "  %d. %s – %s  %-18s %s  %s failed of %s requests\n", i+1,
			in.Start.Format("15:04"), in.End.Format("15:04"), in.Cause, dest, num(in.FailedRequests), num(in.Requests))
		for _, e := range in.Evidence {
			fmt.Fprintf(bw, "       - %s\n", e)
		}
	}

	_, step := chartPoints(r)
	fmt.Fprintf(bw, "\nREQUESTS PER %s ('.' ok, '#' failed; '^' marks incidents)\n", strings.ToUpper(stepName(step)))
	writeASCIIChart(bw, r)

	fmt.Fprintln(bw, "\nBACKENDCONNECTIONFAILURE PER 5 MINUTES BY BACKENDURL")
	tw := tabwriter.NewWriter(bw, 2, 8, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "  time\tbackendUrl\tfailures\trequests\t")
	rows := r.Series.ConnectionFailures5m
	if len(rows) == 0 {
		fmt.Fprintln(tw, "  none\t\t\t\t")
	}
	for i, b := range rows {
		if i == textMaxMinutes {
			fmt.Fprintf(tw, "  …%d more\t\t\t\t\n", len(rows)-i)
			break
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t\n", b.T.Format("15:04"), b.BackendURL, num(b.BackendConnectionFailures), num(b.Requests))
	}
	tw.Flush()

	fmt.Fprintln(bw, "\nPER MINUTE DURING INCIDENTS (all minutes in --format json)")
	tw = tabwriter.NewWriter(bw, 2, 8, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "  time\trequests\tfailed\tconnFail\tavg ms\tp95 ms\tconcurrency\tports w/o reuse\t")
	shown := 0
	for _, p := range r.Series.OneMinute {
		if !inIncident(r, p.T, time.Minute) {
			continue
		}
		if shown == textMaxMinutes {
			fmt.Fprintln(tw, "  …\t\t\t\t\t\t\t\t")
			break
		}
		shown++
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", p.T.Format("15:04"), num(p.Requests), num(p.Failed),
			num(p.BackendConnectionFailures), fnum(p.AvgBackendTime), fnum(p.P95BackendTime), fnum(p.Concurrency), fnum(p.PortsWithoutReuse))
	}
	if shown == 0 {
		fmt.Fprintln(tw, "  none\t\t\t\t\t\t\t\t")
	}
	tw.Flush()

	if len(r.Destinations) > 0 {
		fmt.Fprintln(bw, "\nDESTINATIONS")
		tw = tabwriter.NewWriter(bw, 2, 8, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "  backendUrl\trequests\tconnFail\t5xx\ttimeouts\tavg ms\t")
		for _, d := range r.Destinations {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t\n", d.BackendURL, num(d.Requests), num(d.BackendConnectionFailures),
				num(d.BackendErrors), num(d.Timeouts), fnum(d.AvgBackendTime))
		}
		tw.Flush()
	}

	fmt.Fprintln(bw, "\nMITIGATIONS (least to most invasive)")
	if len(r.Mitigations) == 0 {
		fmt.Fprintln(bw, "  none needed")
	}
	for _, m := range r.Mitigations {
		fmt.Fprintf(bw, "  %d. %s — %s  [for %s]\n", m.Rank, m.ID, m.Title, strings.Join(m.For, ", "))
		fmt.Fprintf(bw, "     expected effect: %s\n", m.ExpectedEffect)
		fmt.Fprintln(bw, "     apimgw:")
		for _, l := range strings.Split(strings.TrimRight(m.Config, "\n"), "\n") {
			fmt.Fprintf(bw, "       %s\n", l)
		}
		fmt.Fprintf(bw, "     Azure: %s\n", m.Azure)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write text report: %w", err)
	}
	return nil
}

// inIncident reports whether the interval [t, t+step) overlaps an
// incident (incidents are clipped to the log's records, so they may start
// or end inside a minute).
func inIncident(r *Report, t time.Time, step time.Duration) bool {
	for _, in := range r.Incidents {
		if in.Start.Before(t.Add(step)) && (t.Before(in.End) || !t.After(in.Start)) {
			return true
		}
	}
	return false
}

// chartPoints returns the series the charts draw and its bin width: the
// fine bins of a short log, else the one-minute bins.
func chartPoints(r *Report) ([]Point, time.Duration) {
	if len(r.Series.Fine) > 0 && r.Series.FineBinMs > 0 {
		return r.Series.Fine, time.Duration(r.Series.FineBinMs) * time.Millisecond
	}
	return r.Series.OneMinute, time.Minute
}

// stepName names a bin width: "minute", "5 s", "250 ms".
func stepName(step time.Duration) string {
	switch {
	case step == time.Minute:
		return "minute"
	case step < time.Second:
		return fmt.Sprintf("%d ms", step.Milliseconds())
	}
	return fmt.Sprintf("%.0f s", step.Seconds())
}

// writeASCIIChart draws requests and failures per bin (a minute, or a few
// seconds for a short log), several bins per column when the log is
// longer than the chart is wide.
func writeASCIIChart(w io.Writer, r *Report) {
	pts, step := chartPoints(r)
	if len(pts) == 0 {
		return
	}
	per := (len(pts) + textChartWidth - 1) / textChartWidth
	cols := (len(pts) + per - 1) / per
	req := make([]int64, cols)
	fail := make([]int64, cols)
	inc := make([]bool, cols)
	var top int64
	for i, p := range pts {
		c := i / per
		req[c] += p.Requests
		fail[c] += p.Failed
		if inIncident(r, p.T, step) {
			inc[c] = true
		}
	}
	for _, v := range req {
		top = max(top, v)
	}
	if top == 0 {
		top = 1
	}
	label := fmt.Sprintf("%d", top)
	pad := strings.Repeat(" ", len(label))
	for row := textChartHeight; row >= 1; row-- {
		level := float64(row) / textChartHeight
		var sb strings.Builder
		if row == textChartHeight {
			sb.WriteString(label)
		} else if row == 1 {
			sb.WriteString(fmt.Sprintf("%*d", len(label), 0))
		} else {
			sb.WriteString(pad)
		}
		sb.WriteString(" |")
		for c := range cols {
			rf, ff := float64(req[c])/float64(top), float64(fail[c])/float64(top)
			switch {
			case ff >= level-0.5/textChartHeight && fail[c] > 0:
				sb.WriteByte('#')
			case rf >= level-0.5/textChartHeight && req[c] > 0:
				sb.WriteByte('.')
			default:
				sb.WriteByte(' ')
			}
		}
		fmt.Fprintln(w, "  "+sb.String())
	}
	var axis, marks strings.Builder
	for c := range cols {
		axis.WriteByte('-')
		if inc[c] {
			marks.WriteByte('^')
		} else {
			marks.WriteByte(' ')
		}
	}
	fmt.Fprintf(w, "  %s +%s\n", pad, axis.String())
	fmt.Fprintf(w, "  %s  %s\n", pad, marks.String())
	layout := "15:04"
	if step < time.Minute {
		layout = "15:04:05"
	}
	if step < time.Second {
		layout = "15:04:05.0"
	}
	startL := pts[0].T.Format(layout)
	endL := pts[len(pts)-1].T.Add(step).Format(layout)
	gap := max(1, cols-len(startL)-len(endL))
	if step == time.Minute {
		fmt.Fprintf(w, "  %s  %s%s%s  (%d min/column)\n", pad, startL, strings.Repeat(" ", gap), endL, per)
	} else {
		fmt.Fprintf(w, "  %s  %s%s%s  (%s/column)\n", pad, startL, strings.Repeat(" ", gap), endL, stepName(time.Duration(per)*step))
	}
}
