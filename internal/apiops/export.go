package apiops

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// keepFalse are the keys whose false is not the default (pointer
// booleans): written out even when false.
var keepFalse = map[string]bool{
	"subscriptionRequired": true, "keepAlive": true, "isCurrent": true, "serviceUrlFromOpenapi": true,
	"validateCertificateChain": true, "validateCertificateName": true,
}

// Export writes the loaded extract as a gateway.yaml and its policy,
// fragment and specification files into outDir, for users who want to own
// the result. Placeholders are marked with a comment. It returns the path
// of the gateway.yaml written.
func Export(res *Result, outDir string) (string, error) {
	if res.Raw == nil || res.Config == nil {
		return "", fmt.Errorf("nothing loaded")
	}
	out, err := filepath.Abs(outDir)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", err
	}
	cfg := res.Config
	root := cfg.File
	if i := strings.Index(root, " (overlay "); i >= 0 {
		root = root[:i]
	}
	e := &exporter{out: out, root: root, cfgDir: cfg.Dir, sources: cfg.PolicySources, written: map[string]string{}}
	node := res.Raw
	if node.Kind == yaml.DocumentNode && len(node.Content) > 0 {
		node = node.Content[0]
	}
	e.prune(node, "", "")
	if len(cfg.FragmentFiles) > 0 {
		ids := make([]string, 0, len(cfg.FragmentFiles))
		for id := range cfg.FragmentFiles {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		if cfg.Fragments != "" {
			// The overlay's own fragments folder, copied beside them.
			entries, _ := os.ReadDir(cfg.Path(cfg.Fragments))
			for _, en := range entries {
				if !en.IsDir() && strings.HasSuffix(en.Name(), ".xml") {
					if err := e.copy(filepath.Join(cfg.Path(cfg.Fragments), en.Name()), filepath.Join("fragments", en.Name())); err != nil {
						return "", err
					}
				}
			}
		}
		for _, id := range ids {
			if err := e.copy(cfg.FragmentFiles[id], filepath.Join("fragments", id+".xml")); err != nil {
				return "", err
			}
		}
		setKey(node, "fragments", "fragments")
	}
	if e.err != nil {
		return "", e.err
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "# apimgw gateway.yaml imported from the APIOps extract %s\n", root)
	if len(res.Placeholders) > 0 {
		fmt.Fprintf(&buf, "# %d secret(s) are placeholders (marked PLACEHOLDER): replace them before serving.\n", len(res.Placeholders))
	}
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(node); err != nil {
		return "", err
	}
	enc.Close()
	file := filepath.Join(out, "gateway.yaml")
	return file, os.WriteFile(file, buf.Bytes(), 0o644)
}

type exporter struct {
	out, root, cfgDir string
	sources           map[string][]byte
	written           map[string]string // source path → relative output path
	n                 int
	err               error
}

// copy writes the policy or file at src (or its PolicySources content) to
// rel under the output folder.
func (e *exporter) copy(src, rel string) error {
	data, ok := e.sources[src]
	if !ok {
		var err error
		if data, err = os.ReadFile(src); err != nil {
			return err
		}
	}
	dst := filepath.Join(e.out, rel)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return os.WriteFile(dst, data, 0o644)
}

// file copies a policy or specification file into the output folder once
// and returns its path relative to it: files of the extract keep their
// place in it under policies/, others are numbered.
func (e *exporter) file(v string) string {
	if rel, ok := e.written[v]; ok {
		return rel
	}
	src := v
	var rel string
	if e.sources[v] != nil {
		e.n++
		rel = filepath.Join("policies", fmt.Sprintf("override-%d.xml", e.n))
	} else {
		if !filepath.IsAbs(src) {
			src = filepath.Join(e.cfgDir, v)
		}
		if r, err := filepath.Rel(e.root, src); err == nil && !strings.HasPrefix(r, "..") {
			rel = filepath.Join("policies", r)
		} else {
			e.n++
			rel = filepath.Join("policies", "overlay", fmt.Sprintf("%d-%s", e.n, filepath.Base(src)))
		}
	}
	if err := e.copy(src, rel); err != nil && e.err == nil {
		e.err = err
	}
	e.written[v] = filepath.ToSlash(rel)
	return e.written[v]
}

// resourceMaps are the top-level maps of resources by id, whose entries
// are kept even when empty.
var resourceMaps = map[string]bool{"products": true, "backends": true, "versionSets": true, "loggers": true, "namedValues": true}

// pathKeys are keys holding file paths of the overlay, by parent key,
// made absolute so the output's gateway.yaml finds them.
var pathKeys = map[string]map[string]bool{
	"tls": {"cert": true, "key": true}, "logs": {"path": true}, "loggers": {"path": true},
	"certificates": {"cert": true, "key": true, "pfx": true}, "caCertificates": {"path": true},
	"managedIdentity": {"file": true},
}

// prune drops what a hand-written gateway.yaml leaves out (positions,
// empty and default values), copies the files it names and marks
// placeholders.
func (e *exporter) prune(n *yaml.Node, key, section string) {
	switch n.Kind {
	case yaml.MappingNode:
		var kept []*yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Value == "pos" || k.Value == "Pos" {
				continue
			}
			sec := section
			if section == "" {
				sec = k.Value // top-level key: the section the value is in
			}
			e.prune(v, k.Value, sec)
			if empty(v, k.Value) && !(key == section && resourceMaps[section]) {
				continue
			}
			if v.Kind == yaml.ScalarNode && v.Tag == "!!str" && v.Value != "" {
				switch {
				case (k.Value == "policy" || k.Value == "openapi") && section != "":
					v.Value = e.file(v.Value)
				case pathKeys[section][k.Value] && !filepath.IsAbs(v.Value) && v.Value != "-":
					v.Value = filepath.Join(e.cfgDir, v.Value)
				}
			}
			kept = append(kept, k, v)
		}
		n.Content = kept
	case yaml.SequenceNode:
		for _, c := range n.Content {
			e.prune(c, key, section)
		}
	case yaml.ScalarNode:
		if strings.Contains(n.Value, PlaceholderMark) {
			n.LineComment = "PLACEHOLDER: replace with the real secret before serving"
		}
	}
	if key == "" && n.Kind == yaml.MappingNode {
		// The top level: the global policy is a top-level key.
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k, v := n.Content[i], n.Content[i+1]; k.Value == "policy" && v.Kind == yaml.ScalarNode && v.Value != "" {
				v.Value = e.file(v.Value)
			}
		}
	}
}

// empty reports whether a value says nothing (null, "", 0, false where
// false is the default, an empty list or mapping).
func empty(v *yaml.Node, key string) bool {
	switch v.Kind {
	case yaml.ScalarNode:
		switch v.Tag {
		case "!!null":
			return true
		case "!!str":
			return v.Value == "" || v.Value == "0s" && key != "tripDuration" && key != "interval"
		case "!!int", "!!float":
			return v.Value == "0"
		case "!!bool":
			return v.Value == "false" && !keepFalse[key]
		}
	case yaml.MappingNode, yaml.SequenceNode:
		return len(v.Content) == 0
	}
	return false
}

func setKey(n *yaml.Node, key, value string) {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			n.Content[i+1] = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: value}
			return
		}
	}
	n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key},
		&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: value})
}
