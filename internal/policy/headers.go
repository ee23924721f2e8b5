package policy

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/apimgw/apimgw/internal/expr"
	"github.com/apimgw/apimgw/internal/policy/policyxml"
)

func init() {
	register("set-header", nil, compileSetHeader)
	register("set-query-parameter", []string{SectionInbound, SectionBackend}, compileSetQueryParameter)
	register("set-body", nil, compileSetBody)
	register("set-method", []string{SectionInbound, SectionBackend, SectionOnError}, compileSetMethod)
}

// Actions of set-header and set-query-parameter (exists-action).
const (
	actionOverride = iota
	actionSkip
	actionAppend
	actionDelete
)

// setNamed is set-header and set-query-parameter: a named multi-value entry
// changed by exists-action.
type setNamed struct {
	query  bool
	target int
	name   string
	key    string // set-header: name in canonical form
	action int
	values []*expr.Value
}

func compileSetHeader(b *builder, el *policyxml.Element, path string) Step {
	return compileSetNamed(b, el, false)
}

func compileSetQueryParameter(b *builder, el *policyxml.Element, path string) Step {
	return compileSetNamed(b, el, true)
}

func compileSetNamed(b *builder, el *policyxml.Element, query bool) Step {
	attrs := b.attrs(el, "name", "exists-action")
	if !b.require(el, attrs, "name") {
		return nil
	}
	s := &setNamed{query: query, target: b.target, name: attrs["name"].Value}
	s.key = http.CanonicalHeaderKey(s.name)
	if strings.TrimSpace(s.name) == "" {
		b.errorf(attrs["name"].ValuePos, "<%s> name must not be empty", el.Name)
	}
	if a, ok := attrs["exists-action"]; ok {
		switch strings.ToLower(a.Value) {
		case "override":
			s.action = actionOverride
		case "skip":
			s.action = actionSkip
		case "append":
			s.action = actionAppend
		case "delete":
			s.action = actionDelete
		default:
			b.errorf(a.ValuePos, "exists-action must be override, skip, append or delete, got %q", a.Value)
		}
	}
	for _, v := range b.children(el, "value") {
		b.noAttrs(v)
		s.values = append(s.values, b.textValue(v))
	}
	if len(s.values) == 0 && s.action != actionDelete {
		b.errorf(el.Pos, "<%s> needs at least one <value> unless exists-action is delete", el.Name)
	}
	return s
}

func (s *setNamed) Run(st *State) error {
	if s.query {
		return s.runQuery(st)
	}
	h := st.X.Request.Headers
	if s.target == targetResponse {
		h = st.response().Headers
	}
	return applyHeader(st, s, h)
}

func (s *setNamed) eval(st *State) ([]string, error) {
	vals := make([]string, 0, len(s.values))
	for _, v := range s.values {
		if v == nil {
			continue
		}
		str, err := v.String(&st.X)
		if err != nil {
			return nil, err
		}
		vals = append(vals, str)
	}
	return vals, nil
}

func (s *setNamed) runQuery(st *State) error {
	u := st.X.Request.Url
	if u.Query == nil {
		u.Query = &expr.Query{}
	}
	exists := u.Query.Values(s.name) != nil
	switch s.action {
	case actionDelete:
		u.Query.Del(s.name)
		return nil
	case actionSkip:
		if exists {
			return nil
		}
	}
	vals, err := s.eval(st)
	if err != nil {
		return err
	}
	if s.action == actionAppend {
		for _, v := range vals {
			u.Query.Add(s.name, v)
		}
	} else {
		u.Query.Set(s.name, vals...)
	}
	return nil
}

// setBody replaces the request or response body.
type setBody struct {
	target int
	value  *expr.Value
	null   bool
}

func compileSetBody(b *builder, el *policyxml.Element, path string) Step {
	attrs := b.attrs(el, "template", "xsi:nil", "xsi-nil", "parse-date")
	s := &setBody{target: b.target}
	if a, ok := attrs["template"]; ok {
		switch strings.ToLower(a.Value) {
		case "none", "":
		case "liquid":
			return compileLiquidBody(b, el, s, attrs)
		default:
			b.errorf(a.ValuePos, "set-body template must be liquid or none, got %q", a.Value)
		}
	}
	if a, ok := attrs["xsi-nil"]; ok {
		attrs["xsi:nil"] = a // APIM's reference spells it xsi-nil
	}
	if a, ok := attrs["xsi:nil"]; ok {
		switch a.Value {
		case "blank":
		case "null":
			s.null = true
		default:
			b.errorf(a.ValuePos, `xsi:nil must be "blank" or "null", got %q`, a.Value)
		}
	}
	if len(el.Elements()) > 0 && !expr.IsExpression(strings.TrimSpace(el.Text())) {
		// Literal XML content: APIM sends the inner markup as written.
		s.value = b.compileValue(innerXML(el, xmlEscape), el.Pos)
		return s
	}
	s.value = b.textValue(el)
	return s
}

func (s *setBody) Run(st *State) error {
	body, err := s.bytes(st)
	if err != nil {
		return err
	}
	st.replaceTarget(s.target, body)
	return nil
}

// innerXML re-serialises the children of el (literal XML content of
// set-body), escaping text and attribute values with escape.
func innerXML(el *policyxml.Element, escape func(string) string) string {
	var b strings.Builder
	for _, n := range el.Children {
		writeXML(&b, n, escape)
	}
	return strings.TrimSpace(b.String())
}

func writeXML(b *strings.Builder, n policyxml.Node, escape func(string) string) {
	switch t := n.(type) {
	case *policyxml.Text:
		b.WriteString(escape(t.Data))
	case *policyxml.Element:
		b.WriteByte('<')
		b.WriteString(t.Name)
		for _, a := range t.Attrs {
			fmt.Fprintf(b, ` %s="%s"`, a.Name, escape(a.Value))
		}
		if len(t.Children) == 0 {
			b.WriteString("/>")
			return
		}
		b.WriteByte('>')
		for _, c := range t.Children {
			writeXML(b, c, escape)
		}
		b.WriteString("</")
		b.WriteString(t.Name)
		b.WriteByte('>')
	}
}

var xmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;")

func xmlEscape(s string) string { return xmlEscaper.Replace(s) }

// setMethod changes the HTTP method sent to the backend.
type setMethod struct{ method *expr.Value }

func compileSetMethod(b *builder, el *policyxml.Element, path string) Step {
	b.noAttrs(el)
	b.children(el)
	v := b.textValue(el)
	if v != nil && v.IsConst() {
		m := strings.TrimSpace(el.Text())
		if m == "" || strings.ContainsAny(m, " \t/") {
			b.errorf(el.Pos, "set-method needs an HTTP method, got %q", m)
		}
	}
	return &setMethod{method: v}
}

func (s *setMethod) Run(st *State) error {
	if s.method == nil {
		return nil
	}
	m, err := s.method.String(&st.X)
	if err != nil {
		return err
	}
	st.X.Request.Method = strings.ToUpper(strings.TrimSpace(m))
	return nil
}
