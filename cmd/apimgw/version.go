package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// buildInfo is what `apimgw version` prints.
type buildInfo struct {
	Version, Commit, Date string
	Modified              bool
}

// readBuildInfo combines the -ldflags -X values (they win) with the VCS
// information the go command stamps into every binary built from a git
// checkout (vcs.revision, vcs.time, vcs.modified) and the module version
// (set by `go install ...@vX.Y.Z`, or derived from a git tag).
func readBuildInfo() buildInfo {
	b := buildInfo{Version: version, Commit: commit, Date: date}
	bi, ok := debug.ReadBuildInfo()
	if ok {
		if b.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			b.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if b.Commit == "" {
					b.Commit = s.Value
				}
			case "vcs.time":
				if b.Date == "" {
					b.Date = s.Value
				}
			case "vcs.modified":
				// Only meaningful for the revision the go command read;
				// a commit given with -ldflags says nothing about it.
				if commit == "" {
					b.Modified = s.Value == "true"
				}
			}
		}
	}
	if b.Version == "" {
		b.Version = "dev"
	}
	if b.Commit == "" {
		b.Commit = "unknown"
	}
	if b.Date == "" {
		b.Date = "unknown"
	}
	return b
}

func printVersion(w io.Writer) {
	b := readBuildInfo()
	c := b.Commit
	if b.Modified {
		c += " (modified)"
	}
	fmt.Fprintf(w, "apimgw %s\n  commit: %s\n  date:   %s\n  go:     %s %s/%s\n",
		b.Version, c, b.Date, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
