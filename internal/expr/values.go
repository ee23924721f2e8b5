package expr

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf16"
)

// Runtime value representation. C# values map to Go values as follows:
// null → nil, string → string, int → int (32-bit wrap-around), long → int64,
// double/decimal/float → float64, bool → bool, char → Char, byte → byte,
// byte[] → []byte, DateTime → time.Time, DateTimeOffset → DateTimeOffset,
// TimeSpan → time.Duration, Guid → Guid, arrays and List<T> → *List,
// Dictionary/HashSet → *Dict, anonymous objects → *Anon, JSON → *JObject,
// *JArray, *JValue, *JProperty, IResponse → *Response.

// Char is a C# char.
type Char rune

// Guid is a System.Guid in RFC 4122 byte order.
type Guid [16]byte

// String formats the Guid in the "D" format (lower case, hyphens).
func (g Guid) String() string {
	var b [36]byte
	hex.Encode(b[0:8], g[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], g[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], g[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], g[8:10])
	b[23] = '-'
	hex.Encode(b[24:], g[10:])
	return string(b[:])
}

// NewGuid returns a random (version 4) Guid, as Guid.NewGuid() does; the
// gateway uses it for request ids.
func NewGuid() Guid {
	var g Guid
	_, _ = rand.Read(g[:]) // crypto/rand.Read never fails on supported platforms
	g[6] = g[6]&0x0f | 0x40
	g[8] = g[8]&0x3f | 0x80
	return g
}

func parseGuid(s string) (Guid, bool) {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(strings.TrimSuffix(s, "}"), "{")
	s = strings.TrimPrefix(strings.TrimSuffix(s, ")"), "(")
	s = strings.ReplaceAll(s, "-", "")
	var g Guid
	if len(s) != 32 {
		return g, false
	}
	if _, err := hex.Decode(g[:], []byte(s)); err != nil {
		return g, false
	}
	return g, true
}

// DateTimeOffset is a System.DateTimeOffset: T is the local clock time in a
// fixed zone whose offset is the value's Offset.
type DateTimeOffset struct{ T time.Time }

// newDTO keeps t's offset (UTC and unspecified DateTimes get +00:00).
func newDTO(t time.Time) DateTimeOffset {
	_, off := t.Zone()
	return DateTimeOffset{t.In(dtoLoc(off))}
}

var dtoZones sync.Map // offset seconds → *time.Location

func dtoLoc(off int) *time.Location {
	if l, ok := dtoZones.Load(off); ok {
		return l.(*time.Location)
	}
	l := time.FixedZone(offsetString(time.Date(2000, 1, 1, 0, 0, 0, 0, time.FixedZone("", off))), off)
	dtoZones.Store(off, l)
	return l
}

// parseDTO parses a DateTimeOffset keeping the offset written in s
// (none means the gateway's local offset, +00:00).
func parseDTO(s string) (DateTimeOffset, error) {
	t := strings.TrimSpace(s)
	for _, l := range []string{time.RFC3339Nano, "2006-01-02 15:04:05Z07:00", "2006-01-02T15:04Z07:00", time.RFC1123Z} {
		if tm, err := time.Parse(l, t); err == nil {
			return newDTO(tm), nil
		}
	}
	tm, err := parseDateTime(s)
	if err != nil {
		return DateTimeOffset{}, err
	}
	return newDTO(time.Date(tm.Year(), tm.Month(), tm.Day(), tm.Hour(), tm.Minute(), tm.Second(), tm.Nanosecond(), time.UTC)), nil
}

// List is a C# array or List<T>; Array marks a fixed-size array.
type List struct {
	Items []any
	Array bool
	Elem  string // element type name for ToString ("String", "Object", ...)
	// sorted is set on OrderBy results so ThenBy can refine them.
	sorted *sortSpec
	// Kind is "Queue" or "Stack" for Queue<T> / Stack<T> (a stack keeps its
	// top last in Items and enumerates from the top)
	Kind string
}

// Dict is a Dictionary<K,V> (or a HashSet<T> when Set is true); keys keep
// insertion order like .NET's Dictionary does without removals.
type Dict struct {
	keys       []any
	vals       []any
	index      map[any]int
	ignoreCase bool
	Set        bool
}

func newDict(ignoreCase bool) *Dict { return &Dict{index: map[any]int{}, ignoreCase: ignoreCase} }

func (d *Dict) norm(k any) (any, error) {
	switch x := k.(type) {
	case string:
		if d.ignoreCase {
			return strings.ToLower(x), nil
		}
		return x, nil
	case int, int64, Char, bool, float64, byte, Guid:
		return x, nil
	case nil:
		return nil, errArgNull("key")
	case *JValue:
		return d.norm(x.V)
	}
	return nil, errArg("unsupported dictionary key type '%s'", typeName(k))
}

func (d *Dict) get(k any) (any, bool, error) {
	nk, err := d.norm(k)
	if err != nil {
		return nil, false, err
	}
	if i, ok := d.index[nk]; ok {
		return d.vals[i], true, nil
	}
	return nil, false, nil
}

func (d *Dict) set(k, v any, add bool) error {
	nk, err := d.norm(k)
	if err != nil {
		return err
	}
	if i, ok := d.index[nk]; ok {
		if add {
			return errArg("An item with the same key has already been added. Key: %s", ToString(k))
		}
		d.vals[i] = v
		return nil
	}
	d.index[nk] = len(d.keys)
	d.keys = append(d.keys, k)
	d.vals = append(d.vals, v)
	return nil
}

func (d *Dict) remove(k any) (bool, error) {
	nk, err := d.norm(k)
	if err != nil {
		return false, err
	}
	i, ok := d.index[nk]
	if !ok {
		return false, nil
	}
	d.keys = append(d.keys[:i], d.keys[i+1:]...)
	d.vals = append(d.vals[:i], d.vals[i+1:]...)
	delete(d.index, nk)
	for j := i; j < len(d.keys); j++ {
		n, _ := d.norm(d.keys[j])
		d.index[n] = j
	}
	return true, nil
}

// Anon is an anonymous object (new { a = 1, b = "x" }).
type Anon struct {
	names []string
	vals  []any
	tuple bool // a Tuple (ToString "(a, b)")
}

// KeyValue is a KeyValuePair<K,V> produced by iterating dictionaries.
type KeyValue struct {
	Key   any
	Value any
}

// Enum is a value of a .NET enum such as StringComparison.OrdinalIgnoreCase.
type Enum struct {
	Type string
	Name string
	Val  int
}

// Exception is a caught exception (catch (Exception ex)).
type Exception struct {
	Type      string
	Message   string
	Inner     *Exception
	ParamName string
}

// Func is a lambda value; it runs on the frame of the evaluation that created it.
type Func struct {
	e      *env
	code   *funcCode
	cells  []capturedCell // the outer variables the lambda captured
	active bool           // a call is in progress
}

// funcCode is the compiled lambda a Func runs (shared by its values).
type funcCode struct {
	slots  []int
	body   evalFn
	capt   *[]bool // which slots are captured (parameters get cells)
	lo, hi int     // the slots of the parameters and the body's locals
}

// maxCallDepth bounds the nesting of lambda and local function calls, so
// that runaway recursion ends with an error rather than exhausting the
// goroutine's stack.
const maxCallDepth = 1000

func errStackDepth() error {
	return &RuntimeError{Type: "InsufficientExecutionStackException", Msg: "Insufficient stack to continue executing the program safely. This can happen from having too many functions on the call stack or function on the stack using too much stack space."}
}

type capturedCell struct {
	slot int
	c    *cell
}

func (f *Func) call(args ...any) (any, error) {
	e := f.e
	if err := e.tick(); err != nil {
		return nil, err
	}
	if e.depth >= maxCallDepth {
		return nil, errStackDepth()
	}
	if f.active {
		return f.callNested(args)
	}
	fc := f.code
	f.active = true
	e.depth++
	var saved [4]any
	var old []any
	if len(f.cells) > 0 {
		old = saved[:0]
		for _, cc := range f.cells {
			old = append(old, e.locals[cc.slot])
			e.locals[cc.slot] = cc.c
		}
	}
	for i, s := range fc.slots {
		if i < len(args) {
			if fc.capt != nil && s < len(*fc.capt) && (*fc.capt)[s] {
				e.locals[s] = &cell{v: args[i]}
			} else {
				e.locals[s] = args[i]
			}
		}
	}
	v, err := fc.body(e)
	for i, cc := range f.cells {
		e.locals[cc.slot] = old[i]
	}
	f.active = false
	e.depth--
	return v, err
}

// callNested is a call of a function from its own body (recursion): the
// nested call overwrites the function's parameters and locals, which are
// restored after it.
func (f *Func) callNested(args []any) (any, error) {
	fc := f.code
	frame := append([]any(nil), f.e.locals[fc.lo:fc.hi]...)
	f.active = false
	v, err := f.call(args...)
	f.active = true
	copy(f.e.locals[fc.lo:fc.hi], frame)
	return v, err
}

// typeName returns the .NET type name of a value, for messages.
func typeName(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return "System.String"
	case int:
		return "System.Int32"
	case int64:
		return "System.Int64"
	case float64:
		return "System.Double"
	case Decimal:
		return "System.Decimal"
	case bool:
		return "System.Boolean"
	case Char:
		return "System.Char"
	case byte:
		return "System.Byte"
	case []byte:
		return "System.Byte[]"
	case time.Time:
		return "System.DateTime"
	case DateTimeOffset:
		return "System.DateTimeOffset"
	case time.Duration:
		return "System.TimeSpan"
	case Guid:
		return "System.Guid"
	case *List:
		el := x.Elem
		if el == "" {
			el = "Object"
		}
		if x.Array {
			return "System." + el + "[]"
		}
		return "System.Collections.Generic.List`1[System." + el + "]"
	case *Dict:
		if x.Set {
			return "System.Collections.Generic.HashSet`1[System.Object]"
		}
		return "System.Collections.Generic.Dictionary`2[System.Object,System.Object]"
	case *Anon:
		return "<>f__AnonymousType"
	case *JObject:
		return "Newtonsoft.Json.Linq.JObject"
	case *JArray:
		return "Newtonsoft.Json.Linq.JArray"
	case *JValue:
		return "Newtonsoft.Json.Linq.JValue"
	case *JProperty:
		return "Newtonsoft.Json.Linq.JProperty"
	case *Response:
		return "Microsoft.WindowsAzure.ApiManagement.Proxy.Gateway.Policies.Expressions.IResponse"
	case *Request:
		return "IRequest"
	case *URL:
		return "IUrl"
	case *Body:
		return "IMessageBody"
	case *Jwt:
		return "Jwt"
	case *KeyValue:
		return "System.Collections.Generic.KeyValuePair`2"
	case Enum:
		return "System." + x.Type
	case *Func:
		return "System.Func"
	case *Exception:
		return "System." + x.Type
	case *Match:
		return "System.Text.RegularExpressions.Match"
	case *Group:
		return "System.Text.RegularExpressions.Group"
	case *Random:
		return "System.Random"
	case *Hasher:
		return "System.Security.Cryptography." + x.kind
	case *Uri:
		return "System.Uri"
	case *RSAKey:
		return "System.Security.Cryptography.RSA"
	case *XDocument:
		return "System.Xml.Linq.XDocument"
	case *XElement:
		return "System.Xml.Linq.XElement"
	case XName:
		return "System.Xml.Linq.XName"
	case XNamespace:
		return "System.Xml.Linq.XNamespace"
	case http.Header:
		return "IReadOnlyDictionary`2[System.String,System.String[]]"
	case Variables:
		return "IReadOnlyDictionary`2[System.String,System.Object]"
	}
	return "System.Object"
}

// ToString converts a value to a string with C# ToString() semantics:
// null → "", bool → "True"/"False", doubles in shortest round-trip form,
// JSON objects/arrays as indented JSON, JSON strings unquoted.
func ToString(v any) string {
	if isNilModel(v) {
		return ""
	}
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		if x {
			return "True"
		}
		return "False"
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return formatDouble(x)
	case Decimal:
		return x.String()
	case Char:
		return string(rune(x))
	case byte:
		return strconv.Itoa(int(x))
	case time.Time:
		s, _ := formatDateTime(x, "G")
		return s
	case DateTimeOffset:
		s, _ := formatDateTime(x.T, "G")
		return s + " " + offsetString(x.T)
	case time.Duration:
		return formatTimeSpan(x)
	case Guid:
		return x.String()
	case Enum:
		return x.Name
	case *JValue:
		return jvalueString(x.V)
	case *JObject, *JArray, *JProperty:
		s, err := jsonString(x, true)
		if err != nil {
			return ""
		}
		return s
	case *KeyValue:
		return "[" + ToString(x.Key) + ", " + ToString(x.Value) + "]"
	case *Exception:
		return x.Type + ": " + x.Message
	case *Match:
		return x.Value
	case *Group:
		return x.Value
	case *URL:
		return x.String()
	case *Uri:
		if x.relative {
			return x.original
		}
		return x.absoluteURI()
	case *StringBuilder:
		return x.sb.String()
	case *XElement:
		return x.String()
	case *XDocument:
		return x.Root.String()
	case XName:
		return x.String()
	case XNamespace:
		return x.Name
	case *XAttribute:
		return x.Name.Local + "=\"" + x.Value + "\""
	case *Anon:
		var sb strings.Builder
		if x.tuple {
			sb.WriteByte('(')
			for i, v := range x.vals {
				if i > 0 {
					sb.WriteString(", ")
				}
				sb.WriteString(ToString(v))
			}
			sb.WriteByte(')')
			return sb.String()
		}
		sb.WriteString("{ ")
		for i, n := range x.names {
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString(n)
			sb.WriteString(" = ")
			sb.WriteString(ToString(x.vals[i]))
		}
		sb.WriteString(" }")
		return sb.String()
	}
	return typeName(v)
}

func jvalueString(v any) string {
	switch y := v.(type) {
	case nil:
		return ""
	case int64:
		return strconv.FormatInt(y, 10)
	case float64:
		return formatDouble(y)
	}
	return ToString(v)
}

// formatDouble renders a double like .NET Core's double.ToString() (shortest
// round-trippable, scientific outside 1E-05..1E+15).
func formatDouble(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	a := math.Abs(f)
	if a != 0 && (a >= 1e15 || a < 1e-4) {
		s := strconv.FormatFloat(f, 'E', -1, 64)
		// Go: 1E+20, 1.5E-07 → .NET: 1E+20, 1.5E-07 (two-digit minimum exponent)
		if i := strings.IndexByte(s, 'E'); i >= 0 {
			mant, exp := s[:i], s[i+1:]
			sign := exp[0]
			digits := strings.TrimLeft(exp[1:], "0")
			for len(digits) < 2 {
				digits = "0" + digits
			}
			return mant + "E" + string(sign) + digits
		}
		return s
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// formatTimeSpan renders [-][d.]hh:mm:ss[.fffffff].
func formatTimeSpan(d time.Duration) string {
	var sb strings.Builder
	if d < 0 {
		sb.WriteByte('-')
		d = -d
	}
	ticks := int64(d / 100)
	days := ticks / (864000000000)
	ticks %= 864000000000
	h := ticks / 36000000000
	ticks %= 36000000000
	m := ticks / 600000000
	ticks %= 600000000
	s := ticks / 10000000
	frac := ticks % 10000000
	if days > 0 {
		sb.WriteString(strconv.FormatInt(days, 10))
		sb.WriteByte('.')
	}
	sb.WriteString(pad2(int(h)))
	sb.WriteByte(':')
	sb.WriteString(pad2(int(m)))
	sb.WriteByte(':')
	sb.WriteString(pad2(int(s)))
	if frac > 0 {
		f := strconv.FormatInt(frac, 10)
		sb.WriteByte('.')
		sb.WriteString(strings.Repeat("0", 7-len(f)) + f)
	}
	return sb.String()
}

func pad2(n int) string {
	if n < 10 {
		return "0" + strconv.Itoa(n)
	}
	return strconv.Itoa(n)
}

func base64Std(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// utf16Len is the C# string Length (UTF-16 code units).
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
	}
	return n
}

// isASCII reports whether UTF-16 indexes equal byte indexes.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func toUTF16(s string) []uint16 { return utf16.Encode([]rune(s)) }

func fromUTF16(u []uint16) string { return string(utf16.Decode(u)) }
