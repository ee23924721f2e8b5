package expr

import (
	"fmt"
	"math"
)

// Static typing of expressions whose types are known at load time, as the
// C# compiler does when APIM saves a policy: operators, conditions,
// conversions in declarations and assignments, and casts between known
// primitive types. Expressions of unknown (dynamic) type are not checked.

// csName is the C# name of a static type in messages.
func csName(st sType) string {
	switch st {
	case stString:
		return "string"
	case stInt:
		return "int"
	case stBool:
		return "bool"
	case stLong:
		return "long"
	case stDouble:
		return "double"
	case stDecimal:
		return "decimal"
	case stChar:
		return "char"
	case stDateTime:
		return "System.DateTime"
	case stTimeSpan:
		return "System.TimeSpan"
	case stObject:
		return "object"
	case stByte:
		return "byte"
	case stShort:
		return "short"
	}
	if isModel(st) {
		return modelNames[st]
	}
	return "?"
}

// primST maps a C# type name to its static type (stAny when not tracked).
func primST(name string) sType {
	switch canonType(name) {
	case "string":
		return stString
	case "int":
		return stInt
	case "bool":
		return stBool
	case "long":
		return stLong
	case "double":
		return stDouble
	case "decimal":
		return stDecimal
	case "char":
		return stChar
	case "DateTime":
		return stDateTime
	case "TimeSpan":
		return stTimeSpan
	case "object":
		return stObject
	case "byte":
		return stByte
	case "short":
		return stShort
	}
	return stAny
}

func isNumericST(st sType) bool {
	switch st {
	case stInt, stLong, stDouble, stDecimal, stChar, stByte, stShort:
		return true
	}
	return false
}

// known reports whether st is a type the checker reasons about.
func known(st sType) bool {
	switch st {
	case stString, stInt, stBool, stLong, stDouble, stDecimal, stChar, stDateTime, stTimeSpan, stByte, stShort:
		return true
	}
	return false
}

func isValueST(st sType) bool { return known(st) && st != stString }

// numRank orders numeric types for promotion.
func numRank(st sType) int {
	switch st {
	case stChar, stInt, stByte, stShort:
		return 1
	case stLong:
		return 2
	case stDouble:
		return 3
	case stDecimal:
		return 4
	}
	return 0
}

// promote is the type of a numeric binary operation, or stAny when C#
// rejects the combination (decimal with double).
func promote(a, b sType) sType {
	if (a == stDecimal && b == stDouble) || (a == stDouble && b == stDecimal) {
		return stAny
	}
	r := max(numRank(a), numRank(b))
	switch r {
	case 1:
		return stInt
	case 2:
		return stLong
	case 3:
		return stDouble
	}
	return stDecimal
}

func opError(n node, op string, a, b sType) *Error {
	return errAt(n, "Operator '%s' cannot be applied to operands of type '%s' and '%s'", op, csName(a), csName(b))
}

// checkBinary returns the result type of l op r, or an error when both
// operand types are known and C# has no such operator.
func checkBinary(n node, op string, l, r cx) (sType, *Error) {
	a, b := l.st, r.st
	if a == stObject || b == stObject {
		switch op {
		case "==", "!=":
			return stBool, nil
		case "+":
			if a == stString || b == stString {
				return stString, nil
			}
		}
		if op != "??" && (known(a) || known(b) || a == b) {
			other := a
			if a == stObject {
				other = b
			}
			if other == stObject || known(other) {
				return 0, opError(n, op, a, b)
			}
		}
		return stAny, nil
	}
	// null literal operands
	lnull := l.isConst && l.val == nil
	rnull := r.isConst && r.val == nil
	switch op {
	case "??":
		if isValueST(a) {
			return 0, opError(n, op, a, b)
		}
		return stAny, nil
	case "&&", "||":
		if (known(a) && a != stBool) || (known(b) && b != stBool) {
			return 0, opError(n, op, a, b)
		}
		return stBool, nil
	case "==", "!=":
		if lnull || rnull {
			return stBool, nil
		}
		if known(a) && known(b) && a != b && !(isNumericST(a) && isNumericST(b) && promote(a, b) != stAny) {
			return 0, opError(n, op, a, b)
		}
		return stBool, nil
	case "<", ">", "<=", ">=":
		if known(a) && known(b) {
			ok := (isNumericST(a) && isNumericST(b) && promote(a, b) != stAny) || (a == b && (a == stDateTime || a == stTimeSpan))
			if !ok {
				return 0, opError(n, op, a, b)
			}
		} else if a == stString || b == stString || a == stBool || b == stBool {
			if known(a) && known(b) || (a == stString && b == stString) {
				return 0, opError(n, op, a, b)
			}
		}
		return stBool, nil
	}
	if !known(a) || !known(b) {
		if op == "+" && (a == stString || b == stString) {
			return stString, nil
		}
		if known(a) && a != stString && lnull || known(b) && b != stString && rnull {
			return stAny, nil
		}
		return stAny, nil
	}
	switch op {
	case "+":
		if a == stString || b == stString {
			return stString, nil
		}
	}
	switch {
	case isNumericST(a) && isNumericST(b):
		if op == "<<" || op == ">>" || op == "&" || op == "|" || op == "^" {
			if a == stDouble || a == stDecimal || b == stDouble || b == stDecimal {
				return 0, opError(n, op, a, b)
			}
		}
		if p := promote(a, b); p != stAny {
			return p, nil
		}
	case a == stBool && b == stBool && (op == "&" || op == "|" || op == "^"):
		return stBool, nil
	case a == stDateTime && b == stTimeSpan && (op == "+" || op == "-"):
		return stDateTime, nil
	case a == stTimeSpan && b == stDateTime && op == "+":
		return stDateTime, nil
	case a == stDateTime && b == stDateTime && op == "-":
		return stTimeSpan, nil
	case a == stTimeSpan && b == stTimeSpan && (op == "+" || op == "-"):
		return stTimeSpan, nil
	}
	return 0, opError(n, op, a, b)
}

func checkUnary(n node, op string, x sType) (sType, *Error) {
	if !known(x) && x != stObject {
		if op == "!" {
			return stBool, nil
		}
		return stAny, nil
	}
	switch op {
	case "!":
		if x == stBool {
			return stBool, nil
		}
	case "-", "+":
		if isNumericST(x) {
			if x == stChar || x == stByte || x == stShort {
				return stInt, nil
			}
			return x, nil
		}
		if x == stTimeSpan {
			return stTimeSpan, nil
		}
	case "~":
		if x == stInt || x == stLong || x == stChar || x == stByte || x == stShort {
			return promote(x, stInt), nil
		}
	}
	return 0, errAt(n, "Operator '%s' cannot be applied to operand of type '%s'", op, csName(x))
}

// implicitOK reports whether a value of static type from converts
// implicitly to a variable of static type to (constant ints convert to
// narrower types when they fit; that is not checked here).
func implicitOK(from, to sType, v cx) bool {
	if from == stObject && known(to) {
		return false // object needs a cast (unboxing or a downcast)
	}
	if from == to || !known(from) || !known(to) && to != stObject {
		return true
	}
	if to == stObject {
		return true
	}
	if v.isConst && v.val == nil {
		return to == stString
	}
	small := from == stChar || from == stByte || from == stShort
	switch to {
	case stLong:
		return from == stInt || small
	case stDouble:
		return from == stInt || from == stLong || small
	case stDecimal:
		return from == stInt || from == stLong || small
	case stInt:
		return small
	case stShort:
		return from == stByte
	}
	return false
}

func convError(n node, from, to sType, v cx) *Error {
	if v.isConst {
		if i, ok := v.val.(int); ok && to == stBool {
			return errAt(n, "Constant value '%d' cannot be converted to a 'bool'", i)
		}
	}
	return errAt(n, "Cannot implicitly convert type '%s' to '%s'", csName(from), csName(to))
}

// explicitOK reports whether a cast (to)x compiles for a known source type.
func explicitOK(from, to sType) bool {
	if !known(from) || !known(to) || from == to {
		return true
	}
	if isNumericST(from) && isNumericST(to) {
		return true
	}
	return false
}

// refEquals is == on operands typed object: reference equality. Boxed
// value types are distinct objects; equal string literals are the same
// (interned) object, other strings are not; reference types compare by
// identity.
func refEquals(a, b any, bothLiterals bool) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	switch a.(type) {
	case string:
		_, ok := b.(string)
		return ok && bothLiterals && a == b
	case int, int64, float64, bool, Char, byte, Decimal, Guid, Enum:
		return false
	}
	switch a.(type) {
	case DateTimeOffset:
		return false
	}
	return sameRef(a, b)
}

// constFits allows an int constant to initialise a narrower integral or
// char... variable when it fits (byte b = 5), as C# does.
func constFits(v cx, to sType) bool {
	if !v.isConst {
		return false
	}
	i, ok := v.val.(int)
	if !ok {
		return false
	}
	switch to {
	case stLong, stDouble, stDecimal:
		return true
	case stChar:
		return i >= 0 && i <= 0xffff && false
	case stByte:
		return i >= 0 && i <= 255
	case stShort:
		return i >= math.MinInt16 && i <= math.MaxInt16
	}
	return false
}

var intRanges = map[string][2]float64{
	"int": {math.MinInt32, math.MaxInt32}, "long": {math.MinInt64, math.MaxInt64}, "short": {math.MinInt16, math.MaxInt16},
	"byte": {0, 255}, "sbyte": {-128, 127}, "ushort": {0, 65535}, "uint": {0, math.MaxUint32}, "ulong": {0, math.MaxUint64},
	"char": {0, 65535},
}

// constCastCheck reports a constant cast that C# rejects at compile time
// outside unchecked(): the value does not fit the integral target type.
func constCastCheck(v any, to string) error {
	r, ok := intRanges[to]
	if !ok {
		return nil
	}
	c, i, f := numOf(v)
	var x float64
	switch c {
	case ncInt, ncLong:
		x = float64(i)
	case ncDouble:
		x = math.Trunc(f)
	default:
		return nil
	}
	if x < r[0] || x > r[1] || math.IsNaN(x) {
		return errString(fmt.Sprintf("Constant value '%s' cannot be converted to a '%s' (use 'unchecked' syntax to override)", ToString(v), to))
	}
	return nil
}

type errString string

func (e errString) Error() string { return string(e) }

// checkedRange is the overflow check of a cast in a checked context.
func checkedRange(v any, to string) error {
	r, ok := intRanges[to]
	if !ok {
		return nil
	}
	c, i, f := numOf(fromJValue(v))
	var x float64
	switch c {
	case ncInt, ncLong:
		x = float64(i)
	case ncDouble, ncDecimal:
		x = math.Trunc(f)
	default:
		return nil
	}
	if x < r[0] || x > r[1] || math.IsNaN(x) {
		return errOverflow()
	}
	return nil
}

// unboxConv is a cast from a value typed object to a value type: the boxed
// value must be exactly of that type (InvalidCastException otherwise).
func unboxConv(to string) func(any) (any, error) {
	want := map[string]string{"int": "System.Int32", "long": "System.Int64", "double": "System.Double", "decimal": "System.Decimal",
		"bool": "System.Boolean", "char": "System.Char", "byte": "System.Byte", "DateTime": "System.DateTime",
		"TimeSpan": "System.TimeSpan", "Guid": "System.Guid", "DateTimeOffset": "System.DateTimeOffset"}[to]
	if want == "" {
		return nil
	}
	return func(v any) (any, error) {
		if v == nil {
			return nil, nullRef()
		}
		if typeName(v) != want {
			return nil, &RuntimeError{Type: "InvalidCastException", Msg: "Unable to cast object of type '" + typeName(v) + "' to type '" + want + "'."}
		}
		return v, nil
	}
}

// checkMember rejects members that a known primitive type does not have
// (context.Response.StatusCode.Length).
func checkMember(n node, st sType, name string, call bool) *Error {
	switch st {
	case stInt, stLong, stDouble, stDecimal, stBool, stChar, stByte, stShort:
		switch name {
		case "ToString", "Equals", "GetHashCode", "CompareTo", "GetType", "GetTypeCode":
			if call {
				return nil
			}
		}
		return errAt(n, "'%s' does not contain a definition for '%s'", csName(st), name)
	case stString:
		if !call && name != "Length" {
			return errAt(n, "'string' does not contain a definition for '%s'", name)
		}
	}
	return nil
}

// argRule lists, per parameter position, the static types an argument may
// have; known argument types outside it are rejected like C# overload
// resolution does.
var argRules = map[string][][]sType{
	"string.Substring":          {{stInt}, {stInt}},
	"string.StartsWith":         {{stString, stChar}},
	"string.EndsWith":           {{stString, stChar}},
	"string.Contains":           {{stString, stChar}},
	"string.IndexOf":            {{stString, stChar}, {stInt}, {stInt}},
	"string.LastIndexOf":        {{stString, stChar}, {stInt}, {stInt}},
	"string.PadLeft":            {{stInt}, {stChar}},
	"string.PadRight":           {{stInt}, {stChar}},
	"string.Remove":             {{stInt}, {stInt}},
	"string.Insert":             {{stInt}, {stString}},
	"string.IsNullOrEmpty":      {{stString}},
	"string.IsNullOrWhiteSpace": {{stString}},
	"int.Parse":                 {{stString}},
	"long.Parse":                {{stString}},
	"double.Parse":              {{stString}},
	"decimal.Parse":             {{stString}},
	"bool.Parse":                {{stString}},
	"Math.Max":                  {{stInt, stLong, stDouble, stDecimal, stChar}, {stInt, stLong, stDouble, stDecimal, stChar}},
	"Math.Min":                  {{stInt, stLong, stDouble, stDecimal, stChar}, {stInt, stLong, stDouble, stDecimal, stChar}},
	"Math.Abs":                  {{stInt, stLong, stDouble, stDecimal}},
	"Math.Pow":                  {{stInt, stLong, stDouble, stChar}, {stInt, stLong, stDouble, stChar}},
	"Math.Sqrt":                 {{stInt, stLong, stDouble, stChar}},
}

func checkArgTypes(n *memberExpr, typ, name string, args []compiledArg, static bool) *Error {
	rule, ok := argRules[typ+"."+name]
	if !ok {
		return nil
	}
	for i, a := range args {
		if i >= len(rule) || !known(a.st) && a.st != stObject {
			continue
		}
		okType := false
		for _, t := range rule[i] {
			if a.st == t || implicitOK(a.st, t, cx{}) {
				okType = true
			}
		}
		if !okType {
			return errAt(a.node, "Argument %d: cannot convert from '%s' to '%s' in '%s.%s'", i+1, csName(a.st), csName(rule[i][0]), typ, name)
		}
	}
	return nil
}

// zeroOfST is default(T) of a known value type, nil otherwise.
func zeroOfST(st sType) any {
	switch st {
	case stInt:
		return 0
	case stLong:
		return int64(0)
	case stDouble:
		return 0.0
	case stDecimal:
		return decFromInt(0)
	case stBool:
		return false
	case stChar:
		return Char(0)
	}
	return nil
}
