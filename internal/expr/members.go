package expr

import (
	"net/http"
	"strings"
	"time"
)

// propertyGetter resolves obj.Name. A model receiver resolves at compile
// time; a dynamic receiver dispatches on its Go type at run time, and a name
// no supported type has is a compile error.
func propertyGetter(n node, st sType, name string, anon map[string]bool) (getter, sType, *Error) {
	if isModel(st) {
		if g, rst, ok := modelProp(st, name); ok {
			return g, rst, nil
		}
		if st == stClaims || st == stHeaders || st == stQuery || st == stParams || st == stVariables {
			return nil, 0, errAt(n, "'%s' does not contain a definition for '%s'", modelNames[st], name)
		}
		if s := suggestMember(st, name); s != "" {
			return nil, 0, errAt(n, "unknown member '%s' on %s (did you mean '%s'?)", name, modelNames[st], s)
		}
		return nil, 0, errAt(n, "unknown member '%s' on %s", name, modelNames[st])
	}
	var models [stCount]getter
	anyModel := false
	for k := stContext; k < stCount; k++ {
		if g, _, ok := modelProp(k, name); ok {
			models[k] = g
			anyModel = true
		}
	}
	dyn := dynProp(name)
	isAnon := anon[name] || xmlPropNames[name]
	if dyn == nil && !anyModel && !isAnon {
		return nil, 0, errAt(n, "unknown member '%s'", name)
	}
	return func(v any) (any, error) {
		if k := modelKind(v); k != stAny {
			if g := models[k]; g != nil {
				return g(v)
			}
			return nil, errNoMember(v, name)
		}
		if a, ok := v.(*Anon); ok {
			for i, n := range a.names {
				if n == name {
					return a.vals[i], nil
				}
			}
		}
		if isXML(v) {
			if out, ok := xmlProp(v, name); ok {
				return out, nil
			}
			return nil, errNoMember(v, name)
		}
		if t, ok := v.(*TypeInfo); ok {
			if out, ok := typeProp(t, name); ok {
				return out, nil
			}
		}
		if dyn != nil {
			return dyn(v)
		}
		return nil, errNoMember(v, name)
	}, stAny, nil
}

func isXML(v any) bool {
	switch v.(type) {
	case *XDocument, *XElement, *XAttribute, XName, XNamespace:
		return true
	}
	return false
}

var xmlPropNames = map[string]bool{"Root": true, "LocalName": true, "NamespaceName": true, "HasElements": true, "HasAttributes": true, "Parent": true, "Namespace": true, "FullName": true, "HasValue": true}

// propertySetter supports the few writable properties expressions assign.
func propertySetter(n node, name string) (func(r, v any) error, *Error) {
	switch name {
	case "Value":
		return func(r, v any) error {
			switch x := r.(type) {
			case *JProperty:
				t, err := toJToken(v, 0)
				if err != nil {
					return err
				}
				clearParent(x.Value, x)
				setParent(t, x)
				x.Value = t
				return nil
			case *JValue:
				x.V = fromJValue(v)
				if t, err := toJToken(v, 0); err == nil {
					if jv, ok := t.(*JValue); ok {
						x.V = jv.V
					}
				}
				return nil
			}
			return errNoMember(r, name)
		}, nil
	}
	return nil, errAt(n, "unsupported C# construct: assignment to property '%s'", name)
}

// dynProp returns the run-time getter for a property name on non-model values.
func dynProp(name string) getter {
	switch name {
	case "Length":
		return func(v any) (any, error) {
			switch x := v.(type) {
			case string:
				return utf16Len(x), nil
			case *List:
				return len(x.Items), nil
			case []byte:
				return len(x), nil
			case *StringBuilder:
				return utf16Len(x.sb.String()), nil
			case *Match:
				return utf16Len(x.Value), nil
			case *Group:
				return utf16Len(x.Value), nil
			}
			return nil, errNoMember(v, name)
		}
	case "Count":
		return func(v any) (any, error) {
			switch x := v.(type) {
			case *List:
				return len(x.Items), nil
			case *JArray:
				return len(x.Items), nil
			case *JObject:
				return len(x.props), nil
			case *Dict:
				return len(x.keys), nil
			case *groupCollection:
				return len(x.groups), nil
			}
			return nil, errNoMember(v, name)
		}
	case "HasValue":
		// Nullable<T>.HasValue
		return func(v any) (any, error) { return v != nil, nil }
	case "Value":
		return func(v any) (any, error) {
			switch x := v.(type) {
			case time.Time, int, int64, float64, bool, Char, Decimal, time.Duration, Guid, DateTimeOffset:
				// Nullable<T>.Value
				return x, nil
			case *JValue:
				return x.V, nil
			case *JProperty:
				return x.Value, nil
			case *KeyValue:
				return x.Value, nil
			case *Match:
				return x.Value, nil
			case *Group:
				return x.Value, nil
			}
			return nil, errNoMember(v, name)
		}
	case "Key":
		return func(v any) (any, error) {
			switch x := v.(type) {
			case *KeyValue:
				return x.Key, nil
			case *Grouping:
				return x.Key, nil
			case *JProperty:
				// foreach (var p in jobject) yields KeyValuePair<string, JToken>
				return x.Name, nil
			}
			return nil, errNoMember(v, name)
		}
	case "Keys", "Values":
		return func(v any) (any, error) {
			switch x := v.(type) {
			case *Dict:
				if name == "Keys" {
					return &List{Items: append([]any(nil), x.keys...)}, nil
				}
				return &List{Items: append([]any(nil), x.vals...)}, nil
			case *JObject:
				l := &List{}
				for _, p := range x.props {
					if name == "Keys" {
						l.Items = append(l.Items, p.Name)
					} else {
						l.Items = append(l.Items, p.Value)
					}
				}
				return l, nil
			}
			return nil, errNoMember(v, name)
		}
	case "Name":
		return func(v any) (any, error) {
			switch x := v.(type) {
			case *JProperty:
				return x.Name, nil
			case *Group:
				return x.Name, nil
			}
			return nil, errNoMember(v, name)
		}
	case "Type":
		return func(v any) (any, error) {
			switch x := v.(type) {
			case *JObject:
				return jtokenType("Object"), nil
			case *JArray:
				return jtokenType("Array"), nil
			case *JProperty:
				return jtokenType("Property"), nil
			case *JValue:
				switch x.V.(type) {
				case nil:
					return jtokenType("Null"), nil
				case string:
					return jtokenType("String"), nil
				case int64:
					return jtokenType("Integer"), nil
				case float64, Decimal:
					return jtokenType("Float"), nil
				case bool:
					return jtokenType("Boolean"), nil
				case time.Time:
					return jtokenType("Date"), nil
				}
				return jtokenType("String"), nil
			}
			return nil, errNoMember(v, name)
		}
	case "Parent":
		// JToken.Parent (XML parents are read before dynamic properties)
		return func(v any) (any, error) {
			switch v.(type) {
			case *JObject, *JArray, *JValue, *JProperty:
				p := jsonParent(v)
				if p == nil {
					return nil, nil
				}
				return p, nil
			}
			return nil, errNoMember(v, name)
		}
	case "Path":
		return func(v any) (any, error) {
			switch v.(type) {
			case *JObject, *JArray, *JValue, *JProperty:
				return jsonPath(v), nil
			}
			return nil, errNoMember(v, name)
		}
	case "HasValues":
		return func(v any) (any, error) {
			switch x := v.(type) {
			case *JObject:
				return len(x.props) > 0, nil
			case *JArray:
				return len(x.Items) > 0, nil
			case *JValue:
				return false, nil
			case *JProperty:
				return true, nil
			}
			return nil, errNoMember(v, name)
		}
	case "First", "Last":
		return func(v any) (any, error) {
			var items []any
			switch x := v.(type) {
			case *JArray:
				items = x.Items
			case *JObject:
				for _, p := range x.props {
					items = append(items, p)
				}
			case *JProperty:
				items = []any{x.Value}
			default:
				return nil, errNoMember(v, name)
			}
			if len(items) == 0 {
				return nil, nil
			}
			if name == "First" {
				return items[0], nil
			}
			return items[len(items)-1], nil
		}
	case "Success":
		return func(v any) (any, error) {
			switch x := v.(type) {
			case *Match:
				return x.Success, nil
			case *Group:
				return x.Success, nil
			}
			return nil, errNoMember(v, name)
		}
	case "Groups":
		return func(v any) (any, error) {
			if m, ok := v.(*Match); ok {
				return m.groups, nil
			}
			return nil, errNoMember(v, name)
		}
	case "Index":
		return func(v any) (any, error) {
			switch x := v.(type) {
			case *Match:
				return x.Index, nil
			case *Group:
				return x.Index, nil
			}
			return nil, errNoMember(v, name)
		}
	case "Message":
		return func(v any) (any, error) {
			if ex, ok := v.(*Exception); ok {
				return ex.Message, nil
			}
			return nil, errNoMember(v, name)
		}
	case "InnerException", "ParamName":
		return func(v any) (any, error) {
			if ex, ok := v.(*Exception); ok {
				if name == "ParamName" {
					return ex.ParamName, nil
				}
				if ex.Inner == nil {
					return nil, nil
				}
				return ex.Inner, nil
			}
			return nil, errNoMember(v, name)
		}
	case "UserId", "Password":
		return func(v any) (any, error) {
			if b, ok := v.(*BasicAuth); ok {
				if name == "UserId" {
					return b.UserId, nil
				}
				return b.Password, nil
			}
			return nil, errNoMember(v, name)
		}
	case "Year", "Month", "Day", "Hour", "Minute", "Second", "Millisecond", "DayOfWeek", "DayOfYear", "Date", "TimeOfDay", "Ticks", "UtcDateTime", "DateTime", "Offset", "UtcTicks",
		"TotalSeconds", "TotalMilliseconds", "TotalMinutes", "TotalHours", "TotalDays", "Seconds", "Minutes", "Hours", "Days", "Milliseconds", "Kind":
		return func(v any) (any, error) { return timeProp(v, name) }
	case "Host", "AbsolutePath", "AbsoluteUri", "Scheme", "Port", "Query", "PathAndQuery", "Authority", "Fragment", "OriginalString",
		"UserInfo", "Segments", "IsAbsoluteUri", "IsDefaultPort", "LocalPath":
		return func(v any) (any, error) {
			u, ok := v.(*Uri)
			if !ok {
				return nil, errNoMember(v, name)
			}
			if name == "OriginalString" {
				return u.original, nil
			}
			if name == "IsAbsoluteUri" {
				return !u.relative, nil
			}
			if u.relative {
				return nil, &RuntimeError{Type: "InvalidOperationException", Msg: "This operation is not supported for a relative URI."}
			}
			switch name {
			case "UserInfo":
				if u.u.User == nil {
					return "", nil
				}
				return u.u.User.String(), nil
			case "Segments":
				p := u.u.EscapedPath()
				var segs []string
				for len(p) > 0 {
					i := strings.IndexByte(p[1:], '/')
					if i < 0 {
						segs = append(segs, p)
						break
					}
					segs = append(segs, p[:i+2])
					p = p[i+2:]
				}
				if len(segs) > 0 && segs[0] != "/" && strings.HasPrefix(segs[0], "/") {
					segs = append([]string{"/", segs[0][1:]}, segs[1:]...)
				}
				return stringsList(segs), nil
			case "IsDefaultPort":
				return u.u.Port() == "", nil
			case "LocalPath":
				return u.u.Path, nil
			}
			switch name {
			case "Host":
				return u.u.Hostname(), nil
			case "AbsolutePath":
				p := u.u.EscapedPath()
				if p == "" {
					p = "/"
				}
				return p, nil
			case "AbsoluteUri":
				return u.absoluteURI(), nil
			case "Scheme":
				return u.u.Scheme, nil
			case "Port":
				return u.port(), nil
			case "Query":
				if u.u.RawQuery == "" {
					return "", nil
				}
				return "?" + u.u.RawQuery, nil
			case "PathAndQuery":
				return u.u.RequestURI(), nil
			case "Authority":
				return u.u.Host, nil
			}
			if u.u.Fragment == "" {
				return "", nil
			}
			return "#" + u.u.Fragment, nil
		}
	}
	return nil
}

// ticksOf returns .NET ticks (100ns since 0001-01-01).
func ticksOf(t time.Time) int64 {
	y := t.Year()
	days := int64(0)
	// days before year y
	yy := int64(y - 1)
	days = yy*365 + yy/4 - yy/100 + yy/400
	days += int64(t.YearDay() - 1)
	secs := days*86400 + int64(t.Hour()*3600+t.Minute()*60+t.Second())
	return secs*10000000 + int64(t.Nanosecond()/100)
}

func timeProp(v any, name string) (any, error) {
	var t time.Time
	switch x := v.(type) {
	case time.Time:
		t = x
	case DateTimeOffset:
		switch name {
		case "UtcDateTime":
			return x.T.UTC(), nil
		case "DateTime":
			return time.Date(x.T.Year(), x.T.Month(), x.T.Day(), x.T.Hour(), x.T.Minute(), x.T.Second(), x.T.Nanosecond(), unspecified), nil
		case "Offset":
			_, off := x.T.Zone()
			return time.Duration(off) * time.Second, nil
		case "UtcTicks":
			return ticksOf(x.T.UTC()), nil
		}
		t = x.T
	case time.Duration:
		switch name {
		case "TotalSeconds":
			return x.Seconds(), nil
		case "TotalMilliseconds":
			return float64(x) / float64(time.Millisecond), nil
		case "TotalMinutes":
			return x.Minutes(), nil
		case "TotalHours":
			return x.Hours(), nil
		case "TotalDays":
			return x.Hours() / 24, nil
		case "Seconds":
			return int(x/time.Second) % 60, nil
		case "Minutes":
			return int(x/time.Minute) % 60, nil
		case "Hours":
			return int(x/time.Hour) % 24, nil
		case "Days":
			return int(x / (24 * time.Hour)), nil
		case "Milliseconds":
			return int(x/time.Millisecond) % 1000, nil
		case "Ticks":
			return int64(x / 100), nil
		}
		return nil, errNoMember(v, name)
	default:
		return nil, errNoMember(v, name)
	}
	switch name {
	case "Year":
		return t.Year(), nil
	case "Month":
		return int(t.Month()), nil
	case "Day":
		return t.Day(), nil
	case "Hour":
		return t.Hour(), nil
	case "Minute":
		return t.Minute(), nil
	case "Second":
		return t.Second(), nil
	case "Millisecond":
		return t.Nanosecond() / 1e6, nil
	case "DayOfWeek":
		return Enum{Type: "DayOfWeek", Name: t.Weekday().String(), Val: int(t.Weekday())}, nil
	case "DayOfYear":
		return t.YearDay(), nil
	case "Date":
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, t.Location()), nil
	case "TimeOfDay":
		return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute + time.Duration(t.Second())*time.Second + time.Duration(t.Nanosecond()), nil
	case "Ticks":
		return ticksOf(t), nil
	case "Kind":
		if isUTCKind(t) {
			return Enum{Type: "DateTimeKind", Name: "Utc", Val: 1}, nil
		}
		if isLocalKind(t) {
			return Enum{Type: "DateTimeKind", Name: "Local", Val: 2}, nil
		}
		return Enum{Type: "DateTimeKind", Name: "Unspecified", Val: 0}, nil
	}
	return nil, errNoMember(v, name)
}

// jtokenTypeValues is Newtonsoft's JTokenType enum (read-only).
var jtokenTypeValues = map[string]int{"None": 0, "Object": 1, "Array": 2, "Constructor": 3, "Property": 4, "Comment": 5, "Integer": 6, "Float": 7, "String": 8, "Boolean": 9, "Null": 10, "Undefined": 11, "Date": 12, "Raw": 13, "Bytes": 14, "Guid": 15, "Uri": 16, "TimeSpan": 17}

func jtokenType(name string) Enum {
	return Enum{Type: "JTokenType", Name: name, Val: jtokenTypeValues[name]}
}

// ---- indexers ----

func indexGetter(n node, st sType, constKey any) (func(v, k any) (any, error), sType, *Error) {
	switch st {
	case stVariables:
		return func(v, k any) (any, error) {
			key, ok := k.(string)
			if !ok {
				return nil, errArgNull("key")
			}
			val, found := v.(Variables)[key]
			if !found {
				return nil, errKeyNotFound(key)
			}
			return val, nil
		}, stObject, nil
	case stHeaders, stQuery, stParams, stClaims:
		canon := ""
		if s, ok := constKey.(string); ok && st == stHeaders {
			canon = canonicalHeader(s)
		}
		rst := stAny
		if st == stParams {
			rst = stString
		}
		return func(v, k any) (any, error) {
			key, ok := k.(string)
			if !ok {
				return nil, errArgNull("key")
			}
			val, found := dictLookup(v, key, canon)
			if !found {
				return nil, errKeyNotFound(key)
			}
			return asDictValue(val), nil
		}, rst, nil
	}
	if isModel(st) && st != stAny {
		return nil, 0, errAt(n, "cannot apply indexing to %s", modelNames[st])
	}
	return indexAny, stAny, nil
}

func toIndex(k any) (int, bool) {
	switch x := k.(type) {
	case int:
		return x, true
	case int64:
		return int(x), true
	case byte:
		return int(x), true
	case Char:
		return int(x), true
	case *JValue:
		return toIndex(x.V)
	}
	return 0, false
}

func indexAny(v, k any) (any, error) {
	switch x := v.(type) {
	case *JObject:
		switch key := k.(type) {
		case string:
			return x.Get(key), nil
		case *JValue:
			if s, ok := key.V.(string); ok {
				return x.Get(s), nil
			}
		}
		return nil, errArg("Accessed JObject values with invalid key value: %s. Object property name expected.", ToString(k))
	case *JArray:
		i, ok := toIndex(k)
		if !ok {
			return nil, errArg("Accessed JArray values with invalid key value: %s. Int32 array index expected.", quoteKey(k))
		}
		if i < 0 || i >= len(x.Items) {
			return nil, errIndexRange()
		}
		return x.Items[i], nil
	case *JValue:
		return nil, errInvalidOp("Cannot access child value on Newtonsoft.Json.Linq.JValue.")
	case *JProperty:
		return nil, errInvalidOp("Cannot access child value on Newtonsoft.Json.Linq.JProperty.")
	case *List:
		i, ok := toIndex(k)
		if !ok {
			return nil, errInvalidCast(k, "System.Int32")
		}
		if i < 0 || i >= len(x.Items) {
			if x.Array {
				return nil, errArrayIndex()
			}
			return nil, errIndexRange()
		}
		return x.Items[i], nil
	case string:
		i, ok := toIndex(k)
		if !ok {
			return nil, errInvalidCast(k, "System.Int32")
		}
		if isASCII(x) {
			if i < 0 || i >= len(x) {
				return nil, errArrayIndex()
			}
			return Char(x[i]), nil
		}
		u := toUTF16(x)
		if i < 0 || i >= len(u) {
			return nil, errArrayIndex()
		}
		return Char(u[i]), nil
	case []byte:
		i, ok := toIndex(k)
		if !ok || i < 0 || i >= len(x) {
			return nil, errArrayIndex()
		}
		return x[i], nil
	case *Dict:
		val, found, err := x.get(k)
		if err != nil {
			return nil, err
		}
		if !found {
			return nil, errKeyNotFound(ToString(k))
		}
		return val, nil
	case *groupCollection:
		switch key := k.(type) {
		case string:
			for _, g := range x.groups {
				if g.Name == key {
					return g, nil
				}
			}
			return &Group{Name: key}, nil
		default:
			i, ok := toIndex(k)
			if !ok {
				return nil, errInvalidCast(k, "System.Int32")
			}
			if i < 0 || i >= len(x.groups) {
				return &Group{}, nil
			}
			return x.groups[i], nil
		}
	case Variables, http.Header, *Query, map[string]string, *Claims:
		key, ok := k.(string)
		if !ok {
			return nil, errArgNull("key")
		}
		val, found := dictLookup(v, key, "")
		if !found {
			return nil, errKeyNotFound(key)
		}
		return asDictValue(val), nil
	}
	return nil, errInvalidOp("Cannot apply indexing with [] to an expression of type '" + typeName(v) + "'")
}

func quoteKey(k any) string {
	if s, ok := k.(string); ok {
		return "\"" + s + "\""
	}
	return ToString(k)
}

func indexSet(v, k, val any) error {
	switch x := v.(type) {
	case *JObject:
		key, ok := fromJValue(k).(string)
		if !ok {
			return errArg("Set JObject values with invalid key value: %s. Object property name expected.", ToString(k))
		}
		t, err := toJToken(val, 0)
		if err != nil {
			return err
		}
		x.Set(key, t)
		return nil
	case *JArray:
		i, ok := toIndex(k)
		if !ok {
			return errArg("Set JArray values with invalid key value: %s. Int32 array index expected.", quoteKey(k))
		}
		if i < 0 || i >= len(x.Items) {
			return errIndexRange()
		}
		t, err := toJToken(val, 0)
		if err != nil {
			return err
		}
		clearParent(x.Items[i], x)
		setParent(t, x)
		x.Items[i] = t
		return nil
	case *List:
		i, ok := toIndex(k)
		if !ok {
			return errInvalidCast(k, "System.Int32")
		}
		if i < 0 || i >= len(x.Items) {
			if x.Array {
				return errArrayIndex()
			}
			return errIndexRange()
		}
		x.Items[i] = val
		return nil
	case []byte:
		i, ok := toIndex(k)
		if !ok || i < 0 || i >= len(x) {
			return errArrayIndex()
		}
		c, iv, _ := numOf(val)
		if c == ncNone {
			return errInvalidCast(val, "System.Byte")
		}
		x[i] = byte(iv)
		return nil
	case *Dict:
		return x.set(k, val, false)
	}
	return errInvalidOp("Cannot assign through an indexer on an expression of type '" + typeName(v) + "'")
}

// modelMemberNames lists every property name of the context object model,
// for "did you mean" hints.
var modelMemberNames = strings.Fields(`AccessToken Algorithm Api ApprovalRequired Audiences Body Certificate
	Certificates Claims Count CreatedDate Deployment Elapsed Email EndDate ExpirationTime FirstName Gateway Groups
	Headers Host Id InstanceId IpAddress IsCurrentRevision IsSelfHosted IssuedAt Issuer IssuerName Keys LastError
	LastName MatchedParameters Message Method Name NotAfter NotBefore Note Operation OriginalUrl Path PolicyId Port
	PrimaryKey Product Protocols Query QueryString Reason Region RegistrationDate Request RequestId Response Revision
	Scheme Scope SecondaryKey Section SerialNumber ServiceId ServiceName ServiceUrl Source StartDate State
	StatusCode StatusReason Subject SubjectName Subscription SubscriptionKeyParameterNames SubscriptionRequired
	Thumbprint Timestamp Type Url UrlTemplate User Values Variables Version`)

// suggestMember returns the member of st closest to name (case-insensitive
// edit distance at most 2), or "".
func suggestMember(st sType, name string) string {
	best, bestD := "", 3
	for _, m := range modelMemberNames {
		if _, _, ok := modelProp(st, m); !ok {
			continue
		}
		if d := editDistance(strings.ToLower(name), strings.ToLower(m)); d < bestD {
			best, bestD = m, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
