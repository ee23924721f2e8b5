package policyxml

import (
	"bytes"
	"fmt"
)

// Substitute replaces APIM named-value references {{name}} in the policy text
// src with values[name], as APIM does before it parses a policy. It returns
// src itself when there is nothing to replace.
//
// A reference is "{{", a name of one or more ASCII letters, digits, '.', '_'
// or '-' (no blanks), and "}}". Text such as {{ body.x }} or {{- x }} with
// blanks is never a reference. Values are inserted verbatim and not scanned
// again, so a value may hold a policy expression such as @(DateTime.UtcNow).
//
// Two places are exempt, so that what is not a named value stays intact:
//
//   - XML comments are copied unchanged (APIM drops them anyway);
//   - inside <set-body template="liquid">...</set-body>, {{name}} is a Liquid
//     output tag unless name is in values: known names are replaced, unknown
//     ones are left for the Liquid engine.
//
// Everywhere else an unknown name is an error. The error is an ErrorList with
// one *SyntaxError per unknown reference, positioned at its "{{" (Filename is
// empty; callers set it). Positions count characters as in Parse.
func Substitute(src []byte, values map[string]string) ([]byte, error) {
	if !bytes.Contains(src, []byte("{{")) {
		return src, nil
	}
	var (
		out    []byte
		copied int // src[:copied] is in out
		errs   ErrorList
		lines  *lineIndex
	)
	scanRefs(src, func(off, n int, name string, inLiquid bool) {
		v, ok := values[name]
		if !ok {
			if !inLiquid {
				if lines == nil {
					lines = newLineIndex(src)
				}
				errs = append(errs, &SyntaxError{Pos: lines.pos(off), Msg: fmt.Sprintf("unknown named value {{%s}}", name)})
			}
			return
		}
		if out == nil {
			out = make([]byte, 0, len(src)+len(v))
		}
		out = append(out, src[copied:off]...)
		out = append(out, v...)
		copied = off + n
	})
	if len(errs) > 0 {
		return nil, errs
	}
	if out == nil {
		return src, nil
	}
	return append(out, src[copied:]...), nil
}

// NamedValues returns the distinct names of the named values that src
// references where Substitute requires a value (outside comments and Liquid
// templates), in order of first use. With a value for each, Substitute
// succeeds.
func NamedValues(src []byte) []string {
	var names []string
	seen := map[string]bool{}
	scanRefs(src, func(_, _ int, name string, inLiquid bool) {
		if !inLiquid && !seen[name] {
			seen[name] = true
			names = append(names, name)
		}
	})
	return names
}

// scanRefs calls fn for each named-value reference in src outside XML
// comments, in order, with its offset, length and name, and whether it is
// inside the content of a <set-body template="liquid"> element.
func scanRefs(src []byte, fn func(off, n int, name string, inLiquid bool)) {
	liquidEnd := -1 // end of the current liquid set-body content, or -1
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == '<' && bytes.HasPrefix(src[i:], []byte("<!--")):
			end := indexFrom(src, i+4, "-->")
			if end < 0 {
				return
			}
			i = end + 3
		case c == '<' && liquidEnd < 0 && bytes.HasPrefix(src[i:], []byte("<set-body")):
			tagEnd, liquid := liquidSetBody(src, i)
			if liquid {
				liquidEnd = indexFrom(src, tagEnd, "</set-body")
				if liquidEnd < 0 {
					liquidEnd = len(src)
				}
			}
			i = tagEnd
		case c == '{' && i+1 < len(src) && src[i+1] == '{':
			n := namedValueRef(src[i:])
			if n == 0 {
				i++
				continue
			}
			fn(i, n, string(src[i+2:i+n-2]), liquidEnd >= 0)
			i += n
		default:
			i++
		}
		if liquidEnd >= 0 && i >= liquidEnd {
			liquidEnd = -1
		}
	}
}

// namedValueRef returns the length of the named-value reference at the start
// of s ("{{name}}"), or 0 if s does not start with one.
func namedValueRef(s []byte) int {
	j := 2
	for j < len(s) && isNameByte(s[j]) {
		j++
	}
	if j == 2 || j+1 >= len(s) || s[j] != '}' || s[j+1] != '}' {
		return 0
	}
	return j + 2
}

func isNameByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-'
}

// liquidSetBody looks at the <set-body start tag at src[i] and returns the
// offset just past the tag and whether it opens Liquid template content
// (template="liquid" and not self-closing).
func liquidSetBody(src []byte, i int) (int, bool) {
	j := i + len("<set-body")
	if j < len(src) && !isSpace(src[j]) && src[j] != '>' && src[j] != '/' {
		return j, false // another element, such as <set-body-x>
	}
	var quote byte
	for ; j < len(src); j++ {
		c := src[j]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '>':
			tag := src[i:j]
			selfClosing := j > i && src[j-1] == '/'
			return j + 1, !selfClosing && hasLiquidTemplate(tag)
		}
	}
	return len(src), false
}

// hasLiquidTemplate reports whether a start tag has template="liquid".
func hasLiquidTemplate(tag []byte) bool {
	for k := bytes.Index(tag, []byte("template")); k >= 0; {
		rest := tag[k+len("template"):]
		r := skipSpaceFrom(rest, 0)
		if r < len(rest) && rest[r] == '=' {
			r = skipSpaceFrom(rest, r+1)
			if r < len(rest) && (rest[r] == '"' || rest[r] == '\'') &&
				bytes.HasPrefix(rest[r+1:], []byte("liquid")) &&
				r+7 < len(rest) && rest[r+7] == rest[r] {
				return true
			}
		}
		next := bytes.Index(rest, []byte("template"))
		if next < 0 {
			break
		}
		k += len("template") + next
	}
	return false
}
