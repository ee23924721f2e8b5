package policyxml

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// corpusDir is the shared APIM policy corpus, relative to this package.
const corpusDir = "../../../../shared/apim-policy-corpus"

// knownBad are the corpus files that do not parse even with APIM rules
// (STATS.md §2, category D), with the position of the first error.
var knownBad = map[string]string{
	"ai-hub-gateway-solution-accelerator/infra/modules/apim/policies/frag-llm-usage.xml":                     "62:5",  // mismatched end tag
	"api-management-policy-snippets/examples/Call out to an HTTP endpoint and cache the response.policy.xml": "41:73", // string literal spanning lines
	"api-management-policy-snippets/examples/Filter response content based on product name.policy.xml":       "2:3",   // "--" inside a comment
}

// corpusFiles returns the corpus .xml files relative to corpusDir, sorted, or
// skips the test when the corpus is absent.
func corpusFiles(t testing.TB) []string {
	t.Helper()
	if _, err := os.Stat(corpusDir); err != nil {
		t.Skipf("policy corpus not found at %s: %v", corpusDir, err)
	}
	var files []string
	err := filepath.WalkDir(corpusDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(path, ".xml") {
			rel, err := filepath.Rel(corpusDir, path)
			if err != nil {
				return err
			}
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk corpus: %v", err)
	}
	sort.Strings(files)
	return files
}

func TestCorpus(t *testing.T) {
	files := corpusFiles(t)
	var ok, bad, exprs int
	roots := map[string]int{}
	for _, rel := range files {
		src, err := os.ReadFile(filepath.Join(corpusDir, rel))
		if err != nil {
			t.Fatal(err)
		}
		doc, err := Parse(rel, src)
		wantPos, isBad := knownBad[rel]
		if isBad {
			bad++
			var se *SyntaxError
			if err == nil {
				t.Errorf("%s: parsed, want an error (known-bad file)", rel)
			} else if !errors.As(err, &se) || !se.Pos.IsValid() || se.Filename != rel {
				t.Errorf("%s: error %v is not a positioned *SyntaxError", rel, err)
			} else if wantPos != "" && se.Pos.String() != wantPos {
				t.Errorf("%s: error at %s, want %s: %v", rel, se.Pos, wantPos, err)
			}
			t.Logf("known-bad %v", err)
			continue
		}
		if err != nil {
			t.Errorf("parse: %v", err)
			continue
		}
		ok++
		exprs += checkExprs(t, rel, doc)
		for _, r := range doc.Roots {
			roots[r.Name]++
			if r.Name != "policies" && r.Name != "fragment" && !policyElements[r.Name] {
				t.Errorf("%s:%s: root <%s> is not <policies>, <fragment> or a policy element", rel, r.Pos, r.Name)
			}
		}
	}
	if ok+bad != len(files) || len(files) == 0 {
		t.Errorf("parsed %d + known-bad %d of %d files", ok, bad, len(files))
	}
	t.Logf("corpus: %d files, %d parsed, %d known-bad failed as expected, %d expressions; roots %v", len(files), ok, bad, exprs, roots)
}

// checkExprs checks that every attribute value and element text that starts
// with an expression is exactly one balanced expression, and counts them.
func checkExprs(t *testing.T, rel string, doc *Document) int {
	t.Helper()
	n := 0
	isExpr := func(s string) bool {
		s = strings.TrimLeft(s, " \t\n")
		return strings.HasPrefix(s, "@(") || strings.HasPrefix(s, "@{")
	}
	var walk func(e *Element)
	walk = func(e *Element) {
		for _, a := range e.Attrs {
			if isExpr(a.Value) {
				n++
				if !completeExpr(a.Value) {
					t.Errorf("%s:%s: attribute %s is not one expression: %q", rel, a.ValuePos, a.Name, a.Value)
				}
			}
		}
		if txt := e.Text(); isExpr(txt) {
			n++
			if !completeExpr(txt) {
				t.Errorf("%s:%s: text of <%s> is not one expression: %q", rel, e.Pos, e.Name, txt)
			}
		}
		for _, c := range e.Elements() {
			walk(c)
		}
	}
	for _, r := range doc.Roots {
		walk(r)
	}
	return n
}
