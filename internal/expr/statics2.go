package expr

import (
	"math"
	"net/url"
	"strconv"
	"strings"
	"unicode"
)

// moreStatics holds static methods added for .NET fidelity (checked by the
// differential test): double.IsNaN & co, Math.Sign, decimal rounding,
// char.IsPunctuation & co, string.CompareOrdinal, Convert.ToString(n, base).
func moreStatics(t, name string, nargs int) staticImpl {
	switch t {
	case "double":
		tests := map[string]func(float64) bool{
			"IsNaN":              math.IsNaN,
			"IsInfinity":         func(f float64) bool { return math.IsInf(f, 0) },
			"IsPositiveInfinity": func(f float64) bool { return math.IsInf(f, 1) },
			"IsNegativeInfinity": func(f float64) bool { return math.IsInf(f, -1) },
			"IsFinite":           func(f float64) bool { return !math.IsInf(f, 0) && !math.IsNaN(f) },
		}
		if f, ok := tests[name]; ok {
			return func(e *env, a []any) (any, error) {
				c, _, x := numOf(a[0])
				if c == ncNone || c == ncDecimal {
					return nil, errInvalidCast(a[0], "System.Double")
				}
				return f(x), nil
			}
		}
	case "decimal":
		switch name {
		case "Round", "Truncate", "Floor", "Ceiling", "Negate", "Add", "Subtract", "Multiply", "Divide", "Remainder":
			return func(e *env, a []any) (any, error) {
				d, ok, err := toDecimal(fromJValue(a[0]))
				if !ok || err != nil {
					return nil, errInvalidCast(a[0], "System.Decimal")
				}
				switch name {
				case "Truncate":
					return d.Round(0, "ToZero"), nil
				case "Floor":
					return d.Round(0, "Floor"), nil
				case "Ceiling":
					return d.Round(0, "Ceiling"), nil
				case "Negate":
					return d.Neg(), nil
				case "Round":
					return decRound(d, a[1:])
				}
				o, ok, err := toDecimal(fromJValue(a[1]))
				if !ok || err != nil {
					return nil, errInvalidCast(a[1], "System.Decimal")
				}
				op := map[string]string{"Add": "+", "Subtract": "-", "Multiply": "*", "Divide": "/", "Remainder": "%"}[name]
				return decArith(op, d, o)
			}
		}
	case "char":
		switch name {
		case "IsPunctuation", "IsSymbol", "IsControl", "IsNumber", "IsSeparator":
			fns := map[string]func(rune) bool{"IsPunctuation": unicode.IsPunct, "IsSymbol": unicode.IsSymbol, "IsControl": unicode.IsControl, "IsNumber": unicode.IsNumber, "IsSeparator": func(r rune) bool { return unicode.Is(unicode.Z, r) }}
			f := fns[name]
			return func(e *env, a []any) (any, error) {
				c, ok := a[0].(Char)
				if !ok {
					return nil, errInvalidCast(a[0], "System.Char")
				}
				return f(rune(c)), nil
			}
		}
	case "string":
		if name == "CompareOrdinal" {
			return func(e *env, a []any) (any, error) {
				x, _ := argStr(a[0])
				y, _ := argStr(a[1])
				return ordinalCompare(x, y), nil
			}
		}
	case "Math":
		switch name {
		case "Sign":
			return func(e *env, a []any) (any, error) {
				switch x := fromJValue(a[0]).(type) {
				case Decimal:
					return x.Sign(), nil
				case float64:
					if math.IsNaN(x) {
						return nil, &RuntimeError{Type: "ArithmeticException", Msg: "Function does not accept floating point Not-a-Number values."}
					}
				}
				c, i, f := numOf(fromJValue(a[0]))
				switch {
				case c == ncNone:
					return nil, errInvalidCast(a[0], "System.Double")
				case c == ncDouble && f > 0, c != ncDouble && i > 0:
					return 1, nil
				case c == ncDouble && f < 0, c != ncDouble && i < 0:
					return -1, nil
				}
				return 0, nil
			}
		case "Abs":
			return func(e *env, a []any) (any, error) {
				switch x := fromJValue(a[0]).(type) {
				case Decimal:
					if x.Sign() < 0 {
						return x.Neg(), nil
					}
					return x, nil
				case int:
					if x == math.MinInt32 {
						return nil, &RuntimeError{Type: "OverflowException", Msg: "Negating the minimum value of a twos complement number is invalid."}
					}
					if x < 0 {
						return -x, nil
					}
					return x, nil
				case int64:
					if x == math.MinInt64 {
						return nil, &RuntimeError{Type: "OverflowException", Msg: "Negating the minimum value of a twos complement number is invalid."}
					}
					if x < 0 {
						return -x, nil
					}
					return x, nil
				case float64:
					return math.Abs(x), nil
				}
				return nil, errInvalidCast(a[0], "System.Double")
			}
		case "Round", "Floor", "Ceiling", "Truncate":
			// decimal overloads; doubles fall through to mathStatic
			return nil
		}
	case "RSA":
		if name == "Create" && nargs == 0 {
			return func(e *env, a []any) (any, error) { return &RSAKey{}, nil }
		}
	case "Tuple":
		if name == "Create" {
			return func(e *env, a []any) (any, error) {
				t := &Anon{tuple: true}
				for i, v := range a {
					t.names = append(t.names, "Item"+strconv.Itoa(i+1))
					t.vals = append(t.vals, v)
				}
				return t, nil
			}
		}
	case "Array":
		if name == "Sort" && nargs == 2 {
			// Array.Sort(array, Comparison<T>)
			return func(e *env, a []any) (any, error) {
				l, ok := a[0].(*List)
				if !ok {
					if a[0] == nil {
						return nil, errArgNull("array")
					}
					return nil, errInvalidCast(a[0], "System.Array")
				}
				f, ok := a[1].(*Func)
				if !ok {
					return nil, errArgNull("comparison")
				}
				return nil, sortListBy(l.Items, f)
			}
		}
		if name == "Sort" && nargs == 1 {
			return func(e *env, a []any) (any, error) {
				l, ok := a[0].(*List)
				if !ok {
					return nil, errInvalidCast(a[0], "System.Array")
				}
				return nil, sortList(l.Items)
			}
		}
	case "HttpUtility":
		switch name {
		case "UrlPathEncode":
			return func(e *env, a []any) (any, error) {
				s, ok := argStr(a[0])
				if !ok {
					return nil, nil
				}
				return strings.ReplaceAll(escapeDataString(s, true), "%25", "%"), nil
			}
		case "ParseQueryString":
			return func(e *env, a []any) (any, error) {
				s, ok := argStr(a[0])
				if !ok {
					return nil, errArgNull("query")
				}
				d := newDict(true)
				for _, part := range strings.Split(strings.TrimPrefix(s, "?"), "&") {
					if part == "" {
						continue
					}
					k, v, _ := strings.Cut(part, "=")
					k, v = urlDecodePlus(k), urlDecodePlus(v)
					if old, found, _ := d.get(k); found {
						v = ToString(old) + "," + v
					}
					_ = d.set(k, v, false)
				}
				return d, nil
			}
		}
	case "Convert":
		if name == "ToString" && nargs == 2 {
			return func(e *env, a []any) (any, error) {
				base, ok := a[1].(int)
				if !ok {
					return ToString(a[0]), nil
				}
				if base != 2 && base != 8 && base != 10 && base != 16 {
					return nil, errArg("Invalid Base.")
				}
				c, i, _ := numOf(a[0])
				if c != ncInt && c != ncLong {
					return nil, errInvalidCast(a[0], "System.Int64")
				}
				if base != 10 && c == ncInt {
					return strconv.FormatUint(uint64(uint32(int32(i))), base), nil
				}
				if base != 10 && i < 0 {
					return strconv.FormatUint(uint64(i), base), nil
				}
				return strconv.FormatInt(i, base), nil
			}
		}
	}
	return nil
}

// decimalMath handles Math.Round/Floor/Ceiling/Truncate/Max/Min on decimals;
// ok is false for other argument types.
func decimalMath(name string, a []any) (any, bool, error) {
	if len(a) == 0 {
		return nil, false, nil
	}
	d, isDec := fromJValue(a[0]).(Decimal)
	if !isDec {
		return nil, false, nil
	}
	switch name {
	case "Round":
		r, err := decRound(d, a[1:])
		return r, true, err
	case "Floor":
		return d.Round(0, "Floor"), true, nil
	case "Ceiling":
		return d.Round(0, "Ceiling"), true, nil
	case "Truncate":
		return d.Round(0, "ToZero"), true, nil
	}
	return nil, false, nil
}

func decRound(d Decimal, rest []any) (any, error) {
	digits := 0
	mode := "ToEven"
	for _, x := range rest {
		switch v := x.(type) {
		case int:
			digits = v
		case Enum:
			mode = v.Name
		}
	}
	if digits < 0 || digits > 28 {
		return nil, errArgRange("decimals")
	}
	return d.Round(int32(digits), mode), nil
}

func ordinalCompare(x, y string) int {
	ux, uy := toUTF16(x), toUTF16(y)
	for i := 0; i < len(ux) && i < len(uy); i++ {
		if ux[i] != uy[i] {
			return int(ux[i]) - int(uy[i])
		}
	}
	return len(ux) - len(uy)
}

// cultureCompare orders strings like .NET's invariant-culture comparison
// for the common cases: letters compare alphabetically ignoring case first
// ("a" < "B" < "b"), then lower case sorts before upper case; digits before
// letters. Symbols and accents use their code points.
func cultureCompare(x, y string, ignoreCase bool) int {
	rx, ry := []rune(x), []rune(y)
	for i := 0; i < len(rx) && i < len(ry); i++ {
		a, b := unicode.ToLower(rx[i]), unicode.ToLower(ry[i])
		if a != b {
			ka, kb := cultureKey(a), cultureKey(b)
			if ka != kb {
				if ka < kb {
					return -1
				}
				return 1
			}
			if a < b {
				return -1
			}
			return 1
		}
	}
	if len(rx) != len(ry) {
		if len(rx) < len(ry) {
			return -1
		}
		return 1
	}
	if ignoreCase {
		return 0
	}
	for i := range rx {
		if rx[i] != ry[i] {
			// lower case first
			if unicode.IsLower(rx[i]) {
				return -1
			}
			return 1
		}
	}
	return 0
}

// cultureKey groups characters: whitespace and punctuation, then digits,
// then letters (by their lower-case form).
func cultureKey(r rune) int {
	switch {
	case unicode.IsLetter(r):
		return 3
	case unicode.IsDigit(r):
		return 2
	}
	return 1
}

// dotnetURLEncode is WebUtility.UrlEncode (upper-case hex) and
// HttpUtility.UrlEncode (lower-case hex): letters, digits and -_.!*() are
// kept, space becomes '+', everything else is %XX of its UTF-8 bytes.
func dotnetURLEncode(s string, lower bool) string {
	hexd := "0123456789ABCDEF"
	if lower {
		hexd = "0123456789abcdef"
	}
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-_.!*()", c) >= 0:
			sb.WriteByte(c)
		case c == ' ':
			sb.WriteByte('+')
		default:
			sb.WriteByte('%')
			sb.WriteByte(hexd[c>>4])
			sb.WriteByte(hexd[c&15])
		}
	}
	return sb.String()
}

// dotnetHTMLEncode is WebUtility.HtmlEncode: <>&"' as entities and the
// Latin-1 range 160-255 as numeric references.
func dotnetHTMLEncode(s string) string {
	var sb strings.Builder
	for _, r := range s {
		switch {
		case r == '<':
			sb.WriteString("&lt;")
		case r == '>':
			sb.WriteString("&gt;")
		case r == '&':
			sb.WriteString("&amp;")
		case r == '"':
			sb.WriteString("&quot;")
		case r == '\'':
			sb.WriteString("&#39;")
		case r >= 160 && r < 256:
			sb.WriteString("&#" + strconv.Itoa(int(r)) + ";")
		default:
			sb.WriteRune(r)
		}
	}
	return sb.String()
}

func urlDecodePlus(s string) string {
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}
