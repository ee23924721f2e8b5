package expr

import (
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// corpusDir is the shared APIM policy corpus, relative to this package.
const corpusDir = "../../../shared/apim-policy-corpus"

// extractExpressions finds every @(...) / @{...} in a policy file. A strictly
// well-formed file is read with encoding/xml (so entities are decoded) and
// only attribute values and text that start with '@' are scanned; a raw
// ("rawxml") file is scanned directly.
func extractExpressions(data string) []string {
	if vals, ok := xmlValues(data); ok {
		var out []string
		for _, v := range vals {
			t := strings.TrimSpace(v)
			if IsExpression(t) {
				if e := scanExpression(t, 0); e != "" {
					out = append(out, e)
				}
			}
		}
		return out
	}
	var out []string
	for i := 0; i < len(data)-1; i++ {
		if data[i] == '@' && (data[i+1] == '(' || data[i+1] == '{') {
			// must start an attribute value or element text
			j := i - 1
			for j >= 0 && (data[j] == ' ' || data[j] == '\t' || data[j] == '\n' || data[j] == '\r') {
				j--
			}
			if j < 0 || (data[j] != '"' && data[j] != '\'' && data[j] != '>') {
				continue
			}
			if e := scanExpression(data, i); e != "" {
				i += len(e) - 1
				// rawxml still decodes XML entities in attribute values and text
				out = append(out, xmlEntities.Replace(e))
			}
		}
	}
	return out
}

func xmlValues(data string) ([]string, bool) {
	d := xml.NewDecoder(strings.NewReader(data))
	d.Strict = true
	var vals []string
	var text strings.Builder
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return vals, true
		}
		if err != nil {
			return nil, false
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if s := strings.TrimSpace(text.String()); s != "" {
				vals = append(vals, s)
			}
			text.Reset()
			for _, a := range t.Attr {
				vals = append(vals, a.Value)
			}
		case xml.EndElement:
			if s := strings.TrimSpace(text.String()); s != "" {
				vals = append(vals, s)
			}
			text.Reset()
		case xml.CharData:
			text.Write(t)
		}
	}
}

// scanExpression returns the expression starting at s[i] ("@(" or "@{") up
// to its matching bracket, skipping C# strings, chars and comments.
func scanExpression(s string, i int) string {
	open := s[i+1]
	closeCh := byte(')')
	if open == '{' {
		closeCh = '}'
	}
	depth := 0
	for j := i + 1; j < len(s); j++ {
		c := s[j]
		switch {
		case c == '/' && j+1 < len(s) && s[j+1] == '/':
			for j < len(s) && s[j] != '\n' {
				j++
			}
		case c == '/' && j+1 < len(s) && s[j+1] == '*':
			k := strings.Index(s[j+2:], "*/")
			if k < 0 {
				return ""
			}
			j += k + 3
		case c == '"':
			verbatim := j > 0 && (s[j-1] == '@' || (s[j-1] == '$' && j > 1 && s[j-2] == '@'))
			interp := j > 0 && (s[j-1] == '$' || (s[j-1] == '@' && j > 1 && s[j-2] == '$'))
			j = skipString(s, j, verbatim, interp)
			if j < 0 {
				return ""
			}
		case c == '\'':
			k := j + 1
			if k < len(s) && s[k] == '\\' {
				k += 2
			} else {
				k++
			}
			for k < len(s) && s[k] != '\'' && k-j < 10 {
				k++
			}
			if k < len(s) && s[k] == '\'' {
				j = k
			}
		case c == open || (open == '(' && c == '(') || (open == '{' && c == '{'):
			depth++
		case c == closeCh:
			depth--
			if depth == 0 {
				return s[i : j+1]
			}
		}
	}
	return ""
}

// skipString returns the index of the closing quote of a string at s[j].
func skipString(s string, j int, verbatim, interp bool) int {
	depth := 0
	for k := j + 1; k < len(s); k++ {
		c := s[k]
		if interp && depth == 0 && c == '{' {
			if k+1 < len(s) && s[k+1] == '{' {
				k++
				continue
			}
			depth++
			continue
		}
		if interp && depth > 0 {
			switch c {
			case '{':
				depth++
			case '}':
				depth--
			case '"':
				n := skipString(s, k, false, false)
				if n < 0 {
					return -1
				}
				k = n
			}
			continue
		}
		if verbatim {
			if c == '"' {
				if k+1 < len(s) && s[k+1] == '"' {
					k++
					continue
				}
				return k
			}
			continue
		}
		if c == '\\' {
			k++
			continue
		}
		if c == '"' {
			return k
		}
		if c == '\n' {
			return -1
		}
	}
	return -1
}

var xmlEntities = strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">", "&quot;", "\"", "&apos;", "'")

var (
	namedValueRe  = regexp.MustCompile(`\{\{[^{}]+\}\}`)
	placeholderRe = regexp.MustCompile(`\{[a-z][a-z0-9-]*\}|__[A-Z][A-Z0-9_]*__|\$\{[A-Za-z0-9_]+\}`)
)

func TestCorpusCompiles(t *testing.T) {
	if _, err := os.Stat(corpusDir); err != nil {
		t.Skipf("corpus not found at %s: %v", corpusDir, err)
	}
	seen := map[string]bool{}
	total, ok := 0, 0
	failures := map[string]int{}
	examples := map[string]string{}
	err := filepath.WalkDir(corpusDir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".xml") {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		// named values are substituted before parsing: a number where an
		// operand is expected, otherwise text
		raw := string(data)
		var sb strings.Builder
		last := 0
		for _, loc := range namedValueRe.FindAllStringIndex(raw, -1) {
			sb.WriteString(raw[last:loc[0]])
			prev := strings.TrimRight(raw[:loc[0]], " ")
			if prev != "" && strings.ContainsAny(prev[len(prev)-1:], "=<>!+-*/(,?:") {
				sb.WriteString("1")
			} else {
				sb.WriteString("nv")
			}
			last = loc[1]
		}
		sb.WriteString(raw[last:])
		text := sb.String()
		for _, e := range extractExpressions(text) {
			e = placeholderRe.ReplaceAllStringFunc(e, func(m string) string {
				if strings.HasPrefix(m, "{") && !strings.Contains(e, "$\"") {
					return "x"
				}
				return m
			})
			if seen[e] {
				continue
			}
			seen[e] = true
			total++
			p, err := Compile(e)
			if err == nil {
				// evaluation against a fixed context may fail (missing
				// variables) but must not hit a Go runtime error
				if _, rerr := p.Eval(testContext()); rerr != nil && strings.HasPrefix(rerr.Error(), "internal error") {
					t.Errorf("%s: %s: %v", path, firstLine(e), rerr)
				}
			}
			if err != nil {
				msg := err.Error()
				if i := strings.Index(msg, ": "); i >= 0 {
					msg = msg[i+2:]
				}
				failures[msg]++
				if _, have := examples[msg]; !have {
					examples[msg] = path + ": " + firstLine(e)
				}
				continue
			}
			ok++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	type kv struct {
		msg string
		n   int
	}
	var list []kv
	for m, n := range failures {
		list = append(list, kv{m, n})
	}
	sort.Slice(list, func(i, j int) bool {
		return list[i].n > list[j].n || list[i].n == list[j].n && list[i].msg < list[j].msg
	})
	ratio := float64(ok) / float64(max(total, 1))
	t.Logf("corpus: %d/%d unique expressions compile (%.1f%%)", ok, total, 100*ratio)
	for i, f := range list {
		if i >= 40 {
			break
		}
		t.Logf("%4d  %s\n        e.g. %s", f.n, f.msg, examples[f.msg])
	}
	if ratio < 0.95 {
		t.Errorf("only %.1f%% of corpus expressions compile; want >= 95%%", 100*ratio)
	}
}

func firstLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 160 {
		s = s[:160] + "..."
	}
	return s
}
