package expr

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// canonType maps C# type names and their System aliases to one name.
func canonType(name string) string {
	switch name {
	case "String":
		return "string"
	case "Int32":
		return "int"
	case "Int64":
		return "long"
	case "Boolean":
		return "bool"
	case "Double", "Single", "float":
		return "double"
	case "Decimal":
		return "decimal"
	case "Byte":
		return "byte"
	case "Int16":
		return "short"
	case "Char":
		return "char"
	case "Object", "dynamic":
		return "object"
	case "UInt32":
		return "uint"
	case "UInt64":
		return "ulong"
	}
	return name
}

var staticTypes = map[string]bool{
	"string": true, "String": true, "int": true, "Int32": true, "long": true, "Int64": true,
	"double": true, "Double": true, "decimal": true, "Decimal": true, "bool": true, "Boolean": true,
	"char": true, "Char": true, "byte": true, "Byte": true, "short": true, "Int16": true, "float": true,
	"DateTime": true, "DateTimeOffset": true, "TimeSpan": true, "Guid": true, "Convert": true,
	"Encoding": true, "Regex": true, "Uri": true, "WebUtility": true, "HttpUtility": true, "Math": true,
	"JObject": true, "JArray": true, "JToken": true, "JValue": true, "JProperty": true, "JsonConvert": true,
	"Formatting": true, "JTokenType": true, "StringComparison": true, "StringComparer": true,
	"StringSplitOptions": true, "Array": true, "Enumerable": true, "BitConverter": true, "SHA256": true,
	"SHA1": true, "SHA512": true, "MD5": true, "RegexOptions": true, "DateTimeKind": true, "MidpointRounding": true, "SaveOptions": true, "Tuple": true, "RSA": true, "HashAlgorithmName": true,
	"RSASignaturePadding": true, "MergeArrayHandling": true,
	"uint": true, "UInt32": true, "ulong": true, "UInt64": true, "sbyte": true, "ushort": true,
	"CultureInfo": true, "DateTimeStyles": true, "NumberStyles": true, "UriKind": true, "UriPartial": true,
	"XDocument": true, "XElement": true,
}

func isStaticTypeName(n string) bool { return staticTypes[n] }

// modelTypeST maps APIM interface names used in casts and declarations.
func modelTypeST(name string) sType {
	switch name {
	case "IResponse":
		return stResponse
	case "IRequest":
		return stRequest
	case "IUrl":
		return stURL
	case "IMessageBody":
		return stBody
	case "Jwt":
		return stJwt
	case "Authorization":
		return stAuthorization
	case "ISubscription":
		return stSubscription
	case "IUser":
		return stUser
	case "IProduct":
		return stProduct
	case "IApi":
		return stApi
	case "IOperation":
		return stOperation
	case "IDeployment":
		return stDeployment
	case "ILastError":
		return stLastError
	case "IProxyRequestContext", "IContext":
		return stContext
	}
	return stAny
}

// knownTypeNames are the types a declaration, cast, is/as or new may name.
var knownTypeNames = map[string]bool{
	"string": true, "int": true, "long": true, "double": true, "decimal": true, "bool": true, "char": true,
	"byte": true, "short": true, "object": true, "uint": true, "ulong": true, "sbyte": true, "ushort": true,
	"DateTime": true, "DateTimeOffset": true, "TimeSpan": true, "Guid": true,
	"JObject": true, "JArray": true, "JToken": true, "JValue": true, "JProperty": true, "JContainer": true,
	"List": true, "IList": true, "IEnumerable": true, "ICollection": true, "IReadOnlyList": true, "IReadOnlyCollection": true,
	"Dictionary": true, "IDictionary": true, "IReadOnlyDictionary": true, "HashSet": true, "ISet": true,
	"KeyValuePair": true, "Random": true, "Uri": true, "Exception": true, "Match": true, "Group": true,
	"MatchCollection": true, "HMACSHA256": true, "HMACSHA1": true, "HMACSHA512": true, "SHA256": true, "SHA1": true,
	"SHA512": true, "MD5": true, "HashAlgorithm": true, "HMAC": true, "Encoding": true, "Regex": true,
	"StringComparison": true, "StringBuilder": true,
	"Func": true, "Action": true, "RSA": true, "RSAParameters": true, "AsymmetricAlgorithm": true, "JsonMergeSettings": true, "Queue": true, "Stack": true, "Tuple": true, "Nullable": true, "SHA256Managed": true, "SHA1Managed": true, "XDocument": true, "XElement": true, "XAttribute": true, "XName": true, "XNamespace": true,
	"ArgumentException": true, "ArgumentNullException": true, "InvalidOperationException": true,
	"FormatException": true, "JsonReaderException": true, "JsonException": true, "NullReferenceException": true,
	"KeyNotFoundException": true, "InvalidCastException": true, "OverflowException": true, "SystemException": true,
	"IndexOutOfRangeException": true, "ArgumentOutOfRangeException": true, "DivideByZeroException": true,
	"UriFormatException": true, "RegexMatchTimeoutException": true, "NotSupportedException": true,
}

func checkType(t *typeRef) *Error {
	name := canonType(t.name)
	if knownTypeNames[name] || modelTypeST(t.name) != stAny {
		for _, a := range t.args {
			if err := checkType(a); err != nil {
				return err
			}
		}
		return nil
	}
	return &Error{off: t.pos, Msg: "unsupported C# construct: type '" + t.name + "'"}
}

// explicitConv returns the runtime conversion of a cast (T)x.
func explicitConv(t *typeRef) (func(any) (any, error), sType, *Error) {
	if err := checkType(t); err != nil {
		return nil, 0, err
	}
	if t.name == "dynamic" && t.rank == 0 {
		// dynamic is bound at run time: not statically object
		return func(v any) (any, error) { return v, nil }, stAny, nil
	}
	if st := modelTypeST(t.name); st != stAny {
		test := modelTest(st)
		name := t.name
		return func(v any) (any, error) {
			if v == nil || test(v) {
				return v, nil
			}
			return nil, errInvalidCast(v, name)
		}, st, nil
	}
	name := canonType(t.name)
	if t.rank > 0 {
		return func(v any) (any, error) {
			switch v.(type) {
			case nil, *List, []byte:
				return v, nil
			}
			return nil, errInvalidCast(v, name+"[]")
		}, stAny, nil
	}
	if t.nullable {
		inner := *t
		inner.nullable = false
		conv, st, err := explicitConv(&inner)
		if err != nil {
			return nil, 0, err
		}
		_ = st
		return func(v any) (any, error) {
			if v == nil {
				return nil, nil
			}
			if jv, ok := v.(*JValue); ok && jv.V == nil {
				return nil, nil
			}
			return conv(v)
		}, stAny, nil
	}
	st := primST(name)
	return func(v any) (any, error) { return castTo(name, v) }, st, nil
}

// implicitConv is used for typed declarations (T x = e): numeric widening
// and JSON-token conversions; other values pass unchanged.
func implicitConv(t *typeRef) (func(any) (any, error), sType, *Error) {
	if err := checkType(t); err != nil {
		return nil, 0, err
	}
	if t.name == "dynamic" && t.rank == 0 {
		return nil, stAny, nil
	}
	if st := modelTypeST(t.name); st != stAny {
		return nil, st, nil
	}
	if t.rank > 0 || t.nullable {
		return nil, stAny, nil
	}
	name := canonType(t.name)
	switch name {
	case "object":
		return nil, stObject, nil
	case "long":
		return func(v any) (any, error) {
			switch x := v.(type) {
			case int:
				return int64(x), nil
			case Char:
				return int64(x), nil
			}
			return v, nil
		}, stLong, nil
	case "decimal":
		return func(v any) (any, error) {
			switch x := v.(type) {
			case int:
				return decFromInt(int64(x)), nil
			case int64:
				return decFromInt(x), nil
			case Char:
				return decFromInt(int64(x)), nil
			}
			return v, nil
		}, stDecimal, nil
	case "double":
		return func(v any) (any, error) {
			switch x := v.(type) {
			case int:
				return float64(x), nil
			case int64:
				return float64(x), nil
			case Char:
				return float64(x), nil
			}
			return v, nil
		}, stDouble, nil
	case "JToken", "JValue":
		return func(v any) (any, error) {
			switch v.(type) {
			case *JObject, *JArray, *JValue, *JProperty:
				return v, nil
			case nil:
				return nil, nil
			}
			return toJToken(v, 0)
		}, stAny, nil
	case "string":
		return nil, stString, nil
	case "int":
		return func(v any) (any, error) {
			if c, ok := v.(Char); ok {
				return int(c), nil
			}
			return v, nil
		}, stInt, nil
	case "bool":
		return nil, stBool, nil
	case "char", "DateTime", "TimeSpan", "byte", "short":
		return nil, primST(name), nil
	case "DateTimeOffset":
		return dateTimeToDTO, stAny, nil
	case "XNamespace":
		return func(v any) (any, error) {
			if s, ok := v.(string); ok {
				return XNamespace{Name: s}, nil
			}
			return v, nil
		}, stAny, nil
	case "XName":
		return func(v any) (any, error) {
			if s, ok := v.(string); ok {
				return parseXName(s), nil
			}
			return v, nil
		}, stAny, nil
	}
	return nil, stAny, nil
}

func modelTest(st sType) func(any) bool {
	switch st {
	case stResponse:
		return func(v any) bool { _, ok := v.(*Response); return ok }
	case stRequest:
		return func(v any) bool { _, ok := v.(*Request); return ok }
	case stURL:
		return func(v any) bool { _, ok := v.(*URL); return ok }
	case stBody:
		return func(v any) bool { _, ok := v.(*Body); return ok }
	case stJwt:
		return func(v any) bool { _, ok := v.(*Jwt); return ok }
	case stAuthorization:
		return func(v any) bool { _, ok := v.(*Authorization); return ok }
	case stSubscription:
		return func(v any) bool { _, ok := v.(*Subscription); return ok }
	case stUser:
		return func(v any) bool { _, ok := v.(*User); return ok }
	case stProduct:
		return func(v any) bool { _, ok := v.(*Product); return ok }
	case stApi:
		return func(v any) bool { _, ok := v.(*Api); return ok }
	case stOperation:
		return func(v any) bool { _, ok := v.(*Operation); return ok }
	case stDeployment:
		return func(v any) bool { _, ok := v.(*Deployment); return ok }
	case stLastError:
		return func(v any) bool { _, ok := v.(*LastError); return ok }
	case stContext:
		return func(v any) bool { _, ok := v.(*Context); return ok }
	}
	return func(any) bool { return false }
}

// typeTest returns the runtime check of "x is T" / "x as T".
func typeTest(t *typeRef) (func(any) bool, sType, *Error) {
	if err := checkType(t); err != nil {
		return nil, 0, err
	}
	if st := modelTypeST(t.name); st != stAny {
		test := modelTest(st)
		return func(v any) bool { return v != nil && !isNilModel(v) && test(v) }, st, nil
	}
	name := canonType(t.name)
	if t.rank > 0 {
		return func(v any) bool {
			switch x := v.(type) {
			case *List:
				return x.Array
			case []byte:
				return name == "byte"
			}
			return false
		}, stAny, nil
	}
	var f func(any) bool
	switch name {
	case "string":
		f = func(v any) bool { _, ok := v.(string); return ok }
	case "int":
		f = func(v any) bool { _, ok := v.(int); return ok }
	case "long":
		f = func(v any) bool { _, ok := v.(int64); return ok }
	case "double", "decimal":
		f = func(v any) bool { _, ok := v.(float64); return ok }
	case "bool":
		f = func(v any) bool { _, ok := v.(bool); return ok }
	case "char":
		f = func(v any) bool { _, ok := v.(Char); return ok }
	case "byte":
		f = func(v any) bool { _, ok := v.(byte); return ok }
	case "DateTime":
		f = func(v any) bool { _, ok := v.(time.Time); return ok }
	case "DateTimeOffset":
		f = func(v any) bool { _, ok := v.(DateTimeOffset); return ok }
	case "TimeSpan":
		f = func(v any) bool { _, ok := v.(time.Duration); return ok }
	case "Guid":
		f = func(v any) bool { _, ok := v.(Guid); return ok }
	case "JObject":
		f = func(v any) bool { _, ok := v.(*JObject); return ok }
	case "JArray":
		f = func(v any) bool { _, ok := v.(*JArray); return ok }
	case "JValue":
		f = func(v any) bool { _, ok := v.(*JValue); return ok }
	case "JProperty":
		f = func(v any) bool { _, ok := v.(*JProperty); return ok }
	case "JToken", "JContainer":
		f = func(v any) bool {
			switch v.(type) {
			case *JObject, *JArray:
				return true
			case *JValue, *JProperty:
				return name == "JToken"
			}
			return false
		}
	case "List", "IList", "IEnumerable", "ICollection", "IReadOnlyList", "IReadOnlyCollection":
		f = func(v any) bool {
			switch x := v.(type) {
			case *List:
				return !x.Array || name != "List"
			case *JArray:
				return name == "IEnumerable" || name == "IList" || name == "ICollection"
			case string:
				return name == "IEnumerable"
			case *Dict:
				return name == "IEnumerable" || name == "ICollection"
			}
			return false
		}
	case "Dictionary", "IDictionary", "IReadOnlyDictionary":
		f = func(v any) bool {
			switch x := v.(type) {
			case *Dict:
				return !x.Set
			case Variables, map[string]string:
				return name != "Dictionary"
			}
			return false
		}
	case "HashSet", "ISet":
		f = func(v any) bool { d, ok := v.(*Dict); return ok && d.Set }
	case "object":
		f = func(v any) bool { return v != nil }
	case "Exception", "SystemException":
		f = func(v any) bool { _, ok := v.(*Exception); return ok }
	default:
		f = func(v any) bool {
			if ex, ok := v.(*Exception); ok {
				return exceptionMatches(name, ex.Type)
			}
			return strings.HasSuffix(typeName(v), "."+name)
		}
	}
	return func(v any) bool { return v != nil && f(v) }, stAny, nil
}

func defaultValue(t *typeRef) any {
	if t.rank > 0 || t.nullable {
		return nil
	}
	switch canonType(t.name) {
	case "int", "short":
		return 0
	case "long":
		return int64(0)
	case "double":
		return 0.0
	case "decimal":
		return decFromInt(0)
	case "bool":
		return false
	case "char":
		return Char(0)
	case "byte":
		return byte(0)
	case "DateTime":
		return time.Date(1, 1, 1, 0, 0, 0, 0, unspecified)
	case "TimeSpan":
		return time.Duration(0)
	case "Guid":
		return Guid{}
	}
	return nil
}

// castTo implements explicit casts between the supported types. Numeric
// casts convert; JSON tokens convert to primitives like Newtonsoft's explicit
// operators; anything else must already be of the type.
func castTo(name string, v any) (any, error) {
	if el, ok := v.(*XElement); ok {
		// XElement's explicit conversions read the element's value
		switch name {
		case "string", "int", "long", "double", "decimal", "bool":
			var sb strings.Builder
			el.writeText(&sb)
			return changeType(name, sb.String())
		}
	}
	if jv, ok := v.(*JValue); ok {
		switch name {
		case "JValue", "JToken", "object":
			return v, nil
		}
		if jv.V == nil {
			switch name {
			case "string":
				return nil, nil
			}
			return nil, errArg("Can not convert Null to %s.", name)
		}
		return changeType(name, jv.V)
	}
	if v == nil {
		switch name {
		case "int", "long", "double", "decimal", "bool", "char", "byte", "short", "DateTime", "TimeSpan", "Guid", "uint", "ulong":
			return nil, nullRef()
		}
		return nil, nil
	}
	switch name {
	case "object":
		return v, nil
	case "string":
		if s, ok := v.(string); ok {
			return s, nil
		}
	case "int", "long", "short", "byte", "double", "decimal", "char", "uint", "ulong", "sbyte", "ushort":
		if name == "decimal" {
			if d, ok, err := toDecimal(v); ok {
				return d, err
			}
		}
		if d, ok := v.(Decimal); ok {
			if name == "double" {
				return d.Float(), nil
			}
			i, ok := decToInt64(d)
			if !ok {
				return nil, &RuntimeError{Type: "OverflowException", Msg: "Value was either too large or too small for an " + dotnetName(name) + "."}
			}
			return castTo(name, i)
		}
		c, i, f := numOf(v)
		if c == ncNone {
			if e, ok := v.(Enum); ok {
				c, i, f = ncInt, int64(e.Val), float64(e.Val)
			} else {
				break
			}
		}
		if c == ncDouble {
			if math.IsNaN(f) || math.IsInf(f, 0) {
				i = math.MinInt64
			} else {
				i = int64(f)
			}
		}
		switch name {
		case "int":
			return wrap32(i), nil
		case "long":
			return i, nil
		case "short":
			return int(int16(i)), nil
		case "byte":
			return byte(i), nil
		case "sbyte":
			return int(int8(i)), nil
		case "ushort":
			return int(uint16(i)), nil
		case "uint":
			return int64(uint32(i)), nil
		case "ulong":
			return i, nil
		case "char":
			return Char(uint16(i)), nil
		default:
			if c == ncDouble {
				return f, nil
			}
			return float64(i), nil
		}
	case "bool":
		if b, ok := v.(bool); ok {
			return b, nil
		}
	case "DateTime":
		if t, ok := v.(time.Time); ok {
			return t, nil
		}
	case "DateTimeOffset":
		switch t := v.(type) {
		case DateTimeOffset:
			return t, nil
		case time.Time:
			return newDTO(t), nil
		}
	case "TimeSpan":
		if d, ok := v.(time.Duration); ok {
			return d, nil
		}
	case "Guid":
		if g, ok := v.(Guid); ok {
			return g, nil
		}
	case "JObject":
		if o, ok := v.(*JObject); ok {
			return o, nil
		}
	case "JArray":
		if a, ok := v.(*JArray); ok {
			return a, nil
		}
	case "JProperty":
		if p, ok := v.(*JProperty); ok {
			return p, nil
		}
	case "JToken", "JContainer":
		switch v.(type) {
		case *JObject, *JArray, *JProperty:
			return v, nil
		}
	case "List", "IList", "IEnumerable", "ICollection", "IReadOnlyList", "IReadOnlyCollection":
		switch v.(type) {
		case *List, *JArray, string, *Dict:
			return v, nil
		}
	case "Dictionary", "IDictionary", "IReadOnlyDictionary", "HashSet", "ISet":
		switch v.(type) {
		case *Dict, Variables, map[string]string:
			return v, nil
		}
	case "Uri":
		if u, ok := v.(*Uri); ok {
			return u, nil
		}
	case "Random":
		if r, ok := v.(*Random); ok {
			return r, nil
		}
	case "Exception":
		if ex, ok := v.(*Exception); ok {
			return ex, nil
		}
	case "KeyValuePair":
		if kv, ok := v.(*KeyValue); ok {
			return kv, nil
		}
	default:
		return v, nil
	}
	return nil, errInvalidCast(v, dotnetName(name))
}

func dotnetName(n string) string {
	switch n {
	case "string":
		return "System.String"
	case "int":
		return "System.Int32"
	case "long":
		return "System.Int64"
	case "bool":
		return "System.Boolean"
	case "double":
		return "System.Double"
	case "JObject", "JArray", "JToken", "JValue", "JProperty":
		return "Newtonsoft.Json.Linq." + n
	}
	return n
}

// changeType is the lenient conversion of Value<T>(), Convert.ToX and
// Newtonsoft's explicit operators on JValue (strings parse, numbers format).
func changeType(name string, v any) (any, error) {
	v = fromJValue(v)
	switch name {
	case "object", "JToken", "JValue":
		if name == "object" {
			return v, nil
		}
		return toJToken(v, 0)
	case "string":
		if v == nil {
			return nil, nil
		}
		if t, ok := v.(time.Time); ok {
			return ToString(t), nil
		}
		return ToString(v), nil
	case "int", "long", "short", "byte":
		var i int64
		switch x := v.(type) {
		case nil:
			return nil, errArg("Can not convert Null to %s.", name)
		case string:
			n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
			if err != nil {
				f, ferr := strconv.ParseFloat(strings.TrimSpace(x), 64)
				if ferr != nil || name != "int" && name != "long" || f != math.Trunc(f) {
					return nil, errFormat("The input string '" + x + "' was not in a correct format.")
				}
				n = int64(f)
			}
			i = n
		case bool:
			if x {
				i = 1
			}
		case float64:
			i = int64(math.RoundToEven(x))
		default:
			c, iv, _ := numOf(v)
			if c == ncNone {
				return nil, errInvalidCast(v, dotnetName(name))
			}
			i = iv
		}
		switch name {
		case "int":
			if i > math.MaxInt32 || i < math.MinInt32 {
				return nil, &RuntimeError{Type: "OverflowException", Msg: "Value was either too large or too small for an Int32."}
			}
			return int(i), nil
		case "short":
			return int(int16(i)), nil
		case "byte":
			if i < 0 || i > 255 {
				return nil, &RuntimeError{Type: "OverflowException", Msg: "Value was either too large or too small for an unsigned byte."}
			}
			return byte(i), nil
		}
		return i, nil
	case "double", "decimal":
		if name == "decimal" {
			switch x := v.(type) {
			case string:
				d, ok := parseDecimalText(x, false)
				if !ok {
					return nil, errFormat("The input string '" + x + "' was not in a correct format.")
				}
				return d, nil
			case bool:
				if x {
					return decFromInt(1), nil
				}
				return decFromInt(0), nil
			}
			if d, ok, err := toDecimal(v); ok {
				return d, err
			}
		}
		if d, ok := v.(Decimal); ok {
			return d.Float(), nil
		}
		switch x := v.(type) {
		case nil:
			return nil, errArg("Can not convert Null to %s.", name)
		case string:
			f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
			if err != nil {
				return nil, errFormat("The input string '" + x + "' was not in a correct format.")
			}
			return f, nil
		case bool:
			if x {
				return 1.0, nil
			}
			return 0.0, nil
		}
		c, _, f := numOf(v)
		if c == ncNone {
			return nil, errInvalidCast(v, dotnetName(name))
		}
		return f, nil
	case "bool":
		switch x := v.(type) {
		case nil:
			return nil, errArg("Can not convert Null to Boolean.")
		case bool:
			return x, nil
		case string:
			switch strings.ToLower(strings.TrimSpace(x)) {
			case "true":
				return true, nil
			case "false":
				return false, nil
			}
			return nil, errFormat("String '" + x + "' was not recognized as a valid Boolean.")
		}
		c, i, f := numOf(v)
		if c == ncNone {
			return nil, errInvalidCast(v, "System.Boolean")
		}
		return i != 0 || f != 0, nil
	case "char":
		if s, ok := v.(string); ok {
			r := []rune(s)
			if len(r) != 1 {
				return nil, errFormat("String must be exactly one character long.")
			}
			return Char(r[0]), nil
		}
		return castTo(name, v)
	case "DateTime":
		switch x := v.(type) {
		case time.Time:
			return x, nil
		case string:
			return parseDateTime(x)
		case DateTimeOffset:
			return x.T, nil
		}
	case "DateTimeOffset":
		switch x := v.(type) {
		case time.Time:
			return newDTO(x), nil
		case string:
			return parseDTO(x)
		case DateTimeOffset:
			return x, nil
		}
	case "TimeSpan":
		switch x := v.(type) {
		case time.Duration:
			return x, nil
		case string:
			return parseTimeSpan(x)
		}
	case "Guid":
		switch x := v.(type) {
		case Guid:
			return x, nil
		case string:
			g, ok := parseGuid(x)
			if !ok {
				return nil, errFormat("Unrecognized Guid format.")
			}
			return g, nil
		}
	case "Uri":
		if s, ok := v.(string); ok {
			return newUri(s)
		}
	}
	if v == nil {
		return nil, nil
	}
	return castTo(name, v)
}

func parseTimeSpan(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var days int64
	if i := strings.IndexByte(s, '.'); i >= 0 && i < strings.IndexByte(s+":", ':') {
		d, err := strconv.ParseInt(s[:i], 10, 64)
		if err != nil {
			return 0, errFormat("String '" + s + "' was not recognized as a valid TimeSpan.")
		}
		days, s = d, s[i+1:]
	}
	parts := strings.Split(s, ":")
	if len(parts) == 1 {
		d, err := strconv.ParseInt(parts[0], 10, 64)
		if err != nil {
			return 0, errFormat("String '" + s + "' was not recognized as a valid TimeSpan.")
		}
		days += d
		parts = nil
	}
	var total time.Duration = time.Duration(days) * 24 * time.Hour
	units := []time.Duration{time.Hour, time.Minute, time.Second}
	if len(parts) > 3 {
		return 0, errFormat("String '" + s + "' was not recognized as a valid TimeSpan.")
	}
	for i, p := range parts {
		f, err := strconv.ParseFloat(p, 64)
		if err != nil || (i < 2 && strings.Contains(p, ".")) {
			return 0, errFormat("String '" + s + "' was not recognized as a valid TimeSpan.")
		}
		total += time.Duration(f * float64(units[i]))
	}
	if neg {
		total = -total
	}
	return total, nil
}
