package policy

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/osteele/liquid"
	"github.com/osteele/liquid/render"

	"github.com/apimgw/apimgw/internal/expr"
	"github.com/apimgw/apimgw/internal/policy/policyxml"
)

// liquidBody is set-body template="liquid": a DotLiquid template rendered
// with `body` (the message body parsed as JSON or XML) and `context`.
type liquidBody struct {
	target int
	tmpl   *liquid.Template
	// parseDate (parse-date, default true) turns JSON date strings into
	// DateTime values; nilNull (xsi-nil="null") makes xsi:nil XML elements
	// null instead of blank.
	parseDate bool
	nilNull   bool
}

var (
	liquidOnce   sync.Once
	liquidEngine *liquid.Engine
)

// engine returns the shared, immutable Liquid engine with APIM's
// DotLiquid-style filter names registered.
func engine() *liquid.Engine {
	liquidOnce.Do(func() {
		e := liquid.NewEngine()
		registerLiquidFilters(e)
		e.RegisterBlock("JSONArrayFor", jsonArrayFor)
		liquidEngine = e
	})
	return liquidEngine
}

// jsonArrayFor is APIM's {% JSONArrayFor item in collection %} block: the
// body rendered once per element, joined with commas, so a template can
// write a JSON array. A single value (one XML child element) is one item.
func jsonArrayFor(ctx render.Context) (string, error) {
	args := strings.Fields(strings.Trim(ctx.TagArgs(), "- "))
	if len(args) != 3 || args[1] != "in" {
		return "", ctx.Errorf("JSONArrayFor: want {%% JSONArrayFor item in collection %%}, got %q", ctx.TagArgs())
	}
	coll, err := ctx.EvaluateString(args[2])
	if err != nil {
		return "", err
	}
	var items []any
	switch t := coll.(type) {
	case nil:
	case []any:
		items = t
	default:
		items = []any{t}
	}
	parts := make([]string, 0, len(items))
	for _, it := range items {
		ctx.Set(args[0], it)
		out, err := ctx.InnerString()
		if err != nil {
			return "", err
		}
		parts = append(parts, out)
	}
	return strings.Join(parts, ","), nil
}

var dotnetGroupRef = regexp.MustCompile(`\$(\d+)`)

// dotnetReplacement turns .NET's $1 group references into Go's ${1}.
func dotnetReplacement(s string) string {
	return dotnetGroupRef.ReplaceAllString(s, `$${$1}`)
}

func compileLiquidBody(b *builder, el *policyxml.Element, s *setBody, attrs map[string]policyxml.Attr) Step {
	l := &liquidBody{target: s.target, parseDate: b.constBool(attrs["parse-date"], true)}
	for _, n := range []string{"xsi-nil", "xsi:nil"} {
		if a, ok := attrs[n]; ok {
			switch a.Value {
			case "blank":
			case "null":
				l.nilNull = true
			default:
				b.errorf(a.ValuePos, `%s must be "blank" or "null", got %q`, n, a.Value)
			}
		}
	}
	src := strings.TrimSpace(el.Text())
	if len(el.Elements()) > 0 {
		// A SOAP envelope around {{ }} tags: text outside Liquid tags is
		// escaped as XML; the text of {{ ... }} and {% ... %} is handed to
		// Liquid as written, so a quoted filter argument stays a quote.
		src = innerXML(el, liquidEscape)
	}
	tmpl, err := engine().ParseString(src)
	if err != nil {
		b.errorf(el.Pos, "set-body liquid template: %v", err)
		return nil
	}
	for _, name := range liquidFilterNames(src) {
		if _, ok := liquidFilters[name]; !ok {
			b.errorf(el.Pos, "set-body liquid template: filter %q is not one of APIM's Liquid filters (DotLiquid in C# mode, Pascal case)%s", name, didYouMean(name, liquidFilterList()))
		}
	}
	l.tmpl = tmpl
	return l
}

func (l *liquidBody) Run(st *State) error {
	var msg *expr.Body
	var headers map[string][]string
	if l.target == targetResponse {
		resp := st.response()
		msg, headers = resp.Body, resp.Headers
	} else {
		msg, headers = st.X.Request.Body, st.X.Request.Headers
	}
	var raw []byte
	if msg != nil {
		data, err := msg.Bytes()
		if err != nil {
			return &Error{Reason: ReasonClientConnectionFailure, Message: "reading the body for set-body failed", Err: err}
		}
		raw = data
	}
	bindings := map[string]any{
		"body":    parseLiquidBody(raw, firstHeader(headers, "Content-Type"), l.parseDate, l.nilNull),
		"context": liquidContext(st),
	}
	out, err := l.tmpl.Render(bindings)
	if err != nil {
		return &Error{Reason: ReasonExpressionFailure, Message: "liquid template: " + err.Error(), Err: err}
	}
	st.replaceTarget(l.target, out)
	return nil
}

func firstHeader(h map[string][]string, name string) string {
	if v := h[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// parseLiquidBody exposes a JSON or XML body as nested maps; other content
// is the text itself.
func parseLiquidBody(raw []byte, contentType string, parseDate, nilNull bool) any {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 {
		return nil
	}
	if trimmed[0] == '{' || trimmed[0] == '[' || strings.Contains(contentType, "json") {
		dec := json.NewDecoder(bytes.NewReader(trimmed))
		dec.UseNumber()
		var v any
		if dec.Decode(&v) == nil && !dec.More() {
			return liquidJSON(v, parseDate)
		}
	}
	if trimmed[0] == '<' {
		if v, err := xmlToMap(trimmed, nilNull); err == nil {
			return v
		}
	}
	return string(raw)
}

// xmlToMap converts XML into nested maps keyed by element local name (also
// under the name with a lower-case first letter, as APIM exposes a SOAP
// envelope as body.envelope.body). Repeated elements become lists, text-only
// elements strings.
func xmlToMap(data []byte, nilNull bool) (map[string]any, error) {
	dec := xml.NewDecoder(bytes.NewReader(data))
	type frame struct {
		name     string
		children map[string]any
		text     strings.Builder
		nil      bool // xsi:nil="true"
	}
	root := &frame{children: map[string]any{}}
	stack := []*frame{root}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			f := &frame{name: t.Name.Local, children: map[string]any{}}
			for _, a := range t.Attr {
				if a.Name.Local == "nil" && (a.Name.Space == xsiNamespace || a.Name.Space == "xsi") && strings.TrimSpace(a.Value) == "true" {
					f.nil = true
				}
			}
			stack = append(stack, f)
		case xml.CharData:
			stack[len(stack)-1].text.Write(t)
		case xml.EndElement:
			f := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			var v any = f.children
			if len(f.children) == 0 {
				v = strings.TrimSpace(f.text.String())
				if f.nil && nilNull {
					v = nil
				}
			}
			parent := stack[len(stack)-1].children
			for _, key := range liquidKeys(f.name) {
				switch prev := parent[key].(type) {
				case nil:
					parent[key] = v
				case []any:
					parent[key] = append(prev, v)
				default:
					parent[key] = []any{prev, v}
				}
			}
		}
	}
	return root.children, nil
}

func liquidKeys(name string) []string {
	r, size := utf8.DecodeRuneInString(name)
	lower := string(unicode.ToLower(r)) + name[size:]
	if lower == name {
		return []string{name}
	}
	return []string{name, lower}
}

// liquidContext is the `context` object of APIM's Liquid templates.
func liquidContext(st *State) map[string]any {
	req := st.X.Request
	headers := func(h map[string][]string) map[string]any {
		m := make(map[string]any, len(h))
		for k, v := range h {
			m[k] = strings.Join(v, ",")
		}
		return m
	}
	c := map[string]any{
		"RequestId": st.X.RequestId,
		"Request": map[string]any{
			"Method":            req.Method,
			"Url":               urlMap(req.Url),
			"OriginalUrl":       urlMap(req.OriginalUrl),
			"IpAddress":         req.IpAddress,
			"Headers":           headers(req.Headers),
			"MatchedParameters": stringMap(req.MatchedParameters),
			"HasBody":           req.Body != nil,
		},
	}
	if r := st.X.Response; r != nil {
		c["Response"] = map[string]any{"StatusCode": r.StatusCode, "StatusReason": r.StatusReason, "Headers": headers(r.Headers)}
	}
	if s := st.X.Subscription; s != nil {
		c["Subscription"] = map[string]any{"Id": s.Id, "Name": s.Name, "Key": s.Key}
	}
	if p := st.X.Product; p != nil {
		c["Product"] = map[string]any{"Id": p.Id, "Name": p.Name}
	}
	if a := st.X.Api; a != nil {
		c["Api"] = map[string]any{"Id": a.Id, "Name": a.Name, "Path": a.Path}
	}
	if o := st.X.Operation; o != nil {
		c["Operation"] = map[string]any{"Id": o.Id, "Name": o.Name, "Method": o.Method, "UrlTemplate": o.UrlTemplate}
	}
	vars := make(map[string]any, len(st.X.Variables))
	for k, v := range st.X.Variables {
		vars[k] = expr.ToString(v)
	}
	c["Variables"] = vars
	return c
}

func urlMap(u *expr.URL) map[string]any {
	if u == nil {
		return nil
	}
	q := map[string]any{}
	for _, n := range u.Query.Names() {
		q[n] = strings.Join(u.Query.Values(n), ",")
	}
	return map[string]any{"Scheme": u.Scheme, "Host": u.Host, "Port": u.Port, "Path": u.Path, "Query": q, "QueryString": u.QueryString(),
		"ToString": u.String(), "ToUri": u.String()}
}

func stringMap(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

const xsiNamespace = "http://www.w3.org/2001/XMLSchema-instance"

// liquidJSON turns JSON values into the types Newtonsoft gives them:
// integers as Int64, other numbers as Double, and with parseDate the
// strings that hold an ISO 8601 date and time or a Microsoft
// "/Date(ms)/" as DateTime.
func liquidJSON(v any, parseDate bool) any {
	switch t := v.(type) {
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return i
		}
		f, _ := t.Float64()
		return liquidDouble(f)
	case string:
		if parseDate {
			if d, ok := jsonDate(t); ok {
				return d
			}
		}
	case []any:
		for i, x := range t {
			t[i] = liquidJSON(x, parseDate)
		}
	case map[string]any:
		for k, x := range t {
			t[k] = liquidJSON(x, parseDate)
		}
	}
	return v
}

// liquidDateTime is a System.DateTime in a Liquid template: rendered as
// DateTime.ToString() with the invariant culture (MM/dd/yyyy HH:mm:ss).
type liquidDateTime struct{ t time.Time }

func (d liquidDateTime) String() string { return expr.ToString(d.t) }

var (
	isoDateRe = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,7})?)?(Z|[+-]\d{2}:\d{2})?$`)
	msDateRe  = regexp.MustCompile(`^/Date\((-?\d+)([+-]\d{4})?\)/$`)
)

// jsonDate parses the date strings parse-date turns into DateTime: a time
// with Z or an offset becomes local time (the gateway's, UTC), one without
// stays unspecified.
func jsonDate(s string) (liquidDateTime, bool) {
	if m := msDateRe.FindStringSubmatch(s); m != nil {
		ms, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil {
			return liquidDateTime{}, false
		}
		return liquidDateTime{time.UnixMilli(ms).In(liquidLocal)}, true
	}
	if !isoDateRe.MatchString(s) {
		return liquidDateTime{}, false
	}
	t, err := expr.ParseDateTime(s)
	if err != nil {
		// hh:mm without seconds, with Z or an offset.
		if t, err = time.Parse("2006-01-02T15:04Z07:00", s); err != nil {
			return liquidDateTime{}, false
		}
		t = t.UTC()
	}
	if t.Location() == time.UTC {
		t = t.In(liquidLocal)
	}
	return liquidDateTime{t}, true
}

// liquidEscape XML-escapes s except inside Liquid tags.
func liquidEscape(s string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, "{{")
		j := strings.Index(s, "{%")
		closer := "}}"
		if i < 0 || (j >= 0 && j < i) {
			i, closer = j, "%}"
		}
		if i < 0 {
			b.WriteString(xmlEscape(s))
			return b.String()
		}
		b.WriteString(xmlEscape(s[:i]))
		end := strings.Index(s[i+2:], closer)
		if end < 0 {
			b.WriteString(s[i:])
			return b.String()
		}
		b.WriteString(s[i : i+2+end+2])
		s = s[i+2+end+2:]
	}
}

var (
	liquidTagRe    = regexp.MustCompile(`(?s)\{\{.*?\}\}|\{%.*?%\}`)
	liquidQuotedRe = regexp.MustCompile(`"[^"]*"|'[^']*'`)
	liquidFilterRe = regexp.MustCompile(`\|\s*([A-Za-z_][A-Za-z0-9_]*)`)
)

// liquidFilterNames returns the filter names the tags of a template use.
func liquidFilterNames(src string) []string {
	var out []string
	for _, tag := range liquidTagRe.FindAllString(src, -1) {
		tag = liquidQuotedRe.ReplaceAllString(tag, `""`)
		for _, m := range liquidFilterRe.FindAllStringSubmatch(tag, -1) {
			out = append(out, m[1])
		}
	}
	return out
}

func liquidFilterList() []string {
	names := make([]string, 0, len(liquidFilters))
	for n := range liquidFilters {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
