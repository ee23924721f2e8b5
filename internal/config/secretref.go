package config

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// secretRef is a whole scalar value of the form ${file:PATH} or ${env:NAME}:
// the value is read from a file (a mounted Kubernetes Secret, a systemd
// credential) or an environment variable when the configuration loads (and
// reloads), so keys and passwords need not be written into gateway.yaml.
var secretRef = regexp.MustCompile(`^\$\{(file|env):([^{}]+)\}$`)

// expandSecretRefs replaces every scalar value that is a secretRef by what it
// names. A relative PATH is relative to the configuration file's folder; one
// trailing newline of a file is dropped (echo and kubectl create secret
// --from-file leave one). Mapping keys are never expanded.
func expandSecretRefs(file string, n *yaml.Node) ErrorList {
	var errs ErrorList
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		switch n.Kind {
		case yaml.DocumentNode, yaml.SequenceNode:
			for _, c := range n.Content {
				walk(c)
			}
		case yaml.MappingNode:
			for i := 1; i < len(n.Content); i += 2 {
				walk(n.Content[i])
			}
		case yaml.ScalarNode:
			m := secretRef.FindStringSubmatch(n.Value)
			if m == nil || n.Tag != "!!str" {
				return
			}
			switch m[1] {
			case "env":
				v, ok := os.LookupEnv(m[2])
				if !ok {
					errs = append(errs, &Error{File: file, Line: n.Line, Col: n.Column, Msg: fmt.Sprintf("environment variable %s is not set", m[2])})
					return
				}
				n.Value = v
			case "file":
				p := m[2]
				if !filepath.IsAbs(p) {
					p = filepath.Join(filepath.Dir(file), p)
				}
				b, err := os.ReadFile(p)
				if err != nil {
					errs = append(errs, &Error{File: file, Line: n.Line, Col: n.Column, Msg: fmt.Sprintf("read secret: %v", err)})
					return
				}
				v := strings.TrimSuffix(string(b), "\n")
				n.Value = strings.TrimSuffix(v, "\r")
			}
			// The value is data, not YAML: keep it a string.
			n.Style = yaml.DoubleQuotedStyle
		}
	}
	walk(n)
	return errs
}
