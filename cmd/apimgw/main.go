// Command apimgw is the apimgw gateway and its tools: serve, validate,
// diagnose, simulate and version. See SPEC.md §1 for the command line.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/redis/go-redis/v9"

	"github.com/apimgw/apimgw/internal/config"
	"github.com/apimgw/apimgw/internal/diagnose"
	"github.com/apimgw/apimgw/internal/gateway"
	"github.com/apimgw/apimgw/internal/gcpace"
	"github.com/apimgw/apimgw/internal/policy"
	"github.com/apimgw/apimgw/internal/sim"
)

// version, commit and date are set at build time with -ldflags
// "-X main.version=... -X main.commit=... -X main.date=..."; left empty, they
// come from the binary's build info (version.go).
var version, commit, date string

const usage = `apimgw — an API gateway for Azure API Management style APIs and policies

Usage:
  apimgw serve [-c FILE]                 run the gateway (default ./gateway.yaml)
  apimgw validate -c FILE                compile the whole configuration and report every error
  apimgw validate --policy FILE... [--fragments DIR]
                                         compile standalone policy files
  apimgw serve|validate --apiops DIR [-c OVERLAY] [--apiops-config FILE] [-v]
                                         serve or check an APIOps extract (docs/apiops.md)
  apimgw import apiops DIR -o OUTDIR     write an APIOps extract as gateway.yaml and policy files
  apimgw diagnose [--format text|json|html] [-o OUT] LOGFILE...
  apimgw diagnose --watch [--window 1m] LOGFILE
  apimgw simulate [flags] | -f SCENARIO  predict outbound port usage and failures
  apimgw healthcheck [-admin ADDR]       exit 0 when the admin /healthz answers 200 (container health checks)
  apimgw version                         print version, commit and build date
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run dispatches a subcommand and returns the exit code: 0 success, 1 bad
// input, 2 usage error.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return serve(args[1:], stderr)
	case "validate":
		return validate(args[1:], stdout, stderr)
	case "import":
		return importCmd(args[1:], stdout, stderr)
	case "diagnose":
		return diagnose.Main(args[1:], stdout, stderr)
	case "simulate":
		return sim.Main(args[1:], stdout, stderr)
	case "version", "--version", "-version":
		printVersion(stdout)
		return 0
	case "healthcheck":
		return healthcheck(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "apimgw: unknown command %q\n\n%s", args[0], usage)
	return 2
}

func serve(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("c", "gateway.yaml", "configuration file")
	level := fs.String("log-level", "info", "diagnostic log level: debug, info, warn, error")
	af := addAPIOpsFlags(fs, true)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var load func() (*config.Config, error)
	if *af.dir != "" {
		overlay := ""
		if flagSet(fs, "c") {
			overlay = *file
		}
		o, err := af.options(overlay, false)
		if err != nil {
			fmt.Fprintln(stderr, "apimgw serve:", err)
			return 2
		}
		load, *file = apiopsLoader(o), *af.dir
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "apimgw serve: unexpected arguments %v\n", fs.Args())
		return 2
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(*level)); err != nil {
		fmt.Fprintf(stderr, "apimgw serve: -log-level: %v\n", err)
		return 2
	}
	// A gateway allocates short-lived garbage per request and little else:
	// trading some memory for fewer collections buys ~10% throughput
	// (docs/benchmarks.md), up to GOGC=400 for a small live heap, less for
	// a large configuration's (gcpace). GOGC in the environment still wins.
	if os.Getenv("GOGC") == "" {
		defer gcpace.Start()()
	}
	// Diagnostics go to stderr; stdout is the request log by default.
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lv}))
	// go-redis logs dial failures through a process-wide logger; route them
	// into the diagnostic log at debug level (the store itself reports a
	// Redis outage once, as a warning, and in its metrics).
	redis.SetLogger(redisLogger{log})
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	reload := make(chan struct{}, 1)
	go func() {
		for range hup {
			select {
			case reload <- struct{}{}:
			default:
			}
		}
	}()
	err := gateway.Serve(ctx, gateway.ServeOptions{ConfigPath: *file, Log: log, Reload: reload, Load: load})
	if err != nil {
		printErrors(stderr, err)
		return 1
	}
	return 0
}

// redisLogger adapts slog to go-redis's logger.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, fmt.Sprintf(format, v...), "component", "redis")
}

func validate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("c", "", "configuration file")
	policyMode := fs.Bool("policy", false, "compile the arguments as standalone policy files")
	fragments := fs.String("fragments", "", "with --policy: folder of policy fragments")
	af := addAPIOpsFlags(fs, true)
	verbose := fs.Bool("v", false, "with --apiops: list what the extract holds that is ignored, and why")
	// Flags may follow the files (validate --policy a.xml --fragments DIR).
	var files []string
	for rest := args; ; {
		if err := fs.Parse(rest); err != nil {
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		files = append(files, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if *af.dir != "" {
		if len(files) > 0 {
			fmt.Fprintf(stderr, "apimgw validate --apiops: unexpected arguments %v\n", files)
			return 2
		}
		o, err := af.options(*file, true)
		if err != nil {
			fmt.Fprintln(stderr, "apimgw validate:", err)
			return 2
		}
		return validateAPIOps(o, *verbose, stdout, stderr)
	}
	if *policyMode {
		return validatePolicies(files, *fragments, stdout, stderr)
	}
	if *file == "" {
		if len(files) == 1 {
			*file = files[0]
			files = nil
		}
	}
	if len(files) > 0 {
		fmt.Fprintf(stderr, "apimgw validate: unexpected arguments %v\n", files)
		return 2
	}
	if *file == "" {
		fmt.Fprintln(stderr, "apimgw validate: -c FILE is required")
		return 2
	}
	cfg, err := config.Load(*file)
	if err == nil {
		var plan *gateway.Plan
		// Warnings (an expired certificate, connections above the port
		// budget) go to stderr; they do not fail the validation.
		warn := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn,
			ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
				if a.Key == slog.TimeKey {
					return slog.Attr{}
				}
				return a
			}}))
		if plan, err = gateway.Build(cfg, &policy.Env{Log: warn}, nil); err == nil {
			plan.Close()
		}
	}
	if err != nil {
		printErrors(stderr, err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: OK (%d APIs, %d backends, %d products, %d subscriptions)\n",
		*file, len(cfg.Apis), len(cfg.Backends), len(cfg.Products), len(cfg.Subscriptions))
	return 0
}

// validatePolicies lints standalone policy files (validate --policy). A
// named value or fragment that was not given is unknown: it causes no
// error, and the output lists it as needed. With --fragments DIR, every
// included fragment must be in DIR.
func validatePolicies(files []string, fragments string, stdout, stderr io.Writer) int {
	if len(files) == 0 {
		fmt.Fprintln(stderr, "apimgw validate --policy: name at least one policy file")
		return 2
	}
	if fragments != "" {
		if fi, err := os.Stat(fragments); err != nil {
			fmt.Fprintf(stderr, "apimgw validate: --fragments: %v\n", err)
			return 2
		} else if !fi.IsDir() {
			fmt.Fprintf(stderr, "apimgw validate: --fragments %s: not a directory (want the folder of <fragment-id>.xml files)\n", fragments)
			return 2
		}
	}
	c := &policy.Compiler{FragmentsDir: fragments, AnyNamedValue: true}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", f, err)
			return 1
		}
		c.CompileDocument(f, src)
	}
	needs := func(w io.Writer) {
		if nv := c.NeededNamedValues(); len(nv) > 0 {
			fmt.Fprintf(w, "needs named values (not given, not checked): %s\n", strings.Join(nv, ", "))
		}
		if fr := c.NeededFragments(); len(fr) > 0 {
			fmt.Fprintf(w, "needs fragments (not checked; pass --fragments DIR): %s\n", strings.Join(fr, ", "))
		}
	}
	if errs := c.Errors(); len(errs) > 0 {
		for _, e := range errs {
			fmt.Fprintln(stderr, e)
		}
		needs(stderr)
		return 1
	}
	fmt.Fprintf(stdout, "%d policy file(s) OK\n", len(files))
	needs(stdout)
	return 0
}

// printErrors prints one error per line (config and build errors are lists).
func printErrors(w io.Writer, err error) {
	var list config.ErrorList
	var build *gateway.BuildError
	switch {
	case errors.As(err, &list):
		for _, e := range list {
			fmt.Fprintln(w, e)
		}
	case errors.As(err, &build):
		for _, e := range build.Errs {
			fmt.Fprintln(w, e)
		}
	default:
		if printAPIOpsErrors(w, err) {
			return
		}
		fmt.Fprintln(w, "apimgw:", err)
	}
}
