package sim

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// Exit codes of Main (SPEC §1).
const (
	exitOK    = 0
	exitInput = 1
	exitUsage = 2
)

// flagValue records an option given on the command line; its text is
// checked at once (a malformed value is a usage error) and applied after
// the scenario file, so flags override the file.
type flagValue struct {
	opt   option
	text  string
	given bool
}

func (v *flagValue) String() string {
	if v == nil {
		return ""
	}
	return v.text
}

func (v *flagValue) Set(s string) error {
	scratch := defaultSettings()
	if err := v.opt.set(&scratch, s); err != nil {
		return err
	}
	v.text, v.given = s, true
	return nil
}

func (v *flagValue) IsBoolFlag() bool { return v.opt.isBool }

// Main runs `apimgw simulate` with args (everything after the subcommand)
// and returns the exit code: 0 ok, 1 bad input (scenario file, gateway
// log, out-of-range value in a file), 2 usage (bad flags or flag values).
func Main(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("apimgw simulate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	opts := options()
	known := make(map[string]option, len(opts))
	values := make([]*flagValue, len(opts))
	for i, o := range opts {
		known[o.name] = o
		values[i] = &flagValue{opt: o}
		fs.Var(values[i], o.name, o.usage)
	}
	file := fs.String("f", "", "scenario file (YAML, keys named like the flags)")
	out := fs.String("o", "", "write the report to FILE instead of standard output")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: apimgw simulate [flags] [-f SCENARIO.yaml] [-o FILE]\n\n"+
			"Simulates outbound (SNAT) port usage for a traffic pattern and set of mitigations.\n"+
			"Flags override the scenario file. Defaults: 1 unit, 1,024 ports, 4m reclaim, no pooling.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "apimgw simulate: unexpected argument %q (a scenario file goes after -f)\n", fs.Arg(0))
		fs.Usage()
		return exitUsage
	}

	st := defaultSettings()
	var sf *scenarioFile
	if *file != "" {
		data, err := os.ReadFile(*file)
		if err != nil {
			fmt.Fprintf(stderr, "apimgw simulate: read scenario: %v\n", err)
			return exitInput
		}
		if sf, err = parseScenarioFile(*file, data, known); err != nil {
			fmt.Fprintf(stderr, "apimgw simulate: %v\n", err)
			return exitInput
		}
		if err := sf.apply(&st, known); err != nil {
			fmt.Fprintf(stderr, "apimgw simulate: %v\n", err)
			return exitInput
		}
	}
	for _, v := range values {
		if v.given {
			// Already checked by Set.
			_ = v.opt.set(&st, v.text)
		}
	}

	uses := st.Scenario.Arrivals == ArrivalsLog || st.Scenario.LatencyDist == LatencyLog
	if st.LogPath != "" && !uses {
		err := &FieldError{Field: "log", Err: errors.New("is only used with arrivals: log or latency-dist: log")}
		return reportSettingsError(stderr, err, values, sf)
	}
	if st.LogPath != "" {
		tr, err := LoadTrace(st.LogPath)
		if err != nil {
			fmt.Fprintf(stderr, "apimgw simulate: %v\n", err)
			return exitInput
		}
		st.Scenario.Trace, st.Scenario.TraceFile = tr, st.LogPath
		if st.Scenario.Arrivals == ArrivalsLog && !given(values, "duration") && (sf == nil || sf.values["duration"] == "") {
			// Replay the whole log (plus one mean gap) unless told otherwise.
			gap := time.Second
			if n := len(tr.Arrivals); n > 1 && tr.Span() > 0 {
				gap = tr.Span() / time.Duration(n-1)
			}
			st.Scenario.Duration = tr.Span() + gap
		}
	}
	if err := checkSettings(&st); err != nil {
		return reportSettingsError(stderr, err, values, sf)
	}

	var (
		res *Result
		cmp *Comparison
		err error
	)
	if st.Compare {
		cmp, err = Compare(st.Scenario)
		if cmp != nil {
			res = cmp.Baseline
		}
	} else {
		res, err = Run(st.Scenario)
	}
	if err != nil {
		return reportSettingsError(stderr, err, values, sf)
	}

	var buf bytes.Buffer
	switch st.Format {
	case FormatJSON:
		err = WriteJSON(&buf, res, cmp)
	case FormatHTML:
		err = WriteHTML(&buf, res, cmp)
	default:
		err = WriteText(&buf, res, cmp)
	}
	if err != nil {
		fmt.Fprintf(stderr, "apimgw simulate: %v\n", err)
		return exitInput
	}
	if *out == "" {
		if _, err := stdout.Write(buf.Bytes()); err != nil {
			fmt.Fprintf(stderr, "apimgw simulate: write report: %v\n", err)
			return exitInput
		}
		return exitOK
	}
	if err := os.WriteFile(*out, buf.Bytes(), 0o644); err != nil {
		fmt.Fprintf(stderr, "apimgw simulate: write report: %v\n", err)
		return exitInput
	}
	return exitOK
}

func given(values []*flagValue, name string) bool {
	for _, v := range values {
		if v.opt.name == name {
			return v.given
		}
	}
	return false
}

// checkSettings validates what is not part of the Scenario, then the
// Scenario.
func checkSettings(st *settings) error {
	switch st.Format {
	case FormatText, FormatJSON, FormatHTML:
	default:
		return &FieldError{Field: "format", Err: fmt.Errorf("must be text, json or html, got %q", st.Format)}
	}
	return st.Scenario.Validate()
}

// reportSettingsError prints a scenario error against where the value
// came from: a flag is a usage error (2), a file key an input error (1)
// naming the file and line.
func reportSettingsError(stderr io.Writer, err error, values []*flagValue, sf *scenarioFile) int {
	var fe *FieldError
	if errors.As(err, &fe) {
		if given(values, fe.Field) {
			fmt.Fprintf(stderr, "apimgw simulate: --%s: %v\n", fe.Field, fe.Err)
			return exitUsage
		}
		if sf != nil {
			if p, ok := sf.pos[fe.Field]; ok {
				fmt.Fprintf(stderr, "apimgw simulate: %s:%d:%d: %s: %v\n", sf.path, p.line, p.col, fe.Field, fe.Err)
				return exitInput
			}
			fmt.Fprintf(stderr, "apimgw simulate: %s: %s: %v\n", sf.path, fe.Field, fe.Err)
			return exitInput
		}
		fmt.Fprintf(stderr, "apimgw simulate: %s: %v (see --%s)\n", fe.Field, fe.Err, fe.Field)
		return exitUsage
	}
	fmt.Fprintf(stderr, "apimgw simulate: %s\n", strings.TrimPrefix(err.Error(), "scenario: "))
	return exitInput
}
