package policyxml

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// stdTree parses src with encoding/xml (strict) into a canonical string of
// element local names, attributes and text, or reports that it cannot.
func stdTree(src []byte) (string, error) {
	d := xml.NewDecoder(bytes.NewReader(src))
	d.Strict = true
	var b strings.Builder
	depth := 0
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return b.String(), nil
		}
		if err != nil {
			return "", err
		}
		switch tk := tok.(type) {
		case xml.StartElement:
			depth++
			fmt.Fprintf(&b, "<%s", tk.Name.Local)
			for _, a := range tk.Attr {
				fmt.Fprintf(&b, " %s=%q", a.Name.Local, a.Value)
			}
			b.WriteString(">")
		case xml.EndElement:
			depth--
			fmt.Fprintf(&b, "</%s>", tk.Name.Local)
		case xml.CharData:
			if depth > 0 {
				fmt.Fprintf(&b, "%q", string(tk))
			}
		}
	}
}

// local strips a namespace prefix, as encoding/xml reports local names.
func local(name string) string {
	if i := strings.LastIndexByte(name, ':'); i >= 0 {
		return name[i+1:]
	}
	return name
}

// ourTree renders a Document in the same canonical form as stdTree.
func ourTree(doc *Document) string {
	var b strings.Builder
	var walk func(e *Element)
	walk = func(e *Element) {
		fmt.Fprintf(&b, "<%s", local(e.Name))
		for _, a := range e.Attrs {
			fmt.Fprintf(&b, " %s=%q", local(a.Name), a.Value)
		}
		b.WriteString(">")
		for _, c := range e.Children {
			switch n := c.(type) {
			case *Element:
				walk(n)
			case *Text:
				fmt.Fprintf(&b, "%q", n.Data)
			}
		}
		fmt.Fprintf(&b, "</%s>", local(e.Name))
	}
	for _, r := range doc.Roots {
		walk(r)
	}
	return b.String()
}

// TestCorpusMatchesEncodingXML checks that on every corpus file that
// encoding/xml accepts, Parse yields the same elements, attributes and text.
func TestCorpusMatchesEncodingXML(t *testing.T) {
	files := corpusFiles(t)
	compared := 0
	for _, rel := range files {
		src, err := os.ReadFile(filepath.Join(corpusDir, rel))
		if err != nil {
			t.Fatal(err)
		}
		doc, err := Parse(rel, src)
		if err != nil {
			continue
		}
		want, err := stdTree(src)
		if err != nil {
			continue
		}
		compared++
		if got := ourTree(doc); got != want {
			i := 0
			for i < len(got) && i < len(want) && got[i] == want[i] {
				i++
			}
			lo := max(0, i-80)
			t.Errorf("%s: differs from encoding/xml at byte %d:\n ours: %s\n  std: %s", rel, i, got[lo:min(len(got), i+80)], want[lo:min(len(want), i+80)])
		}
	}
	t.Logf("compared %d well-formed corpus files with encoding/xml", compared)
}
