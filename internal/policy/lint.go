package policy

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/apimgw/apimgw/internal/policy/policyxml"
)

// Linting policy files on their own (apimgw validate --policy): named values
// and fragments that were not given are unknown, and an unknown thing causes
// no error. The compiler reports them instead (NeededNamedValues,
// NeededFragments).

// NeededNamedValues returns the names of the named values the compiled
// documents reference that NamedValues lacks (AnyNamedValue), in order of
// first use. Nothing that depends on their values was checked.
func (c *Compiler) NeededNamedValues() []string { return c.neededNamed }

// NeededFragments returns the ids of the fragments the compiled documents
// include while no FragmentsDir was given (AnyNamedValue), in order of
// first use. Their content was not checked.
func (c *Compiler) NeededFragments() []string { return c.neededFragments }

func (c *Compiler) needNamed(name string) {
	if !contains(c.neededNamed, name) {
		c.neededNamed = append(c.neededNamed, name)
	}
}

func (c *Compiler) needFragment(id string) {
	if !contains(c.neededFragments, id) {
		c.neededFragments = append(c.neededFragments, id)
	}
}

// substitution records the placeholders put into one file, to map error
// columns back to the file as written.
type substitution struct {
	src    []byte
	values map[string]string
}

// numVariants is how many placeholder sets a document with unknown named
// values is compiled with (placeholderVariant).
const numVariants = 6

// placeholderVariant is the placeholder of variant v for an unknown named
// value: variant 0 guesses from the name and place (placeholder), the others
// give every unknown name the same kind of value: a number, a boolean, an
// absolute URL, a host name, a base64 key.
func placeholderVariant(name string, src []byte, v int) string {
	switch v {
	case 1:
		return "1"
	case 2:
		return "true"
	case 3:
		return "https://namedvalue.invalid"
	case 4:
		return "namedvalue.invalid"
	case 5:
		return "bmFtZWQtdmFsdWUtcGxhY2Vob2xkZXIta2V5LTAwMDA="
	}
	return placeholder(name, src)
}

// compileVariants compiles a document whose named values may be unknown.
// An error is caused by an unknown value when some value makes it go away:
// the document is compiled with each placeholder variant, and only the
// errors every variant reports are kept (with the columns of the file as
// written).
func (c *Compiler) compileVariants(file string, src []byte) {
	sub := func(v int) *Compiler {
		return &Compiler{NamedValues: c.NamedValues, FragmentsDir: c.FragmentsDir, AnyNamedValue: true,
			BackendExists: c.BackendExists, Certificates: c.Certificates, variant: v}
	}
	first := sub(0)
	first.compileDocument(file, src)
	for _, n := range first.neededNamed {
		c.needNamed(n)
	}
	for _, id := range first.neededFragments {
		c.needFragment(id)
	}
	keep := first.errs
	if len(first.subst) > 0 && len(keep) > 0 {
		for v := 1; v < numVariants && len(keep) > 0; v++ {
			other := sub(v)
			other.compileDocument(file, src)
			seen := map[string]bool{}
			for _, e := range other.errs {
				seen[errorKey(e)] = true
			}
			var still []error
			for _, e := range keep {
				if seen[errorKey(e)] {
					still = append(still, e)
				}
			}
			keep = still
		}
	}
	have := map[string]bool{}
	for _, e := range c.errs {
		have[e.Error()] = true
	}
	for _, e := range keep {
		e = first.unsubstitute(e)
		if !have[e.Error()] {
			have[e.Error()] = true
			c.errs = append(c.errs, e)
		}
	}
}

// errorKey identifies an error across placeholder variants: its file, line
// and message, not its column (a placeholder before it on the line shifts
// it).
func errorKey(err error) string {
	var ce *CompileError
	var se *policyxml.SyntaxError
	switch {
	case errors.As(err, &ce):
		return fmt.Sprintf("%s\x00%d\x00%s", ce.File, ce.Line, ce.Msg)
	case errors.As(err, &se):
		return fmt.Sprintf("%s\x00%d\x00%s", se.Filename, se.Pos.Line, se.Msg)
	}
	return err.Error()
}

// unsubstitute moves the column of an error back to the file as written.
func (c *Compiler) unsubstitute(err error) error {
	var ce *CompileError
	var se *policyxml.SyntaxError
	switch {
	case errors.As(err, &ce):
		if s, ok := c.subst[ce.File]; ok && ce.Line > 0 {
			cp := *ce
			cp.Col = s.column(ce.Line, ce.Col)
			return &cp
		}
	case errors.As(err, &se):
		if s, ok := c.subst[se.Filename]; ok && se.Pos.Line > 0 {
			cp := *se
			cp.Pos.Col = s.column(se.Pos.Line, se.Pos.Col)
			return &cp
		}
	}
	return err
}

var namedRefRe = regexp.MustCompile(`\{\{[A-Za-z0-9._-]+\}\}`)

// column maps a column of the substituted text to the file as written: a
// column inside a placeholder is the column of its {{name}}.
func (s substitution) column(line, col int) int {
	lines := strings.Split(string(s.src), "\n")
	if line > len(lines) {
		return col
	}
	text := lines[line-1]
	shift := 0
	for _, m := range namedRefRe.FindAllStringIndex(text, -1) {
		ref := text[m[0]:m[1]]
		v, ok := s.values[ref[2:len(ref)-2]]
		if !ok {
			continue
		}
		refCol := utf8.RuneCountInString(text[:m[0]]) + 1
		start := refCol + shift
		vl := utf8.RuneCountInString(v)
		if col < start {
			break
		}
		if col < start+vl {
			return refCol
		}
		shift += vl - len(ref)
	}
	return col - shift
}

// policyNames lists every policy element apimgw knows, supported or not.
func policyNames() []string {
	names := make([]string, 0, len(registry)+len(unsupported)+2)
	for n := range registry {
		names = append(names, n)
	}
	for n := range unsupported {
		names = append(names, n)
	}
	names = append(names, "base", "include-fragment")
	sort.Strings(names)
	return names
}

// didYouMean suggests the candidate nearest to name (by edit distance, case
// ignored) when it is close enough to be a misspelling.
func didYouMean(name string, candidates []string) string {
	best, bestD := "", 1<<30
	lower := strings.ToLower(name)
	for _, c := range candidates {
		d := editDistance(lower, strings.ToLower(c))
		if d < bestD || (d == bestD && c < best) {
			best, bestD = c, d
		}
	}
	limit := max(2, utf8.RuneCountInString(name)/3)
	if best == "" || bestD > limit || bestD == 0 && best == name {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
