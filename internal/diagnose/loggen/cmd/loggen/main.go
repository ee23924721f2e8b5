// Command loggen writes a labelled test log for `apimgw diagnose`:
//
//	go run ./internal/diagnose/loggen/cmd/loggen -scenario snat-exhaustion -format jsonl > gateway.jsonl
//	go run ./internal/diagnose/loggen/cmd/loggen -scenario backend-timeouts -format csv-us > export.csv
//
// The expected verdict and incidents are printed on stderr.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/apimgw/apimgw/internal/diagnose/loggen"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("loggen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	scenario := fs.String("scenario", "snat-exhaustion", "scenario: "+strings.Join(loggen.Names(), ", "))
	format := fs.String("format", "jsonl", "jsonl, csv, csv-us, json-tables or json-array")
	seed := fs.Uint64("seed", 1, "random seed")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	s, err := loggen.Generate(*scenario, *seed)
	if err != nil {
		fmt.Fprintln(stderr, "loggen:", err)
		return 2
	}
	w := bufio.NewWriter(stdout)
	switch *format {
	case "jsonl":
		err = loggen.WriteJSONLines(w, s.Records)
	case "csv":
		err = loggen.WriteCSV(w, s.Records, loggen.TimeISO)
	case "csv-us":
		err = loggen.WriteCSV(w, s.Records, loggen.TimeUS)
	case "json-tables":
		err = loggen.WriteJSONTables(w, s.Records)
	case "json-array":
		err = loggen.WriteJSONArray(w, s.Records)
	default:
		fmt.Fprintf(stderr, "loggen: unknown -format %q\n", *format)
		return 2
	}
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		fmt.Fprintln(stderr, "loggen:", err)
		return 1
	}
	fmt.Fprintf(stderr, "%s: %d records, verdict %s\n", s.Name, len(s.Records), s.Verdict)
	for _, l := range s.Labels {
		fmt.Fprintf(stderr, "  incident %s %s–%s %s\n", l.Cause, l.Start.Format("15:04"), l.End.Format("15:04"), l.BackendURL)
	}
	return 0
}
