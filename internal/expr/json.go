package expr

import (
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// JObject is Newtonsoft.Json.Linq.JObject: an ordered set of properties.
type JObject struct {
	props  []*JProperty
	parent any // JToken.Parent: the *JProperty or *JArray holding it
}

// JProperty is a name/value pair of a JObject.
type JProperty struct {
	Name   string
	Value  any // a JToken: *JObject, *JArray or *JValue
	parent *JObject
}

// JArray is Newtonsoft.Json.Linq.JArray.
type JArray struct {
	Items  []any // JTokens
	parent any
}

// JValue is a primitive JSON value: nil, string, int64, float64, bool or time.Time.
type JValue struct {
	V      any
	parent any
}

// NewJObject returns an empty JObject.
func NewJObject() *JObject { return &JObject{} }

// Len returns the number of properties.
func (o *JObject) Len() int { return len(o.props) }

// Properties returns the properties in order.
func (o *JObject) Properties() []*JProperty { return o.props }

func (o *JObject) find(name string) int {
	for i, p := range o.props {
		if p.Name == name {
			return i
		}
	}
	return -1
}

// Get returns the value of the named property, or nil.
func (o *JObject) Get(name string) any {
	if i := o.find(name); i >= 0 {
		return o.props[i].Value
	}
	return nil
}

// Set replaces or appends the named property.
func (o *JObject) Set(name string, v any) {
	if i := o.find(name); i >= 0 {
		clearParent(o.props[i].Value, o.props[i])
		o.props[i].Value = v
		setParent(v, o.props[i])
		return
	}
	p := &JProperty{Name: name, Value: v, parent: o}
	setParent(v, p)
	o.props = append(o.props, p)
}

// add appends a new property, failing on a duplicate name like Newtonsoft.
func (o *JObject) add(name string, v any) error {
	if o.find(name) >= 0 {
		return errArg("Can not add property %s to Newtonsoft.Json.Linq.JObject. Property with the same name already exists on object.", name)
	}
	p := &JProperty{Name: name, Value: v, parent: o}
	setParent(v, p)
	o.props = append(o.props, p)
	return nil
}

// addProp adds a property instance, reusing it when it has no parent yet
// (Newtonsoft clones a property that already belongs to another object).
func (o *JObject) addProp(p *JProperty) error {
	if p.parent != nil {
		return o.add(p.Name, p.Value)
	}
	if o.find(p.Name) >= 0 {
		return o.add(p.Name, p.Value)
	}
	p.parent = o
	setParent(p.Value, p)
	o.props = append(o.props, p)
	return nil
}

// Remove deletes the named property and reports whether it existed.
func (o *JObject) Remove(name string) bool {
	if i := o.find(name); i >= 0 {
		o.props[i].parent = nil
		o.props = append(o.props[:i], o.props[i+1:]...)
		return true
	}
	return false
}

// ---- conversion of Go/C# values into JTokens ----

// toJToken converts a value to a JToken the way Newtonsoft's implicit
// conversions and JToken.FromObject do.
func toJToken(v any, depth int) (any, error) {
	if depth > maxJSONDepth {
		return nil, errInvalidOp("Self referencing loop detected.")
	}
	if isNilModel(v) {
		return &JValue{}, nil
	}
	switch x := v.(type) {
	case nil:
		return &JValue{}, nil
	case *JObject, *JArray, *JValue:
		return x, nil
	case *JProperty:
		return x, nil
	case string:
		return &JValue{V: x}, nil
	case int:
		return &JValue{V: int64(x)}, nil
	case int64:
		return &JValue{V: x}, nil
	case byte:
		return &JValue{V: int64(x)}, nil
	case float64:
		return &JValue{V: x}, nil
	case Decimal:
		return &JValue{V: x}, nil
	case bool:
		return &JValue{V: x}, nil
	case Char:
		return &JValue{V: string(rune(x))}, nil
	case time.Time:
		return &JValue{V: x}, nil
	case DateTimeOffset:
		return &JValue{V: x.T}, nil
	case time.Duration:
		return &JValue{V: formatTimeSpan(x)}, nil
	case Guid:
		return &JValue{V: x.String()}, nil
	case []byte:
		return &JValue{V: base64Std(x)}, nil
	case *List:
		a := &JArray{Items: make([]any, 0, len(x.Items))}
		for _, it := range x.Items {
			t, err := toJToken(it, depth+1)
			if err != nil {
				return nil, err
			}
			setParent(t, a)
			a.Items = append(a.Items, t)
		}
		return a, nil
	case *Dict:
		o := &JObject{}
		for i, k := range x.keys {
			t, err := toJToken(x.vals[i], depth+1)
			if err != nil {
				return nil, err
			}
			o.Set(ToString(k), t)
		}
		return o, nil
	case *Anon:
		o := &JObject{}
		for i, n := range x.names {
			t, err := toJToken(x.vals[i], depth+1)
			if err != nil {
				return nil, err
			}
			o.Set(n, t)
		}
		return o, nil
	case Enum:
		return &JValue{V: int64(x.Val)}, nil
	case *KeyValue:
		return toJToken(&Anon{names: []string{"Key", "Value"}, vals: []any{x.Key, x.Value}}, depth+1)
	case *LastError:
		return toJToken(&Anon{names: []string{"Source", "Reason", "Message", "Scope", "Section", "Path", "PolicyId"},
			vals: []any{x.Source, x.Reason, x.Message, x.Scope, x.Section, x.Path, x.PolicyId}}, depth+1)
	case *Subscription:
		return toJToken(&Anon{names: []string{"Id", "Name", "Key", "PrimaryKey", "SecondaryKey", "CreatedDate"},
			vals: []any{x.Id, x.Name, x.Key, x.PrimaryKey, x.SecondaryKey, x.CreatedDate}}, depth+1)
	case *Product:
		return toJToken(&Anon{names: []string{"Id", "Name"}, vals: []any{x.Id, x.Name}}, depth+1)
	case *Operation:
		return toJToken(&Anon{names: []string{"Id", "Name", "Method", "UrlTemplate"}, vals: []any{x.Id, x.Name, x.Method, x.UrlTemplate}}, depth+1)
	case *User:
		return toJToken(&Anon{names: []string{"Id", "Email", "FirstName", "LastName"}, vals: []any{x.Id, x.Email, x.FirstName, x.LastName}}, depth+1)
	case *Jwt:
		return cloneJToken(x.Payload)
	case *URL:
		return &JValue{V: x.String()}, nil
	case *Uri:
		return &JValue{V: x.u.String()}, nil
	}
	return nil, errArg("Could not determine JSON object type for type %s.", typeName(v))
}

// fromJValue unwraps a JValue to its primitive (other tokens unchanged).
func fromJValue(v any) any {
	if jv, ok := v.(*JValue); ok {
		return jv.V
	}
	return v
}

// ---- JSON parsing (order-preserving, Newtonsoft-like leniency) ----

const maxJSONDepth = 256

type jsonParser struct {
	s    string
	i    int
	line int
	col0 int
}

func (p *jsonParser) fail(msg string) error {
	return &RuntimeError{Type: "JsonReaderException", Msg: msg + " Path '', line " + strconv.Itoa(p.line) + ", position " + strconv.Itoa(p.i-p.col0) + "."}
}

// ParseJSON parses JSON text into a JToken, keeping object key order.
func ParseJSON(s string) (any, error) {
	p := &jsonParser{s: strings.TrimPrefix(s, "\ufeff"), line: 1}
	p.ws()
	if p.i >= len(p.s) {
		return nil, &RuntimeError{Type: "JsonReaderException", Msg: "Error reading JToken from JsonReader. Path '', line 0, position 0."}
	}
	v, err := p.value(0)
	if err != nil {
		return nil, err
	}
	p.ws()
	if p.i < len(p.s) {
		return nil, p.fail("Additional text encountered after finished reading JSON content: " + string(p.s[p.i]) + ".")
	}
	return v, nil
}

func (p *jsonParser) ws() {
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '\n':
			p.line++
			p.i++
			p.col0 = p.i
		case c == ' ' || c == '\t' || c == '\r':
			p.i++
		case c == '/' && p.i+1 < len(p.s) && p.s[p.i+1] == '/':
			for p.i < len(p.s) && p.s[p.i] != '\n' {
				p.i++
			}
		case c == '/' && p.i+1 < len(p.s) && p.s[p.i+1] == '*':
			end := strings.Index(p.s[p.i+2:], "*/")
			if end < 0 {
				p.i = len(p.s)
				return
			}
			p.i += end + 4
		default:
			return
		}
	}
}

func (p *jsonParser) value(depth int) (any, error) {
	if depth > maxJSONDepth {
		return nil, p.fail("The reader's MaxDepth of 256 has been exceeded.")
	}
	p.ws()
	if p.i >= len(p.s) {
		return nil, p.fail("Unexpected end of content while loading JObject.")
	}
	c := p.s[p.i]
	switch {
	case c == '{':
		p.i++
		o := &JObject{}
		p.ws()
		if p.i < len(p.s) && p.s[p.i] == '}' {
			p.i++
			return o, nil
		}
		for {
			p.ws()
			if p.i >= len(p.s) {
				return nil, p.fail("Unexpected end of content while loading JObject.")
			}
			var name string
			var err error
			switch p.s[p.i] {
			case '"', '\'':
				name, err = p.str(p.s[p.i])
			default:
				start := p.i
				for p.i < len(p.s) && (isIdentByte(p.s[p.i])) {
					p.i++
				}
				if p.i == start {
					return nil, p.fail("Invalid property identifier character: " + string(p.s[p.i]) + ".")
				}
				name = p.s[start:p.i]
			}
			if err != nil {
				return nil, err
			}
			p.ws()
			if p.i >= len(p.s) || p.s[p.i] != ':' {
				return nil, p.fail("Invalid character after parsing property name. Expected ':'.")
			}
			p.i++
			v, err := p.value(depth + 1)
			if err != nil {
				return nil, err
			}
			o.Set(name, v) // Newtonsoft: a duplicate key replaces the earlier value
			p.ws()
			if p.i >= len(p.s) {
				return nil, p.fail("Unexpected end of content while loading JObject.")
			}
			if p.s[p.i] == ',' {
				p.i++
				p.ws()
				if p.i < len(p.s) && p.s[p.i] == '}' {
					p.i++
					return o, nil
				}
				continue
			}
			if p.s[p.i] == '}' {
				p.i++
				return o, nil
			}
			return nil, p.fail("After parsing a value an unexpected character was encountered: " + string(p.s[p.i]) + ".")
		}
	case c == '[':
		p.i++
		a := &JArray{}
		for {
			p.ws()
			if p.i >= len(p.s) {
				return nil, p.fail("Unexpected end of content while loading JArray.")
			}
			if p.s[p.i] == ']' {
				p.i++
				return a, nil
			}
			v, err := p.value(depth + 1)
			if err != nil {
				return nil, err
			}
			setParent(v, a)
			a.Items = append(a.Items, v)
			p.ws()
			if p.i < len(p.s) && p.s[p.i] == ',' {
				p.i++
				continue
			}
			if p.i < len(p.s) && p.s[p.i] == ']' {
				p.i++
				return a, nil
			}
			return nil, p.fail("Unexpected character encountered while parsing array.")
		}
	case c == '"' || c == '\'':
		s, err := p.str(c)
		if err != nil {
			return nil, err
		}
		if t, ok := newtonsoftDate(s); ok {
			return &JValue{V: t}, nil
		}
		return &JValue{V: s}, nil
	case c == '-' || c >= '0' && c <= '9':
		start := p.i
		p.i++
		isFloat := false
		for p.i < len(p.s) {
			d := p.s[p.i]
			if d >= '0' && d <= '9' {
				p.i++
			} else if d == '.' || d == 'e' || d == 'E' || ((d == '+' || d == '-') && (p.s[p.i-1] == 'e' || p.s[p.i-1] == 'E')) {
				isFloat = true
				p.i++
			} else {
				break
			}
		}
		text := p.s[start:p.i]
		if !isFloat {
			if n, err := strconv.ParseInt(text, 10, 64); err == nil {
				return &JValue{V: n}, nil
			}
		}
		f, err := strconv.ParseFloat(text, 64)
		if err != nil && !isRangeErr(err) {
			return nil, p.fail("Input string '" + text + "' is not a valid number.")
		}
		return &JValue{V: f}, nil
	default:
		start := p.i
		for p.i < len(p.s) && isIdentByte(p.s[p.i]) {
			p.i++
		}
		switch p.s[start:p.i] {
		case "true":
			return &JValue{V: true}, nil
		case "false":
			return &JValue{V: false}, nil
		case "null", "undefined":
			return &JValue{}, nil
		case "NaN":
			return &JValue{V: math.NaN()}, nil
		case "Infinity":
			return &JValue{V: math.Inf(1)}, nil
		}
		if p.i == start {
			p.i++
		}
		return nil, p.fail("Unexpected character encountered while parsing value: " + string(c) + ".")
	}
}

func isRangeErr(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

func isIdentByte(c byte) bool {
	return c == '_' || c == '$' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}

func (p *jsonParser) str(q byte) (string, error) {
	p.i++
	var sb strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == q:
			p.i++
			return sb.String(), nil
		case c == '\\':
			p.i++
			if p.i >= len(p.s) {
				return "", p.fail("Unterminated string. Expected delimiter: " + string(q) + ".")
			}
			e := p.s[p.i]
			p.i++
			switch e {
			case 'n':
				sb.WriteByte('\n')
			case 't':
				sb.WriteByte('\t')
			case 'r':
				sb.WriteByte('\r')
			case 'b':
				sb.WriteByte('\b')
			case 'f':
				sb.WriteByte('\f')
			case 'u':
				if p.i+4 > len(p.s) {
					return "", p.fail("Unexpected end while parsing Unicode escape sequence.")
				}
				v, err := strconv.ParseUint(p.s[p.i:p.i+4], 16, 32)
				if err != nil {
					return "", p.fail("Invalid Unicode escape sequence.")
				}
				p.i += 4
				r := rune(v)
				if r >= 0xD800 && r < 0xDC00 && p.i+6 <= len(p.s) && p.s[p.i] == '\\' && p.s[p.i+1] == 'u' {
					if lo, err := strconv.ParseUint(p.s[p.i+2:p.i+6], 16, 32); err == nil && lo >= 0xDC00 && lo < 0xE000 {
						r = (r-0xD800)<<10 + (rune(lo) - 0xDC00) + 0x10000
						p.i += 6
					}
				}
				sb.WriteRune(r)
			default:
				sb.WriteByte(e)
			}
		default:
			if c == '\n' {
				p.line++
				p.col0 = p.i + 1
			}
			sb.WriteByte(c)
			p.i++
		}
	}
	return "", p.fail("Unterminated string. Expected delimiter: " + string(q) + ".")
}

// ---- JSON writing (Newtonsoft output format) ----

// writeJSON serializes a JToken; indent selects Formatting.Indented.
func writeJSON(sb *strings.Builder, v any, indent bool, level int) error {
	if level > maxJSONDepth {
		return errInvalidOp("Self referencing loop detected.")
	}
	switch x := v.(type) {
	case *JObject:
		if len(x.props) == 0 {
			sb.WriteString("{}")
			return nil
		}
		sb.WriteByte('{')
		for i, p := range x.props {
			if i > 0 {
				sb.WriteByte(',')
			}
			if indent {
				newline(sb, level+1)
			}
			writeJSONString(sb, p.Name)
			sb.WriteByte(':')
			if indent {
				sb.WriteByte(' ')
			}
			if err := writeJSON(sb, p.Value, indent, level+1); err != nil {
				return err
			}
		}
		if indent {
			newline(sb, level)
		}
		sb.WriteByte('}')
	case *JArray:
		if len(x.Items) == 0 {
			sb.WriteString("[]")
			return nil
		}
		sb.WriteByte('[')
		for i, it := range x.Items {
			if i > 0 {
				sb.WriteByte(',')
			}
			if indent {
				newline(sb, level+1)
			}
			if err := writeJSON(sb, it, indent, level+1); err != nil {
				return err
			}
		}
		if indent {
			newline(sb, level)
		}
		sb.WriteByte(']')
	case *JProperty:
		writeJSONString(sb, x.Name)
		sb.WriteByte(':')
		if indent {
			sb.WriteByte(' ')
		}
		return writeJSON(sb, x.Value, indent, level)
	case *JValue:
		writeJSONPrimitive(sb, x.V)
	case nil:
		sb.WriteString("null")
	default:
		t, err := toJToken(v, level)
		if err != nil {
			return err
		}
		if _, same := t.(*JValue); same {
			writeJSONPrimitive(sb, t.(*JValue).V)
			return nil
		}
		return writeJSON(sb, t, indent, level)
	}
	return nil
}

func newline(sb *strings.Builder, level int) {
	// Newtonsoft writes Environment.NewLine; the managed APIM gateway runs on
	// Windows, so indented JSON uses CRLF there and here.
	sb.WriteString("\r\n")
	for i := 0; i < level; i++ {
		sb.WriteString("  ")
	}
}

func writeJSONPrimitive(sb *strings.Builder, v any) {
	switch x := v.(type) {
	case nil:
		sb.WriteString("null")
	case string:
		writeJSONString(sb, x)
	case int64:
		sb.WriteString(strconv.FormatInt(x, 10))
	case float64:
		switch {
		case math.IsNaN(x):
			sb.WriteString("NaN")
		case math.IsInf(x, 1):
			sb.WriteString("Infinity")
		case math.IsInf(x, -1):
			sb.WriteString("-Infinity")
		default:
			s := formatDouble(x)
			if !strings.ContainsAny(s, ".E") {
				s += ".0"
			}
			sb.WriteString(s)
		}
	case bool:
		if x {
			sb.WriteString("true")
		} else {
			sb.WriteString("false")
		}
	case time.Time:
		sb.WriteByte('"')
		sb.WriteString(isoDate(x))
		sb.WriteByte('"')
	case Decimal:
		sb.WriteString(x.String())
	default:
		writeJSONString(sb, ToString(x))
	}
}

// isoDate formats like Newtonsoft's IsoDateTimeFormat (yyyy-MM-ddTHH:mm:ss.FFFFFFFK).
func isoDate(t time.Time) string {
	s, _ := formatDateTime(t, "yyyy'-'MM'-'dd'T'HH':'mm':'ss.FFFFFFFK")
	return s
}

func writeJSONString(sb *strings.Builder, s string) {
	sb.WriteByte('"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch c {
			case '"':
				sb.WriteString(`\"`)
			case '\\':
				sb.WriteString(`\\`)
			case '\n':
				sb.WriteString(`\n`)
			case '\r':
				sb.WriteString(`\r`)
			case '\t':
				sb.WriteString(`\t`)
			case '\b':
				sb.WriteString(`\b`)
			case '\f':
				sb.WriteString(`\f`)
			default:
				if c < 0x20 {
					sb.WriteString(`\u00`)
					sb.WriteByte("0123456789abcdef"[c>>4])
					sb.WriteByte("0123456789abcdef"[c&15])
				} else {
					sb.WriteByte(c)
				}
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		switch r {
		case 0x85:
			sb.WriteString(`\u0085`)
		case 0x2028:
			sb.WriteString(`\u2028`)
		case 0x2029:
			sb.WriteString(`\u2029`)
		default:
			sb.WriteString(s[i : i+n])
		}
		i += n
	}
	sb.WriteByte('"')
}

// jsonString serializes a token (Formatting.Indented when indent is true).
func jsonString(v any, indent bool) (string, error) {
	var sb strings.Builder
	if err := writeJSON(&sb, v, indent, 0); err != nil {
		return "", err
	}
	return sb.String(), nil
}

func childByName(v any, name string) any {
	if o, ok := v.(*JObject); ok {
		return o.Get(name)
	}
	return nil
}

// cloneJToken deep-copies a token (JToken.DeepClone); a token that contains
// itself is an error instead of endless recursion.
func cloneJToken(v any) (any, error) { return cloneDepth(v, 0) }

func cloneDepth(v any, depth int) (any, error) {
	if depth > maxJSONDepth {
		return nil, errInvalidOp("Self referencing loop detected.")
	}
	switch x := v.(type) {
	case *JObject:
		o := &JObject{props: make([]*JProperty, len(x.props))}
		for i, p := range x.props {
			c, err := cloneDepth(p.Value, depth+1)
			if err != nil {
				return nil, err
			}
			o.props[i] = &JProperty{Name: p.Name, Value: c, parent: o}
			setParent(c, o.props[i])
		}
		return o, nil
	case *JArray:
		a := &JArray{Items: make([]any, len(x.Items))}
		for i, it := range x.Items {
			c, err := cloneDepth(it, depth+1)
			if err != nil {
				return nil, err
			}
			a.Items[i] = c
			setParent(c, a)
		}
		return a, nil
	case *JValue:
		return &JValue{V: x.V}, nil
	case *JProperty:
		c, err := cloneDepth(x.Value, depth+1)
		if err != nil {
			return nil, err
		}
		np := &JProperty{Name: x.Name, Value: c}
		setParent(c, np)
		return np, nil
	}
	return v, nil
}

// FormatJSON serializes a JToken (or any value expressions produce) the way
// Newtonsoft does: Formatting.Indented when indented is true, else compact.
func FormatJSON(v any, indented bool) (string, error) { return jsonString(v, indented) }

// ToJToken converts a Go or expression value (string, number, bool, *List,
// *Dict, anonymous object, ...) to a JToken, as JToken.FromObject does.
func ToJToken(v any) (any, error) { return toJToken(v, 0) }

// mergeJObject is JObject.Merge with Newtonsoft's defaults: objects merge
// recursively, arrays concatenate (or are replaced), null values are kept,
// other values replace.
func mergeJObject(dst, src *JObject, replaceArrays bool, depth int) error {
	if depth > maxJSONDepth {
		return errInvalidOp("Self referencing loop detected.")
	}
	for _, p := range src.props {
		cur := dst.Get(p.Name)
		switch sv := p.Value.(type) {
		case *JObject:
			if dv, ok := cur.(*JObject); ok {
				if err := mergeJObject(dv, sv, replaceArrays, depth+1); err != nil {
					return err
				}
				continue
			}
		case *JArray:
			if dv, ok := cur.(*JArray); ok && !replaceArrays {
				for _, it := range sv.Items {
					c, err := cloneJToken(it)
					if err != nil {
						return err
					}
					setParent(c, dv)
					dv.Items = append(dv.Items, c)
				}
				continue
			}
		case *JValue:
			if sv.V == nil && cur != nil {
				continue // MergeNullValueHandling.Ignore
			}
		}
		c, err := cloneJToken(p.Value)
		if err != nil {
			return err
		}
		dst.Set(p.Name, c)
	}
	return nil
}

// newtonsoftDate is Newtonsoft's DateParseHandling.DateTime: a string in
// ISO 8601 form (yyyy-MM-ddTHH:mm:ss[.fffffff][Z|+hh:mm]) is read as a Date
// token. "Z" keeps DateTimeKind.Utc, an offset converts to the gateway's
// local time (UTC, kind Local), no zone gives an unspecified DateTime.
func newtonsoftDate(s string) (time.Time, bool) {
	if len(s) < 19 || len(s) > 40 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return time.Time{}, false
	}
	for _, i := range []int{0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18} {
		if s[i] < '0' || s[i] > '9' {
			return time.Time{}, false
		}
	}
	rest := s[19:]
	frac := ""
	if strings.HasPrefix(rest, ".") {
		j := 1
		for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
			j++
		}
		if j == 1 || j > 8 {
			return time.Time{}, false
		}
		frac, rest = rest[:j], rest[j:]
	}
	var loc *time.Location
	switch {
	case rest == "":
		loc = unspecified
	case rest == "Z":
		loc = time.UTC
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		loc = nil
	default:
		return time.Time{}, false
	}
	layout := "2006-01-02T15:04:05"
	if frac != "" {
		layout += "." + strings.Repeat("0", len(frac)-1)
	}
	if loc == nil {
		t, err := time.Parse(layout+"Z07:00", s)
		if err != nil {
			return time.Time{}, false
		}
		u := t.UTC()
		return time.Date(u.Year(), u.Month(), u.Day(), u.Hour(), u.Minute(), u.Second(), u.Nanosecond(), dtoLoc(0)), true
	}
	t, err := time.ParseInLocation(layout, strings.TrimSuffix(s, "Z"), loc)
	if err != nil {
		return time.Time{}, false
	}
	return t, true
}

// parentField is the Parent field of a JSON token (nil for other values).
func parentField(t any) *any {
	switch c := t.(type) {
	case *JObject:
		return &c.parent
	case *JArray:
		return &c.parent
	case *JValue:
		return &c.parent
	}
	return nil
}

// setParent records the container of a token (JToken.Parent): the
// JProperty for an object's value, the JArray for an item. A token that
// already belongs to a container keeps it (Newtonsoft would add a copy).
func setParent(child, parent any) {
	if p := parentField(child); p != nil && *p == nil {
		*p = parent
	}
}

// clearParent detaches a token removed from parent.
func clearParent(child, parent any) {
	if p := parentField(child); p != nil && *p == parent {
		*p = nil
	}
}

// jsonParent is JToken.Parent (nil for a root token).
func jsonParent(v any) any {
	var p any
	switch c := v.(type) {
	case *JObject:
		p = c.parent
	case *JArray:
		p = c.parent
	case *JValue:
		p = c.parent
	case *JProperty:
		if c.parent != nil {
			return c.parent
		}
	}
	return p
}

// jsonPathSpecial are the characters that make Newtonsoft write a property
// name as ['name'] in JToken.Path.
const jsonPathSpecial = ". '/\"[]()\t\n\r\f\b\\\u0085\u2028\u2029"

// jsonPath is JToken.Path: the property names and array indexes from the
// root to the token (a.b[1]['x y']).
func jsonPath(v any) string {
	var parts []string
	var prev any
	for cur := v; cur != nil; cur = jsonParent(cur) {
		switch c := cur.(type) {
		case *JProperty:
			if strings.ContainsAny(c.Name, jsonPathSpecial) {
				parts = append(parts, "['"+strings.NewReplacer("\\", "\\\\", "'", "\\'").Replace(c.Name)+"']")
			} else {
				parts = append(parts, "."+c.Name)
			}
		case *JArray:
			if prev != nil {
				for i, it := range c.Items {
					if it == prev {
						parts = append(parts, "["+strconv.Itoa(i)+"]")
						break
					}
				}
			}
		}
		prev = cur
	}
	var sb strings.Builder
	for i := len(parts) - 1; i >= 0; i-- {
		sb.WriteString(parts[i])
	}
	return strings.TrimPrefix(sb.String(), ".")
}
