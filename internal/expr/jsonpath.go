package expr

import (
	"strconv"
	"strings"
)

// JSONPath as Newtonsoft's SelectToken/SelectTokens implement it: $, @,
// .name, ['name'], ['a','b'], [n], [n,m], [start:end], [*], .*, ..name,
// ..*, and filters [?(@.a == 1 && @.b != 'x')] with ==, !=, <, <=, >, >=,
// &&, || and existence tests [?(@.a)].

type jpStep func(in []any) ([]any, error)

func jpChildren(v any) []any {
	switch x := v.(type) {
	case *JObject:
		out := make([]any, len(x.props))
		for i, p := range x.props {
			out[i] = p.Value
		}
		return out
	case *JArray:
		return x.Items
	}
	return nil
}

func jpDescendants(v any, out []any) []any {
	for _, c := range jpChildren(v) {
		out = append(out, c)
		out = jpDescendants(c, out)
	}
	return out
}

func errPath(format string, a ...any) error {
	return &RuntimeError{Type: "JsonException", Msg: sprintf(format, a...)}
}

// compilePath parses a JSONPath into steps.
func compilePath(path string) ([]jpStep, error) {
	var steps []jpStep
	i := 0
	if strings.HasPrefix(path, "$") || strings.HasPrefix(path, "@") {
		i = 1
	}
	first := true
	for i < len(path) {
		c := path[i]
		switch {
		case c == '.':
			i++
			deep := false
			if i < len(path) && path[i] == '.' {
				deep = true
				i++
			}
			if i < len(path) && path[i] == '[' {
				if deep {
					steps = append(steps, func(in []any) ([]any, error) {
						var out []any
						for _, v := range in {
							out = append(out, v)
							out = jpDescendants(v, out)
						}
						return out, nil
					})
				}
				continue
			}
			start := i
			for i < len(path) && path[i] != '.' && path[i] != '[' {
				i++
			}
			name := path[start:i]
			steps = append(steps, nameStep(name, deep))
		case c == '[':
			end, err := matchBracket(path, i)
			if err != nil {
				return nil, err
			}
			inner := strings.TrimSpace(path[i+1 : end])
			i = end + 1
			st, err := bracketStep(inner)
			if err != nil {
				return nil, err
			}
			steps = append(steps, st)
		default:
			if !first {
				return nil, errPath("Unexpected character while parsing path: %c", c)
			}
			start := i
			for i < len(path) && path[i] != '.' && path[i] != '[' {
				i++
			}
			steps = append(steps, nameStep(path[start:i], false))
		}
		first = false
	}
	return steps, nil
}

func matchBracket(path string, i int) (int, error) {
	depth := 0
	var quote byte
	for j := i; j < len(path); j++ {
		c := path[j]
		if quote != 0 {
			if c == '\\' {
				j++
				continue
			}
			if c == quote {
				quote = 0
			}
			continue
		}
		switch c {
		case '\'', '"':
			quote = c
		case '[', '(':
			depth++
		case ']', ')':
			depth--
			if depth == 0 && c == ']' {
				return j, nil
			}
		}
	}
	return 0, errPath("Path ended with open indexer.")
}

func nameStep(name string, deep bool) jpStep {
	return func(in []any) ([]any, error) {
		var out []any
		for _, v := range in {
			if deep {
				for _, d := range append([]any{v}, jpDescendants(v, nil)...) {
					if o, ok := d.(*JObject); ok {
						if name == "*" {
							out = append(out, jpChildren(o)...)
						} else if k := o.find(name); k >= 0 {
							out = append(out, o.props[k].Value)
						}
					}
				}
				continue
			}
			if name == "*" {
				out = append(out, jpChildren(v)...)
				continue
			}
			if o, ok := v.(*JObject); ok {
				if k := o.find(name); k >= 0 {
					out = append(out, o.props[k].Value)
				}
			}
		}
		return out, nil
	}
}

func bracketStep(inner string) (jpStep, error) {
	switch {
	case inner == "*":
		return func(in []any) ([]any, error) {
			var out []any
			for _, v := range in {
				out = append(out, jpChildren(v)...)
			}
			return out, nil
		}, nil
	case strings.HasPrefix(inner, "?(") && strings.HasSuffix(inner, ")"):
		f, err := parseFilter(strings.TrimSpace(inner[2 : len(inner)-1]))
		if err != nil {
			return nil, err
		}
		return func(in []any) ([]any, error) {
			var out []any
			for _, v := range in {
				for _, c := range jpChildren(v) {
					ok, err := f(c)
					if err != nil {
						return nil, err
					}
					if ok {
						out = append(out, c)
					}
				}
			}
			return out, nil
		}, nil
	case inner != "" && (inner[0] == '\'' || inner[0] == '"'):
		var names []string
		for _, part := range splitOp(inner, ",") {
			part = strings.TrimSpace(part)
			if len(part) < 2 || part[len(part)-1] != part[0] {
				return nil, errPath("Unexpected character while parsing path indexer: %s", part)
			}
			names = append(names, part[1:len(part)-1])
		}
		return func(in []any) ([]any, error) {
			var out []any
			for _, v := range in {
				if o, ok := v.(*JObject); ok {
					for _, n := range names {
						if k := o.find(n); k >= 0 {
							out = append(out, o.props[k].Value)
						}
					}
				}
			}
			return out, nil
		}, nil
	case strings.Contains(inner, ":"):
		a, b, _ := strings.Cut(inner, ":")
		var start, end *int
		if s := strings.TrimSpace(a); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil {
				return nil, errPath("Unexpected character while parsing path indexer: %s", inner)
			}
			start = &n
		}
		if s := strings.TrimSpace(strings.Split(b, ":")[0]); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil {
				return nil, errPath("Unexpected character while parsing path indexer: %s", inner)
			}
			end = &n
		}
		return func(in []any) ([]any, error) {
			var out []any
			for _, v := range in {
				arr, ok := v.(*JArray)
				if !ok {
					continue
				}
				n := len(arr.Items)
				s, e := 0, n
				if start != nil {
					s = *start
					if s < 0 {
						s += n
					}
				}
				if end != nil {
					e = *end
					if e < 0 {
						e += n
					}
				}
				s, e = max(0, min(s, n)), max(0, min(e, n))
				for k := s; k < e; k++ {
					out = append(out, arr.Items[k])
				}
			}
			return out, nil
		}, nil
	}
	var idx []int
	for _, part := range strings.Split(inner, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil {
			return nil, errPath("Unexpected character while parsing path indexer: %s", inner)
		}
		idx = append(idx, n)
	}
	return func(in []any) ([]any, error) {
		var out []any
		for _, v := range in {
			arr, ok := v.(*JArray)
			if !ok {
				continue
			}
			for _, n := range idx {
				if n < 0 {
					n += len(arr.Items)
				}
				if n >= 0 && n < len(arr.Items) {
					out = append(out, arr.Items[n])
				}
			}
		}
		return out, nil
	}, nil
}

type jpFilter func(v any) (bool, error)

// parseFilter parses a filter expression: terms joined by || and &&.
func parseFilter(s string) (jpFilter, error) {
	// || stops at the first true term, && at the first false one.
	for _, op := range [...]struct {
		sep  string
		stop bool
	}{{"||", true}, {"&&", false}} {
		parts := splitOp(s, op.sep)
		if len(parts) < 2 {
			continue
		}
		fs := make([]jpFilter, len(parts))
		for i, p := range parts {
			f, err := parseFilter(p)
			if err != nil {
				return nil, err
			}
			fs[i] = f
		}
		stop := op.stop
		return func(v any) (bool, error) {
			for _, f := range fs {
				ok, err := f(v)
				if err != nil {
					return false, err
				}
				if ok == stop {
					return stop, nil
				}
			}
			return !stop, nil
		}, nil
	}
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "(") && strings.HasSuffix(s, ")") {
		return parseFilter(s[1 : len(s)-1])
	}
	for _, op := range []string{"==", "!=", "<=", ">=", "<", ">"} {
		if parts := splitOp(s, op); len(parts) == 2 {
			l, err := filterOperand(strings.TrimSpace(parts[0]))
			if err != nil {
				return nil, err
			}
			r, err := filterOperand(strings.TrimSpace(parts[1]))
			if err != nil {
				return nil, err
			}
			return func(v any) (bool, error) {
				a, aok, err := l(v)
				if err != nil {
					return false, err
				}
				b, bok, err := r(v)
				if err != nil {
					return false, err
				}
				if !aok || !bok {
					return op == "!=" && aok != bok, nil
				}
				return compareJP(op, a, b), nil
			}, nil
		}
	}
	// existence test
	o, err := filterOperand(s)
	if err != nil {
		return nil, err
	}
	return func(v any) (bool, error) {
		_, ok, err := o(v)
		return ok, err
	}, nil
}

// splitOp splits s at op outside quotes/brackets.
func splitOp(s, op string) []string {
	var parts []string
	depth := 0
	var quote byte
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if quote != 0 {
			if c == quote {
				quote = 0
			}
			continue
		}
		switch c {
		case '\'', '"':
			quote = c
			continue
		case '(', '[':
			depth++
			continue
		case ')', ']':
			depth--
			continue
		}
		if depth == 0 && strings.HasPrefix(s[i:], op) {
			// "<" must not match the start of "<="
			if (op == "<" || op == ">") && i+1 < len(s) && s[i+1] == '=' {
				continue
			}
			if (op == "<" || op == ">" || op == "=") && i > 0 && (s[i-1] == '!' || s[i-1] == '=' || s[i-1] == '<' || s[i-1] == '>') {
				continue
			}
			parts = append(parts, s[start:i])
			start = i + len(op)
			i += len(op) - 1
		}
	}
	return append(parts, s[start:])
}

// filterOperand is @.path, $.path, or a literal; ok is false when a path
// selects nothing.
func filterOperand(s string) (func(v any) (any, bool, error), error) {
	switch {
	case strings.HasPrefix(s, "@") || strings.HasPrefix(s, "$"):
		steps, err := compilePath(s)
		if err != nil {
			return nil, err
		}
		return func(v any) (any, bool, error) {
			cur := []any{v}
			for _, st := range steps {
				var err error
				if cur, err = st(cur); err != nil {
					return nil, false, err
				}
			}
			if len(cur) == 0 {
				return nil, false, nil
			}
			return cur[0], true, nil
		}, nil
	case len(s) >= 2 && (s[0] == '\'' || s[0] == '"') && s[len(s)-1] == s[0]:
		lit := &JValue{V: s[1 : len(s)-1]}
		return func(any) (any, bool, error) { return lit, true, nil }, nil
	case s == "true" || s == "false":
		lit := &JValue{V: s == "true"}
		return func(any) (any, bool, error) { return lit, true, nil }, nil
	case s == "null":
		lit := &JValue{V: nil}
		return func(any) (any, bool, error) { return lit, true, nil }, nil
	}
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		lit := &JValue{V: i}
		return func(any) (any, bool, error) { return lit, true, nil }, nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		lit := &JValue{V: f}
		return func(any) (any, bool, error) { return lit, true, nil }, nil
	}
	return nil, errPath("Unexpected character while parsing path query: %s", s)
}

func compareJP(op string, a, b any) bool {
	av, bv := fromJValue(a), fromJValue(b)
	if op == "==" || op == "!=" {
		var eq bool
		if _, ok := a.(*JValue); !ok {
			eq = a == b
		} else {
			eq = valuesEqual(av, bv)
		}
		return eq == (op == "==")
	}
	c, ok, err := compareValues(av, bv)
	if err != nil || !ok {
		return false
	}
	switch op {
	case "<":
		return c < 0
	case "<=":
		return c <= 0
	case ">":
		return c > 0
	}
	return c >= 0
}

// selectTokens evaluates a JSONPath from root.
func selectTokens(root any, path string) ([]any, error) {
	steps, err := compilePath(path)
	if err != nil {
		return nil, err
	}
	cur := []any{root}
	for _, st := range steps {
		if cur, err = st(cur); err != nil {
			return nil, err
		}
	}
	return cur, nil
}

// selectToken is SelectToken: null when nothing matches, an error when
// several tokens match.
func selectToken(root any, path string) (any, error) {
	r, err := selectTokens(root, path)
	if err != nil {
		return nil, err
	}
	switch len(r) {
	case 0:
		return nil, nil
	case 1:
		return r[0], nil
	}
	return nil, errPath("Path returned multiple tokens.")
}
