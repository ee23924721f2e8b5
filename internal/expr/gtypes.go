package expr

import (
	"strings"
	"time"
)

// Static types beyond sType: generic collections with their element types,
// arrays, delegates and the JSON token classes, so that C#'s load-time
// errors on type arguments (List<int>.Add("s")), array elements and lambda
// parameters are found at load. A nil *ty is an unknown type: nothing is
// checked against it, so only certain mismatches are rejected.

type tyKind uint8

const (
	tkST    tyKind = iota // st is the type: primitives, object, context model types
	tkArray               // elem[]
	tkColl                // name<elem>: List, IList, ICollection, IEnumerable, IReadOnlyList, IReadOnlyCollection, HashSet, ISet
	tkDict                // name<key, elem>: Dictionary, IDictionary, IReadOnlyDictionary
	tkKV                  // KeyValuePair<key, elem>
	tkGroup               // IGrouping<key, elem>
	tkFunc                // Func<params..., ret> or Action<params...> (ret nil, action set)
	tkNamed               // JObject, JArray, JToken, JValue, JProperty, JContainer
	tkClass               // name: Guid, DateTimeOffset (value types), Uri
)

type ty struct {
	k      tyKind
	st     sType
	name   string
	elem   *ty
	key    *ty
	params []*ty
	ret    *ty
	action bool
	nparam int // number of parameters; -1 when unknown (Func without type arguments)
}

// stTys are the shared types of the sTypes (never modified).
var stTys = func() (t [stShort + 1]ty) {
	for i := range t {
		t[i] = ty{k: tkST, st: sType(i)}
	}
	return t
}()

func stTy(st sType) *ty { return &stTys[st] }

// the JSON token types (shared, never modified)
var (
	jtokenTy  = &ty{k: tkNamed, name: "JToken"}
	jobjectTy = &ty{k: tkNamed, name: "JObject"}
	jarrayTy  = &ty{k: tkNamed, name: "JArray"}
)

// the other types with members (shared, never modified)
var (
	guidTy = &ty{k: tkClass, name: "Guid"}
	dtoTy  = &ty{k: tkClass, name: "DateTimeOffset"}
	uriTy  = &ty{k: tkClass, name: "Uri"}
	encTy  = &ty{k: tkClass, name: "Text.Encoding"}
)

// classTys are the tkClass types by name.
var classTys = map[string]*ty{"Guid": guidTy, "DateTimeOffset": dtoTy, "Uri": uriTy}

func arrayOf(t *ty) *ty { return &ty{k: tkArray, elem: t} }

func seqOf(t *ty) *ty { return &ty{k: tkColl, name: "IEnumerable", elem: t} }

// tyOf is the static type of a compiled expression (nil when unknown).
func tyOf(x cx) *ty {
	if x.t != nil {
		return x.t
	}
	if known(x.st) || x.st == stObject || isModel(x.st) {
		return stTy(x.st)
	}
	return nil
}

// withTy records a static type on a compiled expression: primitives go to
// st (so the operator and conversion checks see them), the rest to t.
func withTy(x cx, t *ty) cx {
	if t == nil {
		return x
	}
	if t.k == tkST {
		x.st, x.t = t.st, nil
		return x
	}
	x.t = t
	return x
}

// tyName is the C# spelling of a type in messages.
func tyName(t *ty) string {
	if t == nil {
		return "?"
	}
	switch t.k {
	case tkST:
		return csName(t.st)
	case tkArray:
		return tyName(t.elem) + "[]"
	case tkColl:
		return t.name + "<" + tyName(t.elem) + ">"
	case tkDict:
		return t.name + "<" + tyName(t.key) + ", " + tyName(t.elem) + ">"
	case tkKV:
		return "KeyValuePair<" + tyName(t.key) + ", " + tyName(t.elem) + ">"
	case tkGroup:
		return "IGrouping<" + tyName(t.key) + ", " + tyName(t.elem) + ">"
	case tkFunc:
		var parts []string
		for _, p := range t.params {
			parts = append(parts, tyName(p))
		}
		if t.action {
			if len(parts) == 0 {
				return "Action"
			}
			return "Action<" + strings.Join(parts, ", ") + ">"
		}
		return "Func<" + strings.Join(append(parts, tyName(t.ret)), ", ") + ">"
	case tkNamed:
		return "Newtonsoft.Json.Linq." + t.name
	case tkClass:
		return "System." + t.name
	}
	return "?"
}

var collNames = map[string]bool{
	"List": true, "IList": true, "ICollection": true, "IEnumerable": true, "IReadOnlyList": true,
	"IReadOnlyCollection": true, "HashSet": true, "ISet": true,
}

var dictNames = map[string]bool{"Dictionary": true, "IDictionary": true, "IReadOnlyDictionary": true}

var jsonNames = map[string]bool{"JObject": true, "JArray": true, "JToken": true, "JValue": true, "JProperty": true, "JContainer": true}

// tyFromRef is the static type a type reference names, nil when it is not
// tracked.
func tyFromRef(tr *typeRef) *ty {
	if tr == nil || tr.nullable || tr.name == "dynamic" {
		return nil
	}
	if tr.rank > 0 {
		inner := *tr
		inner.rank--
		e := tyFromRef(&inner)
		if e == nil && canonType(tr.name) != "byte" {
			// an array of an untracked element type is still an array
			return &ty{k: tkArray}
		}
		return arrayOf(e)
	}
	name := canonType(tr.name)
	if st := primST(name); st != stAny {
		return stTy(st)
	}
	if st := modelTypeST(tr.name); st != stAny {
		return stTy(st)
	}
	if ct := classTys[name]; ct != nil && len(tr.args) == 0 {
		return ct
	}
	switch {
	case collNames[name] && len(tr.args) == 1:
		return &ty{k: tkColl, name: name, elem: tyFromRef(tr.args[0])}
	case dictNames[name] && len(tr.args) == 2:
		return &ty{k: tkDict, name: name, key: tyFromRef(tr.args[0]), elem: tyFromRef(tr.args[1])}
	case name == "KeyValuePair" && len(tr.args) == 2:
		return &ty{k: tkKV, key: tyFromRef(tr.args[0]), elem: tyFromRef(tr.args[1])}
	case name == "Func" || name == "Action":
		if len(tr.args) == 0 && name == "Func" {
			return nil
		}
		f := &ty{k: tkFunc, action: name == "Action"}
		ps := tr.args
		if name == "Func" {
			f.ret = tyFromRef(ps[len(ps)-1])
			ps = ps[:len(ps)-1]
		}
		for _, p := range ps {
			f.params = append(f.params, tyFromRef(p))
		}
		f.nparam = len(f.params)
		return f
	case jsonNames[name] && len(tr.args) == 0:
		switch name {
		case "JToken":
			return jtokenTy
		case "JObject":
			return jobjectTy
		case "JArray":
			return jarrayTy
		}
		return &ty{k: tkNamed, name: name}
	}
	return nil
}

// elemTy is the element type of a foreach over / LINQ on a value of type t.
func elemTy(t *ty) *ty {
	if t == nil {
		return nil
	}
	switch t.k {
	case tkArray, tkColl, tkGroup:
		return t.elem
	case tkDict:
		return &ty{k: tkKV, key: t.key, elem: t.elem}
	case tkST:
		if t.st == stString {
			return stTy(stChar)
		}
	case tkNamed:
		if t.name == "JArray" || t.name == "JToken" || t.name == "JContainer" {
			return jtokenTy
		}
	}
	return nil
}

// isSeq reports whether t is certainly enumerable with a known element type.
func isSeq(t *ty) bool { return elemTy(t) != nil }

// notEnumerable reports a type that certainly has no GetEnumerator.
func notEnumerable(t *ty) bool {
	return t != nil && t.k == tkST && isValueST(t.st)
}

// isValueTy reports a type that is certainly a value type.
func isValueTy(t *ty) bool {
	return t != nil && (t.k == tkST && isValueST(t.st) || t.k == tkKV || t.k == tkClass && (t == guidTy || t == dtoTy))
}

// complete reports whether t and all its parts are known.
func complete(t *ty) bool {
	if t == nil {
		return false
	}
	switch t.k {
	case tkST:
		return known(t.st) || t.st == stObject
	case tkArray, tkColl:
		return complete(t.elem)
	case tkDict, tkKV, tkGroup:
		return complete(t.key) && complete(t.elem)
	case tkNamed, tkClass:
		return true
	}
	return false
}

// identical reports whether a and b are certainly different types (false)
// or possibly the same (true).
func identical(a, b *ty) bool {
	if a == nil || b == nil {
		return true
	}
	if a.k != b.k {
		if a.k == tkST && !(known(a.st) || a.st == stObject) || b.k == tkST && !(known(b.st) || b.st == stObject) {
			return true
		}
		return false
	}
	switch a.k {
	case tkST:
		if !(known(a.st) || a.st == stObject) || !(known(b.st) || b.st == stObject) {
			return true
		}
		return a.st == b.st
	case tkArray:
		return identical(a.elem, b.elem)
	case tkColl:
		return a.name == b.name && identical(a.elem, b.elem)
	case tkDict:
		return a.name == b.name && identical(a.key, b.key) && identical(a.elem, b.elem)
	case tkKV, tkGroup:
		return identical(a.key, b.key) && identical(a.elem, b.elem)
	case tkNamed, tkClass:
		return a.name == b.name
	}
	return true
}

// isRefTy reports a type that is certainly a reference type.
func isRefTy(t *ty) bool {
	if t == nil {
		return false
	}
	switch t.k {
	case tkST:
		return t.st == stString || t.st == stObject
	case tkArray, tkColl, tkDict, tkFunc, tkNamed, tkGroup:
		return true
	case tkClass:
		return t == uriTy || t == encTy
	}
	return false
}

// refConvertible reports whether a reference conversion from a to b may
// exist (variance of generic interfaces and array covariance use only
// these, never user-defined or boxing conversions).
func refConvertible(a, b *ty) bool {
	if a == nil || b == nil {
		return true
	}
	if isValueTy(a) || isValueTy(b) {
		return identical(a, b)
	}
	if !isRefTy(a) || !isRefTy(b) {
		return true
	}
	if b.k == tkST && b.st == stObject {
		return true
	}
	if a.k == tkST && b.k == tkST {
		return a.st == b.st
	}
	if a.k == tkNamed && b.k == tkNamed {
		return jsonSubclass(a.name, b.name)
	}
	if a.k == tkST || b.k == tkST {
		// string to IEnumerable<char> and friends
		return a.k == tkST && a.st == stString && b.k == tkColl && (b.name == "IEnumerable") && identical(b.elem, stTy(stChar))
	}
	return collConvertible(a, b)
}

func jsonSubclass(from, to string) bool {
	if from == to || to == "JToken" {
		return true
	}
	if to == "JContainer" {
		return from == "JObject" || from == "JArray" || from == "JProperty"
	}
	return false
}

// collIfaces lists the generic interfaces each collection type implements
// over its own element type (the dictionary ones over KeyValuePair).
var collIfaces = map[string][]string{
	"[]":                  {"IList", "ICollection", "IEnumerable", "IReadOnlyList", "IReadOnlyCollection"},
	"List":                {"IList", "ICollection", "IEnumerable", "IReadOnlyList", "IReadOnlyCollection"},
	"IList":               {"ICollection", "IEnumerable"},
	"ICollection":         {"IEnumerable"},
	"IReadOnlyList":       {"IReadOnlyCollection", "IEnumerable"},
	"IReadOnlyCollection": {"IEnumerable"},
	"HashSet":             {"ISet", "ICollection", "IEnumerable", "IReadOnlyCollection"},
	"ISet":                {"ICollection", "IEnumerable"},
	"Dictionary":          {"ICollection", "IEnumerable", "IReadOnlyCollection"},
	"IDictionary":         {"ICollection", "IEnumerable"},
	"IReadOnlyDictionary": {"IReadOnlyCollection", "IEnumerable"},
}

var covariant = map[string]bool{"IEnumerable": true, "IReadOnlyList": true, "IReadOnlyCollection": true}

// collConvertible is the implicit reference conversion between two
// collection types: a class to the interfaces it implements (with the
// variance of IEnumerable<out T>), arrays with covariance, identity.
func collConvertible(a, b *ty) bool {
	switch {
	case a.k == tkFunc || b.k == tkFunc:
		if a.k != b.k {
			return false
		}
		return true
	case a.k == tkNamed:
		// JArray/JObject implement IList<JToken>/IDictionary<string, JToken>
		return b.k == tkColl && b.name != "List" && b.name != "HashSet" || b.k == tkDict && b.name != "Dictionary"
	case b.k == tkNamed:
		return false
	case a.k == tkGroup:
		return b.k == tkColl && b.name == "IEnumerable" && refOrSame(a.elem, b.elem, true) || b.k == tkGroup && identical(a, b)
	case b.k == tkGroup:
		return false
	}
	if a.k == tkArray && b.k == tkArray {
		return refOrSame(a.elem, b.elem, true)
	}
	if a.k == tkDict && b.k == tkDict {
		if a.name == b.name || a.name == "Dictionary" && b.name != "Dictionary" {
			return identical(a.key, b.key) && identical(a.elem, b.elem)
		}
		return false
	}
	from := a.name
	if a.k == tkArray {
		from = "[]"
	}
	if b.k != tkColl {
		return false
	}
	if a.k == tkColl && a.name == b.name {
		return refOrSame(a.elem, b.elem, covariant[b.name])
	}
	ok := false
	for _, i := range collIfaces[from] {
		if i == b.name {
			ok = true
		}
	}
	if !ok {
		return false
	}
	ae := a.elem
	if a.k == tkDict {
		ae = &ty{k: tkKV, key: a.key, elem: a.elem}
	}
	return refOrSame(ae, b.elem, covariant[b.name] || a.k == tkArray)
}

func refOrSame(a, b *ty, variant bool) bool {
	if variant {
		return refConvertible(a, b)
	}
	return identical(a, b)
}

// convertible reports whether a value of type from (the compiled
// expression v) may convert implicitly to type to; false only when C#
// certainly has no implicit conversion.
func convertible(from, to *ty, v cx) bool {
	if from == nil || to == nil {
		return true
	}
	if to.k == tkST && to.st == stObject {
		return true
	}
	if from.k == tkClass || to.k == tkClass {
		// DateTime converts implicitly to DateTimeOffset
		if to == dtoTy && from.k == tkST && from.st == stDateTime {
			return true
		}
		if from.k == tkST && !known(from.st) || to.k == tkST && !known(to.st) {
			return true
		}
		return identical(from, to)
	}
	if from.k == tkST && to.k == tkST {
		return implicitOK(from.st, to.st, v) || constFits(v, to.st)
	}
	if from.k == tkST {
		if from.st == stObject {
			return false // object to a collection or token needs a cast
		}
		if !known(from.st) {
			return true
		}
		if to.k == tkNamed {
			return to.name == "JToken"
		}
		if from.st == stString {
			return refConvertible(from, to)
		}
		return false
	}
	if to.k == tkST {
		if !known(to.st) {
			return true
		}
		return false
	}
	return refConvertible(from, to)
}

func convTyError(n node, from, to *ty) *Error {
	return errAt(n, "Cannot implicitly convert type '%s' to '%s'", tyName(from), tyName(to))
}

func argTyError(n node, i int, from, to *ty) *Error {
	return errAt(n, "Argument %d: cannot convert from '%s' to '%s'", i, tyName(from), tyName(to))
}

// rich reports a type that only t (not st) can describe.
func rich(t *ty) bool { return t != nil && t.k != tkST }

// memberTy is the type of property name of a value of type t, or an error
// when t certainly has no such property.
func memberTy(n node, t *ty, name string) (*ty, *Error) {
	if t == nil {
		return nil, nil
	}
	switch t.k {
	case tkArray:
		switch name {
		case "Length", "Rank":
			return stTy(stInt), nil
		case "LongLength":
			return stTy(stLong), nil
		case "IsReadOnly", "IsFixedSize", "IsSynchronized":
			return stTy(stBool), nil
		case "SyncRoot":
			return nil, nil
		}
		return nil, noMemberError(n, t, "[]", name)
	case tkColl:
		switch name {
		case "Count":
			if t.name != "IEnumerable" {
				return stTy(stInt), nil
			}
		case "Capacity":
			if t.name == "List" {
				return stTy(stInt), nil
			}
		case "IsReadOnly":
			if t.name == "IList" || t.name == "ICollection" || t.name == "ISet" {
				return stTy(stBool), nil
			}
		case "Comparer":
			if t.name == "HashSet" || t.name == "List" {
				return nil, nil
			}
		}
		return nil, noMemberError(n, t, t.name, name)
	case tkDict:
		switch name {
		case "Count":
			return stTy(stInt), nil
		case "Keys":
			return &ty{k: tkColl, name: "ICollection", elem: t.key}, nil
		case "Values":
			return &ty{k: tkColl, name: "ICollection", elem: t.elem}, nil
		case "IsReadOnly":
			if t.name == "IDictionary" {
				return stTy(stBool), nil
			}
		case "Comparer":
			if t.name == "Dictionary" {
				return nil, nil
			}
		}
		return nil, noMemberError(n, t, t.name, name)
	case tkKV:
		switch name {
		case "Key":
			return t.key, nil
		case "Value":
			return t.elem, nil
		}
	case tkGroup:
		if name == "Key" {
			return t.key, nil
		}
	case tkST:
		switch t.st {
		case stDateTime:
			switch name {
			case "Year", "Month", "Day", "Hour", "Minute", "Second", "Millisecond", "DayOfYear":
				return stTy(stInt), nil
			case "Ticks":
				return stTy(stLong), nil
			case "Date":
				return stTy(stDateTime), nil
			case "TimeOfDay":
				return stTy(stTimeSpan), nil
			}
		case stTimeSpan:
			switch name {
			case "Days", "Hours", "Minutes", "Seconds", "Milliseconds":
				return stTy(stInt), nil
			case "TotalDays", "TotalHours", "TotalMinutes", "TotalSeconds", "TotalMilliseconds":
				return stTy(stDouble), nil
			case "Ticks":
				return stTy(stLong), nil
			}
		}
	case tkClass:
		switch t.name + "." + name {
		case "DateTimeOffset.Year", "DateTimeOffset.Month", "DateTimeOffset.Day", "DateTimeOffset.Hour",
			"DateTimeOffset.Minute", "DateTimeOffset.Second", "DateTimeOffset.Millisecond", "DateTimeOffset.DayOfYear",
			"Uri.Port":
			return stTy(stInt), nil
		case "DateTimeOffset.Ticks", "DateTimeOffset.UtcTicks":
			return stTy(stLong), nil
		case "DateTimeOffset.Date", "DateTimeOffset.DateTime", "DateTimeOffset.UtcDateTime", "DateTimeOffset.LocalDateTime":
			return stTy(stDateTime), nil
		case "DateTimeOffset.Offset", "DateTimeOffset.TimeOfDay":
			return stTy(stTimeSpan), nil
		case "Uri.Host", "Uri.AbsolutePath", "Uri.AbsoluteUri", "Uri.Scheme", "Uri.Query", "Uri.PathAndQuery",
			"Uri.Authority", "Uri.Fragment", "Uri.OriginalString", "Uri.DnsSafeHost", "Uri.LocalPath", "Uri.UserInfo",
			"Uri.IdnHost":
			return stTy(stString), nil
		case "Uri.Segments":
			return arrayOf(stTy(stString)), nil
		case "Uri.IsAbsoluteUri", "Uri.IsDefaultPort", "Uri.IsFile", "Uri.IsLoopback", "Uri.IsUnc":
			return stTy(stBool), nil
		}
	case tkNamed:
		switch name {
		case "Count":
			if t.name == "JObject" || t.name == "JArray" || t.name == "JContainer" {
				return stTy(stInt), nil
			}
		case "HasValues":
			return stTy(stBool), nil
		case "Path":
			return stTy(stString), nil
		case "First", "Last", "Next", "Previous", "Root":
			return jtokenTy, nil
		case "Parent":
			return &ty{k: tkNamed, name: "JContainer"}, nil
		case "Name":
			if t.name == "JProperty" {
				return stTy(stString), nil
			}
		case "Value":
			if t.name == "JProperty" {
				return jtokenTy, nil
			}
		}
	}
	return nil, nil
}

// classBinary checks l op r where an operand is a Guid, DateTimeOffset or
// Uri: == and != need both operands of the same type (a DateTime converts
// to DateTimeOffset; null is a Uri or a lifted Guid? comparison), and gives
// DateTimeOffset arithmetic its types.
func classBinary(n *binaryExpr, l, r *cx) (*ty, *Error) {
	lt, rt := tyOf(*l), tyOf(*r)
	isDT := func(t *ty) bool { return t != nil && t.k == tkST && t.st == stDateTime }
	if (n.op == "==" || n.op == "!=" || n.op == "-") && (lt == dtoTy && isDT(rt) || rt == dtoTy && isDT(lt)) {
		// the DateTime converts to a DateTimeOffset
		if lt == dtoTy {
			r.fn, r.cat, r.ctx, r.str, r.catStr = wrapConv(r.fn, dateTimeToDTO), nil, nil, nil, nil
		} else {
			l.fn, l.cat, l.ctx, l.str, l.catStr = wrapConv(l.fn, dateTimeToDTO), nil, nil, nil, nil
		}
	}
	isNull := func(x cx) bool { return x.isConst && x.val == nil }
	certain := func(t *ty) bool {
		return t != nil && (t.k == tkClass || t.k == tkST && known(t.st) || t.k == tkArray || t.k == tkColl || t.k == tkDict || t.k == tkNamed)
	}
	switch n.op {
	case "==", "!=":
		if isNull(*l) || isNull(*r) || !certain(lt) || !certain(rt) {
			return nil, nil
		}
		if convertible(lt, rt, *l) || convertible(rt, lt, *r) {
			return nil, nil
		}
		return nil, errAt(n, "Operator '%s' cannot be applied to operands of type '%s' and '%s'", n.op, tyName(lt), tyName(rt))
	case "-":
		if lt == dtoTy && rt != nil && rt.k == tkST && rt.st == stTimeSpan {
			return dtoTy, nil
		}
		if lt == dtoTy && (rt == dtoTy || rt != nil && rt.k == tkST && rt.st == stDateTime) {
			return stTy(stTimeSpan), nil
		}
	case "+":
		if lt == dtoTy && rt != nil && rt.k == tkST && rt.st == stTimeSpan {
			return dtoTy, nil
		}
	}
	return nil, nil
}

// dateTimeToDTO is the implicit conversion of a DateTime to a
// DateTimeOffset.
func dateTimeToDTO(v any) (any, error) {
	if t, ok := v.(time.Time); ok {
		return newDTO(t), nil
	}
	return v, nil
}

// collProps are the properties of the collection types (their other
// members are methods), for "did you mean" hints.
var collProps = map[string][]string{
	"[]":   {"Length", "LongLength", "Rank", "IsReadOnly", "IsFixedSize", "IsSynchronized", "SyncRoot"},
	"List": {"Count", "Capacity"}, "IList": {"Count", "IsReadOnly"}, "ICollection": {"Count", "IsReadOnly"},
	"IReadOnlyList": {"Count"}, "IReadOnlyCollection": {"Count"}, "HashSet": {"Count", "Comparer"},
	"ISet": {"Count", "IsReadOnly"}, "Dictionary": {"Count", "Keys", "Values", "Comparer"},
	"IDictionary": {"Count", "Keys", "Values", "IsReadOnly"}, "IReadOnlyDictionary": {"Count", "Keys", "Values"},
}

// noMemberError is C#'s error for a property a collection type does not
// have, with the closest property as a hint (Count for Length and the
// other way round).
func noMemberError(n node, t *ty, kind, name string) *Error {
	best, bestD := "", 3
	for _, p := range collProps[kind] {
		if d := editDistance(strings.ToLower(name), strings.ToLower(p)); d < bestD {
			best, bestD = p, d
		}
	}
	if best == "" {
		switch {
		case kind == "[]" && editDistance(strings.ToLower(name), "count") <= 2:
			best = "Length"
		case kind != "[]" && editDistance(strings.ToLower(name), "length") <= 2,
			kind == "IEnumerable" && editDistance(strings.ToLower(name), "count") <= 2:
			best = "Count"
		}
		if best == "Count" && kind == "IEnumerable" {
			best = "Count()"
		}
	}
	if best != "" {
		return errAt(n, "'%s' does not contain a definition for '%s' (did you mean '%s'?)", tyName(t), name, best)
	}
	return errAt(n, "'%s' does not contain a definition for '%s'", tyName(t), name)
}

// indexTy is the element type of t[key], or an error when the key
// certainly does not convert to the indexer's parameter.
func indexTy(kn node, t *ty, key cx) (*ty, *Error) {
	if t == nil {
		return nil, nil
	}
	kt := tyOf(key)
	intKey := func(allowLong bool) *Error {
		if kt == nil || kt.k != tkST || !known(kt.st) {
			if kt != nil && kt.k != tkST || kt != nil && kt.st == stObject {
				return argTyError(kn, 1, kt, stTy(stInt))
			}
			return nil
		}
		if implicitOK(kt.st, stInt, key) || allowLong && implicitOK(kt.st, stLong, key) {
			return nil
		}
		return argTyError(kn, 1, kt, stTy(stInt))
	}
	switch t.k {
	case tkArray:
		return t.elem, intKey(true)
	case tkColl:
		switch t.name {
		case "List", "IList", "IReadOnlyList":
			return t.elem, intKey(false)
		}
		return nil, nil
	case tkDict:
		if !convertible(kt, t.key, key) {
			return nil, argTyError(kn, 1, kt, t.key)
		}
		return t.elem, nil
	case tkST:
		if t.st == stString {
			return stTy(stChar), intKey(false)
		}
	case tkNamed:
		// JToken this[object key]
		return jtokenTy, nil
	}
	return nil, nil
}

// isJSONTy reports a JSON token class (JToken and its subclasses).
func isJSONTy(t *ty) bool { return t != nil && t.k == tkNamed }

// jsonRefCompare reports whether l == r is C#'s reference comparison of
// JSON tokens: JToken defines no == operator, so a token compared with a
// token or object is the same object or not, and a string or number
// converts to a new JValue, which is never the same object. A null
// literal is a null check (a JSON null token is an object, not null).
func jsonRefCompare(l, r cx) bool {
	lt, rt := tyOf(l), tyOf(r)
	if !isJSONTy(lt) && !isJSONTy(rt) {
		return false
	}
	other := rt
	if !isJSONTy(lt) {
		other = lt
	}
	if other == nil {
		return (l.isConst && l.val == nil) || (r.isConst && r.val == nil)
	}
	return true
}

// predicates are the methods whose lambda returns bool.
var predicates = map[string]bool{
	"Where": true, "Any": true, "All": true, "First": true, "FirstOrDefault": true, "Last": true,
	"LastOrDefault": true, "Single": true, "SingleOrDefault": true, "Count": true, "LongCount": true,
	"TakeWhile": true, "SkipWhile": true, "Exists": true, "Find": true, "FindAll": true, "FindIndex": true,
	"FindLast": true, "FindLastIndex": true, "RemoveAll": true, "TrueForAll": true,
}

// elemLambdas are the methods whose lambda arguments take the element.
var elemLambdas = map[string]bool{
	"Select": true, "SelectMany": true, "OrderBy": true, "OrderByDescending": true, "ThenBy": true,
	"ThenByDescending": true, "GroupBy": true, "ToDictionary": true, "ToLookup": true, "Sum": true,
	"Average": true, "Max": true, "Min": true, "ForEach": true, "ConvertAll": true, "DistinctBy": true,
	"MaxBy": true, "MinBy": true,
}

// indexedLambdas take (element, index) in their two-parameter form.
var indexedLambdas = map[string]bool{"Where": true, "Select": true, "SelectMany": true, "TakeWhile": true, "SkipWhile": true}

// callHints types the lambda and out arguments of recv.name(args) from the
// receiver's static type.
func callHints(rt *ty, name string, args []argExpr) []argHint {
	if rt == nil {
		return nil
	}
	hints := make([]argHint, len(args))
	if rt.k == tkDict && name == "TryGetValue" && len(args) == 2 {
		hints[1].out = rt.elem
		return hints
	}
	et := elemTy(rt)
	if et == nil {
		return nil
	}
	for i, a := range args {
		lx, ok := a.x.(*lambdaExpr)
		if !ok {
			continue
		}
		n := len(lx.params)
		switch {
		case predicates[name] || elemLambdas[name]:
			if name == "GroupBy" && i > 0 && n != 1 {
				continue
			}
			switch n {
			case 1:
				hints[i].params = []*ty{et}
			case 2:
				if indexedLambdas[name] {
					hints[i].params = []*ty{et, stTy(stInt)}
				}
			}
			if predicates[name] && n >= 1 && (n == 1 || indexedLambdas[name]) {
				hints[i].ret = stTy(stBool)
			}
		case name == "Aggregate" && n == 2:
			if len(args) == 1 {
				hints[i].params = []*ty{et, et}
			} else {
				hints[i].params = []*ty{nil, et}
			}
		case name == "Sort" && n == 2 && rt.k == tkColl && rt.name == "List":
			hints[i].params = []*ty{et, et}
			hints[i].ret = stTy(stInt)
		case name == "Zip" && n == 2:
			hints[i].params = []*ty{et, nil}
		}
	}
	return hints
}

// lambdaRet is the common return type of a compiled lambda argument.
func lambdaRet(a compiledArg) *ty {
	if a.t != nil && a.t.k == tkFunc {
		return a.t.ret
	}
	return nil
}

func isLambdaArg(a compiledArg) bool { return a.isFunc }

func numericTy(t *ty) bool {
	return t != nil && t.k == tkST && (t.st == stInt || t.st == stLong || t.st == stDouble || t.st == stDecimal)
}

// callTy is the static type of recv.name<targs>(args) and the argument
// checks of the generic collections' own methods.
func callTy(n *memberExpr, rt *ty, name string, targs []*typeRef, args []compiledArg) (*ty, *Error) {
	switch name {
	case "ToString":
		return stTy(stString), nil
	case "Value", "ToObject", "GetValueOrDefault", "As":
		if len(targs) == 1 && (name != "GetValueOrDefault" || rt != nil && rt.k == tkST && rt.st == stVariables) &&
			(name != "As" || rt != nil && rt.k == tkST && rt.st == stBody) {
			return tyFromRef(targs[0]), nil
		}
	case "Values":
		if len(targs) == 1 && rt != nil && rt.k == tkNamed {
			return seqOf(tyFromRef(targs[0])), nil
		}
	case "Cast", "OfType":
		if len(targs) == 1 {
			return seqOf(tyFromRef(targs[0])), nil
		}
	}
	if rt == nil {
		return nil, nil
	}
	if rt.k == tkST && rt.st == stString {
		return stringMethodTy(name), nil
	}
	if rt.k == tkST && rt.st == stDateTime {
		switch name {
		case "AddYears", "AddMonths", "AddDays", "AddHours", "AddMinutes", "AddSeconds", "AddMilliseconds",
			"AddTicks", "Add", "ToUniversalTime", "ToLocalTime":
			return stTy(stDateTime), nil
		case "CompareTo":
			return stTy(stInt), nil
		}
		return nil, nil
	}
	if rt.k == tkClass {
		switch rt.name + "." + name {
		case "DateTimeOffset.AddYears", "DateTimeOffset.AddMonths", "DateTimeOffset.AddDays", "DateTimeOffset.AddHours",
			"DateTimeOffset.AddMinutes", "DateTimeOffset.AddSeconds", "DateTimeOffset.AddMilliseconds",
			"DateTimeOffset.AddTicks", "DateTimeOffset.Add", "DateTimeOffset.ToUniversalTime",
			"DateTimeOffset.ToLocalTime", "DateTimeOffset.ToOffset":
			return dtoTy, nil
		case "DateTimeOffset.ToUnixTimeSeconds", "DateTimeOffset.ToUnixTimeMilliseconds":
			return stTy(stLong), nil
		case "DateTimeOffset.CompareTo", "Guid.CompareTo":
			return stTy(stInt), nil
		case "Guid.Equals", "DateTimeOffset.Equals", "Uri.IsBaseOf":
			return stTy(stBool), nil
		case "Uri.GetLeftPart", "Uri.GetComponents", "Text.Encoding.GetString":
			return stTy(stString), nil
		case "Text.Encoding.GetBytes":
			return arrayOf(stTy(stByte)), nil
		case "Text.Encoding.GetByteCount":
			return stTy(stInt), nil
		}
		return nil, nil
	}
	if rt.k == tkST && rt.st == stTimeSpan {
		switch name {
		case "Add", "Subtract", "Negate", "Duration":
			return stTy(stTimeSpan), nil
		case "CompareTo":
			return stTy(stInt), nil
		}
		return nil, nil
	}
	argTy := func(i int) *ty {
		if i < len(args) {
			return tyOf(args[i].cx)
		}
		return nil
	}
	checkArg := func(i int, want *ty) *Error {
		if i < len(args) && args[i].outSet == nil {
			if !convertible(argTy(i), want, args[i].cx) {
				return argTyError(args[i].node, i+1, argTy(i), want)
			}
			// List<double>.Add(1) adds 1.0
			args[i].cx = convTo(args[i].cx, want)
		}
		return nil
	}
	// Contains falls back to LINQ's Contains<T>(IEnumerable<T>, T), which
	// infers T from both arguments: a base type of a reference element
	// type is accepted through IEnumerable<out T>
	checkContains := func(want *ty) *Error {
		if len(args) >= 1 && isRefTy(want) && isRefTy(argTy(0)) && refConvertible(want, argTy(0)) {
			return nil
		}
		return checkArg(0, want)
	}
	// the collections' own methods
	switch rt.k {
	case tkColl:
		list := rt.name == "List"
		switch name {
		case "Add", "Remove", "Contains", "IndexOf":
			if rt.name == "IEnumerable" && name != "Contains" || len(args) != 1 {
				break
			}
			check := checkArg
			if name == "Contains" {
				check = func(_ int, want *ty) *Error { return checkContains(want) }
			}
			if err := check(0, rt.elem); err != nil {
				return nil, err
			}
			switch name {
			case "Remove", "Contains":
				return stTy(stBool), nil
			case "IndexOf":
				return stTy(stInt), nil
			case "Add":
				if rt.name == "HashSet" || rt.name == "ISet" {
					return stTy(stBool), nil
				}
			}
			return nil, nil
		case "Insert":
			if list && len(args) == 2 {
				if err := checkArg(0, stTy(stInt)); err != nil {
					return nil, err
				}
				return nil, checkArg(1, rt.elem)
			}
		case "Find", "FindLast":
			if list {
				return rt.elem, nil
			}
		case "FindAll", "GetRange":
			if list {
				return rt, nil
			}
		case "Exists", "TrueForAll":
			if list {
				return stTy(stBool), nil
			}
		case "FindIndex", "FindLastIndex", "RemoveAll":
			if list {
				return stTy(stInt), nil
			}
		case "ConvertAll":
			if list && len(args) == 1 {
				return &ty{k: tkColl, name: "List", elem: lambdaRet(args[0])}, nil
			}
		}
	case tkDict:
		switch name {
		case "Add":
			if len(args) == 2 {
				if err := checkArg(0, rt.key); err != nil {
					return nil, err
				}
				return nil, checkArg(1, rt.elem)
			}
		case "ContainsKey", "Remove", "TryGetValue":
			if len(args) >= 1 {
				if err := checkArg(0, rt.key); err != nil {
					return nil, err
				}
			}
			return stTy(stBool), nil
		case "ContainsValue":
			if len(args) == 1 {
				if err := checkArg(0, rt.elem); err != nil {
					return nil, err
				}
			}
			return stTy(stBool), nil
		}
	}
	if rt.k == tkNamed {
		switch name {
		case "SelectToken", "GetValue", "DeepClone":
			return jtokenTy, nil
		case "Property":
			return &ty{k: tkNamed, name: "JProperty"}, nil
		case "Properties":
			return seqOf(&ty{k: tkNamed, name: "JProperty"}), nil
		case "Children", "SelectTokens":
			return seqOf(jtokenTy), nil
		}
	}
	et := elemTy(rt)
	if et == nil || rt.k == tkST || rt.k == tkNamed {
		// strings are handled above; JSON tokens have their own members
		// that shadow LINQ (First, Last, Values...)
		if rt.k != tkNamed || rt.name != "JArray" {
			return nil, nil
		}
		switch name {
		case "First", "Last", "Count", "Children":
			return nil, nil
		}
	}
	lam := -1
	for i, a := range args {
		if isLambdaArg(a) {
			lam = i
			break
		}
	}
	switch name {
	case "Where", "OrderBy", "OrderByDescending", "ThenBy", "ThenByDescending", "Skip", "Take", "SkipWhile",
		"TakeWhile", "Distinct", "SkipLast", "TakeLast":
		return seqOf(et), nil
	case "Concat", "Union", "Except", "Intersect":
		// T is inferred from both sequences
		if len(args) >= 1 && complete(et) && complete(elemTy(argTy(0))) && identical(et, elemTy(argTy(0))) {
			return seqOf(et), nil
		}
	case "Select":
		if lam == 0 {
			return seqOf(lambdaRet(args[0])), nil
		}
	case "SelectMany":
		if lam == 0 && len(args) == 1 {
			if r := lambdaRet(args[0]); r != nil && isSeq(r) && r.k != tkST {
				return seqOf(elemTy(r)), nil
			}
			return seqOf(nil), nil
		}
	case "First", "FirstOrDefault", "Last", "LastOrDefault", "Single", "SingleOrDefault", "ElementAt", "ElementAtOrDefault":
		return et, nil
	case "Max", "Min":
		if len(args) == 0 {
			return et, nil
		}
		if lam == 0 {
			return lambdaRet(args[0]), nil
		}
	case "Count":
		return stTy(stInt), nil
	case "LongCount":
		return stTy(stLong), nil
	case "Any", "All", "SequenceEqual":
		return stTy(stBool), nil
	case "Contains":
		if err := checkContains(et); err != nil {
			return nil, err
		}
		return stTy(stBool), nil
	case "Sum", "Average":
		t := et
		if lam == 0 {
			t = lambdaRet(args[0])
			if complete(t) && !convertible(t, stTy(stDouble), cx{}) && !convertible(t, stTy(stDecimal), cx{}) {
				return nil, errAt(args[0].node, "Cannot implicitly convert type '%s' to 'decimal'", tyName(t))
			}
		} else if len(args) > 0 {
			return nil, nil
		} else if complete(t) && !numericTy(t) && rt.k != tkNamed {
			return nil, errAt(n, "'%s' does not contain a definition for '%s' and the best extension method overload requires a sequence of numbers", tyName(rt), name)
		}
		if !numericTy(t) {
			return nil, nil
		}
		if name == "Sum" || t.st == stDecimal {
			return t, nil
		}
		return stTy(stDouble), nil
	case "ToList":
		return &ty{k: tkColl, name: "List", elem: et}, nil
	case "ToArray":
		return arrayOf(et), nil
	case "ToHashSet":
		return &ty{k: tkColl, name: "HashSet", elem: et}, nil
	case "ToDictionary":
		if lam == 0 {
			v := et
			if len(args) >= 2 && isLambdaArg(args[1]) {
				v = lambdaRet(args[1])
			}
			return &ty{k: tkDict, name: "Dictionary", key: lambdaRet(args[0]), elem: v}, nil
		}
	case "GroupBy":
		if lam == 0 {
			v := et
			if len(args) == 2 && isLambdaArg(args[1]) && args[1].t != nil && args[1].t.nparam == 1 {
				v = lambdaRet(args[1])
			} else if len(args) != 1 {
				return nil, nil
			}
			return seqOf(&ty{k: tkGroup, key: lambdaRet(args[0]), elem: v}), nil
		}
	}
	return nil, nil
}

// stringMethodTy is the result type of the string instance methods.
func stringMethodTy(name string) *ty {
	switch name {
	case "Substring", "ToUpper", "ToLower", "ToUpperInvariant", "ToLowerInvariant", "Trim", "TrimStart", "TrimEnd",
		"Replace", "PadLeft", "PadRight", "Insert", "Remove", "Normalize":
		return stTy(stString)
	case "Split":
		return arrayOf(stTy(stString))
	case "ToCharArray":
		return arrayOf(stTy(stChar))
	case "Contains", "StartsWith", "EndsWith", "Equals", "IsNormalized":
		return stTy(stBool)
	case "IndexOf", "LastIndexOf", "IndexOfAny", "LastIndexOfAny", "CompareTo", "GetHashCode":
		return stTy(stInt)
	}
	return nil
}

// staticPropTy is the type of a static property Type.name.
func staticPropTy(typ, name string) *ty {
	switch typ + "." + name {
	case "DateTime.UtcNow", "DateTime.Now", "DateTime.Today", "DateTime.MinValue", "DateTime.MaxValue":
		return stTy(stDateTime)
	case "string.Empty":
		return stTy(stString)
	case "TimeSpan.Zero", "TimeSpan.MaxValue", "TimeSpan.MinValue":
		return stTy(stTimeSpan)
	case "DateTimeOffset.UtcNow", "DateTimeOffset.Now", "DateTimeOffset.MinValue", "DateTimeOffset.MaxValue",
		"DateTimeOffset.UnixEpoch":
		return dtoTy
	case "Guid.Empty":
		return guidTy
	case "Encoding.UTF8", "Encoding.ASCII", "Encoding.Unicode", "Encoding.UTF32", "Encoding.Default", "Encoding.Latin1",
		"Encoding.BigEndianUnicode":
		return encTy
	}
	return nil
}

// staticResults are the result types of static methods whose overloads
// all return the same type.
var staticResults = map[string]sType{
	"string.Join": stString, "string.Format": stString, "string.Concat": stString,
	"string.IsNullOrEmpty": stBool, "string.IsNullOrWhiteSpace": stBool, "string.Equals": stBool,
	"string.Compare": stInt, "string.CompareOrdinal": stInt,
	"Convert.ToInt32": stInt, "Convert.ToInt64": stLong, "Convert.ToDouble": stDouble,
	"Convert.ToDecimal": stDecimal, "Convert.ToBoolean": stBool, "Convert.ToString": stString,
	"Convert.ToBase64String": stString, "Convert.ToChar": stChar, "Convert.ToDateTime": stDateTime,
	"Convert.ToHexString": stString,
	"int.Parse":           stInt, "long.Parse": stLong, "double.Parse": stDouble, "decimal.Parse": stDecimal,
	"bool.Parse": stBool, "char.Parse": stChar, "DateTime.Parse": stDateTime, "DateTime.ParseExact": stDateTime,
	"TimeSpan.Parse": stTimeSpan,
	"int.TryParse":   stBool, "long.TryParse": stBool, "double.TryParse": stBool, "decimal.TryParse": stBool,
	"bool.TryParse": stBool, "DateTime.TryParse": stBool, "DateTime.TryParseExact": stBool,
	"DateTime.DaysInMonth": stInt, "DateTime.IsLeapYear": stBool, "DateTime.SpecifyKind": stDateTime,
	"TimeSpan.FromDays": stTimeSpan, "TimeSpan.FromHours": stTimeSpan, "TimeSpan.FromMinutes": stTimeSpan,
	"TimeSpan.FromSeconds": stTimeSpan, "TimeSpan.FromMilliseconds": stTimeSpan, "TimeSpan.FromTicks": stTimeSpan,
	"Math.Pow": stDouble, "Math.Sqrt": stDouble, "Math.Log": stDouble, "Math.Log10": stDouble, "Math.Exp": stDouble,
	"Math.Sin": stDouble, "Math.Cos": stDouble, "Math.Tan": stDouble, "Math.Sign": stInt,
	"JsonConvert.SerializeObject": stString,
	"Uri.EscapeDataString":        stString, "Uri.UnescapeDataString": stString, "Uri.EscapeUriString": stString,
	"Uri.IsWellFormedUriString": stBool,
	"WebUtility.UrlEncode":      stString, "WebUtility.UrlDecode": stString, "WebUtility.HtmlEncode": stString,
	"WebUtility.HtmlDecode": stString, "HttpUtility.UrlEncode": stString, "HttpUtility.UrlDecode": stString,
	"HttpUtility.HtmlEncode": stString, "HttpUtility.HtmlDecode": stString, "HttpUtility.UrlPathEncode": stString,
	"Guid.TryParse": stBool, "DateTimeOffset.TryParse": stBool,
	"Regex.Replace": stString, "Regex.Escape": stString, "Regex.Unescape": stString, "Regex.IsMatch": stBool,
	"BitConverter.ToString": stString,
	"char.IsDigit":          stBool, "char.IsLetter": stBool, "char.IsLetterOrDigit": stBool, "char.IsWhiteSpace": stBool,
	"char.IsUpper": stBool, "char.IsLower": stBool, "char.IsPunctuation": stBool,
}

// staticTy is the result type of a static call Type.name<targs>(args).
func staticTy(typ, name string, targs []*typeRef, args []compiledArg) *ty {
	if st, ok := staticResults[typ+"."+name]; ok {
		return stTy(st)
	}
	argTy := func(i int) *ty {
		if i < len(args) {
			return tyOf(args[i].cx)
		}
		return nil
	}
	switch typ + "." + name {
	case "Convert.FromBase64String", "Convert.FromHexString":
		return &ty{k: tkArray}
	case "Regex.Split":
		return arrayOf(stTy(stString))
	case "char.ToUpper", "char.ToLower", "char.ToUpperInvariant", "char.ToLowerInvariant":
		return stTy(stChar)
	case "Math.Round", "Math.Floor", "Math.Ceiling", "Math.Truncate":
		// the double and decimal overloads
		if t := argTy(0); t != nil && t.k == tkST && (t.st == stDouble || t.st == stDecimal) {
			return t
		}
	case "Math.Abs":
		if t := argTy(0); numericTy(t) {
			return t
		}
	case "Math.Max", "Math.Min":
		a, b := argTy(0), argTy(1)
		if numericTy(a) && numericTy(b) {
			if p := promote(a.st, b.st); p != stAny {
				return stTy(p)
			}
		}
		// byte and short: Max(byte, byte) is a byte, a wider operand's
		// overload wins otherwise
		if a != nil && b != nil && a.k == tkST && b.k == tkST && isNumericST(a.st) && isNumericST(b.st) && a.st != stChar && b.st != stChar {
			if a.st == b.st {
				return a
			}
			if p := promote(a.st, b.st); p != stAny && p != stInt {
				return stTy(p)
			}
		}
	}
	if typ == "Array" && len(args) == 2 {
		if at := argTy(0); at != nil && at.k == tkArray {
			switch name {
			case "Find", "FindLast":
				return at.elem
			case "FindAll":
				return at
			case "ConvertAll":
				if r := lambdaRet(args[1]); r != nil {
					return arrayOf(r)
				}
				return &ty{k: tkArray}
			}
		}
		switch name {
		case "Exists", "TrueForAll":
			return stTy(stBool)
		case "FindIndex", "FindLastIndex", "IndexOf":
			return stTy(stInt)
		}
	}
	switch typ + "." + name {
	case "Guid.NewGuid", "Guid.Parse", "Guid.ParseExact":
		return guidTy
	case "DateTimeOffset.Parse", "DateTimeOffset.ParseExact", "DateTimeOffset.FromUnixTimeSeconds",
		"DateTimeOffset.FromUnixTimeMilliseconds":
		return dtoTy
	case "JsonConvert.DeserializeObject":
		if len(targs) == 1 {
			return tyFromRef(targs[0])
		}
	case "JObject.Parse", "JObject.FromObject":
		return jobjectTy
	case "JArray.Parse", "JArray.FromObject":
		return jarrayTy
	case "JToken.Parse", "JToken.FromObject":
		return jtokenTy
	case "Enumerable.Range":
		return seqOf(stTy(stInt))
	case "Enumerable.Repeat":
		if len(targs) == 0 && len(args) == 2 {
			return seqOf(tyOf(args[0].cx))
		}
	case "Enumerable.Empty":
		if len(targs) == 1 {
			return seqOf(tyFromRef(targs[0]))
		}
	}
	return nil
}

// newTy is the static type of a new expression, checking its array or
// collection initializer elements against the element types.
func newTy(x *newExpr, elems []cx, elemNodes []node, pairs [][2]cx, pairNodes [][2]node) (*ty, *Error) {
	if x.implicit {
		// new[] { ... }: the best common type of the elements
		var cands []*ty
		for _, e := range elems {
			if e.isConst && e.val == nil {
				continue
			}
			et := tyOf(e)
			if !complete(et) {
				return arrayOf(nil), nil
			}
			cands = append(cands, et)
		}
		if len(cands) == 0 {
			return arrayOf(nil), nil
		}
		var best *ty
		for _, cand := range cands {
			all := true
			for _, et := range cands {
				if !convertible(et, cand, cx{}) {
					all = false
				}
			}
			if all {
				best = cand
				break
			}
		}
		if best == nil {
			return nil, errAt(x, "No best type found for implicitly-typed array")
		}
		return arrayOf(best), nil
	}
	if x.typ == nil {
		return nil, nil
	}
	t := tyFromRef(x.typ)
	if t == nil {
		return nil, nil
	}
	switch t.k {
	case tkArray:
		for i, e := range elems {
			if !convertible(tyOf(e), t.elem, e) {
				return nil, convTyError(elemNodes[i], tyOf(e), t.elem)
			}
		}
	case tkColl:
		for i, e := range elems {
			if !convertible(tyOf(e), t.elem, e) {
				return nil, argTyError(elemNodes[i], 1, tyOf(e), t.elem)
			}
		}
	case tkDict:
		for i, p := range pairs {
			if !convertible(tyOf(p[0]), t.key, p[0]) {
				return nil, argTyError(pairNodes[i][0], 1, tyOf(p[0]), t.key)
			}
			if !convertible(tyOf(p[1]), t.elem, p[1]) {
				return nil, argTyError(pairNodes[i][1], 2, tyOf(p[1]), t.elem)
			}
		}
	}
	return t, nil
}

// richOnly is t when only ty can describe it (st carries the others).
func richOnly(t *ty) *ty {
	if rich(t) {
		return t
	}
	return nil
}

// isJToken reports a JSON token object (compared by reference).
func isJToken(v any) bool {
	switch v.(type) {
	case *JObject, *JArray, *JValue, *JProperty:
		return true
	}
	return false
}

// numConv is the run-time implicit numeric conversion to a variable of
// static type to (int to long/double/decimal, char to int...), nil when
// values of static type from need none.
func numConv(from, to *ty) func(any) (any, error) {
	if from == nil || to == nil || from.k != tkST || to.k != tkST || from.st == to.st {
		return nil
	}
	if !isNumericST(from.st) {
		return nil
	}
	return numConvTo(to)
}

// numConvTo converts an int, long or char value to the numeric type to
// (other values pass unchanged), nil when to is not a wider numeric type.
func numConvTo(to *ty) func(any) (any, error) {
	if to == nil || to.k != tkST {
		return nil
	}
	var name string
	switch to.st {
	case stLong:
		name = "long"
	case stDouble:
		name = "double"
	case stDecimal:
		name = "decimal"
	case stInt:
		name = "int"
	default:
		return nil
	}
	conv, _, err := implicitConv(&typeRef{name: name})
	if err != nil {
		return nil
	}
	return conv
}

// convTo applies the implicit numeric conversion of x to type to: a
// constant is converted at load, another value when it is read.
func convTo(x cx, to *ty) cx {
	conv := numConv(tyOf(x), to)
	if conv == nil {
		return x
	}
	if x.isConst {
		if v, err := conv(x.val); err == nil {
			return constCx(v)
		}
		return x
	}
	f := x.fn
	x.fn = func(e *env) (any, error) {
		v, err := f(e)
		if err != nil {
			return nil, err
		}
		return conv(v)
	}
	x.cat, x.ctx, x.str, x.catStr = nil, nil, nil, nil
	x.st = to.st
	return x
}

// wrapConv applies conv to the values of f.
func wrapConv(f evalFn, conv func(any) (any, error)) evalFn {
	if conv == nil {
		return f
	}
	return func(e *env) (any, error) {
		v, err := f(e)
		if err != nil {
			return nil, err
		}
		return conv(v)
	}
}
