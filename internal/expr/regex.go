package expr

import (
	"errors"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/dlclark/regexp2/v2"
)

// netRegex is a .NET regular expression (System.Text.RegularExpressions),
// run by regexp2, a port of the .NET engine: Unicode \d \w \s, lookaround,
// backreferences, atomic groups, named groups, .NET replacement patterns.
type netRegex struct{ re *regexp2.Regexp }

// regexTimeout bounds one match, as a policy's regex must not pin a request
// (catastrophic backtracking throws RegexMatchTimeoutException).
const regexTimeout = 2 * time.Second

// translateRegex compiles a .NET pattern with RegexOptions bits (the .NET
// values: IgnoreCase 1, Multiline 2, ExplicitCapture 4, Singleline 16,
// IgnorePatternWhitespace 32, RightToLeft 64, ECMAScript 256).
func translateRegex(p string, opts int) (*netRegex, error) {
	o := regexp2.RegexOptions(opts & (1 | 2 | 4 | 16 | 32 | 64 | 256))
	re, err := regexp2.Compile(p, o)
	if err != nil {
		return nil, errArg("Invalid pattern '%s': %s", p, err.Error())
	}
	re.MatchTimeout = regexTimeout
	return &netRegex{re: re}, nil
}

func regexErr(err error) error {
	if err == nil {
		return nil
	}
	if strings.Contains(err.Error(), "timeout") {
		return &RuntimeError{Type: "RegexMatchTimeoutException", Msg: "The Regex engine has timed out while trying to match a pattern to an input string."}
	}
	var re *RuntimeError
	if errors.As(err, &re) {
		return err
	}
	return &RuntimeError{Type: "InvalidOperationException", Msg: err.Error()}
}

func (r *netRegex) call(name, s string) (any, error) {
	switch name {
	case "IsMatch":
		ok, err := r.re.MatchString(s)
		return ok, regexErr(err)
	case "Match":
		m, err := r.re.FindStringMatch(s)
		if err != nil {
			return nil, regexErr(err)
		}
		return r.convert(s, m), nil
	case "Matches":
		l := &List{}
		m, err := r.re.FindStringMatch(s)
		for m != nil && err == nil {
			l.Items = append(l.Items, r.convert(s, m))
			m, err = r.re.FindNextMatch(m)
		}
		return l, regexErr(err)
	case "Split":
		return r.split(s)
	}
	return nil, errArg("unknown Regex method %s", name)
}

func (r *netRegex) replace(s, rep string) (any, error) {
	out, err := r.re.Replace(s, rep, -1, -1)
	return out, regexErr(err)
}

func (r *netRegex) replaceFunc(s string, f *Func) (any, error) {
	var ferr error
	out, err := r.re.ReplaceFunc(s, func(m regexp2.Match) string {
		if ferr != nil {
			return ""
		}
		v, err := f.call(r.convert(s, &m))
		if err != nil {
			ferr = err
		}
		return ToString(v)
	}, -1, -1)
	if ferr != nil {
		return nil, ferr
	}
	return out, regexErr(err)
}

// split is Regex.Split: captured groups are included in the result.
func (r *netRegex) split(s string) (any, error) {
	runes := []rune(s)
	var parts []string
	prev := 0
	m, err := r.re.FindStringMatch(s)
	for m != nil && err == nil {
		parts = append(parts, string(runes[prev:m.RuneIndex]))
		for i, g := range m.Groups() {
			if i > 0 && len(g.Captures) > 0 {
				parts = append(parts, g.String())
			}
		}
		prev = m.RuneIndex + m.RuneLength
		m, err = r.re.FindNextMatch(m)
	}
	if err != nil {
		return nil, regexErr(err)
	}
	parts = append(parts, string(runes[prev:]))
	return stringsList(parts), nil
}

// utf16Index converts a rune index in s to a UTF-16 index (.NET indexes).
func utf16Index(runes []rune, i int) int {
	n := 0
	for _, c := range runes[:min(i, len(runes))] {
		n += utf16.RuneLen(c)
	}
	return n
}

func (r *netRegex) convert(s string, m *regexp2.Match) *Match {
	if m == nil {
		out := &Match{groups: &groupCollection{}, re: r}
		for _, n := range r.re.GetGroupNames() {
			out.groups.groups = append(out.groups.groups, &Group{Name: n})
		}
		return out
	}
	runes := []rune(s)
	out := &Match{Success: true, Value: m.String(), Index: utf16Index(runes, m.RuneIndex), groups: &groupCollection{}, re: r, input: s, next: m}
	for _, g := range m.Groups() {
		gr := &Group{Name: g.Name}
		if len(g.Captures) > 0 {
			gr.Success = true
			gr.Value = g.String()
			gr.Index = utf16Index(runes, g.RuneIndex)
		}
		out.groups.groups = append(out.groups.groups, gr)
	}
	return out
}

// nextMatch is Match.NextMatch().
func (m *Match) nextMatch() (*Match, error) {
	if m.re == nil || m.next == nil {
		return &Match{groups: &groupCollection{}}, nil
	}
	n, err := m.re.re.FindNextMatch(m.next)
	if err != nil {
		return nil, regexErr(err)
	}
	return m.re.convert(m.input, n), nil
}

// regexEscape is Regex.Escape: \, *, +, ?, |, {, [, (, ), ^, $, ., #, and
// white space are escaped.
func regexEscape(s string) string {
	var sb strings.Builder
	for _, c := range s {
		switch c {
		case '\\', '*', '+', '?', '|', '{', '[', '(', ')', '^', '$', '.', '#', ' ':
			sb.WriteByte('\\')
			sb.WriteRune(c)
		case '\t':
			sb.WriteString(`\t`)
		case '\n':
			sb.WriteString(`\n`)
		case '\r':
			sb.WriteString(`\r`)
		case '\f':
			sb.WriteString(`\f`)
		default:
			sb.WriteRune(c)
		}
	}
	return sb.String()
}
