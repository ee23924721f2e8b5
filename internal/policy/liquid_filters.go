package policy

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/osteele/liquid"

	"github.com/apimgw/apimgw/internal/expr"
)

// The filters of APIM's set-body Liquid templates: DotLiquid's
// StandardFilters in "C# mode" (Pascal-case names, .NET formats) at
// DotLiquid's default syntax compatibility level (DotLiquid 2.0: Replace
// and ReplaceFirst take regular expressions, Plus on a string concatenates,
// Capitalize capitalises every word), with the invariant culture.
//
// A filter that throws in DotLiquid (divide by zero, overflow, an operator
// not defined for the operand types) renders DotLiquid's inline
// "Liquid error: message" in place of the output, as DotLiquid does by
// default.

// liquidDouble is a System.Double result: rendered as .NET renders it.
type liquidDouble float64

func (d liquidDouble) String() string {
	switch f := float64(d); {
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case math.IsNaN(f):
		return "NaN"
	}
	return expr.ToString(float64(d))
}

// liquidLocal is the local time zone of DateTimeKind.Local values:
// APIM's gateways run in UTC.
var liquidLocal = time.FixedZone("Local", 0)

// liquidError is an exception DotLiquid would render inline.
type liquidError string

func (e liquidError) Error() string { return string(e) }

const (
	msgDivideByZero = "Attempted to divide by zero."
	msgOverflow     = "Arithmetic operation resulted in an overflow."
)

// liquidFilter adapts a filter that may fail to the inline error rendering.
func liquidFilter(f func(in any, args []any) (any, error)) func(in any, args ...any) any {
	return func(in any, args ...any) any {
		out, err := f(in, args)
		if err != nil {
			return "Liquid error: " + err.Error()
		}
		return out
	}
}

// liquidFilters are the filters by name, as registered (for the fuzz test).
var liquidFilters = map[string]func(in any, args []any) (any, error){}

func registerLiquidFilters(e *liquid.Engine) {
	add := func(name string, f func(in any, args []any) (any, error)) {
		liquidFilters[name] = f
		e.RegisterFilter(name, liquidFilter(f))
	}
	str := func(name string, f func(s string, args []any) (any, error)) {
		add(name, func(in any, args []any) (any, error) {
			if in == nil {
				return nil, nil
			}
			return f(liquidString(in), args)
		})
	}
	// Strings.
	str("Append", func(s string, a []any) (any, error) { return s + argString(a, 0, ""), nil })
	str("Prepend", func(s string, a []any) (any, error) { return argString(a, 0, "") + s, nil })
	str("Upcase", func(s string, _ []any) (any, error) { return strings.ToUpper(s), nil })
	str("Downcase", func(s string, _ []any) (any, error) { return strings.ToLower(s), nil })
	str("Capitalize", func(s string, _ []any) (any, error) { return titleCase(s), nil })
	str("Strip", func(s string, _ []any) (any, error) { return strings.TrimFunc(s, unicode.IsSpace), nil })
	str("Lstrip", func(s string, _ []any) (any, error) { return strings.TrimLeftFunc(s, unicode.IsSpace), nil })
	str("Rstrip", func(s string, _ []any) (any, error) { return strings.TrimRightFunc(s, unicode.IsSpace), nil })
	str("Escape", func(s string, _ []any) (any, error) { return htmlEncode(s), nil })
	str("H", func(s string, _ []any) (any, error) { return htmlEncode(s), nil })
	str("UrlEncode", func(s string, _ []any) (any, error) { return webURLEncode(s), nil })
	str("UrlDecode", func(s string, _ []any) (any, error) { return webURLDecode(s), nil })
	str("StripNewlines", func(s string, _ []any) (any, error) {
		if isBlank(s) {
			return s, nil
		}
		return newlineRe.ReplaceAllString(s, ""), nil
	})
	str("NewlineToBr", func(s string, _ []any) (any, error) {
		if isBlank(s) {
			return s, nil
		}
		return newlineRe.ReplaceAllString(s, "<br />$1"), nil
	})
	str("StripHtml", func(s string, _ []any) (any, error) {
		if isBlank(s) {
			return s, nil
		}
		return htmlTagRe.ReplaceAllString(htmlBlockRe.ReplaceAllString(s, ""), ""), nil
	})
	str("Remove", func(s string, a []any) (any, error) {
		if isBlank(s) {
			return s, nil
		}
		old := argString(a, 0, "")
		if old == "" {
			return nil, liquidError("String cannot be of zero length.")
		}
		return strings.ReplaceAll(s, old, ""), nil
	})
	str("RemoveFirst", func(s string, a []any) (any, error) {
		if isBlank(s) {
			return s, nil
		}
		return replaceRegex(s, argString(a, 0, ""), "", true)
	})
	str("Replace", func(s string, a []any) (any, error) {
		return replaceRegex(s, argString(a, 0, ""), argString(a, 1, ""), false)
	})
	str("ReplaceFirst", func(s string, a []any) (any, error) {
		return replaceRegex(s, argString(a, 0, ""), argString(a, 1, ""), true)
	})
	str("Truncate", func(s string, a []any) (any, error) {
		n, err := argInt(a, 0, 50)
		if err != nil {
			return nil, err
		}
		tail := argString(a, 1, "...")
		if s == "" {
			return s, nil
		}
		if n < 0 {
			return tail, nil
		}
		u := utf16.Encode([]rune(s))
		if len(u) <= n {
			return s, nil
		}
		keep := max(n-len(utf16.Encode([]rune(tail))), 0)
		return string(utf16.Decode(u[:keep])) + tail, nil
	})
	str("TruncateWords", func(s string, a []any) (any, error) {
		n, err := argInt(a, 0, 15)
		if err != nil {
			return nil, err
		}
		tail := argString(a, 1, "...")
		if s == "" {
			return s, nil
		}
		if n <= 0 {
			return tail, nil
		}
		words := strings.Split(s, " ")
		if len(words) <= n {
			return s, nil
		}
		return strings.Join(words[:n], " ") + tail, nil
	})
	str("Split", func(s string, a []any) (any, error) {
		if isBlank(s) {
			return []any{s}, nil
		}
		sep := argString(a, 0, "")
		var out []any
		if sep == "" {
			for _, r := range s {
				out = append(out, string(r))
			}
			return out, nil
		}
		for _, p := range strings.Split(s, sep) {
			if p != "" {
				out = append(out, p)
			}
		}
		if out == nil {
			out = []any{}
		}
		return out, nil
	})
	add("Default", func(in any, a []any) (any, error) {
		if in == nil || isBlank(liquidString(in)) {
			return argOrNil(a, 0), nil
		}
		return liquidString(in), nil
	})
	add("Size", func(in any, _ []any) (any, error) {
		switch t := in.(type) {
		case string:
			return len(utf16.Encode([]rune(t))), nil
		case []any:
			return len(t), nil
		case map[string]any:
			return len(t), nil
		}
		return 0, nil
	})
	add("Slice", func(in any, a []any) (any, error) {
		start, err := argInt(a, 0, 0)
		if err != nil {
			return nil, err
		}
		n, err := argInt(a, 1, 1)
		if err != nil {
			return nil, err
		}
		switch t := in.(type) {
		case string:
			return sliceString(t, start, n), nil
		case []any:
			strs := make([]string, 0, len(t))
			for _, v := range t {
				s, ok := v.(string)
				if !ok {
					return in, nil // only a sequence of strings is sliced
				}
				strs = append(strs, s)
			}
			skip := start
			if start < 0 {
				skip = max(0, len(strs)+start)
			}
			skip = min(skip, len(strs))
			end := skip + min(max(n, 0), len(strs)-skip)
			return strings.Join(strs[skip:end], ""), nil
		}
		return in, nil
	})
	// Numbers.
	add("Plus", func(in any, a []any) (any, error) {
		if s, ok := in.(string); ok {
			return s + liquidString(argOrNil(a, 0)), nil
		}
		return liquidMath('+', in, argOrNil(a, 0))
	})
	add("Minus", func(in any, a []any) (any, error) { return liquidMath('-', in, argOrNil(a, 0)) })
	add("Times", func(in any, a []any) (any, error) {
		if s, ok := in.(string); ok {
			var n int64
			switch t := argOrNil(a, 0).(type) {
			case int:
				n = int64(t)
			case int64:
				n = t
			default:
				return liquidMath('*', in, argOrNil(a, 0))
			}
			n = max(n, 0)
			if len(s) > 0 && n > maxLiquidRepeat/int64(len(s)) {
				// DotLiquid would build it (or run out of memory); a
				// gateway refuses.
				return nil, liquidError("Times: the repeated string would exceed 16 MiB.")
			}
			return strings.Repeat(s, int(n)), nil
		}
		return liquidMath('*', in, argOrNil(a, 0))
	})
	add("DividedBy", func(in any, a []any) (any, error) { return liquidMath('/', in, argOrNil(a, 0)) })
	add("Modulo", func(in any, a []any) (any, error) { return liquidMath('%', in, argOrNil(a, 0)) })
	add("Abs", func(in any, _ []any) (any, error) {
		f, ok := parseNumberStyle(liquidString(in))
		if !ok {
			return liquidDouble(0), nil
		}
		return liquidDouble(math.Abs(f)), nil
	})
	add("AtLeast", func(in any, a []any) (any, error) {
		n, ok1 := parseNumberStyle(liquidString(in))
		m, ok2 := parseNumberStyle(liquidString(argOrNil(a, 0)))
		if ok1 && ok2 {
			return liquidDouble(math.Max(n, m)), nil
		}
		return in, nil
	})
	add("AtMost", func(in any, a []any) (any, error) {
		n, ok1 := parseNumberStyle(liquidString(in))
		m, ok2 := parseNumberStyle(liquidString(argOrNil(a, 0)))
		if ok1 && ok2 {
			return liquidDouble(math.Min(n, m)), nil
		}
		return in, nil
	})
	add("Round", func(in any, a []any) (any, error) {
		p := 0
		if v := argOrNil(a, 0); v != nil {
			n, err := argInt(a, 0, 0)
			if err != nil {
				return nil, nil
			}
			p = n
		}
		d, ok := toDecimal(in)
		if !ok || p < 0 || p > 28 {
			return nil, nil // DotLiquid returns null when the conversion throws
		}
		return d.roundTo(p, false), nil
	})
	add("Currency", func(in any, a []any) (any, error) {
		if in == nil {
			return nil, liquidError("Object reference not set to an instance of an object.")
		}
		cul := invariantCurrency
		if v := argOrNil(a, 0); v != nil {
			c, ok := currencyCultures[strings.ToLower(strings.TrimSpace(liquidString(v)))]
			if !ok {
				return nil, liquidError("Culture is not supported. " + liquidString(v) + " is an invalid culture identifier.")
			}
			cul = c
		}
		var d liquidDecimal
		var ok bool
		if isReal(in) {
			if d, ok = toDecimal(in); !ok {
				return nil, liquidError("Value was either too large or too small for a Decimal.")
			}
		} else if d, ok = decParse(liquidString(in), true); !ok {
			return liquidString(in), nil
		}
		return cul.format(d), nil
	})
	add("Date", func(in any, a []any) (any, error) {
		if in == nil {
			return nil, nil
		}
		format := argString(a, 0, "")
		var t time.Time
		if d, ok := in.(liquidDateTime); ok {
			in = d.t
		}
		if tt, ok := in.(time.Time); ok {
			t = tt
			if isBlank(format) {
				return expr.ToString(t), nil
			}
		} else {
			s := liquidString(in)
			if strings.EqualFold(s, "now") || strings.EqualFold(s, "today") {
				t = time.Now().In(liquidLocal)
				if isBlank(format) {
					return expr.ToString(t), nil
				}
			} else {
				pt, err := expr.ParseDateTime(s)
				if err != nil {
					return s, nil
				}
				if pt.Location() == time.UTC {
					// DateTime.TryParse turns a time with Z or an offset
					// into local time.
					pt = pt.In(liquidLocal)
				}
				t = pt
			}
			if isBlank(format) {
				return s, nil
			}
		}
		out, err := expr.FormatDateTime(t, format)
		if err != nil {
			return nil, liquidError(err.Error())
		}
		return out, nil
	})
	// Arrays.
	add("First", func(in any, _ []any) (any, error) {
		items := liquidItems(in)
		if len(items) == 0 {
			return nil, nil
		}
		return items[0], nil
	})
	add("Last", func(in any, _ []any) (any, error) {
		items := liquidItems(in)
		if len(items) == 0 {
			return nil, nil
		}
		return items[len(items)-1], nil
	})
	add("Join", func(in any, a []any) (any, error) {
		if in == nil {
			return nil, nil
		}
		glue := argString(a, 0, " ")
		items := liquidItems(in)
		parts := make([]string, len(items))
		for i, v := range items {
			parts[i] = liquidString(v)
		}
		return strings.Join(parts, glue), nil
	})
	add("Map", func(in any, a []any) (any, error) {
		if in == nil {
			return nil, nil
		}
		prop := argString(a, 0, "")
		items := liquidItems(in)
		out := make([]any, len(items))
		for i, v := range items {
			if m, ok := v.(map[string]any); ok {
				out[i] = m[prop]
			}
		}
		return out, nil
	})
	add("Compact", func(in any, _ []any) (any, error) {
		if in == nil {
			return nil, nil
		}
		out := []any{}
		for _, v := range flatten(in) {
			if v != nil {
				out = append(out, v)
			}
		}
		return out, nil
	})
	add("Uniq", func(in any, _ []any) (any, error) {
		if in == nil {
			return nil, nil
		}
		out := []any{}
		seen := map[string]bool{}
		for _, v := range flatten(in) {
			k := fmt.Sprintf("%T\x00%v", v, v)
			if !seen[k] {
				seen[k] = true
				out = append(out, v)
			}
		}
		return out, nil
	})
	add("Sort", func(in any, a []any) (any, error) {
		if in == nil {
			return nil, nil
		}
		prop := argString(a, 0, "")
		items := flatten(in)
		key := func(v any) any { return v }
		if prop != "" {
			allMaps, hasProp := true, false
			for _, v := range items {
				m, ok := v.(map[string]any)
				if !ok {
					allMaps = false
					break
				}
				if _, ok := m[prop]; ok {
					hasProp = true
				}
			}
			if !allMaps || !hasProp {
				return items, nil
			}
			key = func(v any) any { return v.(map[string]any)[prop] }
		}
		var cmpErr error
		sort.SliceStable(items, func(i, j int) bool {
			c, err := compareOrdinalIgnoreCase(key(items[i]), key(items[j]))
			if err != nil && cmpErr == nil {
				cmpErr = err
			}
			return c < 0
		})
		if cmpErr != nil {
			return nil, cmpErr
		}
		return items, nil
	})
}

var (
	newlineRe   = regexp.MustCompile(`(\r?\n)`)
	htmlBlockRe = regexp.MustCompile(`(?is)<script.*?</script>|<!--.*?-->|<style.*?</style>`)
	htmlTagRe   = regexp.MustCompile(`(?s)<.*?>`)
)

func isBlank(s string) bool { return strings.TrimFunc(s, unicode.IsSpace) == "" }

func argOrNil(a []any, i int) any {
	if i < len(a) {
		return a[i]
	}
	return nil
}

func argString(a []any, i int, def string) string {
	if i < len(a) && a[i] != nil {
		return liquidString(a[i])
	}
	return def
}

func argInt(a []any, i int, def int) (int, error) {
	if i >= len(a) || a[i] == nil {
		return def, nil
	}
	switch v := a[i].(type) {
	case int:
		return v, nil
	case int64:
		return int(v), nil
	case float64:
		return int(math.RoundToEven(v)), nil
	case liquidDouble:
		return int(math.RoundToEven(float64(v))), nil
	case string:
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
			return n, nil
		}
		return 0, liquidError("Input string was not in a correct format.")
	}
	return 0, liquidError("Input string was not in a correct format.")
}

// liquidString is the value's .NET ToString() as DotLiquid passes it to a
// string parameter.
func liquidString(v any) string {
	switch t := v.(type) {
	case nil:
		return ""
	case string:
		return t
	case liquidDouble:
		return t.String()
	case liquidDecimal:
		return t.String()
	case liquidDateTime:
		return t.String()
	case []any:
		var b strings.Builder
		for _, x := range t {
			b.WriteString(liquidString(x))
		}
		return b.String()
	case map[string]any:
		return "System.Collections.Generic.Dictionary`2[System.String,System.Object]"
	}
	return expr.ToString(v)
}

// liquidItems is the sequence a filter enumerates: a list, the characters
// of a string, or a single value (one XML element) as a one-item list.
func liquidItems(v any) []any {
	switch t := v.(type) {
	case nil:
		return nil
	case []any:
		return t
	case string:
		out := make([]any, 0, len(t))
		for _, r := range t {
			out = append(out, string(r))
		}
		return out
	}
	return []any{v}
}

// flatten is DotLiquid's Flatten of nested sequences.
func flatten(v any) []any {
	var out []any
	var walk func(x any, top bool)
	walk = func(x any, top bool) {
		switch t := x.(type) {
		case []any:
			for _, y := range t {
				walk(y, false)
			}
		case string:
			if top {
				for _, r := range t {
					out = append(out, string(r))
				}
				return
			}
			out = append(out, t)
		default:
			out = append(out, x)
		}
	}
	walk(v, true)
	if out == nil {
		out = []any{}
	}
	return out
}

func sliceString(s string, start, n int) any {
	u := utf16.Encode([]rune(s))
	l := len(u)
	if start > l {
		return nil
	}
	if start < 0 {
		start += l
		if start < 0 {
			n = max(0, n+start)
			start = 0
		}
	}
	if n > l-start {
		n = l - start
	}
	if n < 0 {
		return nil
	}
	return string(utf16.Decode(u[start : start+n]))
}

// replaceRegex is DotLiquid 2.0's Replace/ReplaceFirst: the pattern is a
// regular expression and the replacement may use $1 group references.
func replaceRegex(s, pattern, repl string, first bool) (any, error) {
	if s == "" || pattern == "" {
		return s, nil
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		// A .NET pattern RE2 cannot compile: replace it literally.
		if first {
			return strings.Replace(s, pattern, repl, 1), nil
		}
		return strings.ReplaceAll(s, pattern, repl), nil
	}
	r := dotnetReplacement(repl)
	if !first {
		return re.ReplaceAllString(s, r), nil
	}
	loc := re.FindStringSubmatchIndex(s)
	if loc == nil {
		return s, nil
	}
	var dst []byte
	dst = re.ExpandString(dst, r, s, loc)
	return s[:loc[0]] + string(dst) + s[loc[1]:], nil
}

// titleCase is TextInfo.ToTitleCase: the first letter of each word upper
// case and the rest lower case, except words entirely in upper case.
func titleCase(s string) string {
	if isBlank(s) {
		return s
	}
	rs := []rune(s)
	var b strings.Builder
	for i := 0; i < len(rs); {
		if !unicode.IsLetter(rs[i]) {
			b.WriteRune(rs[i])
			i++
			continue
		}
		j := i
		for j < len(rs) && (unicode.IsLetter(rs[j]) || unicode.IsDigit(rs[j]) || rs[j] == '\'') {
			j++
		}
		word := rs[i:j]
		upper := true
		for _, r := range word {
			if unicode.IsLower(r) {
				upper = false
				break
			}
		}
		if upper {
			b.WriteString(string(word))
		} else {
			b.WriteRune(unicode.ToUpper(word[0]))
			b.WriteString(strings.ToLower(string(word[1:])))
		}
		i = j
	}
	return b.String()
}

// htmlEncode is WebUtility.HtmlEncode: < > & " ' and the characters
// U+00A0..U+00FF and outside the BMP as numeric references.
func htmlEncode(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		case r == '&':
			b.WriteString("&amp;")
		case r == '"':
			b.WriteString("&quot;")
		case r == '\'':
			b.WriteString("&#39;")
		case (r >= 0xA0 && r <= 0xFF) || r > 0xFFFF:
			fmt.Fprintf(&b, "&#%d;", r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// webURLEncode is WebUtility.UrlEncode: space as '+', letters, digits and
// -_.!*() kept, everything else %XX (upper-case hex) of its UTF-8 bytes.
func webURLEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ':
			b.WriteByte('+')
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', strings.IndexByte("-_.!*()", c) >= 0:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// webURLDecode is WebUtility.UrlDecode: '+' as space, %XX decoded, invalid
// escapes kept as written.
func webURLDecode(s string) string {
	var buf []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '+':
			buf = append(buf, ' ')
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			n, _ := strconv.ParseUint(s[i+1:i+3], 16, 8)
			buf = append(buf, byte(n))
			i += 2
		default:
			buf = append(buf, c)
		}
	}
	if !utf8.Valid(buf) {
		return strings.ToValidUTF8(string(buf), "\uFFFD")
	}
	return string(buf)
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// parseNumberStyle is double.TryParse with NumberStyles.Number and the
// invariant culture: sign, thousands separators and a decimal point, no
// exponent.
func parseNumberStyle(s string) (float64, bool) {
	d, ok := decParse(s, false)
	if !ok {
		return 0, false
	}
	return d.float(), true
}

func isReal(v any) bool {
	switch v.(type) {
	case float64, float32, liquidDouble, liquidDecimal:
		return true
	}
	return false
}

// toDecimal is Convert.ToDecimal.
func toDecimal(v any) (liquidDecimal, bool) {
	switch t := v.(type) {
	case liquidDecimal:
		return t, true
	case int:
		return decFromInt(int64(t)), true
	case int64:
		return decFromInt(t), true
	case float64:
		return decFromFloat(t)
	case float32:
		return decFromFloat(float64(t))
	case liquidDouble:
		return decFromFloat(float64(t))
	case bool:
		if t {
			return decFromInt(1), true
		}
		return decFromInt(0), true
	case string:
		return decParse(t, false)
	}
	return liquidDecimal{}, false
}

func toDouble(v any) float64 {
	switch t := v.(type) {
	case liquidDecimal:
		return t.float()
	case int:
		return float64(t)
	case int64:
		return float64(t)
	case float64:
		return t
	case liquidDouble:
		return float64(t)
	case string:
		f, _ := parseNumberStyle(t)
		return f
	}
	return 0
}

func netTypeName(v any) string {
	switch v.(type) {
	case int:
		return "System.Int32"
	case int64:
		return "System.Int64"
	case string:
		return "System.String"
	case bool:
		return "System.Boolean"
	case liquidDouble, float64:
		return "System.Double"
	case liquidDecimal:
		return "System.Decimal"
	case []any:
		return "System.Collections.Generic.List`1[System.Object]"
	case map[string]any:
		return "DotLiquid.Hash"
	}
	return "System.Object"
}

// maxLiquidRepeat bounds the output of Times on a string.
const maxLiquidRepeat = 16 << 20

var opNames = map[byte]string{'+': "Add", '-': "Subtract", '*': "Multiply", '/': "Divide", '%': "Modulo"}

// liquidMath is DotLiquid's DoMathsOperation: decimal arithmetic when an
// operand is real (double on decimal overflow or division by zero),
// checked integer arithmetic otherwise.
func liquidMath(op byte, in, arg any) (any, error) {
	if in == nil || arg == nil {
		return nil, nil
	}
	if isReal(in) || isReal(arg) {
		a, ok1 := toDecimal(in)
		b, ok2 := toDecimal(arg)
		if _, s := in.(string); s && !ok1 {
			return nil, liquidError("Input string was not in a correct format.")
		}
		if _, s := arg.(string); s && !ok2 {
			return nil, liquidError("Input string was not in a correct format.")
		}
		if ok1 && ok2 {
			var r liquidDecimal
			ok := true
			switch op {
			case '+':
				r, ok = decAdd(a, b, false)
			case '-':
				r, ok = decAdd(a, b, true)
			case '*':
				r, ok = decMul(a, b)
			case '/':
				r, ok, _ = decDiv(a, b)
			case '%':
				r, ok, _ = decMod(a, b)
			}
			if ok {
				return r, nil
			}
		}
		x, y := toDouble(in), toDouble(arg)
		switch op {
		case '+':
			return liquidDouble(x + y), nil
		case '-':
			return liquidDouble(x - y), nil
		case '*':
			return liquidDouble(x * y), nil
		case '/':
			return liquidDouble(x / y), nil
		default:
			return liquidDouble(math.Mod(x, y)), nil
		}
	}
	x, xok := liquidInt(in)
	y, yok := liquidInt(arg)
	if !xok || !yok {
		return nil, liquidError(fmt.Sprintf("The binary operator %s is not defined for the types '%s' and '%s'.", opNames[op], netTypeName(in), netTypeName(arg)))
	}
	_, i32a := in.(int)
	_, i32b := arg.(int)
	narrow := i32a && i32b // Int32 op Int32 is an Int32
	var r int64
	switch op {
	case '+':
		r = x + y
		if (x > 0 && y > 0 && r < 0) || (x < 0 && y < 0 && r >= 0) {
			return nil, liquidError(msgOverflow)
		}
	case '-':
		r = x - y
		if (x >= 0 && y < 0 && r < 0) || (x < 0 && y > 0 && r >= 0) {
			return nil, liquidError(msgOverflow)
		}
	case '*':
		r = x * y
		if x != 0 && (r/x != y || (x == -1 && y == math.MinInt64)) {
			return nil, liquidError(msgOverflow)
		}
	case '/', '%':
		if y == 0 {
			return nil, liquidError(msgDivideByZero)
		}
		if op == '/' {
			r = x / y
		} else {
			r = x % y
		}
	}
	if narrow {
		if r > math.MaxInt32 || r < math.MinInt32 {
			return nil, liquidError(msgOverflow)
		}
		return int(r), nil
	}
	return r, nil
}

func liquidInt(v any) (int64, bool) {
	switch t := v.(type) {
	case int:
		return int64(t), true
	case int64:
		return t, true
	}
	return 0, false
}

// compareOrdinalIgnoreCase is StringComparer.OrdinalIgnoreCase.Compare on
// objects: strings ignoring case, other values through IComparable (which
// throws for values of different types).
func compareOrdinalIgnoreCase(a, b any) (int, error) {
	if a == nil || b == nil {
		switch {
		case a == nil && b == nil:
			return 0, nil
		case a == nil:
			return -1, nil
		default:
			return 1, nil
		}
	}
	if sa, ok := a.(string); ok {
		sb, ok := b.(string)
		if !ok {
			return 0, liquidError("Object must be of type String.")
		}
		return strings.Compare(strings.ToUpper(sa), strings.ToUpper(sb)), nil
	}
	if isNumber(a) && isNumber(b) {
		x, y := toDouble(a), toDouble(b)
		switch {
		case x < y:
			return -1, nil
		case x > y:
			return 1, nil
		}
		return 0, nil
	}
	if da, ok := a.(liquidDateTime); ok {
		if db, ok := b.(liquidDateTime); ok {
			return da.t.Compare(db.t), nil
		}
	}
	if ba, ok := a.(bool); ok {
		if bb, ok := b.(bool); ok {
			switch {
			case ba == bb:
				return 0, nil
			case !ba:
				return -1, nil
			}
			return 1, nil
		}
	}
	return 0, liquidError("Failed to compare two elements in the array.")
}

func isNumber(v any) bool {
	switch v.(type) {
	case int, int64, float64, liquidDouble, liquidDecimal:
		return true
	}
	return false
}

// currencyCulture is the NumberFormatInfo part of a culture that the "C"
// format uses.
type currencyCulture struct {
	symbol, group, dec string
	digits             int
	pos, neg           string // patterns with n for the number and $ for the symbol
}

func (c currencyCulture) format(d liquidDecimal) string {
	num := d.fixed(c.digits, c.group, c.dec)
	pat := c.pos
	if d.m.Sign() < 0 && !d.isZeroAfter(c.digits) {
		pat = c.neg
	}
	return strings.NewReplacer("n", num, "$", c.symbol).Replace(pat)
}

// invariantCurrency is the invariant culture, DotLiquid's culture in APIM.
var invariantCurrency = currencyCulture{symbol: "¤", group: ",", dec: ".", digits: 2, pos: "$n", neg: "($n)"}

// currencyCultures are the cultures Currency's languageTag accepts (the
// patterns of .NET on ICU).
var currencyCultures = map[string]currencyCulture{
	"":      invariantCurrency,
	"en-us": {symbol: "$", group: ",", dec: ".", digits: 2, pos: "$n", neg: "-$n"},
	"en-gb": {symbol: "£", group: ",", dec: ".", digits: 2, pos: "$n", neg: "-$n"},
	"de-de": {symbol: "€", group: ".", dec: ",", digits: 2, pos: "n\u00a0$", neg: "-n\u00a0$"},
	"fr-fr": {symbol: "€", group: "\u202f", dec: ",", digits: 2, pos: "n\u00a0$", neg: "-n\u00a0$"},
	"nl-nl": {symbol: "€", group: ".", dec: ",", digits: 2, pos: "$\u00a0n", neg: "$\u00a0-n"},
	"ja-jp": {symbol: "￥", group: ",", dec: ".", digits: 0, pos: "$n", neg: "-$n"},
}
