package expr

import (
	"encoding/base64"
	"encoding/hex"
	"html"
	"math"
	"math/big"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf16"
)

// encodings are the Encoding objects, one of each as in .NET (so that
// Encoding.UTF8 == Encoding.UTF8, and GetEncoding("utf-8") is the same
// object).
var encodings = map[string]*textEncoding{"UTF8": {name: "UTF8"}, "ASCII": {name: "ASCII"}, "Unicode": {name: "Unicode"}}

// textEncoding is System.Text.Encoding.UTF8 / ASCII / Unicode.
type textEncoding struct{ name string }

func (t *textEncoding) encode(s string) []byte {
	switch t.name {
	case "ASCII":
		b := make([]byte, 0, len(s))
		for _, r := range s {
			if r > 127 {
				r = '?'
			}
			b = append(b, byte(r))
		}
		return b
	case "Unicode":
		u := utf16.Encode([]rune(s))
		b := make([]byte, 0, len(u)*2)
		for _, c := range u {
			b = append(b, byte(c), byte(c>>8))
		}
		return b
	}
	return []byte(s)
}

func (t *textEncoding) decode(b []byte) string {
	switch t.name {
	case "ASCII":
		r := make([]rune, len(b))
		for i, c := range b {
			if c > 127 {
				r[i] = '?'
			} else {
				r[i] = rune(c)
			}
		}
		return string(r)
	case "Unicode":
		u := make([]uint16, len(b)/2)
		for i := range u {
			u[i] = uint16(b[2*i]) | uint16(b[2*i+1])<<8
		}
		return string(utf16.Decode(u))
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

func enumVal(typ, name string, val int) cx { return constCx(Enum{Type: typ, Name: name, Val: val}) }

// staticProperty resolves Type.Member that is not a call.
func staticProperty(n node, typ, name string) (cx, *Error) {
	t := canonType(typ)
	now := func(f func(time.Time) any) cx {
		return cx{fn: func(e *env) (any, error) { return f(e.c.now()), nil }}
	}
	switch t {
	case "string":
		if name == "Empty" {
			return constCx(""), nil
		}
	case "int":
		switch name {
		case "MaxValue":
			return constCx(math.MaxInt32), nil
		case "MinValue":
			return constCx(math.MinInt32), nil
		}
	case "long":
		switch name {
		case "MaxValue":
			return constCx(int64(math.MaxInt64)), nil
		case "MinValue":
			return constCx(int64(math.MinInt64)), nil
		}
	case "decimal":
		switch name {
		case "MaxValue":
			return constCx(Decimal{c: decMax}), nil
		case "MinValue":
			return constCx(Decimal{c: new(big.Int).Neg(decMax)}), nil
		case "Zero":
			return constCx(decFromInt(0)), nil
		case "One":
			return constCx(decFromInt(1)), nil
		case "MinusOne":
			return constCx(decFromInt(-1)), nil
		}
	case "double":
		switch name {
		case "MaxValue":
			return constCx(math.MaxFloat64), nil
		case "MinValue":
			return constCx(-math.MaxFloat64), nil
		case "NaN":
			return constCx(math.NaN()), nil
		case "PositiveInfinity":
			return constCx(math.Inf(1)), nil
		case "NegativeInfinity":
			return constCx(math.Inf(-1)), nil
		case "Epsilon":
			return constCx(math.SmallestNonzeroFloat64), nil
		}
	case "bool":
		switch name {
		case "TrueString":
			return constCx("True"), nil
		case "FalseString":
			return constCx("False"), nil
		}
	case "DateTime":
		switch name {
		case "UtcNow", "Now":
			return now(func(t time.Time) any { return t }), nil
		case "Today":
			return now(func(t time.Time) any { return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC) }), nil
		case "MinValue":
			return constCx(time.Date(1, 1, 1, 0, 0, 0, 0, unspecified)), nil
		case "MaxValue":
			return constCx(time.Date(9999, 12, 31, 23, 59, 59, 999999900, unspecified)), nil
		case "UnixEpoch":
			return constCx(time.Unix(0, 0).UTC()), nil
		}
	case "DateTimeOffset":
		switch name {
		case "UtcNow", "Now":
			return now(func(t time.Time) any { return newDTO(t) }), nil
		case "MinValue":
			return constCx(DateTimeOffset{time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)}), nil
		case "MaxValue":
			return constCx(DateTimeOffset{time.Date(9999, 12, 31, 23, 59, 59, 999999900, time.UTC)}), nil
		case "UnixEpoch":
			return constCx(DateTimeOffset{time.Unix(0, 0).UTC()}), nil
		}
	case "TimeSpan":
		switch name {
		case "Zero":
			return constCx(time.Duration(0)), nil
		case "MaxValue":
			return constCx(time.Duration(math.MaxInt64)), nil
		}
	case "Guid":
		if name == "Empty" {
			return constCx(Guid{}), nil
		}
	case "Encoding":
		switch name {
		case "UTF8", "ASCII", "Unicode", "Default":
			if name == "Default" {
				name = "UTF8"
			}
			enc := encodings[name]
			return cx{fn: func(*env) (any, error) { return enc, nil }}, nil
		}
	case "Math":
		switch name {
		case "PI":
			return constCx(math.Pi), nil
		case "E":
			return constCx(math.E), nil
		}
	case "UriPartial":
		vals := map[string]int{"Scheme": 0, "Authority": 1, "Path": 2, "Query": 3}
		if v, ok := vals[name]; ok {
			return enumVal("UriPartial", name, v), nil
		}
	case "HashAlgorithmName":
		switch name {
		case "SHA256", "SHA384", "SHA512", "SHA1", "MD5":
			return enumVal("HashAlgorithmName", name, 0), nil
		}
	case "RSASignaturePadding":
		switch name {
		case "Pkcs1", "Pss":
			return enumVal("RSASignaturePadding", name, 0), nil
		}
	case "MergeArrayHandling":
		vals := map[string]int{"Concat": 0, "Union": 1, "Replace": 2, "Merge": 3}
		if v, ok := vals[name]; ok {
			return enumVal("MergeArrayHandling", name, v), nil
		}
	case "SaveOptions":
		vals := map[string]int{"None": 0, "DisableFormatting": 1, "OmitDuplicateNamespaces": 2}
		if v, ok := vals[name]; ok {
			return enumVal("SaveOptions", name, v), nil
		}
	case "MidpointRounding":
		vals := map[string]int{"ToEven": 0, "AwayFromZero": 1, "ToZero": 2, "ToNegativeInfinity": 3, "ToPositiveInfinity": 4}
		if v, ok := vals[name]; ok {
			return enumVal("MidpointRounding", name, v), nil
		}
	case "byte":
		switch name {
		case "MaxValue":
			return constCx(byte(255)), nil
		case "MinValue":
			return constCx(byte(0)), nil
		}
	case "short":
		switch name {
		case "MaxValue":
			return constCx(math.MaxInt16), nil
		case "MinValue":
			return constCx(math.MinInt16), nil
		}
	case "uint":
		switch name {
		case "MaxValue":
			return constCx(int64(math.MaxUint32)), nil
		case "MinValue":
			return constCx(int64(0)), nil
		}
	case "char":
		switch name {
		case "MaxValue":
			return constCx(Char(0xffff)), nil
		case "MinValue":
			return constCx(Char(0)), nil
		}
	case "StringComparison":
		vals := map[string]int{"CurrentCulture": 0, "CurrentCultureIgnoreCase": 1, "InvariantCulture": 2, "InvariantCultureIgnoreCase": 3, "Ordinal": 4, "OrdinalIgnoreCase": 5}
		if v, ok := vals[name]; ok {
			return enumVal("StringComparison", name, v), nil
		}
	case "StringComparer":
		vals := map[string]int{"CurrentCulture": 0, "CurrentCultureIgnoreCase": 1, "InvariantCulture": 2, "InvariantCultureIgnoreCase": 3, "Ordinal": 4, "OrdinalIgnoreCase": 5}
		if v, ok := vals[name]; ok {
			return enumVal("StringComparer", name, v), nil
		}
	case "StringSplitOptions":
		vals := map[string]int{"None": 0, "RemoveEmptyEntries": 1, "TrimEntries": 2}
		if v, ok := vals[name]; ok {
			return enumVal("StringSplitOptions", name, v), nil
		}
	case "Formatting":
		switch name {
		case "None":
			return enumVal("Formatting", name, 0), nil
		case "Indented":
			return enumVal("Formatting", name, 1), nil
		}
	case "JTokenType":
		e := jtokenType(name)
		if e.Val != 0 || name == "None" {
			return constCx(e), nil
		}
	case "RegexOptions":
		vals := map[string]int{"None": 0, "IgnoreCase": 1, "Multiline": 2, "ExplicitCapture": 4, "Compiled": 8, "Singleline": 16, "IgnorePatternWhitespace": 32, "CultureInvariant": 512}
		if v, ok := vals[name]; ok {
			return enumVal("RegexOptions", name, v), nil
		}
	case "DateTimeKind":
		vals := map[string]int{"Unspecified": 0, "Utc": 1, "Local": 2}
		if v, ok := vals[name]; ok {
			return enumVal("DateTimeKind", name, v), nil
		}
	case "CultureInfo":
		if name == "InvariantCulture" || name == "CurrentCulture" {
			return enumVal("CultureInfo", name, 0), nil
		}
	case "DateTimeStyles":
		vals := map[string]int{"None": 0, "AdjustToUniversal": 16, "AssumeLocal": 32, "AssumeUniversal": 64, "RoundtripKind": 128}
		if v, ok := vals[name]; ok {
			return enumVal("DateTimeStyles", name, v), nil
		}
	case "NumberStyles":
		vals := map[string]int{"None": 0, "Integer": 7, "Any": 511, "Number": 111, "Float": 167, "HexNumber": 515}
		if v, ok := vals[name]; ok {
			return enumVal("NumberStyles", name, v), nil
		}
	case "UriKind":
		vals := map[string]int{"RelativeOrAbsolute": 0, "Absolute": 1, "Relative": 2}
		if v, ok := vals[name]; ok {
			return enumVal("UriKind", name, v), nil
		}
	}
	return cx{}, errAt(n, "unknown static member '%s.%s'", typ, name)
}

type staticImpl func(e *env, a []any) (any, error)

func str0(a []any, i int) (string, error) {
	if i >= len(a) {
		return "", errArg("missing argument")
	}
	if s, ok := argStr(a[i]); ok {
		return s, nil
	}
	if a[i] == nil {
		return "", errArgNull("value")
	}
	return "", errInvalidCast(a[i], "System.String")
}

// staticCall resolves Type.Method(args).
func staticCall(n *memberExpr, typ, name string, targs []*typeRef, args []compiledArg) (cx, *Error) {
	t := canonType(typ)
	for _, ta := range targs {
		if err := checkType(ta); err != nil {
			return cx{}, err
		}
	}
	var impl staticImpl
	outIdx := -1
	var err *Error
	if impl = moreStatics(t, name, len(args)); impl == nil {
		impl, outIdx, err = staticImplFor(n, t, name, targs, args)
	}
	if err != nil {
		return cx{}, err
	}
	if impl == nil {
		if s := suggestStatic(n, t, name, args); s != "" {
			return cx{}, errAt(n, "unknown static method '%s.%s' (did you mean '%s'?)", typ, name, s)
		}
		return cx{}, errAt(n, "unknown static method '%s.%s'", typ, name)
	}
	if err := checkArity(n, name, args, staticMinArgs(t, name), 100); err != nil {
		return cx{}, err
	}
	argFns := make([]evalFn, len(args))
	for i, a := range args {
		argFns[i] = a.fn
	}
	for i, a := range args {
		if a.name != "" {
			return cx{}, errAt(n, "unsupported C# construct: named argument '%s'", a.name)
		}
		if a.outSet != nil && i != outIdx {
			return cx{}, errAt(n, "unsupported C# construct: out argument %d of '%s.%s'", i+1, typ, name)
		}
	}
	var outSet func(*env, any)
	if outIdx >= 0 {
		if outIdx >= len(args) || args[outIdx].outSet == nil {
			return cx{}, errAt(n, "%s.%s needs an out argument", typ, name)
		}
		outSet = args[outIdx].outSet
	}
	// Regex with a literal pattern: check it now.
	if t == "Regex" && len(args) >= 2 && args[1].isConst {
		if p, ok := args[1].val.(string); ok {
			if _, rerr := translateRegex(p, 0); rerr != nil {
				return cx{}, errAt(args[1].node, "%s", rerr.Error())
			}
		}
	}
	st := stAny
	switch name {
	case "IsNullOrEmpty", "IsNullOrWhiteSpace", "IsMatch":
		st = stBool
	}
	return cx{st: st, fn: func(e *env) (any, error) {
		base := len(e.stack)
		defer e.popArgs(base)
		for _, f := range argFns {
			v, err := f(e)
			if err != nil {
				return nil, err
			}
			e.stack = append(e.stack, v)
		}
		av := e.stack[base:len(e.stack):len(e.stack)]
		if outSet != nil {
			ok, err := impl(e, av)
			if err != nil {
				return nil, err
			}
			pair := ok.([2]any)
			outSet(e, pair[1])
			return pair[0], nil
		}
		return impl(e, av)
	}}, nil
}

func staticImplFor(n *memberExpr, t, name string, targs []*typeRef, args []compiledArg) (staticImpl, int, *Error) {
	nargs := len(args)
	arity := func(min, max int) *Error { return checkArity(n, name, args, min, max) }
	switch t {
	case "string":
		switch name {
		case "IsNullOrEmpty", "IsNullOrWhiteSpace":
			if err := arity(1, 1); err != nil {
				return nil, 0, err
			}
			ws := name == "IsNullOrWhiteSpace"
			return func(e *env, a []any) (any, error) {
				v := fromJValue(a[0])
				if v == nil {
					return true, nil
				}
				s, ok := v.(string)
				if !ok {
					return nil, errInvalidCast(a[0], "System.String")
				}
				if ws {
					return strings.TrimFunc(s, unicode.IsSpace) == "", nil
				}
				return s == "", nil
			}, -1, nil
		case "Format":
			if nargs < 1 {
				return nil, 0, arity(1, 100)
			}
			return func(e *env, a []any) (any, error) {
				f, err := str0(a, 0)
				if err != nil {
					return nil, err
				}
				rest := a[1:]
				if len(rest) == 1 {
					if l, ok := rest[0].(*List); ok && l.Array {
						rest = l.Items
					}
				}
				return stringFormat(f, rest)
			}, -1, nil
		case "Join":
			if err := arity(2, 100); err != nil {
				return nil, 0, err
			}
			return func(e *env, a []any) (any, error) {
				sep := ToString(a[0])
				var items []any
				if len(a) == 2 {
					if _, isStr := a[1].(string); !isStr {
						var err error
						if items, err = iterate(a[1]); err != nil {
							return nil, err
						}
					} else {
						items = a[1:]
					}
				} else {
					items = a[1:]
				}
				parts := make([]string, len(items))
				total := 0
				for i, it := range items {
					parts[i] = ToString(it)
					total += len(parts[i]) + len(sep)
				}
				if err := checkStrLen(total); err != nil {
					return nil, err
				}
				return strings.Join(parts, sep), nil
			}, -1, nil
		case "Concat":
			return func(e *env, a []any) (any, error) {
				var sb strings.Builder
				items := a
				if len(a) == 1 {
					if _, isStr := a[0].(string); !isStr && a[0] != nil {
						var err error
						if items, err = iterate(a[0]); err != nil {
							return nil, err
						}
					}
				}
				for _, it := range items {
					s := ToString(it)
					if err := checkStrLen(sb.Len() + len(s)); err != nil {
						return nil, err
					}
					sb.WriteString(s)
				}
				return sb.String(), nil
			}, -1, nil
		case "Equals", "Compare":
			if err := arity(2, 3); err != nil {
				return nil, 0, err
			}
			return func(e *env, a []any) (any, error) {
				x, _ := argStr(a[0])
				y, _ := argStr(a[1])
				var c int
				if a[0] == nil || a[1] == nil {
					switch {
					case a[0] == nil && a[1] == nil:
						c = 0
					case a[0] == nil:
						c = -1
					default:
						c = 1
					}
				} else if len(a) == 3 {
					c = compareStrings(x, y, a[2])
				} else if name == "Equals" {
					c = strings.Compare(x, y)
				} else {
					c = cultureCompare(x, y, false)
				}
				if name == "Equals" {
					return c == 0, nil
				}
				return c, nil
			}, -1, nil
		case "Copy":
			return func(e *env, a []any) (any, error) { return a[0], nil }, -1, nil
		}
	case "int", "long", "double", "decimal", "bool", "byte", "short":
		switch name {
		case "Parse":
			if err := arity(1, 3); err != nil {
				return nil, 0, err
			}
			return func(e *env, a []any) (any, error) {
				s, err := str0(a, 0)
				if err != nil {
					return nil, err
				}
				return parseNumber(t, s)
			}, -1, nil
		case "TryParse":
			if err := arity(2, 4); err != nil {
				return nil, 0, err
			}
			return func(e *env, a []any) (any, error) {
				s, _ := argStr(a[0])
				v, err := parseNumber(t, s)
				if err != nil {
					return [2]any{false, defaultValue(&typeRef{name: t})}, nil
				}
				return [2]any{true, v}, nil
			}, nargs - 1, nil
		}
	case "DateTime", "DateTimeOffset":
		wrap := func(tm time.Time) any {
			if t == "DateTimeOffset" {
				return newDTO(tm)
			}
			return tm
		}
		switch name {
		case "Parse":
			return func(e *env, a []any) (any, error) {
				s, err := str0(a, 0)
				if err != nil {
					return nil, err
				}
				if t == "DateTimeOffset" {
					return parseDTO(s)
				}
				tm, err := parseDateTime(s)
				if err != nil {
					return nil, err
				}
				return wrap(tm), nil
			}, -1, nil
		case "ParseExact":
			return func(e *env, a []any) (any, error) {
				s, err := str0(a, 0)
				if err != nil {
					return nil, err
				}
				f, err := str0(a, 1)
				if err != nil {
					return nil, err
				}
				tm, err := parseExact(s, f)
				if err != nil {
					return nil, err
				}
				return wrap(tm), nil
			}, -1, nil
		case "TryParse":
			return func(e *env, a []any) (any, error) {
				s, _ := argStr(a[0])
				tm, err := parseDateTime(s)
				if err != nil {
					return [2]any{false, wrap(time.Date(1, 1, 1, 0, 0, 0, 0, unspecified))}, nil
				}
				return [2]any{true, wrap(tm)}, nil
			}, nargs - 1, nil
		case "FromUnixTimeSeconds", "FromUnixTimeMilliseconds":
			return func(e *env, a []any) (any, error) {
				c, i, _ := numOf(a[0])
				if c == ncNone {
					return nil, errInvalidCast(a[0], "System.Int64")
				}
				if name == "FromUnixTimeSeconds" {
					return newDTO(time.Unix(i, 0).UTC()), nil
				}
				return newDTO(time.UnixMilli(i).UTC()), nil
			}, -1, nil
		case "Compare":
			return func(e *env, a []any) (any, error) {
				c, _, err := compareValues(a[0], a[1])
				return c, err
			}, -1, nil
		case "DaysInMonth":
			return func(e *env, a []any) (any, error) {
				y, err1 := argInt(a[0])
				m, err2 := argInt(a[1])
				if err1 != nil || err2 != nil || m < 1 || m > 12 {
					return nil, errArgRange("month")
				}
				return time.Date(y, time.Month(m)+1, 0, 0, 0, 0, 0, time.UTC).Day(), nil
			}, -1, nil
		case "IsLeapYear":
			return func(e *env, a []any) (any, error) {
				y, err := argInt(a[0])
				if err != nil {
					return nil, err
				}
				return y%4 == 0 && (y%100 != 0 || y%400 == 0), nil
			}, -1, nil
		case "SpecifyKind":
			return func(e *env, a []any) (any, error) {
				tm, ok := a[0].(time.Time)
				if !ok {
					return nil, errInvalidCast(a[0], "System.DateTime")
				}
				if k, ok := a[1].(Enum); ok && k.Val == 1 {
					return time.Date(tm.Year(), tm.Month(), tm.Day(), tm.Hour(), tm.Minute(), tm.Second(), tm.Nanosecond(), time.UTC), nil
				}
				return time.Date(tm.Year(), tm.Month(), tm.Day(), tm.Hour(), tm.Minute(), tm.Second(), tm.Nanosecond(), unspecified), nil
			}, -1, nil
		}
	case "TimeSpan":
		units := map[string]time.Duration{"FromSeconds": time.Second, "FromMinutes": time.Minute, "FromHours": time.Hour, "FromDays": 24 * time.Hour, "FromMilliseconds": time.Millisecond, "FromTicks": 100}
		if u, ok := units[name]; ok {
			if err := arity(1, 1); err != nil {
				return nil, 0, err
			}
			return func(e *env, a []any) (any, error) {
				c, _, f := numOf(a[0])
				if c == ncNone {
					return nil, errInvalidCast(a[0], "System.Double")
				}
				return time.Duration(f * float64(u)), nil
			}, -1, nil
		}
		if name == "Parse" {
			return func(e *env, a []any) (any, error) {
				s, err := str0(a, 0)
				if err != nil {
					return nil, err
				}
				return parseTimeSpan(s)
			}, -1, nil
		}
	case "Guid":
		switch name {
		case "NewGuid":
			if err := arity(0, 0); err != nil {
				return nil, 0, err
			}
			return func(e *env, a []any) (any, error) { return NewGuid(), nil }, -1, nil
		case "Parse":
			return func(e *env, a []any) (any, error) {
				s, err := str0(a, 0)
				if err != nil {
					return nil, err
				}
				g, ok := parseGuid(s)
				if !ok {
					return nil, errFormat("Unrecognized Guid format.")
				}
				return g, nil
			}, -1, nil
		case "TryParse":
			return func(e *env, a []any) (any, error) {
				s, _ := argStr(a[0])
				g, ok := parseGuid(s)
				return [2]any{ok, g}, nil
			}, nargs - 1, nil
		}
	case "Convert":
		return convertStatic(n, name, args)
	case "Encoding":
		if name == "GetEncoding" {
			return func(e *env, a []any) (any, error) {
				s, _ := argStr(a[0])
				switch strings.ToLower(s) {
				case "utf-8", "utf8":
					return encodings["UTF8"], nil
				case "ascii", "us-ascii":
					return encodings["ASCII"], nil
				}
				return nil, errArg("'%s' is not a supported encoding name.", s)
			}, -1, nil
		}
	case "Regex":
		return regexStatic(n, name, args)
	case "Uri", "WebUtility", "HttpUtility":
		switch name {
		case "EscapeDataString", "EscapeUriString":
			return func(e *env, a []any) (any, error) {
				s, err := str0(a, 0)
				if err != nil {
					return nil, err
				}
				return escapeDataString(s, name == "EscapeUriString"), nil
			}, -1, nil
		case "UnescapeDataString", "UrlDecode":
			return func(e *env, a []any) (any, error) {
				if a[0] == nil {
					return nil, nil
				}
				s, err := str0(a, 0)
				if err != nil {
					return nil, err
				}
				if name == "UrlDecode" {
					if u, err := url.QueryUnescape(s); err == nil {
						return u, nil
					}
					return s, nil
				}
				if u, err := url.PathUnescape(s); err == nil {
					return u, nil
				}
				return s, nil
			}, -1, nil
		case "UrlEncode":
			return func(e *env, a []any) (any, error) {
				if a[0] == nil {
					return nil, nil
				}
				s, err := str0(a, 0)
				if err != nil {
					return nil, err
				}
				return dotnetURLEncode(s, t == "HttpUtility"), nil
			}, -1, nil
		case "HtmlEncode":
			return func(e *env, a []any) (any, error) {
				if a[0] == nil {
					return nil, nil
				}
				return dotnetHTMLEncode(ToString(a[0])), nil
			}, -1, nil
		case "HtmlDecode":
			return func(e *env, a []any) (any, error) {
				if a[0] == nil {
					return nil, nil
				}
				return html.UnescapeString(ToString(a[0])), nil
			}, -1, nil
		case "IsWellFormedUriString":
			return func(e *env, a []any) (any, error) {
				s, _ := argStr(a[0])
				_, err := newUri(s)
				return err == nil, nil
			}, -1, nil
		}
	case "Math":
		return mathStatic(n, name, args)
	case "JObject", "JArray", "JToken":
		switch name {
		case "Parse":
			if err := arity(1, 2); err != nil {
				return nil, 0, err
			}
			return func(e *env, a []any) (any, error) {
				s, err := str0(a, 0)
				if err != nil {
					return nil, err
				}
				v, err := ParseJSON(s)
				if err != nil {
					return nil, err
				}
				switch t {
				case "JObject":
					if _, ok := v.(*JObject); !ok {
						return nil, &RuntimeError{Type: "JsonReaderException", Msg: "Error reading JObject from JsonReader. Current JsonReader item is not an object."}
					}
				case "JArray":
					if _, ok := v.(*JArray); !ok {
						return nil, &RuntimeError{Type: "JsonReaderException", Msg: "Error reading JArray from JsonReader. Current JsonReader item is not an array."}
					}
				}
				return v, nil
			}, -1, nil
		case "FromObject":
			return func(e *env, a []any) (any, error) {
				v, err := toJToken(a[0], 0)
				if err != nil {
					return nil, err
				}
				if v, err = cloneJToken(v); err != nil {
					return nil, err
				}
				if t == "JObject" {
					if _, ok := v.(*JObject); !ok {
						return nil, errArg("Object serialized to %s. JObject instance expected.", typeName(v))
					}
				}
				if t == "JArray" {
					if _, ok := v.(*JArray); !ok {
						return nil, errArg("Object serialized to %s. JArray instance expected.", typeName(v))
					}
				}
				return v, nil
			}, -1, nil
		case "DeepEquals":
			return func(e *env, a []any) (any, error) {
				x, err1 := jsonString(a[0], false)
				y, err2 := jsonString(a[1], false)
				return err1 == nil && err2 == nil && x == y, nil
			}, -1, nil
		}
	case "XDocument", "XElement":
		if name == "Parse" {
			if err := arity(1, 2); err != nil {
				return nil, 0, err
			}
			return func(e *env, a []any) (any, error) {
				s, err := str0(a, 0)
				if err != nil {
					return nil, err
				}
				doc, err := parseXDocument(s)
				if err != nil {
					return nil, err
				}
				if t == "XElement" {
					return doc.Root, nil
				}
				return doc, nil
			}, -1, nil
		}
	case "JsonConvert":
		switch name {
		case "SerializeObject":
			if err := arity(1, 2); err != nil {
				return nil, 0, err
			}
			return func(e *env, a []any) (any, error) {
				indent := false
				if len(a) == 2 {
					if f, ok := a[1].(Enum); ok && f.Type == "Formatting" {
						indent = f.Val == 1
					}
				}
				if s, ok := a[0].(string); ok {
					var sb strings.Builder
					writeJSONString(&sb, s)
					return sb.String(), nil
				}
				return jsonString(a[0], indent)
			}, -1, nil
		case "DeserializeObject":
			targ := typeArgName(targs)
			return func(e *env, a []any) (any, error) {
				s, err := str0(a, 0)
				if err != nil {
					return nil, err
				}
				v, err := ParseJSON(s)
				if err != nil {
					return nil, err
				}
				return toObject(v, targ), nil
			}, -1, nil
		}
	case "Array":
		switch name {
		case "Exists", "Find", "FindIndex", "IndexOf":
			return func(e *env, a []any) (any, error) {
				items, err := iterate(a[0])
				if err != nil {
					return nil, err
				}
				if name == "IndexOf" {
					for i, it := range items {
						if valuesEqual(it, a[1]) {
							return i, nil
						}
					}
					return -1, nil
				}
				v, err, _ := objectMethod(name, &List{Items: items}, a[1:], "", nil)
				return v, err
			}, -1, nil
		case "FindAll", "TrueForAll", "ConvertAll", "ForEach", "FindLast", "FindLastIndex":
			// Array.X(array, lambda): the List<T> method on the array's
			// elements; FindAll and ConvertAll give arrays
			return func(e *env, a []any) (any, error) {
				if a[0] == nil {
					return nil, errArgNull("array")
				}
				items, err := iterate(a[0])
				if err != nil {
					return nil, err
				}
				if name == "FindLast" || name == "FindLastIndex" {
					for i := len(items) - 1; i >= 0; i-- {
						ok, err := callPred(a[1], items[i])
						if err != nil {
							return nil, err
						}
						if ok {
							if name == "FindLast" {
								return items[i], nil
							}
							return i, nil
						}
					}
					if name == "FindLast" {
						return nil, nil
					}
					return -1, nil
				}
				v, err, _ := objectMethod(name, &List{Items: items}, a[1:], "", nil)
				if l, ok := v.(*List); ok {
					l.Array = true
				}
				return v, err
			}, -1, nil
		case "Copy":
			return func(e *env, a []any) (any, error) {
				switch len(a) {
				case 3:
					n, err := argInt(a[2])
					if err != nil {
						return nil, err
					}
					return nil, arrayCopy(a[0], 0, a[1], 0, n)
				case 5:
					si, err1 := argInt(a[1])
					di, err2 := argInt(a[3])
					n, err3 := argInt(a[4])
					if err1 != nil || err2 != nil || err3 != nil {
						return nil, errArg("Array.Copy needs integer indexes")
					}
					return nil, arrayCopy(a[0], si, a[2], di, n)
				}
				return nil, errArg("Array.Copy takes 3 or 5 arguments")
			}, -1, nil
		case "Empty":
			return func(e *env, a []any) (any, error) { return &List{Array: true}, nil }, -1, nil
		case "Reverse":
			return func(e *env, a []any) (any, error) {
				switch x := a[0].(type) {
				case *List:
					for i, j := 0, len(x.Items)-1; i < j; i, j = i+1, j-1 {
						x.Items[i], x.Items[j] = x.Items[j], x.Items[i]
					}
				case []byte:
					for i, j := 0, len(x)-1; i < j; i, j = i+1, j-1 {
						x[i], x[j] = x[j], x[i]
					}
				}
				return nil, nil
			}, -1, nil
		}
	case "BitConverter":
		switch name {
		case "ToString":
			return func(e *env, a []any) (any, error) {
				b, ok := a[0].([]byte)
				if !ok {
					return nil, errInvalidCast(a[0], "System.Byte[]")
				}
				h := strings.ToUpper(hex.EncodeToString(b))
				var sb strings.Builder
				for i := 0; i < len(h); i += 2 {
					if i > 0 {
						sb.WriteByte('-')
					}
					sb.WriteString(h[i : i+2])
				}
				return sb.String(), nil
			}, -1, nil
		case "ToInt32", "ToInt64":
			return func(e *env, a []any) (any, error) {
				b, ok := a[0].([]byte)
				if !ok {
					return nil, errInvalidCast(a[0], "System.Byte[]")
				}
				off := 0
				if len(a) > 1 {
					off, _ = argInt(a[1])
				}
				size := 4
				if name == "ToInt64" {
					size = 8
				}
				if off < 0 || off+size > len(b) {
					return nil, errArgRange("startIndex")
				}
				var v int64
				for i := size - 1; i >= 0; i-- {
					v = v<<8 | int64(b[off+i])
				}
				if size == 4 {
					return int(int32(v)), nil
				}
				return v, nil
			}, -1, nil
		}
	case "SHA256", "SHA1", "SHA512", "MD5":
		if name == "Create" {
			return func(e *env, a []any) (any, error) {
				h, _ := newHasher(t, nil)
				return h, nil
			}, -1, nil
		}
		if name == "HashData" {
			return func(e *env, a []any) (any, error) {
				b, ok := a[0].([]byte)
				if !ok {
					return nil, errInvalidCast(a[0], "System.Byte[]")
				}
				h, _ := newHasher(t, nil)
				return h.compute(b), nil
			}, -1, nil
		}
	case "Enumerable":
		switch name {
		case "Range":
			return func(e *env, a []any) (any, error) {
				s, err1 := argInt(a[0])
				c, err2 := argInt(a[1])
				if err1 != nil || err2 != nil || c < 0 || c > 1<<20 {
					return nil, errArgRange("count")
				}
				l := &List{}
				for i := 0; i < c; i++ {
					l.Items = append(l.Items, s+i)
				}
				return l, nil
			}, -1, nil
		case "Empty":
			return func(e *env, a []any) (any, error) { return &List{}, nil }, -1, nil
		case "Repeat":
			return func(e *env, a []any) (any, error) {
				c, err := argInt(a[1])
				if err != nil || c < 0 || c > 1<<20 {
					return nil, errArgRange("count")
				}
				l := &List{}
				for i := 0; i < c; i++ {
					l.Items = append(l.Items, a[0])
				}
				return l, nil
			}, -1, nil
		}
	case "char":
		fns := map[string]func(rune) bool{"IsDigit": unicode.IsDigit, "IsLetter": unicode.IsLetter, "IsWhiteSpace": unicode.IsSpace, "IsUpper": unicode.IsUpper, "IsLower": unicode.IsLower, "IsLetterOrDigit": func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }}
		if f, ok := fns[name]; ok {
			return func(e *env, a []any) (any, error) {
				c, ok := a[0].(Char)
				if !ok {
					return nil, errInvalidCast(a[0], "System.Char")
				}
				return f(rune(c)), nil
			}, -1, nil
		}
		switch name {
		case "ToUpper", "ToLower", "ToUpperInvariant", "ToLowerInvariant":
			// The invariant culture's case mapping is Unicode's, as the
			// current culture's is outside Turkish and Azeri.
			return func(e *env, a []any) (any, error) {
				c, ok := a[0].(Char)
				if !ok {
					return nil, errInvalidCast(a[0], "System.Char")
				}
				if strings.HasPrefix(name, "ToUpper") {
					return Char(unicode.ToUpper(rune(c))), nil
				}
				return Char(unicode.ToLower(rune(c))), nil
			}, -1, nil
		}
	}
	return nil, -1, nil
}

func arrayCopy(src any, si int, dst any, di int, n int) error {
	switch s := src.(type) {
	case []byte:
		d, ok := dst.([]byte)
		if !ok {
			return errInvalidCast(dst, "System.Byte[]")
		}
		if si < 0 || di < 0 || n < 0 || si+n > len(s) || di+n > len(d) {
			return errArg("Destination array was not long enough.")
		}
		copy(d[di:di+n], s[si:si+n])
		return nil
	case *List:
		d, ok := dst.(*List)
		if !ok {
			return errInvalidCast(dst, "System.Array")
		}
		if si < 0 || di < 0 || n < 0 || si+n > len(s.Items) || di+n > len(d.Items) {
			return errArg("Destination array was not long enough.")
		}
		copy(d.Items[di:di+n], s.Items[si:si+n])
		return nil
	}
	return errInvalidCast(src, "System.Array")
}

// escapeDataString is Uri.EscapeDataString (RFC 3986 unreserved kept).
func escapeDataString(s string, keepReserved bool) string {
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' ||
			(keepReserved && strings.IndexByte(":/?#[]@!$&'()*+,;=", c) >= 0) {
			sb.WriteByte(c)
			continue
		}
		sb.WriteByte('%')
		sb.WriteByte("0123456789ABCDEF"[c>>4])
		sb.WriteByte("0123456789ABCDEF"[c&15])
	}
	return sb.String()
}

func parseNumber(t, s string) (any, error) {
	s = strings.TrimSpace(s)
	switch t {
	case "bool":
		return changeType("bool", s)
	case "decimal":
		d, ok := parseDecimalText(strings.ReplaceAll(s, ",", ""), false)
		if !ok {
			return nil, errFormat("The input string '" + s + "' was not in a correct format.")
		}
		return d, nil
	case "double":
		f, err := strconv.ParseFloat(strings.ReplaceAll(s, ",", ""), 64)
		if err != nil {
			return nil, errFormat("The input string '" + s + "' was not in a correct format.")
		}
		return f, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return nil, &RuntimeError{Type: "OverflowException", Msg: "Value was either too large or too small for an " + dotnetName(t) + "."}
		}
		return nil, errFormat("The input string '" + s + "' was not in a correct format.")
	}
	switch t {
	case "int":
		if n > math.MaxInt32 || n < math.MinInt32 {
			return nil, &RuntimeError{Type: "OverflowException", Msg: "Value was either too large or too small for an Int32."}
		}
		return int(n), nil
	case "byte":
		if n < 0 || n > 255 {
			return nil, &RuntimeError{Type: "OverflowException", Msg: "Value was either too large or too small for an unsigned byte."}
		}
		return byte(n), nil
	case "short":
		if n > math.MaxInt16 || n < math.MinInt16 {
			return nil, &RuntimeError{Type: "OverflowException", Msg: "Value was either too large or too small for an Int16."}
		}
		return int(n), nil
	}
	return n, nil
}

func convertStatic(n *memberExpr, name string, args []compiledArg) (staticImpl, int, *Error) {
	targets := map[string]string{"ToInt32": "int", "ToInt64": "long", "ToDouble": "double", "ToDecimal": "decimal", "ToBoolean": "bool", "ToString": "string", "ToByte": "byte", "ToInt16": "short", "ToDateTime": "DateTime", "ToChar": "char"}
	switch name {
	case "ToBase64String":
		return func(e *env, a []any) (any, error) {
			b, ok := a[0].([]byte)
			if !ok {
				if a[0] == nil {
					return nil, errArgNull("inArray")
				}
				return nil, errInvalidCast(a[0], "System.Byte[]")
			}
			return base64.StdEncoding.EncodeToString(b), nil
		}, -1, nil
	case "FromBase64String":
		return func(e *env, a []any) (any, error) {
			s, err := str0(a, 0)
			if err != nil {
				return nil, err
			}
			s = strings.Map(func(r rune) rune {
				if unicode.IsSpace(r) {
					return -1
				}
				return r
			}, s)
			b, derr := base64.StdEncoding.DecodeString(s)
			if derr != nil {
				return nil, errFormat("The input is not a valid Base-64 string as it contains a non-base 64 character, more than two padding characters, or an illegal character among the padding characters.")
			}
			return b, nil
		}, -1, nil
	case "ToHexString":
		return func(e *env, a []any) (any, error) {
			b, ok := a[0].([]byte)
			if !ok {
				return nil, errInvalidCast(a[0], "System.Byte[]")
			}
			return strings.ToUpper(hex.EncodeToString(b)), nil
		}, -1, nil
	case "FromHexString":
		return func(e *env, a []any) (any, error) {
			s, err := str0(a, 0)
			if err != nil {
				return nil, err
			}
			b, derr := hex.DecodeString(s)
			if derr != nil {
				return nil, errFormat("The input is not a valid hex string as it contains a non-hex character.")
			}
			return b, nil
		}, -1, nil
	}
	if tgt, ok := targets[name]; ok {
		if err := checkArity(n, name, args, 1, 2); err != nil {
			return nil, 0, err
		}
		return func(e *env, a []any) (any, error) {
			v := a[0]
			if len(a) == 2 && (tgt == "int" || tgt == "long" || tgt == "byte") {
				if s, ok := v.(string); ok {
					base, err := argInt(a[1])
					if err != nil {
						return nil, err
					}
					if base != 2 && base != 8 && base != 10 && base != 16 {
						return nil, errArg("Invalid Base.")
					}
					iv, perr := strconv.ParseInt(strings.TrimPrefix(strings.ToLower(s), "0x"), base, 64)
					if perr != nil {
						return nil, errFormat("Could not find any recognizable digits.")
					}
					return changeType(tgt, iv)
				}
			}
			if v == nil {
				switch tgt {
				case "string":
					return "", nil
				case "bool":
					return false, nil
				case "DateTime":
					return time.Date(1, 1, 1, 0, 0, 0, 0, unspecified), nil
				}
				return changeType(tgt, 0)
			}
			if tgt == "int" || tgt == "long" {
				if f, ok := fromJValue(v).(float64); ok {
					v = math.RoundToEven(f)
				}
			}
			return changeType(tgt, v)
		}, -1, nil
	}
	return nil, -1, nil
}

func mathStatic(n *memberExpr, name string, args []compiledArg) (staticImpl, int, *Error) {
	one := map[string]func(float64) float64{"Floor": math.Floor, "Ceiling": math.Ceil, "Sqrt": math.Sqrt, "Log": math.Log, "Log10": math.Log10, "Exp": math.Exp, "Truncate": math.Trunc}
	if f, ok := one[name]; ok {
		return func(e *env, a []any) (any, error) {
			if r, ok, err := decimalMath(name, a); ok {
				return r, err
			}
			c, _, x := numOf(a[0])
			if c == ncNone {
				return nil, errInvalidCast(a[0], "System.Double")
			}
			return f(x), nil
		}, -1, nil
	}
	switch name {
	case "Abs":
		return func(e *env, a []any) (any, error) {
			switch x := fromJValue(a[0]).(type) {
			case int:
				if x < 0 {
					return -x, nil
				}
				return x, nil
			case int64:
				if x < 0 {
					return -x, nil
				}
				return x, nil
			case float64:
				return math.Abs(x), nil
			}
			return nil, errInvalidCast(a[0], "System.Double")
		}, -1, nil
	case "Max", "Min":
		if err := checkArity(n, name, args, 2, 2); err != nil {
			return nil, 0, err
		}
		return func(e *env, a []any) (any, error) {
			c, ok, err := compareValues(a[0], a[1])
			if err != nil || !ok {
				return nil, errInvalidCast(a[0], "System.Double")
			}
			pickFirst := (name == "Max" && c >= 0) || (name == "Min" && c <= 0)
			r := a[1]
			if pickFirst {
				r = a[0]
			}
			// promote to the wider type of the two
			ca, _, _ := numOf(a[0])
			cb, _, _ := numOf(a[1])
			if ca == ncDouble || cb == ncDouble {
				_, _, f := numOf(r)
				return f, nil
			}
			if ca == ncLong || cb == ncLong {
				_, i, _ := numOf(r)
				return i, nil
			}
			return r, nil
		}, -1, nil
	case "Round":
		return func(e *env, a []any) (any, error) {
			if r, ok, err := decimalMath("Round", a); ok {
				return r, err
			}
			c, _, x := numOf(a[0])
			if c == ncNone {
				return nil, errInvalidCast(a[0], "System.Double")
			}
			digits := 0
			away := false
			for _, extra := range a[1:] {
				switch v := extra.(type) {
				case int:
					digits = v
				case Enum:
					away = v.Name == "AwayFromZero"
				}
			}
			if digits < 0 || digits > 15 {
				return nil, errArgRange("digits")
			}
			p := math.Pow(10, float64(digits))
			if away {
				return math.Round(x*p) / p, nil
			}
			return math.RoundToEven(x*p) / p, nil
		}, -1, nil
	case "Pow":
		return func(e *env, a []any) (any, error) {
			_, _, x := numOf(a[0])
			_, _, y := numOf(a[1])
			return math.Pow(x, y), nil
		}, -1, nil
	}
	return nil, -1, nil
}

// ---- regular expressions ----

// translateRegex maps a .NET pattern to RE2; constructs RE2 lacks
// (lookaround, backreferences, atomic groups, possessive quantifiers) fail.
func regexOpts(a []any, idx int) int {
	if idx < len(a) {
		if e, ok := a[idx].(Enum); ok && e.Type == "RegexOptions" {
			return e.Val
		}
	}
	return 0
}

func regexStatic(n *memberExpr, name string, args []compiledArg) (staticImpl, int, *Error) {
	// literal patterns are compiled once at load time
	var fixed *netRegex
	if len(args) >= 2 && args[1].isConst {
		if p, ok := args[1].val.(string); ok {
			opts := 0
			if len(args) >= 3 && args[len(args)-1].isConst {
				if e, ok := args[len(args)-1].val.(Enum); ok && e.Type == "RegexOptions" {
					opts = e.Val
				}
			}
			re, err := translateRegex(p, opts)
			if err != nil {
				return nil, 0, errAt(args[1].node, "%s", err.Error())
			}
			fixed = re
		}
	}
	get := func(a []any, optIdx int) (*netRegex, error) {
		if fixed != nil {
			return fixed, nil
		}
		p, err := str0(a, 1)
		if err != nil {
			return nil, err
		}
		return translateRegex(p, regexOpts(a, optIdx))
	}
	input := func(a []any) (string, error) {
		s, err := str0(a, 0)
		if err != nil {
			return "", errArgNull("input")
		}
		return s, nil
	}
	switch name {
	case "IsMatch", "Match", "Matches", "Split":
		return func(e *env, a []any) (any, error) {
			s, err := input(a)
			if err != nil {
				return nil, err
			}
			re, err := get(a, 2)
			if err != nil {
				return nil, err
			}
			return re.call(name, s)
		}, -1, nil
	case "Replace":
		return func(e *env, a []any) (any, error) {
			s, err := input(a)
			if err != nil {
				return nil, err
			}
			re, err := get(a, 3)
			if err != nil {
				return nil, err
			}
			if f, ok := a[2].(*Func); ok {
				return re.replaceFunc(s, f)
			}
			rep, err := str0(a, 2)
			if err != nil {
				return nil, err
			}
			return re.replace(s, rep)
		}, -1, nil
	case "Escape":
		return func(e *env, a []any) (any, error) {
			s, err := str0(a, 0)
			if err != nil {
				return nil, err
			}
			return regexEscape(s), nil
		}, -1, nil
	}
	return nil, -1, nil
}

// staticMinArgs is the smallest argument count of a static method's overloads.
func staticMinArgs(t, name string) int {
	switch name {
	case "NewGuid", "Empty", "Create":
		return 0
	case "Compare", "SpecifyKind", "DeepEquals", "Range", "Repeat", "Equals", "Max", "Min", "Pow", "DaysInMonth",
		"IsMatch", "Match", "Matches", "ParseExact", "Exists", "Find", "FindIndex", "IndexOf", "Join", "TryParse",
		"FindAll", "TrueForAll", "ConvertAll", "ForEach", "FindLast", "FindLastIndex":
		if t == "Regex" || name != "Split" {
			return 2
		}
	case "Copy":
		if t == "Array" {
			return 3
		}
	case "Replace":
		if t == "Regex" {
			return 3
		}
	case "Split":
		if t == "Regex" {
			return 2
		}
	case "Concat", "Format":
		return 1
	}
	return 1
}
