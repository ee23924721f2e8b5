package expr

import (
	"net/http"
	"sort"
	"strings"
	"time"
	"unicode"
)

type methodImpl func(e *env, recv any, args []any) (any, error)

// method is a compiled instance-method call.
type method struct {
	fn     methodImpl
	nilOK  bool
	outIdx int // index of the out argument, -1 when none
	tryFn  func(e *env, recv any, args []any) (bool, any, error)
	// direct, when set, evaluates the arguments itself (no argument slice);
	// used on hot model methods whose receiver type is known statically.
	direct func(e *env, recv any, args []evalFn) (any, error)
}

func (m *method) callOut(e *env, recv any, args []any, outs []func(*env, any)) (any, error) {
	if m.tryFn == nil {
		return nil, errInvalidOp("method does not take an out argument")
	}
	ok, val, err := m.tryFn(e, recv, args)
	if err != nil {
		return nil, err
	}
	if m.outIdx >= 0 && m.outIdx < len(outs) && outs[m.outIdx] != nil {
		outs[m.outIdx](e, val)
	}
	return ok, nil
}

func argStr(a any) (string, bool) {
	switch x := a.(type) {
	case string:
		return x, true
	case Char:
		return string(rune(x)), true
	case *JValue:
		s, ok := x.V.(string)
		return s, ok
	}
	return "", false
}

func argInt(a any) (int, error) {
	if i, ok := toIndex(a); ok {
		return i, nil
	}
	return 0, errInvalidCast(a, "System.Int32")
}

func typeArgName(ts []*typeRef) string {
	if len(ts) == 0 {
		return ""
	}
	return canonType(ts[0].name)
}

// methodCall resolves recv.Name<T>(args).
func methodCall(n *memberExpr, st sType, name string, targs []*typeRef, args []compiledArg) (*method, sType, *Error) {
	for _, t := range targs {
		if err := checkType(t); err != nil {
			return nil, 0, err
		}
	}
	if isModel(st) {
		m, rst, ok, err := modelMethod(n, st, name, targs, args)
		if err != nil {
			return nil, 0, err
		}
		if ok {
			return m, rst, nil
		}
		if name == "ToString" || name == "GetHashCode" || name == "Equals" {
			return &method{outIdx: -1, fn: func(e *env, r any, a []any) (any, error) { return commonMethod(name, r, a) }}, stAny, nil
		}
		switch st {
		case stHeaders, stQuery, stParams, stVariables, stClaims:
			// LINQ over the key/value pairs of a model dictionary
			if linqMethods[name] {
				m, err := dynMethod(n, name, targs, args)
				if err != nil {
					return nil, 0, err
				}
				return m, stAny, nil
			}
		}
		for _, cand := range []string{"GetValueOrDefault", "ContainsKey", "TryGetValue", "As", "AsFormUrlEncodedContent", "ToString", "ToUri", "Trace"} {
			if m, _, ok, _ := modelMethod(n, st, cand, targs, args); (ok || m != nil) && editDistance(strings.ToLower(name), strings.ToLower(cand)) <= 2 {
				return nil, 0, errAt(n, "unknown method '%s' on %s (did you mean '%s'?)", name, modelNames[st], cand)
			}
		}
		return nil, 0, errAt(n, "unknown method '%s' on %s", name, modelNames[st])
	}
	var models [stCount]*method
	anyModel := false
	for k := stContext; k < stCount; k++ {
		if m, _, ok, err := modelMethod(n, k, name, targs, args); err == nil && ok {
			models[k] = m
			anyModel = true
		}
	}
	dyn, derr := dynMethod(n, name, targs, args)
	if derr != nil {
		return nil, 0, derr
	}
	if dyn == nil && !anyModel {
		if s := suggestMethod(name); s != "" {
			return nil, 0, errAt(n, "unknown method '%s' (did you mean '%s'?)", name, s)
		}
		return nil, 0, errAt(n, "unknown method '%s'", name)
	}
	m := &method{outIdx: -1, nilOK: dyn != nil && dyn.nilOK}
	if dyn != nil {
		m.outIdx = dyn.outIdx
	}
	for _, mm := range models {
		if mm != nil && mm.tryFn != nil {
			m.outIdx = mm.outIdx
		}
	}
	pick := func(v any) (*method, error) {
		if k := modelKind(v); k != stAny {
			if mm := models[k]; mm != nil {
				return mm, nil
			}
			if dyn != nil && (name == "ToString" || name == "Equals" || name == "GetHashCode") {
				return dyn, nil
			}
			return nil, errNoMember(v, name)
		}
		if dyn == nil {
			return nil, errNoMember(v, name)
		}
		return dyn, nil
	}
	m.fn = func(e *env, r any, a []any) (any, error) {
		mm, err := pick(r)
		if err != nil {
			return nil, err
		}
		return mm.fn(e, r, a)
	}
	m.tryFn = func(e *env, r any, a []any) (bool, any, error) {
		mm, err := pick(r)
		if err != nil {
			return false, nil, err
		}
		if mm.tryFn == nil {
			return false, nil, errNoMember(r, name)
		}
		return mm.tryFn(e, r, a)
	}
	return m, stAny, nil
}

func checkArity(n node, name string, args []compiledArg, min, max int) *Error {
	if len(args) < min || len(args) > max {
		return errAt(n, "no overload for method '%s' takes %d arguments", name, len(args))
	}
	return nil
}

// modelMethod resolves methods of the context object model.
func modelMethod(n *memberExpr, st sType, name string, targs []*typeRef, args []compiledArg) (*method, sType, bool, *Error) {
	switch st {
	case stVariables, stHeaders, stQuery, stParams, stClaims:
		switch name {
		case "GetValueOrDefault":
			if err := checkArity(n, name, args, 1, 2); err != nil {
				return nil, 0, true, err
			}
			var conv func(any) (any, error)
			rst := stAny
			if len(targs) > 0 {
				c, s, err := explicitConv(targs[0])
				if err != nil {
					return nil, 0, true, err
				}
				conv, rst = c, s
			} else if st != stVariables && (len(args) < 2 || args[1].st == stString) {
				// GetValueOrDefault(name, string[] dflt) is the generic
				// dictionary extension returning string[]
				rst = stString
			}
			var dflt any
			if len(targs) > 0 && len(args) < 2 {
				dflt = defaultValue(targs[0])
			}
			canon := ""
			if st == stHeaders && len(args) > 0 && args[0].isConst {
				if s, ok := args[0].val.(string); ok {
					canon = canonicalHeader(s)
				}
			}
			hasDefault := len(args) == 2
			var direct func(e *env, r any, af []evalFn) (any, error)
			if st == stHeaders && canon != "" && conv == nil {
				name := args[0].val.(string)
				direct = func(e *env, r any, af []evalFn) (any, error) {
					vals := headerValues(r.(http.Header), canon, name)
					switch {
					case len(vals) == 1:
						return vals[0], nil
					case len(vals) > 1:
						return strings.Join(vals, ","), nil
					case hasDefault:
						return af[1](e)
					}
					return nil, nil
				}
			}
			return &method{outIdx: -1, direct: direct, fn: func(e *env, r any, a []any) (any, error) {
				key, ok := argStr(a[0])
				if !ok {
					return nil, errArgNull("name")
				}
				v, found := dictLookup(r, key, canon)
				if !found {
					if hasDefault {
						if conv != nil {
							return conv(a[1])
						}
						return a[1], nil
					}
					return dflt, nil
				}
				v = joinedValue(v)
				if conv != nil {
					return conv(v)
				}
				return v, nil
			}}, rst, true, nil
		case "ContainsKey":
			if err := checkArity(n, name, args, 1, 1); err != nil {
				return nil, 0, true, err
			}
			return &method{outIdx: -1, fn: func(e *env, r any, a []any) (any, error) {
				key, ok := argStr(a[0])
				if !ok {
					return nil, errArgNull("key")
				}
				_, found := dictLookup(r, key, "")
				return found, nil
			}}, stBool, true, nil
		case "TryGetValue":
			if err := checkArity(n, name, args, 2, 2); err != nil {
				return nil, 0, true, err
			}
			if !args[1].out {
				return nil, 0, true, errAt(n, "TryGetValue needs an out argument")
			}
			return &method{outIdx: 1, fn: nil, tryFn: func(e *env, r any, a []any) (bool, any, error) {
				key, ok := argStr(a[0])
				if !ok {
					return false, nil, errArgNull("key")
				}
				v, found := dictLookup(r, key, "")
				return found, asDictValue(v), nil
			}}, stBool, true, nil
		}
	case stBody:
		switch name {
		case "As":
			if len(targs) != 1 {
				return nil, 0, true, errAt(n, "As<T>() needs one type argument")
			}
			preserve, err := preserveArg(n, args)
			if err != nil {
				return nil, 0, true, err
			}
			t := targs[0]
			kind := canonType(t.name)
			if t.rank == 1 && kind == "byte" {
				kind = "byte[]"
			}
			switch kind {
			case "string", "JObject", "JArray", "JToken", "byte[]", "XDocument", "XElement":
			default:
				return nil, 0, true, errAt(t, "unsupported C# construct: As<%s>() (supported: string, JObject, JArray, JToken, byte[], XDocument, XElement)", t.name)
			}
			return &method{outIdx: -1, fn: func(e *env, r any, a []any) (any, error) {
				p := preserve
				if len(a) > 0 {
					if b, ok := a[0].(bool); ok {
						p = b
					}
				}
				data, err := r.(*Body).read(p)
				if err != nil {
					return nil, err
				}
				switch kind {
				case "string":
					return bodyString(data), nil
				case "byte[]":
					return data, nil
				case "XDocument", "XElement":
					doc, err := parseXDocument(bodyString(data))
					if err != nil {
						return nil, err
					}
					if kind == "XElement" {
						return doc.Root, nil
					}
					return doc, nil
				}
				tok, err := ParseJSON(bodyString(data))
				if err != nil {
					return nil, err
				}
				switch kind {
				case "JObject":
					if _, ok := tok.(*JObject); !ok {
						return nil, &RuntimeError{Type: "JsonReaderException", Msg: "Error reading JObject from JsonReader. Current JsonReader item is not an object."}
					}
				case "JArray":
					if _, ok := tok.(*JArray); !ok {
						return nil, &RuntimeError{Type: "JsonReaderException", Msg: "Error reading JArray from JsonReader. Current JsonReader item is not an array."}
					}
				}
				return tok, nil
			}}, stAny, true, nil
		case "AsFormUrlEncodedContent":
			preserve, err := preserveArg(n, args)
			if err != nil {
				return nil, 0, true, err
			}
			return &method{outIdx: -1, fn: func(e *env, r any, a []any) (any, error) {
				p := preserve
				if len(a) > 0 {
					if b, ok := a[0].(bool); ok {
						p = b
					}
				}
				data, err := r.(*Body).read(p)
				if err != nil {
					return nil, err
				}
				q := ParseQuery(bodyString(data))
				d := newDict(false)
				for i, nm := range q.names {
					_ = d.set(nm, stringsList(q.values[i]), false)
				}
				return d, nil
			}}, stAny, true, nil
		}
	case stURL:
		switch name {
		case "ToString":
			return &method{outIdx: -1, fn: func(e *env, r any, a []any) (any, error) { return r.(*URL).String(), nil }}, stString, true, nil
		case "ToUri":
			return &method{outIdx: -1, fn: func(e *env, r any, a []any) (any, error) { return newUri(r.(*URL).String()) }}, stAny, true, nil
		}
	case stContext:
		if name == "Trace" {
			if err := checkArity(n, name, args, 1, 2); err != nil {
				return nil, 0, true, err
			}
			return &method{outIdx: -1, fn: func(e *env, r any, a []any) (any, error) {
				c := r.(*Context)
				if c.Tracer != nil {
					if len(a) == 2 {
						c.Tracer(ToString(a[0]), ToString(a[1]))
					} else {
						c.Tracer("expression", ToString(a[0]))
					}
				}
				return nil, nil
			}}, stAny, true, nil
		}
	case stCert:
		if name == "Verify" {
			return &method{outIdx: -1, fn: func(e *env, r any, a []any) (any, error) {
				return nil, errInvalidOp("certificate chain verification is not available in expressions; use validate-client-certificate")
			}}, stBool, true, nil
		}
	}
	return nil, 0, false, nil
}

func preserveArg(n node, args []compiledArg) (bool, *Error) {
	if len(args) > 1 {
		return false, errAt(n, "no overload takes %d arguments", len(args))
	}
	if len(args) == 1 {
		if args[0].name != "" && args[0].name != "preserveContent" {
			return false, errAt(n, "unknown named argument '%s'", args[0].name)
		}
		if args[0].isConst {
			b, ok := args[0].val.(bool)
			if !ok {
				return false, errAt(n, "preserveContent must be a bool")
			}
			return b, nil
		}
	}
	return false, nil
}

// commonMethod implements ToString/Equals/GetHashCode on any value.
func commonMethod(name string, r any, a []any) (any, error) {
	switch name {
	case "ToString":
		if len(a) == 0 {
			return ToString(r), nil
		}
		if f, ok := a[0].(Enum); ok && f.Type == "Formatting" {
			switch r.(type) {
			case *JObject, *JArray, *JValue, *JProperty:
				return jsonString(r, f.Val == 1)
			}
		}
		fs, ok := argStr(a[0])
		if !ok {
			return ToString(r), nil
		}
		return formatValue(r, fs)
	case "Equals":
		if len(a) == 0 {
			return nil, errArg("Equals needs an argument")
		}
		if s, ok := r.(string); ok && len(a) == 2 {
			o, _ := argStr(a[0])
			return compareStrings(s, o, a[1]) == 0, nil
		}
		if eq, ok := numericEquals(r, a[0]); ok {
			return eq, nil
		}
		if _, ok := r.(*JValue); ok {
			// JValue.Equals(object) is true only for an equal JValue
			if o, ok := a[0].(*JValue); ok {
				return valuesEqual(r, o), nil
			}
			return false, nil
		}
		return valuesEqual(r, a[0]), nil
	case "GetHashCode":
		h := 0
		for _, c := range ToString(r) {
			h = h*31 + int(c)
		}
		return wrap32(int64(h)), nil
	}
	return nil, errNoMember(r, name)
}

// compareStrings is string.Compare with a StringComparison (or the
// ignoreCase bool): ordinal comparisons return the UTF-16 difference like
// .NET, culture comparisons -1/0/1 in invariant-culture order.
func compareStrings(a, b string, cmp any) int {
	if e, ok := cmp.(Enum); ok {
		switch e.Name {
		case "Ordinal":
			return ordinalCompare(a, b)
		case "OrdinalIgnoreCase":
			return ordinalCompare(strings.ToUpper(a), strings.ToUpper(b))
		}
		return cultureCompare(a, b, strings.HasSuffix(e.Name, "IgnoreCase"))
	}
	if b2, ok := cmp.(bool); ok && b2 {
		return cultureCompare(a, b, true)
	}
	return cultureCompare(a, b, false)
}

func ignoreCase(a []any, idx int) bool {
	if idx < len(a) {
		if e, ok := a[idx].(Enum); ok {
			return strings.HasSuffix(e.Name, "IgnoreCase")
		}
	}
	return false
}

// utf16 index helpers for strings with non-ASCII content.
func strIndexToByte(s string, i int) int {
	if isASCII(s) {
		return i
	}
	n := 0
	for bi, r := range s {
		if n >= i {
			return bi
		}
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
	}
	return len(s)
}

func byteIndexToUTF16(s string, bi int) int {
	if bi < 0 {
		return -1
	}
	if isASCII(s) {
		return bi
	}
	return utf16Len(s[:bi])
}

func trimSet(a []any) (string, error) {
	var sb strings.Builder
	for _, x := range a {
		switch v := x.(type) {
		case Char:
			sb.WriteRune(rune(v))
		case *List:
			for _, it := range v.Items {
				if c, ok := it.(Char); ok {
					sb.WriteRune(rune(c))
				}
			}
		case string:
			sb.WriteString(v)
		default:
			return "", errInvalidCast(x, "System.Char")
		}
	}
	return sb.String(), nil
}

func splitString(s string, a []any) (any, error) {
	var seps []string
	opts := 0
	count := -1
	for _, x := range a {
		switch v := x.(type) {
		case Char:
			seps = append(seps, string(rune(v)))
		case string:
			seps = append(seps, v)
		case *List:
			for _, it := range v.Items {
				seps = append(seps, ToString(it))
			}
		case Enum:
			opts = v.Val
		case int:
			count = v
		case nil:
		default:
			return nil, errInvalidCast(x, "System.Char")
		}
	}
	var parts []string
	if len(seps) == 0 {
		// no separators: split on every white-space character
		start := 0
		for i, r := range s {
			if unicode.IsSpace(r) {
				parts = append(parts, s[start:i])
				start = i + len(string(r))
			}
		}
		parts = append(parts, s[start:])
	} else {
		parts = []string{s}
		for _, sep := range seps {
			if sep == "" {
				continue
			}
			var next []string
			for _, p := range parts {
				next = append(next, strings.Split(p, sep)...)
			}
			parts = next
		}
	}
	out := &List{Array: true, Elem: "String"}
	for _, p := range parts {
		if opts&2 != 0 {
			p = strings.TrimSpace(p)
		}
		if opts&1 != 0 && p == "" {
			continue
		}
		out.Items = append(out.Items, p)
	}
	if count >= 0 && len(out.Items) > count {
		if count == 0 {
			out.Items = nil
		} else {
			rest := make([]string, 0)
			for _, it := range out.Items[count-1:] {
				rest = append(rest, it.(string))
			}
			sep := ""
			if len(seps) > 0 {
				sep = seps[0]
			}
			out.Items = append(out.Items[:count-1], strings.Join(rest, sep))
		}
	}
	return out, nil
}

// stringMethod implements System.String instance methods.
func stringMethod(name string, s string, a []any) (any, error, bool) {
	str := func(i int) (string, error) {
		if i >= len(a) {
			return "", errArg("missing argument")
		}
		v, ok := argStr(a[i])
		if !ok {
			if a[i] == nil {
				return "", errArgNull("value")
			}
			return ToString(a[i]), nil
		}
		return v, nil
	}
	switch name {
	case "Contains", "StartsWith", "EndsWith", "IndexOf", "LastIndexOf":
		if len(a) == 0 {
			return nil, errArg("missing argument"), true
		}
		sub, err := str(0)
		if err != nil {
			return nil, err, true
		}
		hay := s
		if ignoreCase(a, 1) {
			hay, sub = strings.ToLower(hay), strings.ToLower(sub)
		}
		switch name {
		case "Contains":
			return strings.Contains(hay, sub), nil, true
		case "StartsWith":
			return strings.HasPrefix(hay, sub), nil, true
		case "EndsWith":
			return strings.HasSuffix(hay, sub), nil, true
		case "IndexOf":
			start := 0
			if len(a) > 1 {
				if i, ok := toIndex(a[1]); ok {
					if i < 0 || i > utf16Len(s) {
						return nil, errArgRange("startIndex"), true
					}
					start = strIndexToByte(hay, i)
				}
			}
			idx := strings.Index(hay[start:], sub)
			if idx < 0 {
				return -1, nil, true
			}
			return byteIndexToUTF16(hay, idx+start), nil, true
		}
		return byteIndexToUTF16(hay, strings.LastIndex(hay, sub)), nil, true
	case "Substring":
		if len(a) == 0 {
			return nil, errArg("missing argument"), true
		}
		st, err := argInt(a[0])
		if err != nil {
			return nil, err, true
		}
		u := toUTF16(s)
		if st < 0 || st > len(u) {
			return nil, errArgRange("startIndex"), true
		}
		end := len(u)
		if len(a) > 1 {
			ln, err := argInt(a[1])
			if err != nil {
				return nil, err, true
			}
			if ln < 0 || st+ln > len(u) {
				return nil, errArgRange("length"), true
			}
			end = st + ln
		}
		return fromUTF16(u[st:end]), nil, true
	case "Replace":
		if len(a) != 2 {
			return nil, errArg("Replace takes two arguments"), true
		}
		old, err := str(0)
		if err != nil {
			return nil, err, true
		}
		if old == "" {
			return nil, errArg("String cannot be of zero length. (Parameter 'oldValue')"), true
		}
		nw := ""
		if a[1] != nil {
			nw, _ = str(1)
		}
		if len(nw) > len(old) {
			if err := checkStrLen(len(s) + strings.Count(s, old)*(len(nw)-len(old))); err != nil {
				return nil, err, true
			}
		}
		return strings.ReplaceAll(s, old, nw), nil, true
	case "ToLower", "ToLowerInvariant":
		return strings.ToLower(s), nil, true
	case "ToUpper", "ToUpperInvariant":
		return strings.ToUpper(s), nil, true
	case "Trim", "TrimStart", "TrimEnd":
		set, err := trimSet(a)
		if err != nil {
			return nil, err, true
		}
		if set == "" {
			switch name {
			case "Trim":
				return strings.TrimSpace(s), nil, true
			case "TrimStart":
				return strings.TrimLeftFunc(s, unicode.IsSpace), nil, true
			}
			return strings.TrimRightFunc(s, unicode.IsSpace), nil, true
		}
		switch name {
		case "Trim":
			return strings.Trim(s, set), nil, true
		case "TrimStart":
			return strings.TrimLeft(s, set), nil, true
		}
		return strings.TrimRight(s, set), nil, true
	case "Split":
		v, err := splitString(s, a)
		return v, err, true
	case "PadLeft", "PadRight":
		if len(a) == 0 {
			return nil, errArg("missing argument"), true
		}
		w, err := argInt(a[0])
		if err != nil {
			return nil, err, true
		}
		pad := " "
		if len(a) > 1 {
			if c, ok := a[1].(Char); ok {
				pad = string(rune(c))
			}
		}
		n := utf16Len(s)
		if w <= n {
			return s, nil, true
		}
		if w > 1<<20 {
			return nil, errArgRange("totalWidth"), true
		}
		if name == "PadLeft" {
			return strings.Repeat(pad, w-n) + s, nil, true
		}
		return s + strings.Repeat(pad, w-n), nil, true
	case "Insert":
		if len(a) != 2 {
			return nil, errArg("Insert takes two arguments"), true
		}
		i, err := argInt(a[0])
		if err != nil {
			return nil, err, true
		}
		u := toUTF16(s)
		if i < 0 || i > len(u) {
			return nil, errArgRange("startIndex"), true
		}
		v, _ := str(1)
		return fromUTF16(u[:i]) + v + fromUTF16(u[i:]), nil, true
	case "Remove":
		if len(a) == 0 {
			return nil, errArg("missing argument"), true
		}
		i, err := argInt(a[0])
		if err != nil {
			return nil, err, true
		}
		u := toUTF16(s)
		if i < 0 || i > len(u) {
			return nil, errArgRange("startIndex"), true
		}
		end := len(u)
		if len(a) > 1 {
			c, err := argInt(a[1])
			if err != nil {
				return nil, err, true
			}
			if c < 0 || i+c > len(u) {
				return nil, errArgRange("count"), true
			}
			end = i + c
		}
		return fromUTF16(u[:i]) + fromUTF16(u[end:]), nil, true
	case "ToCharArray":
		l := &List{Array: true, Elem: "Char"}
		for _, r := range s {
			l.Items = append(l.Items, Char(r))
		}
		return l, nil, true
	case "Equals":
		if len(a) == 0 {
			return nil, errArg("missing argument"), true
		}
		o, ok := argStr(a[0])
		if !ok {
			return false, nil, true
		}
		if ignoreCase(a, 1) {
			return strings.EqualFold(s, o), nil, true
		}
		return s == o, nil, true
	case "CompareTo":
		o, _ := str(0)
		return cultureCompare(s, o, false), nil, true
	case "AsJwt":
		if j := parseJwt(s); j != nil {
			return j, nil, true
		}
		return nil, nil, true
	case "AsBasic":
		if b := parseBasic(s); b != nil {
			return b, nil, true
		}
		return nil, nil, true
	case "Normalize", "Clone":
		return s, nil, true
	}
	return nil, nil, false
}

var stringMethods = map[string]bool{
	"Contains": true, "StartsWith": true, "EndsWith": true, "IndexOf": true, "LastIndexOf": true, "Substring": true,
	"Replace": true, "ToLower": true, "ToLowerInvariant": true, "ToUpper": true, "ToUpperInvariant": true,
	"Trim": true, "TrimStart": true, "TrimEnd": true, "Split": true, "PadLeft": true, "PadRight": true,
	"Insert": true, "Remove": true, "ToCharArray": true, "Equals": true, "CompareTo": true, "AsJwt": true,
	"AsBasic": true, "Normalize": true, "Clone": true,
}

// ---- LINQ ----

var linqMethods = map[string]bool{
	"Where": true, "Select": true, "Any": true, "All": true, "First": true, "FirstOrDefault": true,
	"Last": true, "LastOrDefault": true, "Single": true, "SingleOrDefault": true, "Count": true,
	"OrderBy": true, "OrderByDescending": true, "ToArray": true, "ToList": true,
	"Contains": true, "Sum": true, "Max": true, "Min": true, "Average": true, "Skip": true, "Take": true,
	"Distinct": true, "Concat": true, "ToDictionary": true, "ElementAt": true, "ElementAtOrDefault": true,
	"Reverse": true, "SelectMany": true, "Cast": true, "OfType": true, "Aggregate": true, "SequenceEqual": true,
	"DefaultIfEmpty": true, "Union": true, "Except": true, "Intersect": true, "ToHashSet": true, "GroupBy": true,
	"ThenBy": true, "ThenByDescending": true, "TakeWhile": true, "SkipWhile": true, "Zip": true,
}

func callPred(f any, it any) (bool, error) {
	fn, ok := f.(*Func)
	if !ok {
		return false, errArg("a lambda was expected")
	}
	v, err := fn.call(it)
	if err != nil {
		return false, err
	}
	return toBool(v)
}

func callSel(f any, it any, idx int) (any, error) {
	fn, ok := f.(*Func)
	if !ok {
		return nil, errArg("a lambda was expected")
	}
	if len(fn.code.slots) == 2 {
		return fn.call(it, idx)
	}
	return fn.call(it)
}

func linq(name string, items []any, a []any, targ string) (any, error) {
	pred := func(i int) (func(any) (bool, error), bool) {
		if i < len(a) {
			if _, ok := a[i].(*Func); ok {
				return func(v any) (bool, error) { return callPred(a[i], v) }, true
			}
		}
		return nil, false
	}
	filter := func() ([]any, error) {
		p, ok := pred(0)
		if !ok {
			return items, nil
		}
		var out []any
		for _, it := range items {
			b, err := p(it)
			if err != nil {
				return nil, err
			}
			if b {
				out = append(out, it)
			}
		}
		return out, nil
	}
	switch name {
	case "Where":
		if len(a) != 1 {
			return nil, errArg("Where takes a predicate")
		}
		if f, ok := a[0].(*Func); ok && len(f.code.slots) >= 2 {
			// Where((x, i) => ...): the predicate takes the index
			var out []any
			for i, it := range items {
				b, err := callPredIdx(f, it, i)
				if err != nil {
					return nil, err
				}
				if b {
					out = append(out, it)
				}
			}
			return &List{Items: out}, nil
		}
		out, err := filter()
		return &List{Items: out}, err
	case "Select":
		if len(a) != 1 {
			return nil, errArg("Select takes a selector")
		}
		out := make([]any, 0, len(items))
		for i, it := range items {
			v, err := callSel(a[0], it, i)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return &List{Items: out}, nil
	case "SelectMany":
		var out []any
		for _, it := range items {
			v, err := callSel(a[0], it, 0)
			if err != nil {
				return nil, err
			}
			sub, err := iterate(v)
			if err != nil {
				return nil, err
			}
			out = append(out, sub...)
		}
		return &List{Items: out}, nil
	case "Any":
		out, err := filter()
		return len(out) > 0, err
	case "All":
		p, ok := pred(0)
		if !ok {
			return nil, errArg("All takes a predicate")
		}
		for _, it := range items {
			b, err := p(it)
			if err != nil || !b {
				return false, err
			}
		}
		return true, nil
	case "Count":
		out, err := filter()
		return len(out), err
	case "First", "FirstOrDefault", "Last", "LastOrDefault", "Single", "SingleOrDefault":
		out, err := filter()
		if err != nil {
			return nil, err
		}
		orDefault := strings.HasSuffix(name, "OrDefault")
		if len(out) == 0 {
			if orDefault {
				return nil, nil
			}
			if len(a) > 0 {
				return nil, errInvalidOp("Sequence contains no matching element")
			}
			return nil, errInvalidOp("Sequence contains no elements")
		}
		switch {
		case strings.HasPrefix(name, "First"):
			return out[0], nil
		case strings.HasPrefix(name, "Last"):
			return out[len(out)-1], nil
		}
		if len(out) > 1 {
			return nil, errInvalidOp("Sequence contains more than one element")
		}
		return out[0], nil
	case "OrderBy", "OrderByDescending":
		keys := make([]any, len(items))
		for i, it := range items {
			k := it
			if len(a) > 0 {
				var err error
				if k, err = callSel(a[0], it, i); err != nil {
					return nil, err
				}
			}
			keys[i] = fromJValue(k)
		}
		idx := make([]int, len(items))
		for i := range idx {
			idx[i] = i
		}
		var cerr error
		desc := strings.HasSuffix(name, "Descending")
		sort.SliceStable(idx, func(x, y int) bool {
			kx, ky := keys[idx[x]], keys[idx[y]]
			if kx == nil || ky == nil {
				if desc {
					return ky == nil && kx != nil
				}
				return kx == nil && ky != nil
			}
			c, ok, err := compareValues(kx, ky)
			if err != nil {
				cerr = err
				return false
			}
			if !ok {
				return false
			}
			if desc {
				return c > 0
			}
			return c < 0
		})
		if cerr != nil {
			return nil, cerr
		}
		out := make([]any, len(items))
		for i, j := range idx {
			out[i] = items[j]
		}
		return &List{Items: out}, nil
	case "ToArray":
		return &List{Items: append([]any(nil), items...), Array: true, Elem: elemName(items)}, nil
	case "ToList":
		return &List{Items: append([]any(nil), items...), Elem: elemName(items)}, nil
	case "Contains":
		if len(a) == 0 {
			return nil, errArg("Contains takes a value")
		}
		for _, it := range items {
			if len(a) > 1 {
				if s1, ok := it.(string); ok {
					if s2, ok := argStr(a[0]); ok && compareStrings(s1, s2, a[1]) == 0 {
						return true, nil
					}
					continue
				}
			}
			if valuesEqual(it, a[0]) {
				return true, nil
			}
		}
		return false, nil
	case "Sum", "Max", "Min", "Average":
		vals := items
		if len(a) > 0 {
			vals = make([]any, len(items))
			for i, it := range items {
				v, err := callSel(a[0], it, i)
				if err != nil {
					return nil, err
				}
				vals[i] = v
			}
		}
		if name == "Sum" || name == "Average" {
			var acc any = 0
			for _, v := range vals {
				var err error
				// Enumerable.Sum runs checked: overflow throws
				if acc, err = checkedArith("+", acc, fromJValue(v)); err != nil {
					return nil, err
				}
			}
			if name == "Average" {
				if len(vals) == 0 {
					return nil, errInvalidOp("Sequence contains no elements")
				}
				_, _, f := numOf(acc)
				return f / float64(len(vals)), nil
			}
			return acc, nil
		}
		if len(vals) == 0 {
			return nil, errInvalidOp("Sequence contains no elements")
		}
		best := fromJValue(vals[0])
		for _, v := range vals[1:] {
			v = fromJValue(v)
			c, ok, err := compareValues(v, best)
			if err != nil {
				return nil, err
			}
			if ok && ((name == "Max" && c > 0) || (name == "Min" && c < 0)) {
				best = v
			}
		}
		return best, nil
	case "Skip", "Take":
		if len(a) != 1 {
			return nil, errArg("%s takes a count", name)
		}
		n, err := argInt(a[0])
		if err != nil {
			return nil, err
		}
		if n < 0 {
			n = 0
		}
		if n > len(items) {
			n = len(items)
		}
		if name == "Skip" {
			return &List{Items: append([]any(nil), items[n:]...)}, nil
		}
		return &List{Items: append([]any(nil), items[:n]...)}, nil
	case "Distinct", "ToHashSet":
		var out []any
		for _, it := range items {
			dup := false
			for _, o := range out {
				if valuesEqual(o, it) {
					dup = true
					break
				}
			}
			if !dup {
				out = append(out, it)
			}
		}
		if name == "ToHashSet" {
			d := newDict(false)
			d.Set = true
			for _, it := range out {
				if err := d.set(it, nil, false); err != nil {
					return nil, err
				}
			}
			return d, nil
		}
		return &List{Items: out}, nil
	case "Concat", "Union", "Except", "Intersect", "SequenceEqual":
		if len(a) != 1 {
			return nil, errArg("%s takes a sequence", name)
		}
		other, err := iterate(a[0])
		if err != nil {
			return nil, err
		}
		contains := func(list []any, v any) bool {
			for _, o := range list {
				if valuesEqual(o, v) {
					return true
				}
			}
			return false
		}
		switch name {
		case "Concat":
			if err := checkListLen(len(items) + len(other)); err != nil {
				return nil, err
			}
			return &List{Items: append(append([]any(nil), items...), other...)}, nil
		case "SequenceEqual":
			if len(items) != len(other) {
				return false, nil
			}
			for i := range items {
				if !valuesEqual(items[i], other[i]) {
					return false, nil
				}
			}
			return true, nil
		}
		var out []any
		switch name {
		case "Union":
			for _, it := range append(append([]any(nil), items...), other...) {
				if !contains(out, it) {
					out = append(out, it)
				}
			}
		case "Except":
			for _, it := range items {
				if !contains(other, it) && !contains(out, it) {
					out = append(out, it)
				}
			}
		default:
			for _, it := range items {
				if contains(other, it) && !contains(out, it) {
					out = append(out, it)
				}
			}
		}
		return &List{Items: out}, nil
	case "ToDictionary":
		if len(a) < 1 {
			return nil, errArg("ToDictionary takes a key selector")
		}
		// ToDictionary(key[, value][, StringComparer.X])
		d := newDict(ignoreCase(a, len(a)-1))
		for i, it := range items {
			k, err := callSel(a[0], it, i)
			if err != nil {
				return nil, err
			}
			v := it
			if len(a) > 1 {
				if _, ok := a[1].(*Func); ok {
					if v, err = callSel(a[1], it, i); err != nil {
						return nil, err
					}
				}
			}
			if err := d.set(k, v, true); err != nil {
				return nil, err
			}
		}
		return d, nil
	case "ElementAt", "ElementAtOrDefault":
		if len(a) != 1 {
			return nil, errArg("%s takes an index", name)
		}
		i, err := argInt(a[0])
		if err != nil {
			return nil, err
		}
		if i < 0 || i >= len(items) {
			if name == "ElementAtOrDefault" {
				return nil, nil
			}
			return nil, errArgRange("index")
		}
		return items[i], nil
	case "Reverse":
		out := make([]any, len(items))
		for i, it := range items {
			out[len(items)-1-i] = it
		}
		return &List{Items: out}, nil
	case "Cast", "OfType":
		if targ == "" {
			return nil, errArg("%s needs a type argument", name)
		}
		out := make([]any, 0, len(items))
		for _, it := range items {
			v, err := castTo(targ, it)
			if err != nil {
				if name == "OfType" {
					continue
				}
				return nil, err
			}
			out = append(out, v)
		}
		return &List{Items: out}, nil
	case "DefaultIfEmpty":
		if len(items) == 0 {
			var d any
			if len(a) > 0 {
				d = a[0]
			}
			return &List{Items: []any{d}}, nil
		}
		return &List{Items: items}, nil
	case "Aggregate":
		if len(a) == 0 {
			return nil, errArg("Aggregate takes a function")
		}
		var acc any
		fn := a[len(a)-1]
		start := 0
		if len(a) == 2 {
			acc = a[0]
		} else {
			if len(items) == 0 {
				return nil, errInvalidOp("Sequence contains no elements")
			}
			acc, start = items[0], 1
		}
		f, ok := fn.(*Func)
		if !ok {
			return nil, errArg("a lambda was expected")
		}
		for _, it := range items[start:] {
			var err error
			if acc, err = f.call(acc, it); err != nil {
				return nil, err
			}
		}
		return acc, nil
	}
	return nil, errInvalidOp("unsupported LINQ method " + name)
}

func elemName(items []any) string {
	if len(items) == 0 {
		return "Object"
	}
	switch items[0].(type) {
	case string:
		return "String"
	case int:
		return "Int32"
	case int64:
		return "Int64"
	case float64:
		return "Double"
	case bool:
		return "Boolean"
	case Char:
		return "Char"
	case Decimal:
		return "Decimal"
	}
	return "Object"
}

// ---- dynamic instance methods ----

var otherMethods = map[string]bool{
	"ToString": true, "GetHashCode": true, "Value": true, "Values": true, "ToObject": true, "SelectToken": true, "SelectTokens": true,
	"Add": true, "AddRange": true, "Remove": true, "RemoveAt": true, "Property": true, "Properties": true,
	"SetAttributeValue": true,
	"ContainsKey":       true, "TryGetValue": true, "TryParseJwt": true, "ForEach": true, "RemoveAll": true, "GetRange": true,
	"ConvertAll": true, "GetType": true, "GetByteCount": true, "GetLeftPart": true,
	"Enqueue": true, "Dequeue": true, "Push": true, "Pop": true, "Peek": true,
	"ImportParameters": true, "FromXmlString": true, "VerifyData": true, "VerifyHash": true, "GetValue": true, "Children": true, "DeepClone": true, "Clear": true,
	"Insert": true, "AddSeconds": true, "AddMinutes": true, "AddHours": true, "AddDays": true, "AddMonths": true,
	"AddYears": true, "AddMilliseconds": true, "AddTicks": true, "Subtract": true, "ToUniversalTime": true,
	"ToLocalTime": true, "ToUnixTimeSeconds": true, "ToUnixTimeMilliseconds": true, "ToByteArray": true,
	"Next": true, "NextDouble": true, "ComputeHash": true, "Dispose": true, "GetBytes": true, "GetString": true,
	"GetValueOrDefault": true, "Sort": true, "Descendants": true, "Merge": true, "Replace": true, "HasValues": true,
	"NextMatch": true, "Duration": true, "Negate": true, "Exists": true, "Find": true, "FindIndex": true, "ContainsValue": true,
	"FindAll": true, "TrueForAll": true,
	"Parse": false, "AddFirst": true, "ToUpper": true, "ToLower": true, "Equals": true, "CompareTo": true,
	"Result": false, "Encrypt": true, "Decrypt": true, "Matches": true, "Match": true, "IsMatch": true,
	"Append": true, "AppendLine": true, "AppendFormat": true, "Element": true, "Elements": true,
	"Attribute": true, "Attributes": true,
}

// dynMinArgs is the smallest argument count of any overload of a method
// with that name on any supported receiver (names not listed take zero);
// dynMaxArgs the largest (default 3).
var dynMinArgs = map[string]int{
	"Contains": 1, "StartsWith": 1, "EndsWith": 1, "IndexOf": 1, "LastIndexOf": 1, "Substring": 1,
	"PadLeft": 1, "PadRight": 1, "Equals": 1, "CompareTo": 1, "SelectToken": 1, "SelectTokens": 1, "Add": 1,
	"AddRange": 1, "RemoveAt": 1, "Property": 1, "ContainsKey": 1, "GetValue": 1, "Merge": 1, "Where": 1,
	"Select": 1, "SelectMany": 1, "All": 1, "OrderBy": 1, "OrderByDescending": 1, "Skip": 1, "Take": 1,
	"Concat": 1, "Union": 1, "Except": 1, "Intersect": 1, "SequenceEqual": 1, "ToDictionary": 1,
	"ElementAt": 1, "ElementAtOrDefault": 1, "Aggregate": 1, "AddSeconds": 1, "AddMinutes": 1, "AddHours": 1,
	"AddDays": 1, "AddMonths": 1, "AddYears": 1, "AddMilliseconds": 1, "AddTicks": 1, "Subtract": 1,
	"ComputeHash": 1, "GetBytes": 1, "GetString": 1, "GetValueOrDefault": 0, "Exists": 1, "Find": 1, "FindAll": 1, "TrueForAll": 1, "SetAttributeValue": 2,
	"FindIndex": 1, "ContainsValue": 1, "IsMatch": 1, "Match": 1, "Matches": 1, "Append": 1, "AppendFormat": 1,
	"Encrypt": 3, "Decrypt": 3, "Replace": 2, "Insert": 2, "TryGetValue": 2, "TryParseJwt": 1, "ThenBy": 1,
	"ForEach": 1, "RemoveAll": 1, "GetRange": 2, "ConvertAll": 1, "GetByteCount": 1, "Enqueue": 1, "Push": 1, "ThenByDescending": 1,
	"GroupBy": 1, "TakeWhile": 1, "SkipWhile": 1, "Zip": 2,
}

var dynMaxArgs = map[string]int{
	"ToLower": 0, "ToUpper": 0, "ToLowerInvariant": 0, "ToUpperInvariant": 0, "ToCharArray": 0, "AsJwt": 0,
	"AsBasic": 0, "Properties": 0, "Children": 0, "DeepClone": 0, "Clear": 0, "ToUniversalTime": 0,
	"ToLocalTime": 0, "ToUnixTimeSeconds": 0, "ToUnixTimeMilliseconds": 0, "ToByteArray": 0, "NextDouble": 0,
	"Dispose": 0, "ToArray": 0, "ToList": 0, "Distinct": 1, "Reverse": 0, "ThenBy": 2, "ThenByDescending": 2,
	"GroupBy": 2, "TakeWhile": 1, "SkipWhile": 1, "Zip": 2, "Duration": 0, "Negate": 0,
	"NextMatch": 0, "GetHashCode": 0, "Skip": 1, "Take": 1, "Where": 1, "Select": 1, "All": 1, "Count": 1,
	"Any": 1, "First": 1, "FirstOrDefault": 2, "Last": 1, "LastOrDefault": 2, "Single": 1, "SingleOrDefault": 2,
	"ElementAt": 1, "ElementAtOrDefault": 1, "RemoveAt": 1, "Property": 2, "SelectToken": 2, "SelectTokens": 2, "ContainsKey": 1,
	"OrderBy": 2, "OrderByDescending": 2, "Concat": 1, "Union": 2, "Except": 2, "Intersect": 2, "Replace": 3,
	"Insert": 2, "TryGetValue": 2, "TryParseJwt": 1, "GetType": 0, "VerifyData": 4, "VerifyHash": 4, "ImportParameters": 1, "FromXmlString": 1, "Dequeue": 0, "Pop": 0, "Peek": 0, "Enqueue": 1, "Push": 1, "ForEach": 1, "RemoveAll": 1, "GetRange": 2, "ConvertAll": 1, "Encrypt": 3, "Decrypt": 3, "AppendFormat": 10, "Split": 3, "Contains": 2,
	"Equals": 2, "IndexOf": 3, "LastIndexOf": 3, "Substring": 2, "PadLeft": 2, "PadRight": 2, "Remove": 2,
	"Trim": 10, "TrimStart": 10, "TrimEnd": 10, "ToString": 2, "Next": 2, "ComputeHash": 3, "GetBytes": 1,
	"GetString": 3, "Sum": 1, "Max": 1, "Min": 1, "Average": 1, "Value": 1, "Values": 0, "ToObject": 1,
	"GetValue": 2, "Merge": 2, "Add": 2, "AddRange": 1, "ToDictionary": 3, "Aggregate": 3, "Sort": 1,
}

// dynMethod compiles a method whose receiver type is known only at run time.
func dynMethod(n *memberExpr, name string, targs []*typeRef, args []compiledArg) (*method, *Error) {
	if !stringMethods[name] && !linqMethods[name] && !otherMethods[name] {
		return nil, nil
	}
	maxArgs, ok := dynMaxArgs[name]
	if !ok {
		maxArgs = 3
	}
	if err := checkArity(n, name, args, dynMinArgs[name], maxArgs); err != nil {
		return nil, err
	}
	targ := typeArgName(targs)
	var targConv func(any) (any, error)
	if len(targs) > 0 {
		t := targs[0]
		if t.rank == 0 {
			tn := canonType(t.name)
			targConv = func(v any) (any, error) { return changeType(tn, v) }
		}
	}
	for _, a := range args {
		if a.out && name != "TryGetValue" && name != "TryParseJwt" {
			return nil, errAt(n, "unsupported C# construct: out argument to '%s'", name)
		}
	}
	m := &method{outIdx: -1}
	if name == "TryParseJwt" {
		// string.TryParseJwt(out Jwt jwt): APIM's extension method
		m.outIdx = 0
		m.tryFn = func(e *env, r any, a []any) (bool, any, error) {
			s, ok := r.(string)
			if !ok {
				return false, nil, errNoMember(r, name)
			}
			if j := parseJwt(s); j != nil {
				return true, j, nil
			}
			return false, nil, nil
		}
		return m, nil
	}
	if name == "TryGetValue" {
		m.outIdx = 1
		m.tryFn = func(e *env, r any, a []any) (bool, any, error) {
			if len(a) != 2 {
				return false, nil, errArg("TryGetValue takes two arguments")
			}
			switch x := r.(type) {
			case *Dict:
				v, ok, err := x.get(a[0])
				return ok, v, err
			case *JObject:
				key, _ := argStr(a[0])
				if i := x.find(key); i >= 0 {
					return true, x.props[i].Value, nil
				}
				return false, nil, nil
			}
			return false, nil, errNoMember(r, name)
		}
		return m, nil
	}
	m.fn = func(e *env, r any, a []any) (any, error) {
		if s, ok := r.(string); ok {
			if v, err, handled := stringMethod(name, s, a); handled {
				return v, err
			}
		}
		if name == "ToString" && isXML(r) {
			v, err, _ := xmlMethod(name, r, a)
			if v == nil && err == nil {
				return ToString(r), nil
			}
			return v, err
		}
		switch name {
		case "ToString", "GetHashCode", "Equals", "CompareTo":
			if name == "CompareTo" {
				c, _, err := compareValues(r, a[0])
				return c, err
			}
			return commonMethod(name, r, a)
		}
		if v, err, handled := objectMethod(name, r, a, targ, targConv); handled {
			return v, err
		}
		if v, err, handled := xmlMethod(name, r, a); handled {
			return v, err
		}
		if linqMethods[name] {
			items, err := iterate(r)
			if err != nil {
				if rt, ok := err.(*RuntimeError); ok && rt.Type == "InvalidOperationException" {
					return nil, errNoMember(r, name)
				}
				return nil, err
			}
			if v, handled, err := linqExtra(name, r, items, a); handled {
				return v, err
			}
			v, err := linq(name, items, a, targ)
			if l, ok := v.(*List); ok && err == nil && l.Elem == "" && keepsElem[name] {
				if src, ok := r.(*List); ok {
					l.Elem = src.Elem
				}
			}
			return v, err
		}
		return nil, errNoMember(r, name)
	}
	return m, nil
}

// objectMethod implements methods of JSON tokens, collections, dates and helpers.
func objectMethod(name string, r any, a []any, targ string, targConv func(any) (any, error)) (any, error, bool) {
	if v, err, ok := moreMethods(name, r, a); ok {
		return v, err, true
	}
	switch x := r.(type) {
	case *JObject:
		switch name {
		case "Value":
			if len(a) != 1 {
				return nil, errArg("Value<T>(key) takes one argument"), true
			}
			key, _ := argStr(a[0])
			v := x.Get(key)
			return convertToken(v, targConv), nil, true
		case "GetValue":
			key, _ := argStr(a[0])
			if ignoreCase(a, 1) {
				for _, p := range x.props {
					if strings.EqualFold(p.Name, key) {
						return p.Value, nil, true
					}
				}
				return nil, nil, true
			}
			return x.Get(key), nil, true
		case "SelectToken":
			p, _ := argStr(a[0])
			v, err := selectToken(x, p)
			return v, err, true
		case "SelectTokens":
			p, _ := argStr(a[0])
			v, err := selectTokens(x, p)
			return &List{Items: v}, err, true
		case "Add":
			if len(a) == 2 {
				key, ok := argStr(a[0])
				if !ok {
					return nil, errArgNull("propertyName"), true
				}
				t, err := toJToken(a[1], 0)
				if err != nil {
					return nil, err, true
				}
				return nil, x.add(key, t), true
			}
			if len(a) == 1 {
				if p, ok := a[0].(*JProperty); ok {
					return nil, x.addProp(p), true
				}
				return nil, errArg("Can not add %s to Newtonsoft.Json.Linq.JObject.", typeName(a[0])), true
			}
		case "Remove":
			if len(a) == 1 {
				key, _ := argStr(a[0])
				return x.Remove(key), nil, true
			}
		case "Property":
			key, _ := argStr(a[0])
			for _, p := range x.props {
				if p.Name == key || (ignoreCase(a, 1) && strings.EqualFold(p.Name, key)) {
					return p, nil, true
				}
			}
			return nil, nil, true
		case "Properties", "Children":
			l := &List{}
			for _, p := range x.props {
				l.Items = append(l.Items, p)
			}
			return l, nil, true
		case "ContainsKey":
			key, _ := argStr(a[0])
			return x.find(key) >= 0, nil, true
		case "DeepClone":
			c, err := cloneJToken(x)
			return c, err, true
		case "ToObject":
			return toObject(x, targ), nil, true
		case "Count":
			return len(x.props), nil, true
		case "Merge":
			if o, ok := a[0].(*JObject); ok {
				replaceArrays := false
				if len(a) > 1 {
					if ms, ok := a[1].(*Anon); ok {
						for i, n := range ms.names {
							if e, ok := ms.vals[i].(Enum); ok && n == "MergeArrayHandling" {
								replaceArrays = e.Name == "Replace"
							}
						}
					}
				}
				return nil, mergeJObject(x, o, replaceArrays, 0), true
			}
		}
	case *JArray:
		if len(a) == 0 && (name == "Remove" || name == "Insert" || name == "RemoveAt" || name == "IndexOf") {
			return nil, errArg("%s needs an argument", name), true
		}
		switch name {
		case "Add":
			if len(a) == 1 {
				t, err := toJToken(a[0], 0)
				if err != nil {
					return nil, err, true
				}
				if err := checkListLen(len(x.Items) + 1); err != nil {
					return nil, err, true
				}
				setParent(t, x)
				x.Items = append(x.Items, t)
				return nil, nil, true
			}
		case "Remove":
			for i, it := range x.Items {
				if it == a[0] {
					clearParent(it, x)
					x.Items = append(x.Items[:i], x.Items[i+1:]...)
					return true, nil, true
				}
			}
			return false, nil, true
		case "RemoveAt":
			i, err := argInt(a[0])
			if err != nil {
				return nil, err, true
			}
			if i < 0 || i >= len(x.Items) {
				return nil, errIndexRange(), true
			}
			clearParent(x.Items[i], x)
			x.Items = append(x.Items[:i], x.Items[i+1:]...)
			return nil, nil, true
		case "Clear":
			for _, it := range x.Items {
				clearParent(it, x)
			}
			x.Items = nil
			return nil, nil, true
		case "Insert":
			i, err := argInt(a[0])
			if err != nil {
				return nil, err, true
			}
			if i < 0 || i > len(x.Items) {
				return nil, errIndexRange(), true
			}
			t, err := toJToken(a[1], 0)
			if err != nil {
				return nil, err, true
			}
			setParent(t, x)
			x.Items = append(x.Items[:i], append([]any{t}, x.Items[i:]...)...)
			return nil, nil, true
		case "SelectToken":
			p, _ := argStr(a[0])
			v, err := selectToken(x, p)
			return v, err, true
		case "SelectTokens":
			p, _ := argStr(a[0])
			v, err := selectTokens(x, p)
			return &List{Items: v}, err, true
		case "Children":
			return &List{Items: append([]any(nil), x.Items...)}, nil, true
		case "DeepClone":
			c, err := cloneJToken(x)
			return c, err, true
		case "ToObject":
			return toObject(x, targ), nil, true
		case "Values":
			l := &List{}
			for _, it := range x.Items {
				l.Items = append(l.Items, convertToken(it, targConv))
			}
			return l, nil, true
		case "Value":
			if len(a) == 1 {
				v, err := indexAny(x, a[0])
				if err != nil {
					return nil, err, true
				}
				return convertToken(v, targConv), nil, true
			}
		case "IndexOf":
			for i, it := range x.Items {
				if it == a[0] {
					return i, nil, true
				}
			}
			return -1, nil, true
		}
	case *JValue:
		switch name {
		case "Value":
			if len(a) == 0 {
				return convertToken(x, targConv), nil, true
			}
			return nil, errInvalidOp("Cannot access child value on Newtonsoft.Json.Linq.JValue."), true
		case "ToObject":
			return convertToken(x, targConv), nil, true
		case "DeepClone":
			c, err := cloneJToken(x)
			return c, err, true
		case "SelectToken":
			return nil, nil, true
		}
	case *JProperty:
		switch name {
		case "Remove":
			if len(a) == 0 {
				if x.parent == nil {
					return nil, errInvalidOp("The parent is missing."), true
				}
				x.parent.Remove(x.Name)
				return nil, nil, true
			}
		case "Value":
			if len(a) == 0 {
				return convertToken(x.Value, targConv), nil, true
			}
		case "DeepClone":
			c, err := cloneJToken(x)
			return c, err, true
		}
	case *List:
		switch name {
		case "Add":
			if x.Array {
				return nil, &RuntimeError{Type: "NotSupportedException", Msg: "Collection was of a fixed size."}, true
			}
			if err := checkListLen(len(x.Items) + 1); err != nil {
				return nil, err, true
			}
			x.Items = append(x.Items, a[0])
			return nil, nil, true
		case "AddRange":
			items, err := iterate(a[0])
			if err != nil {
				return nil, err, true
			}
			if err := checkListLen(len(x.Items) + len(items)); err != nil {
				return nil, err, true
			}
			x.Items = append(x.Items, items...)
			return nil, nil, true
		case "Remove":
			if len(a) == 0 {
				return nil, errArg("Remove needs an argument"), true
			}
			for i, it := range x.Items {
				if valuesEqual(it, a[0]) {
					x.Items = append(x.Items[:i], x.Items[i+1:]...)
					return true, nil, true
				}
			}
			return false, nil, true
		case "RemoveAt":
			i, err := argInt(a[0])
			if err != nil {
				return nil, err, true
			}
			if i < 0 || i >= len(x.Items) {
				return nil, errIndexRange(), true
			}
			x.Items = append(x.Items[:i], x.Items[i+1:]...)
			return nil, nil, true
		case "Clear":
			x.Items = x.Items[:0]
			return nil, nil, true
		case "Insert":
			i, err := argInt(a[0])
			if err != nil {
				return nil, err, true
			}
			if i < 0 || i > len(x.Items) {
				return nil, errIndexRange(), true
			}
			x.Items = append(x.Items[:i], append([]any{a[1]}, x.Items[i:]...)...)
			return nil, nil, true
		case "IndexOf":
			for i, it := range x.Items {
				if valuesEqual(it, a[0]) {
					return i, nil, true
				}
			}
			return -1, nil, true
		case "Sort":
			if len(a) == 1 {
				// List<T>.Sort(Comparison<T>)
				f, ok := a[0].(*Func)
				if !ok {
					return nil, errArgNull("comparison"), true
				}
				return nil, sortListBy(x.Items, f), true
			}
			v, err := linq("OrderBy", x.Items, nil, "")
			if err != nil {
				return nil, err, true
			}
			copy(x.Items, v.(*List).Items)
			return nil, nil, true
		case "FindAll", "TrueForAll":
			var out []any
			for _, it := range x.Items {
				ok, err := callPred(a[0], it)
				if err != nil {
					return nil, err, true
				}
				if name == "TrueForAll" && !ok {
					return false, nil, true
				}
				if ok {
					out = append(out, it)
				}
			}
			if name == "TrueForAll" {
				return true, nil, true
			}
			return &List{Items: out, Elem: x.Elem}, nil, true
		case "Exists", "Find", "FindIndex":
			for i, it := range x.Items {
				ok, err := callPred(a[0], it)
				if err != nil {
					return nil, err, true
				}
				if ok {
					switch name {
					case "Exists":
						return true, nil, true
					case "Find":
						return it, nil, true
					}
					return i, nil, true
				}
			}
			switch name {
			case "Exists":
				return false, nil, true
			case "Find":
				return nil, nil, true
			}
			return -1, nil, true
		}
	case *Dict:
		switch name {
		case "Add":
			if x.Set {
				if _, found, _ := x.get(a[0]); found {
					return false, nil, true
				}
				return true, x.set(a[0], nil, false), true
			}
			if len(a) != 2 {
				return nil, errArg("Add takes a key and a value"), true
			}
			return nil, x.set(a[0], a[1], true), true
		case "ContainsKey", "Contains":
			_, found, err := x.get(a[0])
			return found, err, true
		case "ContainsValue":
			for _, v := range x.vals {
				if valuesEqual(v, a[0]) {
					return true, nil, true
				}
			}
			return false, nil, true
		case "Remove":
			if len(a) == 0 {
				return nil, errArg("Remove needs an argument"), true
			}
			ok, err := x.remove(a[0])
			return ok, err, true
		case "Clear":
			*x = *newDict(x.ignoreCase)
			return nil, nil, true
		case "GetValueOrDefault":
			if len(a) == 0 {
				return nil, errArg("GetValueOrDefault needs a key"), true
			}
			v, found, err := x.get(a[0])
			if err != nil {
				return nil, err, true
			}
			if !found && len(a) > 1 {
				return a[1], nil, true
			}
			return v, nil, true
		}
	case time.Time:
		return timeMethod(name, x, a)
	case DateTimeOffset:
		switch name {
		case "ToUnixTimeSeconds":
			return x.T.Unix(), nil, true
		case "ToUnixTimeMilliseconds":
			return x.T.UnixMilli(), nil, true
		}
		v, err, ok := timeMethod(name, x.T, a)
		if t, isT := v.(time.Time); isT && err == nil {
			return DateTimeOffset{t}, nil, ok
		}
		return v, err, ok
	case time.Duration:
		switch name {
		case "Add":
			if d, ok := a[0].(time.Duration); ok {
				return x + d, nil, true
			}
		case "Subtract":
			if d, ok := a[0].(time.Duration); ok {
				return x - d, nil, true
			}
		case "Duration":
			if x < 0 {
				return -x, nil, true
			}
			return x, nil, true
		case "Negate":
			return -x, nil, true
		}
	case Guid:
		if name == "ToByteArray" {
			// .NET stores the first three groups little-endian.
			b := make([]byte, 16)
			copy(b, x[:])
			b[0], b[1], b[2], b[3] = x[3], x[2], x[1], x[0]
			b[4], b[5] = x[5], x[4]
			b[6], b[7] = x[7], x[6]
			return b, nil, true
		}
	case *Random:
		switch name {
		case "Next":
			switch len(a) {
			case 0:
				return int(x.r.Int32()), nil, true
			case 1:
				mx, err := argInt(a[0])
				if err != nil {
					return nil, err, true
				}
				if mx < 0 {
					return nil, errArgRange("maxValue"), true
				}
				if mx == 0 {
					return 0, nil, true
				}
				return x.r.IntN(mx), nil, true
			case 2:
				mn, err := argInt(a[0])
				if err != nil {
					return nil, err, true
				}
				mx, err := argInt(a[1])
				if err != nil {
					return nil, err, true
				}
				if mn > mx {
					return nil, errArgRange("minValue"), true
				}
				if mn == mx {
					return mn, nil, true
				}
				return mn + x.r.IntN(mx-mn), nil, true
			}
		case "NextDouble":
			return x.r.Float64(), nil, true
		}
	case *Hasher:
		switch name {
		case "ComputeHash":
			b, ok := a[0].([]byte)
			if !ok {
				return nil, errInvalidCast(a[0], "System.Byte[]"), true
			}
			return x.compute(b), nil, true
		case "Dispose":
			return nil, nil, true
		}
	case *textEncoding:
		switch name {
		case "GetBytes":
			s, ok := argStr(a[0])
			if !ok {
				if a[0] == nil {
					return nil, errArgNull("s"), true
				}
				return nil, errInvalidCast(a[0], "System.String"), true
			}
			return x.encode(s), nil, true
		case "GetString":
			b, ok := a[0].([]byte)
			if !ok {
				return nil, errInvalidCast(a[0], "System.Byte[]"), true
			}
			if len(a) == 3 {
				i, _ := argInt(a[1])
				c, _ := argInt(a[2])
				if i < 0 || c < 0 || i+c > len(b) {
					return nil, errArgRange("count"), true
				}
				b = b[i : i+c]
			}
			return x.decode(b), nil, true
		}
	case []byte:
		switch name {
		case "Encrypt", "Decrypt":
			v, err := symmetricCrypt(name == "Encrypt", x, a)
			return v, err, true
		}
	case *Regex:
		if v, err, ok := regexInstance(name, x, a); ok {
			return v, err, true
		}
	case *StringBuilder:
		switch name {
		case "Append", "AppendLine":
			for _, v := range a {
				s := ToString(v)
				if err := checkStrLen(x.sb.Len() + len(s)); err != nil {
					return nil, err, true
				}
				x.sb.WriteString(s)
			}
			if name == "AppendLine" {
				x.sb.WriteString("\n")
			}
			return x, nil, true
		case "AppendFormat":
			f, err := str0(a, 0)
			if err != nil {
				return nil, err, true
			}
			s, err := stringFormat(f, a[1:])
			if err != nil {
				return nil, err, true
			}
			x.sb.WriteString(s)
			return x, nil, true
		case "Clear":
			x.sb.Reset()
			return x, nil, true
		}
	case *Match:
		if name == "NextMatch" {
			m, err := x.nextMatch()
			return m, err, true
		}
	case http.Header:
	}
	return nil, nil, false
}

func convertToken(v any, conv func(any) (any, error)) any {
	if conv == nil {
		return v
	}
	if jv, ok := v.(*JValue); ok && jv.V == nil {
		return nil
	}
	out, err := conv(v)
	if err != nil {
		return nil
	}
	return out
}

func toObject(v any, targ string) any {
	switch targ {
	case "", "object", "JObject", "JArray", "JToken":
		return v
	case "Dictionary", "IDictionary":
		if o, ok := v.(*JObject); ok {
			d := newDict(false)
			for _, p := range o.props {
				_ = d.set(p.Name, fromJValue(p.Value), false)
			}
			return d
		}
	case "List", "IList", "IEnumerable":
		if a, ok := v.(*JArray); ok {
			l := &List{}
			for _, it := range a.Items {
				l.Items = append(l.Items, fromJValue(it))
			}
			return l
		}
	}
	out, err := changeType(targ, v)
	if err != nil {
		return nil
	}
	return out
}

func timeMethod(name string, t time.Time, a []any) (any, error, bool) {
	num := func() (float64, error) {
		if len(a) != 1 {
			return 0, errArg("%s takes one argument", name)
		}
		c, _, f := numOf(a[0])
		if c == ncNone {
			return 0, errInvalidCast(a[0], "System.Double")
		}
		return f, nil
	}
	addDur := func(unit time.Duration) (any, error, bool) {
		f, err := num()
		if err != nil {
			return nil, err, true
		}
		r := t.Add(time.Duration(f * float64(unit)))
		if r.Year() < 1 || r.Year() > 9999 {
			return nil, &RuntimeError{Type: "ArgumentOutOfRangeException", Msg: "The added or subtracted value results in an un-representable DateTime."}, true
		}
		return r, nil, true
	}
	switch name {
	case "AddSeconds":
		return addDur(time.Second)
	case "AddMinutes":
		return addDur(time.Minute)
	case "AddHours":
		return addDur(time.Hour)
	case "AddDays":
		return addDur(24 * time.Hour)
	case "AddMilliseconds":
		return addDur(time.Millisecond)
	case "AddTicks":
		return addDur(100)
	case "AddMonths", "AddYears":
		n, err := argInt(a[0])
		if err != nil {
			return nil, err, true
		}
		months := n
		if name == "AddYears" {
			months = n * 12
		}
		total := t.Year()*12 + int(t.Month()) - 1 + months
		y, m := total/12, total%12+1
		if y < 1 || y > 9999 {
			return nil, &RuntimeError{Type: "ArgumentOutOfRangeException", Msg: "The added or subtracted value results in an un-representable DateTime."}, true
		}
		d := min(t.Day(), daysIn(y, m))
		return time.Date(y, time.Month(m), d, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), t.Location()), nil, true
	case "Add":
		if d, ok := a[0].(time.Duration); ok {
			return t.Add(d), nil, true
		}
	case "Subtract":
		switch y := a[0].(type) {
		case time.Duration:
			return t.Add(-y), nil, true
		case time.Time:
			return t.Sub(y), nil, true
		}
	case "ToUniversalTime":
		return t.UTC(), nil, true
	case "ToLocalTime":
		return asLocal(t), nil, true
	}
	return nil, nil, false
}
