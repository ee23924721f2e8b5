package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/apimgw/apimgw/internal/apiops"
	"github.com/apimgw/apimgw/internal/config"
	"github.com/apimgw/apimgw/internal/gateway"
	"github.com/apimgw/apimgw/internal/policy"
)

// apiopsFlags are the flags that read an APIOps extract (serve,
// validate, import).
type apiopsFlags struct {
	dir        *string
	overrides  multiFlag
	secrets    *string
	secretsDir *string
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func addAPIOpsFlags(fs *flag.FlagSet, withDir bool) *apiopsFlags {
	f := &apiopsFlags{}
	if withDir {
		f.dir = fs.String("apiops", "", "an APIOps extractor artifact folder (the service folder) to serve; -c is then an overlay gateway.yaml")
	} else {
		empty := ""
		f.dir = &empty
	}
	fs.Var(&f.overrides, "apiops-config", "with --apiops: a configuration.<env>.yaml publisher override file (repeatable)")
	f.secrets = fs.String("secrets", "", "with --apiops: \"placeholder\" fills missing secrets with placeholders (validate and import only)")
	f.secretsDir = fs.String("secrets-dir", "", "with --apiops: folder of secret files (a mounted Kubernetes Secret; default $"+apiops.EnvSecretsDir+")")
	return f
}

// options checks the flags and returns the load options; overlay is the
// -c file when one was given.
func (f *apiopsFlags) options(overlay string, allowPlaceholders bool) (apiops.Options, error) {
	o := apiops.Options{Dir: *f.dir, Overlay: overlay, Overrides: f.overrides, SecretsDir: *f.secretsDir}
	switch *f.secrets {
	case "":
	case "placeholder":
		if !allowPlaceholders {
			return o, fmt.Errorf("--secrets=placeholder is for a dry run (validate, import): serve needs the real secrets")
		}
		o.Placeholders = true
	default:
		return o, fmt.Errorf("--secrets: the one value is placeholder, got %q", *f.secrets)
	}
	return o, nil
}

// flagSet reports whether the flag name was given.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			set = true
		}
	})
	return set
}

// apiopsLoader returns the loader serve uses at start and on every reload.
func apiopsLoader(o apiops.Options) func() (*config.Config, error) {
	return func() (*config.Config, error) {
		res, err := apiops.Load(o)
		if err != nil {
			return nil, err
		}
		return res.Config, nil
	}
}

// validateAPIOps is validate --apiops: load the extract, compile it, and
// print the summary (with -v, what was ignored).
func validateAPIOps(o apiops.Options, verbose bool, stdout, stderr io.Writer) int {
	res, err := apiops.Load(o)
	if err != nil {
		printErrors(stderr, err)
		return 1
	}
	warn := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}}))
	plan, err := gateway.Build(res.Config, &policy.Env{Log: warn}, nil)
	if err != nil {
		printErrors(stderr, err)
		return 1
	}
	apis, ops := plan.Count()
	plan.Close()
	if verbose {
		for _, ig := range res.Ignored {
			fmt.Fprintf(stdout, "ignored %s\n", ig)
		}
	}
	for _, p := range res.Placeholders {
		fmt.Fprintf(stderr, "placeholder for %s %q\n", p.Kind, p.Name)
	}
	cfg := res.Config
	fmt.Fprintf(stdout, "%s: OK (%d APIs, %d operations, %d products, %d backends, %d subscriptions, %d named values, %d fragments, %d version sets)\n",
		o.Dir, apis, ops, len(cfg.Products), len(cfg.Backends), len(cfg.Subscriptions), len(cfg.NamedValues), len(cfg.FragmentFiles), len(cfg.VersionSets))
	return 0
}

// importCmd is `apimgw import apiops DIR -o OUTDIR`.
func importCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "apiops" {
		fmt.Fprintln(stderr, "usage: apimgw import apiops DIR -o OUTDIR [-c overlay.yaml] [--apiops-config FILE] [--secrets=placeholder] [--secrets-dir DIR]")
		return 2
	}
	fs := flag.NewFlagSet("import apiops", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", "", "output folder for gateway.yaml and the policy files")
	overlay := fs.String("c", "", "overlay gateway.yaml merged over the extract")
	af := addAPIOpsFlags(fs, false)
	// DIR may come before or after the flags.
	rest := args[1:]
	var dir string
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		dir, rest = rest[0], rest[1:]
	}
	if err := fs.Parse(rest); err != nil {
		return 2
	}
	if dir == "" && fs.NArg() > 0 {
		dir = fs.Arg(0)
		if err := fs.Parse(fs.Args()[1:]); err != nil {
			return 2
		}
	}
	if dir == "" || *out == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: apimgw import apiops DIR -o OUTDIR [-c overlay.yaml] [--apiops-config FILE] [--secrets=placeholder]")
		return 2
	}
	*af.dir = dir
	o, err := af.options(*overlay, true)
	if err != nil {
		fmt.Fprintln(stderr, "apimgw import:", err)
		return 2
	}
	res, err := apiops.Load(o)
	if err != nil {
		printErrors(stderr, err)
		return 1
	}
	// What the gateway would refuse, import refuses too.
	plan, err := gateway.Build(res.Config, &policy.Env{}, nil)
	if err != nil {
		printErrors(stderr, err)
		return 1
	}
	plan.Close()
	file, err := apiops.Export(res, *out)
	if err != nil {
		fmt.Fprintln(stderr, "apimgw import:", err)
		return 1
	}
	for _, p := range res.Placeholders {
		fmt.Fprintf(stderr, "placeholder for %s %q (marked PLACEHOLDER in %s)\n", p.Kind, p.Name, file)
	}
	fmt.Fprintf(stdout, "wrote %s\n", file)
	return 0
}

// printAPIOpsErrors prints an extract's errors one per line, reporting
// whether err was one.
func printAPIOpsErrors(w io.Writer, err error) bool {
	var list apiops.ErrorList
	var one *apiops.Error
	switch {
	case errors.As(err, &list):
		for _, e := range list {
			printErrors(w, e)
		}
	case errors.As(err, &one):
		fmt.Fprintln(w, one)
	default:
		return false
	}
	return true
}
