package diagnose

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

const usage = `usage: apimgw diagnose [--format text|json|html] [-o OUT] [--snat-ports N] LOGFILE...
       apimgw diagnose --watch [--window 1m] LOGFILE

Analyses gateway logs — apimgw's JSON lines, or a CSV/JSON export of Azure's
ApiManagementGatewayLogs table, optionally gzip-compressed — and reports
whether and when backend connection failures happened, their cause, and the
mitigations that apply, from least to most invasive.

With --watch it follows one growing apimgw log instead (as tail -F does:
across truncation and rotation) and prints a line when an incident starts
and when it ends, until interrupted.

`

// Main runs `apimgw diagnose` with args (everything after the subcommand)
// and returns the exit code: 0 ok, 1 bad input, 2 usage.
func Main(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("diagnose", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	format := fs.String("format", "text", "output format: text, json or html")
	out := fs.String("o", "", "write the report to this file instead of stdout")
	watch := fs.Bool("watch", false, "follow one growing log and print a line when an incident starts and ends")
	window := fs.Duration("window", time.Minute, "with --watch: how far back the recent requests reach; an incident ends when they no longer pass the thresholds")
	ports := fs.Int("snat-ports", 1024, "SNAT ports per instance and destination (Azure preallocates 1,024 per unit; fewer on Developer tier); unset, apimgw's own log of an enforced budget gives it")

	// Flags may come before, between or after the files.
	var files []string
	rest := args
	for {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return 0
			}
			return 2
		}
		rest = fs.Args()
		if len(rest) == 0 {
			break
		}
		files = append(files, rest[0])
		rest = rest[1:]
	}
	if len(files) == 0 {
		fmt.Fprintln(stderr, "apimgw diagnose: no LOGFILE given")
		fs.Usage()
		return 2
	}
	if *watch {
		if len(files) != 1 {
			fmt.Fprintln(stderr, "apimgw diagnose: --watch follows exactly one LOGFILE")
			return 2
		}
		if *window < time.Second {
			fmt.Fprintf(stderr, "apimgw diagnose: --window must be at least 1s, got %s\n", *window)
			return 2
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		started := func() {
			fmt.Fprintf(stderr, "apimgw diagnose: watching %s (window %s); Ctrl-C to stop\n", files[0], *window)
		}
		if err := Watch(ctx, files[0], WatchOptions{Window: *window, Started: started}, stdout); err != nil {
			fmt.Fprintf(stderr, "apimgw diagnose: %v\n", err)
			return 1
		}
		return 0
	}
	var write func(io.Writer, *Report) error
	switch *format {
	case "text":
		write = WriteText
	case "json":
		write = WriteJSON
	case "html":
		write = WriteHTML
	default:
		fmt.Fprintf(stderr, "apimgw diagnose: unknown --format %q (want text, json or html)\n", *format)
		return 2
	}
	if *ports <= 0 {
		fmt.Fprintf(stderr, "apimgw diagnose: --snat-ports must be positive, got %d\n", *ports)
		return 2
	}
	th := DefaultThresholds()
	th.PortsPerInstance = 0 // the budget apimgw's own log names, else the default
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "snat-ports" {
			th.PortsPerInstance = *ports
		}
	})
	opts := Options{Thresholds: &th}
	if isTerminal(stderr) {
		opts.Progress = stderr
	}
	report, err := AnalyzeFiles(files, opts)
	if err != nil {
		fmt.Fprintf(stderr, "apimgw diagnose: %v\n", err)
		return 1
	}
	if report.Totals.BadLines > 0 {
		fmt.Fprintf(stderr, "apimgw diagnose: %d unreadable line(s) skipped, first: %s\n", report.Totals.BadLines, report.BadLines[0])
	}
	dst := stdout
	var f *os.File
	if *out != "" && *out != "-" {
		f, err = os.Create(*out)
		if err != nil {
			fmt.Fprintf(stderr, "apimgw diagnose: %v\n", err)
			return 1
		}
		dst = f
	}
	err = write(dst, report)
	if f != nil {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("write %s: %w", *out, cerr)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "apimgw diagnose: %v\n", err)
		return 1
	}
	return 0
}

// isTerminal reports whether w is a character device (a terminal), where a
// progress bar is welcome; pipes and files get none.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
