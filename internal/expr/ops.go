package expr

import (
	"math"
	"math/big"
	"net/http"
	"time"
)

// isNilModel reports whether v is a typed nil pointer of the object model
// (e.g. a nil *Response stored in an interface).
func isNilModel(v any) bool {
	switch x := v.(type) {
	case *Response:
		return x == nil
	case *Request:
		return x == nil
	case *URL:
		return x == nil
	case *Body:
		return x == nil
	case *Subscription:
		return x == nil
	case *User:
		return x == nil
	case *Product:
		return x == nil
	case *Api:
		return x == nil
	case *Operation:
		return x == nil
	case *Deployment:
		return x == nil
	case *Gateway:
		return x == nil
	case *LastError:
		return x == nil
	case *Context:
		return x == nil
	case *JObject:
		return x == nil
	case *JArray:
		return x == nil
	case *JValue:
		return x == nil
	case *Jwt:
		return x == nil
	case *Authorization:
		return x == nil
	case *Query:
		return x == nil
	case *List:
		return x == nil
	}
	return false
}

// numeric classification for binary promotion.
type numClass uint8

const (
	ncNone numClass = iota
	ncInt
	ncLong
	ncDouble
	ncDecimal
)

func numOf(v any) (numClass, int64, float64) {
	switch x := v.(type) {
	case int:
		return ncInt, int64(x), float64(x)
	case int64:
		return ncLong, x, float64(x)
	case float64:
		return ncDouble, 0, x
	case Char:
		return ncInt, int64(x), float64(x)
	case byte:
		return ncInt, int64(x), float64(x)
	case Decimal:
		i, _ := decToInt64(x)
		return ncDecimal, i, x.Float()
	case *JValue:
		return numOf(x.V)
	}
	return ncNone, 0, 0
}

// valuesEqual implements == with C#-like semantics on dynamic values:
// value equality for strings, numbers, bools, chars, dates, guids and enums;
// JSON values compare by their primitive; other objects by reference.
func valuesEqual(a, b any) bool {
	if a == nil || isNilModel(a) {
		if jv, ok := b.(*JValue); ok && jv != nil {
			return jv.V == nil
		}
		return b == nil || isNilModel(b)
	}
	if b == nil || isNilModel(b) {
		if jv, ok := a.(*JValue); ok {
			return jv.V == nil
		}
		return false
	}
	switch x := a.(type) {
	case string:
		switch y := b.(type) {
		case string:
			return x == y
		case *JValue:
			s, ok := y.V.(string)
			return ok && s == x
		}
		return false
	case bool:
		switch y := b.(type) {
		case bool:
			return x == y
		case *JValue:
			bb, ok := y.V.(bool)
			return ok && bb == x
		}
		return false
	case time.Time:
		if y, ok := b.(time.Time); ok {
			return x.Equal(y)
		}
		return false
	case DateTimeOffset:
		if y, ok := b.(DateTimeOffset); ok {
			return x.T.Equal(y.T)
		}
		return false
	case time.Duration:
		y, ok := b.(time.Duration)
		return ok && x == y
	case Guid:
		y, ok := b.(Guid)
		return ok && x == y
	case *Uri:
		// Uri's == and Equals compare the canonical forms, without the
		// user information and the fragment.
		y, ok := b.(*Uri)
		return ok && (x == y || x.equalKey() == y.equalKey())
	case Enum:
		y, ok := b.(Enum)
		return ok && x.Type == y.Type && x.Val == y.Val
	case *JValue:
		if y, ok := b.(*JValue); ok {
			if x == y {
				return true
			}
			return valuesEqual(x.V, y.V)
		}
		return valuesEqual(b, x)
	}
	ca, ia, fa := numOf(a)
	cb, ib, fb := numOf(b)
	if ca != ncNone && cb != ncNone {
		if ca == ncDecimal || cb == ncDecimal {
			if ca != ncDouble && cb != ncDouble {
				x, _, _ := toDecimal(fromJValue(a))
				y, _, _ := toDecimal(fromJValue(b))
				return x.Cmp(y) == 0
			}
		}
		if ca == ncDouble || cb == ncDouble || ca == ncDecimal || cb == ncDecimal {
			return fa == fb
		}
		return ia == ib
	}
	return sameRef(a, b)
}

func sameRef(a, b any) bool {
	switch a.(type) {
	case http.Header, Variables, map[string]string, map[string]any, []byte, []any, []string:
		return false // reference types without Go equality: distinct unless the same object
	}
	switch b.(type) {
	case http.Header, Variables, map[string]string, map[string]any, []byte, []any, []string:
		return false
	}
	return a == b
}

func compareOp(op string, a, b any) (any, error) {
	c, ok, err := compareValues(a, b)
	if err != nil {
		return nil, err
	}
	if !ok {
		return false, nil // comparisons with null are false (lifted operators)
	}
	switch op {
	case "<":
		return c < 0, nil
	case ">":
		return c > 0, nil
	case "<=":
		return c <= 0, nil
	}
	return c >= 0, nil
}

// compareValues orders two values; ok is false when either is null.
func compareValues(a, b any) (int, bool, error) {
	if a == nil || b == nil {
		return 0, false, nil
	}
	ca, ia, fa := numOf(a)
	cb, ib, fb := numOf(b)
	if ca != ncNone && cb != ncNone {
		if (ca == ncDecimal || cb == ncDecimal) && ca != ncDouble && cb != ncDouble {
			x, _, _ := toDecimal(fromJValue(a))
			y, _, _ := toDecimal(fromJValue(b))
			return x.Cmp(y), true, nil
		}
		if ca == ncDouble || cb == ncDouble || ca == ncDecimal || cb == ncDecimal {
			switch {
			case fa < fb:
				return -1, true, nil
			case fa > fb:
				return 1, true, nil
			}
			return 0, true, nil
		}
		switch {
		case ia < ib:
			return -1, true, nil
		case ia > ib:
			return 1, true, nil
		}
		return 0, true, nil
	}
	switch x := a.(type) {
	case time.Time:
		if y, ok := b.(time.Time); ok {
			return x.Compare(y), true, nil
		}
	case DateTimeOffset:
		if y, ok := b.(DateTimeOffset); ok {
			return x.T.Compare(y.T), true, nil
		}
	case time.Duration:
		if y, ok := b.(time.Duration); ok {
			switch {
			case x < y:
				return -1, true, nil
			case x > y:
				return 1, true, nil
			}
			return 0, true, nil
		}
	case string:
		if y, ok := b.(string); ok {
			return cultureCompare(x, y, false), true, nil
		}
	}
	return 0, false, errInvalidOp("Operator cannot be applied to operands of type '" + typeName(a) + "' and '" + typeName(b) + "'")
}

func wrap32(v int64) int { return int(int32(v)) }

// maxStringLen bounds strings built in one evaluation, and maxCollectionLen
// lists and arrays, so a policy cannot exhaust memory by doubling a value in
// a loop.
const (
	maxStringLen     = 64 << 20
	maxCollectionLen = 1 << 22
)

func checkStrLen(n int) error {
	if n > maxStringLen {
		return &RuntimeError{Type: "OutOfMemoryException", Msg: "string result exceeds the 64 MiB limit for expressions"}
	}
	return nil
}

func checkListLen(n int) error {
	if n > maxCollectionLen {
		return &RuntimeError{Type: "OutOfMemoryException", Msg: "collection exceeds the limit of 4194304 elements for expressions"}
	}
	return nil
}

// arith implements + - * / % & | ^ << >> with C# numeric promotion, string
// concatenation and DateTime/TimeSpan arithmetic.
func arith(op string, a, b any) (any, error) {
	if ns, ok := a.(XNamespace); ok && op == "+" {
		if s, ok := b.(string); ok {
			if !validNCName(s) {
				return nil, &RuntimeError{Type: "XmlException", Msg: "The '" + s + "' character, hexadecimal value, cannot be included in a name."}
			}
			return XName{Space: ns.Name, Local: s}, nil
		}
	}
	if op == "+" {
		_, as := a.(string)
		_, bs := b.(string)
		if as || bs {
			x, y := ToString(a), ToString(b)
			if err := checkStrLen(len(x) + len(y)); err != nil {
				return nil, err
			}
			return x + y, nil
		}
	}
	if op == "&" || op == "|" || op == "^" {
		if x, ok := a.(bool); ok {
			if y, ok := b.(bool); ok {
				switch op {
				case "&":
					return x && y, nil
				case "|":
					return x || y, nil
				}
				return x != y, nil
			}
		}
	}
	switch x := a.(type) {
	case time.Time:
		switch y := b.(type) {
		case time.Duration:
			if op == "+" {
				return x.Add(y), nil
			}
			if op == "-" {
				return x.Add(-y), nil
			}
		case time.Time:
			if op == "-" {
				return x.Sub(y), nil
			}
		}
	case DateTimeOffset:
		switch y := b.(type) {
		case time.Duration:
			if op == "+" {
				return DateTimeOffset{x.T.Add(y)}, nil
			}
			if op == "-" {
				return DateTimeOffset{x.T.Add(-y)}, nil
			}
		case DateTimeOffset:
			if op == "-" {
				return x.T.Sub(y.T), nil
			}
		}
	case time.Duration:
		if y, ok := b.(time.Duration); ok {
			if op == "+" {
				return x + y, nil
			}
			if op == "-" {
				return x - y, nil
			}
		}
	}
	if a == nil || b == nil {
		if op == "+" || op == "-" || op == "*" || op == "/" || op == "%" {
			return nil, nil // lifted operator on null yields null
		}
	}
	ca, ia, fa := numOf(a)
	cb, ib, fb := numOf(b)
	if ca == ncNone || cb == ncNone {
		return nil, errInvalidOp("Operator '" + op + "' cannot be applied to operands of type '" + typeName(a) + "' and '" + typeName(b) + "'")
	}
	if ca == ncDecimal || cb == ncDecimal {
		if ca == ncDouble || cb == ncDouble {
			return nil, errInvalidOp("Operator '" + op + "' cannot be applied to operands of type '" + typeName(fromJValue(a)) + "' and '" + typeName(fromJValue(b)) + "'")
		}
		x, _, _ := toDecimal(fromJValue(a))
		y, _, _ := toDecimal(fromJValue(b))
		return decArith(op, x, y)
	}
	if ca == ncDouble || cb == ncDouble {
		switch op {
		case "+":
			return fa + fb, nil
		case "-":
			return fa - fb, nil
		case "*":
			return fa * fb, nil
		case "/":
			return fa / fb, nil
		case "%":
			return math.Mod(fa, fb), nil
		}
		return nil, errInvalidOp("Operator '" + op + "' cannot be applied to operands of type 'System.Double'")
	}
	long := ca == ncLong || cb == ncLong
	var r int64
	switch op {
	case "+":
		r = ia + ib
	case "-":
		r = ia - ib
	case "*":
		r = ia * ib
	case "/", "%":
		if ib == 0 {
			return nil, &RuntimeError{Type: "DivideByZeroException", Msg: "Attempted to divide by zero."}
		}
		if ib == -1 {
			// avoid the Go overflow trap on MinInt64 / -1
			if op == "%" {
				r = 0
			} else {
				r = -ia
			}
		} else if op == "/" {
			r = ia / ib
		} else {
			r = ia % ib
		}
	case "&":
		r = ia & ib
	case "|":
		r = ia | ib
	case "^":
		r = ia ^ ib
	case "<<":
		if long {
			r = ia << (uint64(ib) & 63)
		} else {
			r = int64(int32(ia) << (uint64(ib) & 31))
		}
	case ">>":
		if long {
			r = ia >> (uint64(ib) & 63)
		} else {
			r = int64(int32(ia) >> (uint64(ib) & 31))
		}
	default:
		return nil, errInvalidOp("unsupported operator " + op)
	}
	if long {
		return r, nil
	}
	return wrap32(r), nil
}

// iterate returns the elements of an enumerable value.
func iterate(v any) ([]any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nullRef()
	case *List:
		if x == nil {
			return nil, nullRef()
		}
		if x.Kind == "Stack" {
			out := make([]any, len(x.Items))
			for i, v := range x.Items {
				out[len(out)-1-i] = v
			}
			return out, nil
		}
		return x.Items, nil
	case *JArray:
		if x == nil {
			return nil, nullRef()
		}
		return x.Items, nil
	case *JObject:
		if x == nil {
			return nil, nullRef()
		}
		out := make([]any, len(x.props))
		for i, p := range x.props {
			out[i] = p
		}
		return out, nil
	case *JProperty:
		return []any{x.Value}, nil
	case string:
		out := make([]any, 0, len(x))
		for _, r := range x {
			out = append(out, Char(r))
		}
		return out, nil
	case []byte:
		out := make([]any, len(x))
		for i, b := range x {
			out[i] = b
		}
		return out, nil
	case *Dict:
		out := make([]any, len(x.keys))
		for i, k := range x.keys {
			if x.Set {
				out[i] = k
			} else {
				out[i] = &KeyValue{Key: k, Value: x.vals[i]}
			}
		}
		return out, nil
	case Variables:
		out := make([]any, 0, len(x))
		for _, k := range sortedKeys(x) {
			out = append(out, &KeyValue{Key: k, Value: x[k]})
		}
		return out, nil
	case http.Header:
		out := make([]any, 0, len(x))
		for _, k := range sortedHeaderKeys(x) {
			out = append(out, &KeyValue{Key: k, Value: stringsList(x[k])})
		}
		return out, nil
	case map[string]string:
		out := make([]any, 0, len(x))
		for _, k := range sortedStringKeys(x) {
			out = append(out, &KeyValue{Key: k, Value: x[k]})
		}
		return out, nil
	case *Query:
		out := make([]any, 0, x.Len())
		for i, n := range x.names {
			out = append(out, &KeyValue{Key: n, Value: stringsList(x.values[i])})
		}
		return out, nil
	case *Claims:
		out := make([]any, 0, len(x.names))
		for i, n := range x.names {
			out = append(out, &KeyValue{Key: n, Value: stringsList(x.values[i])})
		}
		return out, nil
	case *Grouping:
		return x.Items, nil
	case *groupCollection:
		out := make([]any, len(x.groups))
		for i, g := range x.groups {
			out[i] = g
		}
		return out, nil
	}
	return nil, errInvalidOp("foreach statement cannot operate on variables of type '" + typeName(v) + "'")
}

func stringsList(s []string) *List {
	items := make([]any, len(s))
	for i, v := range s {
		items[i] = v
	}
	return &List{Items: items, Array: true, Elem: "String"}
}

func errOverflow() error {
	return &RuntimeError{Type: "OverflowException", Msg: "Arithmetic operation resulted in an overflow."}
}

// checkedArith is arith in a checked context: int and long + - * (and
// negation, written 0 - x) throw OverflowException instead of wrapping.
func checkedArith(op string, a, b any) (any, error) {
	if op != "+" && op != "-" && op != "*" {
		return arith(op, a, b)
	}
	ca, ia, _ := numOf(a)
	cb, ib, _ := numOf(b)
	if (ca != ncInt && ca != ncLong) || (cb != ncInt && cb != ncLong) {
		return arith(op, a, b)
	}
	if ca == ncInt && cb == ncInt {
		var r int64
		switch op {
		case "+":
			r = ia + ib
		case "-":
			r = ia - ib
		default:
			r = ia * ib
		}
		if r > math.MaxInt32 || r < math.MinInt32 {
			return nil, errOverflow()
		}
		return int(r), nil
	}
	x, y := big.NewInt(ia), big.NewInt(ib)
	switch op {
	case "+":
		x.Add(x, y)
	case "-":
		x.Sub(x, y)
	default:
		x.Mul(x, y)
	}
	if !x.IsInt64() {
		return nil, errOverflow()
	}
	return x.Int64(), nil
}
