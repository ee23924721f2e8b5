package expr

import (
	"sort"
	"strings"
	"time"
)

// TypeInfo is the System.Type GetType() returns (Name, FullName).
type TypeInfo struct{ full string }

// moreMethods implements instance methods added for .NET fidelity; handled
// is false for everything else.
func moreMethods(name string, r any, a []any) (any, error, bool) {
	if name == "GetType" && len(a) == 0 {
		return &TypeInfo{full: typeName(r)}, nil, true
	}
	if name == "GetValueOrDefault" && len(a) == 0 {
		// Nullable<T>.GetValueOrDefault() on a value that is present
		switch r.(type) {
		case int, int64, float64, bool, Char, Decimal, time.Time, time.Duration, Guid, DateTimeOffset, byte:
			return r, nil, true
		}
	}
	if len(a) < map[string]int{"ForEach": 1, "RemoveAll": 1, "GetRange": 2, "ConvertAll": 1, "GetByteCount": 1, "Insert": 2, "Replace": 2}[name] {
		return nil, nil, false
	}
	switch x := r.(type) {
	case *List:
		if x.Kind != "" {
			switch name {
			case "Enqueue", "Push":
				x.Items = append(x.Items, a[0])
				return nil, nil, true
			case "Dequeue", "Pop", "Peek":
				if len(x.Items) == 0 {
					return nil, errInvalidOp(map[string]string{"Queue": "Queue empty.", "Stack": "Stack empty."}[x.Kind]), true
				}
				i := 0
				if x.Kind == "Stack" {
					i = len(x.Items) - 1
				}
				v := x.Items[i]
				if name != "Peek" {
					x.Items = append(x.Items[:i:i], x.Items[i+1:]...)
				}
				return v, nil, true
			}
		}
		switch name {
		case "ForEach":
			for _, it := range append([]any(nil), x.Items...) {
				if _, err := callSel(a[0], it, 0); err != nil {
					return nil, err, true
				}
			}
			return nil, nil, true
		case "RemoveAll":
			var keep []any
			n := 0
			for _, it := range x.Items {
				ok, err := callPred(a[0], it)
				if err != nil {
					return nil, err, true
				}
				if ok {
					n++
				} else {
					keep = append(keep, it)
				}
			}
			x.Items = keep
			return n, nil, true
		case "GetRange":
			i, err1 := argInt(a[0])
			c, err2 := argInt(a[1])
			if err1 != nil || err2 != nil || i < 0 || c < 0 || i+c > len(x.Items) {
				return nil, errArg("Offset and length were out of bounds for the array or count is greater than the number of elements from index to the end of the source collection."), true
			}
			return &List{Items: append([]any(nil), x.Items[i:i+c]...), Elem: x.Elem}, nil, true
		case "ConvertAll":
			out := make([]any, len(x.Items))
			for i, it := range x.Items {
				v, err := callSel(a[0], it, i)
				if err != nil {
					return nil, err, true
				}
				out[i] = v
			}
			return &List{Items: out, Elem: elemNameOf(out)}, nil, true
		case "Reverse":
			if !x.Array && len(a) == 0 {
				// List<T>.Reverse() reverses in place (arrays use LINQ)
				for i, j := 0, len(x.Items)-1; i < j; i, j = i+1, j-1 {
					x.Items[i], x.Items[j] = x.Items[j], x.Items[i]
				}
				return nil, nil, true
			}
		}
	case *StringBuilder:
		switch name {
		case "Append":
			if len(a) == 2 {
				if c, ok := a[0].(Char); ok {
					n, err := argInt(a[1])
					if err != nil || n < 0 {
						return nil, errArgRange("repeatCount"), true
					}
					if err := checkStrLen(x.sb.Len() + n); err != nil {
						return nil, err, true
					}
					x.sb.WriteString(strings.Repeat(string(rune(c)), n))
					return x, nil, true
				}
			}
		case "Insert", "Replace":
			s := x.sb.String()
			var out string
			if name == "Insert" {
				i, err := argInt(a[0])
				u := toUTF16(s)
				if err != nil || i < 0 || i > len(u) {
					return nil, errArgRange("index"), true
				}
				out = fromUTF16(u[:i]) + ToString(a[1]) + fromUTF16(u[i:])
			} else {
				old, new := ToString(a[0]), ToString(a[1])
				if old == "" {
					return nil, errArg("String cannot be of zero length."), true
				}
				out = strings.ReplaceAll(s, old, new)
			}
			if err := checkStrLen(len(out)); err != nil {
				return nil, err, true
			}
			x.sb.Reset()
			x.sb.WriteString(out)
			return x, nil, true
		}
	case *RSAKey:
		if v, err, ok := rsaMethod(name, x, a); ok {
			return v, err, true
		}
	case *Uri:
		if name == "GetLeftPart" && len(a) == 1 {
			p, ok := a[0].(Enum)
			if !ok || x.relative {
				return nil, errArg("The part is not valid."), true
			}
			s := x.u.Scheme + "://"
			if p.Val >= 1 {
				if x.u.User != nil {
					s += x.u.User.String() + "@"
				}
				s += x.u.Host
			}
			if p.Val >= 2 {
				s += x.u.EscapedPath()
			}
			if p.Val >= 3 && x.u.RawQuery != "" {
				s += "?" + x.u.RawQuery
			}
			return s, nil, true
		}
	case *textEncoding:
		if name == "GetByteCount" {
			s, ok := argStr(a[0])
			if !ok {
				return nil, errArgNull("s"), true
			}
			return len(x.encode(s)), nil, true
		}
	}
	return nil, nil, false
}

func typeProp(t *TypeInfo, name string) (any, bool) {
	switch name {
	case "Name":
		n := t.full
		if i := strings.LastIndexAny(n, "."); i >= 0 && !strings.Contains(n, "`") {
			n = n[i+1:]
		}
		return n, true
	case "FullName":
		return t.full, true
	}
	return nil, false
}

// sortList is Array.Sort / List<T>.Sort() with the default comparer.
func sortList(items []any) error {
	var cerr error
	sort.SliceStable(items, func(i, j int) bool {
		c, _, err := compareValues(items[i], items[j])
		if err != nil {
			cerr = err
		}
		if items[i] == nil {
			return items[j] != nil
		}
		return c < 0
	})
	return cerr
}

// sortListBy sorts items by a Comparison<T> lambda (a stable sort: .NET's
// introsort may order elements the comparison calls equal differently).
func sortListBy(items []any, f *Func) error {
	var cerr error
	sort.SliceStable(items, func(i, j int) bool {
		if cerr != nil {
			return false
		}
		v, err := f.call(items[i], items[j])
		if err != nil {
			cerr = err
			return false
		}
		c, ok := v.(int)
		if !ok {
			cerr = errInvalidCast(v, "System.Int32")
			return false
		}
		return c < 0
	})
	return cerr
}

// numericEquals is x.Equals(y) for a numeric receiver: true only when y is
// of a type that converts implicitly to the receiver's type (else the
// Equals(object) overload compares boxed types and fails).
func numericEquals(r, o any) (bool, bool) {
	rank := func(v any) int {
		switch v.(type) {
		case Char:
			return 1
		case byte:
			return 1
		case int:
			return 2
		case int64:
			return 3
		case float64:
			return 4
		case Decimal:
			return 5
		}
		return 0
	}
	rr, or := rank(r), rank(fromJValue(o))
	if rr == 0 {
		return false, false
	}
	if or == 0 || or > rr || (rr == 5 && or == 4) {
		return false, true
	}
	if f, ok := r.(float64); ok {
		if g, ok := o.(float64); ok && f != f && g != g {
			return true, true // double.NaN.Equals(double.NaN)
		}
	}
	return valuesEqual(r, o), true
}

// suggestMethod returns the instance method name closest to name (edit
// distance at most 2, ignoring case), for "did you mean" hints.
func suggestMethod(name string) string {
	best, bestD := "", 3
	for _, set := range []map[string]bool{stringMethods, linqMethods, otherMethods} {
		for m, ok := range set {
			if !ok || m == name {
				continue
			}
			if d := editDistance(strings.ToLower(name), strings.ToLower(m)); d < bestD || d == bestD && m < best {
				best, bestD = m, d
			}
		}
	}
	return best
}

var staticMethodNames = strings.Fields(`IsNullOrEmpty IsNullOrWhiteSpace Format Join Concat Compare CompareOrdinal Equals
	Parse TryParse ParseExact TryParseExact ToBase64String FromBase64String ToHexString FromHexString ToInt32 ToInt64
	ToDouble ToDecimal ToBoolean ToString ToDateTime EscapeDataString UnescapeDataString EscapeUriString
	IsWellFormedUriString UrlEncode UrlDecode HtmlEncode HtmlDecode SerializeObject DeserializeObject FromObject
	DeepEquals IsMatch Match Matches Replace Split Escape Round Floor Ceiling Truncate Max Min Abs Pow Sqrt Log Log10
	Exp Sign NewGuid FromUnixTimeSeconds FromUnixTimeMilliseconds DaysInMonth IsLeapYear SpecifyKind FromSeconds
	FromMinutes FromHours FromDays FromMilliseconds Range Repeat Empty Create Copy Exists Find FindIndex IndexOf Sort
	IsDigit IsLetter IsLetterOrDigit IsWhiteSpace IsUpper IsLower ToUpper ToLower ToUpperInvariant ToLowerInvariant
	IsNaN IsInfinity ParseQueryString UrlPathEncode`)

// suggestStatic is suggestMethod for Type.Method calls: the closest static
// method the type has.
func suggestStatic(n *memberExpr, t, name string, args []compiledArg) string {
	best, bestD := "", 3
	for _, m := range staticMethodNames {
		if m == name {
			continue
		}
		d := editDistance(strings.ToLower(name), strings.ToLower(m))
		if d >= bestD {
			continue
		}
		if moreStatics(t, m, len(args)) == nil {
			if impl, _, err := staticImplFor(n, t, m, nil, args); impl == nil || err != nil {
				continue
			}
		}
		best, bestD = m, d
	}
	return best
}
