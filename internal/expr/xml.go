package expr

import (
	"encoding/xml"
	"errors"
	"io"
	"math"
	"strings"
	"time"
	"unicode"
)

// A small LINQ to XML subset (System.Xml.Linq) for policies that read XML
// responses: XDocument.Parse, Root, Element, Elements, Descendants,
// Attribute, Value and Name.LocalName.

// XDocument is System.Xml.Linq.XDocument.
type XDocument struct{ Root *XElement }

// XElement is System.Xml.Linq.XElement.
type XElement struct {
	Name     XName
	Attrs    []*XAttribute
	Children []*XElement
	parent   *XElement
	// text holds the element's own character data and child elements in
	// document order, for Value.
	parts []any // string or *XElement
}

// XAttribute is System.Xml.Linq.XAttribute.
type XAttribute struct {
	Name  XName
	Value string
}

// XName is System.Xml.Linq.XName.
type XName struct{ Space, Local string }

// XNamespace is System.Xml.Linq.XNamespace; ns + "local" is an XName.
type XNamespace struct{ Name string }

// String renders "{namespace}local" like XName.ToString().
func (n XName) String() string {
	if n.Space == "" {
		return n.Local
	}
	return "{" + n.Space + "}" + n.Local
}

func parseXName(s string) XName {
	if strings.HasPrefix(s, "{") {
		if i := strings.IndexByte(s, '}'); i > 0 {
			return XName{Space: s[1:i], Local: s[i+1:]}
		}
	}
	return XName{Local: s}
}

const maxXMLDepth = 256

// parseXDocument parses XML text into an XDocument.
func parseXDocument(s string) (*XDocument, error) {
	d := xml.NewDecoder(strings.NewReader(strings.TrimPrefix(s, "\ufeff")))
	d.Strict = true
	var root, cur *XElement
	depth := 0
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, &RuntimeError{Type: "XmlException", Msg: err.Error()}
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if depth > maxXMLDepth {
				return nil, &RuntimeError{Type: "XmlException", Msg: "XML nested too deeply"}
			}
			el := &XElement{Name: XName{Space: t.Name.Space, Local: t.Name.Local}, parent: cur}
			for _, a := range t.Attr {
				if a.Name.Space == "xmlns" || (a.Name.Space == "" && a.Name.Local == "xmlns") {
					continue
				}
				el.Attrs = append(el.Attrs, &XAttribute{Name: XName{Space: a.Name.Space, Local: a.Name.Local}, Value: a.Value})
			}
			if cur == nil {
				if root != nil {
					return nil, &RuntimeError{Type: "XmlException", Msg: "There are multiple root elements."}
				}
				root = el
			} else {
				cur.Children = append(cur.Children, el)
				cur.parts = append(cur.parts, el)
			}
			cur = el
		case xml.EndElement:
			depth--
			if cur != nil {
				cur = cur.parent
			}
		case xml.CharData:
			if cur != nil {
				cur.parts = append(cur.parts, string(t))
			}
		}
	}
	if root == nil {
		return nil, &RuntimeError{Type: "XmlException", Msg: "Root element is missing."}
	}
	return &XDocument{Root: root}, nil
}

// Value is the concatenated text of the element and its descendants.
func (e *XElement) Value() string {
	var sb strings.Builder
	e.writeText(&sb)
	return sb.String()
}

func (e *XElement) writeText(sb *strings.Builder) {
	for _, p := range e.parts {
		switch x := p.(type) {
		case string:
			sb.WriteString(x)
		case *XElement:
			x.writeText(sb)
		}
	}
}

func (e *XElement) descendants(name *XName, out []any) []any {
	for _, c := range e.Children {
		if name == nil || c.Name == *name {
			out = append(out, c)
		}
		out = c.descendants(name, out)
	}
	return out
}

// write serializes like XElement.ToString(): an element whose content is
// only elements is indented by two spaces per level (SaveOptions.None) with
// the Windows line break the managed gateway uses; mixed content is
// written as is. Text escapes & < >, attribute values & < ".
func (e *XElement) write(sb *strings.Builder, pretty bool, depth int) {
	sb.WriteByte('<')
	sb.WriteString(e.Name.Local)
	if e.Name.Space != "" && (e.parent == nil || e.parent.Name.Space != e.Name.Space) {
		sb.WriteString(` xmlns="`)
		xmlEscape(sb, e.Name.Space, true)
		sb.WriteByte('"')
	}
	for _, a := range e.Attrs {
		sb.WriteByte(' ')
		sb.WriteString(a.Name.Local)
		sb.WriteString(`="`)
		xmlEscape(sb, a.Value, true)
		sb.WriteByte('"')
	}
	if len(e.parts) == 0 {
		sb.WriteString(" />")
		return
	}
	sb.WriteByte('>')
	onlyElems := true
	for _, p := range e.parts {
		if s, ok := p.(string); ok && strings.TrimSpace(s) != "" {
			onlyElems = false
		}
	}
	switch {
	case pretty && onlyElems && len(e.Children) == 0:
		// only whitespace text (dropped when parsed) or empty text: <a></a>
	case pretty && onlyElems:
		for _, p := range e.parts {
			if x, ok := p.(*XElement); ok {
				sb.WriteString(xmlNewline)
				sb.WriteString(strings.Repeat("  ", depth+1))
				x.write(sb, true, depth+1)
			}
		}
		sb.WriteString(xmlNewline)
		sb.WriteString(strings.Repeat("  ", depth))
	default:
		for _, p := range e.parts {
			switch x := p.(type) {
			case string:
				xmlEscape(sb, x, false)
			case *XElement:
				x.write(sb, false, 0)
			}
		}
	}
	sb.WriteString("</")
	sb.WriteString(e.Name.Local)
	sb.WriteByte('>')
}

// xmlNewline is Environment.NewLine on the (Windows) managed gateway.
const xmlNewline = "\r\n"

func xmlEscape(sb *strings.Builder, s string, attr bool) {
	for _, r := range s {
		switch {
		case r == '&':
			sb.WriteString("&amp;")
		case r == '<':
			sb.WriteString("&lt;")
		case r == '>' && !attr:
			sb.WriteString("&gt;")
		case r == '"' && attr:
			sb.WriteString("&quot;")
		case attr && r == '\n':
			sb.WriteString("&#xA;")
		case attr && r == '\r':
			sb.WriteString("&#xD;")
		case attr && r == '\t':
			sb.WriteString("&#x9;")
		case !attr && r == '\r':
			sb.WriteString("&#xD;")
		default:
			sb.WriteRune(r)
		}
	}
}

type sbWriter struct{ sb *strings.Builder }

func (w sbWriter) Write(p []byte) (int, error) { return w.sb.Write(p) }

func (e *XElement) String() string {
	var sb strings.Builder
	e.write(&sb, true, 0)
	return sb.String()
}

// compactString is ToString(SaveOptions.DisableFormatting).
func (e *XElement) compactString() string {
	var sb strings.Builder
	e.write(&sb, false, 0)
	return sb.String()
}

// xmlProp implements the LINQ to XML properties.
func xmlProp(v any, name string) (any, bool) {
	switch x := v.(type) {
	case *XDocument:
		if name == "Root" {
			return x.Root, true
		}
	case *XElement:
		switch name {
		case "Name":
			return x.Name, true
		case "Value":
			return x.Value(), true
		case "Parent":
			if x.parent == nil {
				return nil, true
			}
			return x.parent, true
		case "HasElements":
			return len(x.Children) > 0, true
		case "HasAttributes":
			return len(x.Attrs) > 0, true
		}
	case *XAttribute:
		switch name {
		case "Name":
			return x.Name, true
		case "Value":
			return x.Value, true
		}
	case XName:
		switch name {
		case "LocalName":
			return x.Local, true
		case "NamespaceName":
			return x.Space, true
		case "Namespace":
			return XNamespace{Name: x.Space}, true
		}
	case XNamespace:
		if name == "NamespaceName" {
			return x.Name, true
		}
	}
	return nil, false
}

// xmlMethod implements the LINQ to XML methods.
func xmlMethod(name string, r any, a []any) (any, error, bool) {
	var el *XElement
	switch x := r.(type) {
	case *XDocument:
		switch name {
		case "Descendants", "Elements", "Element":
			holder := &XElement{Children: []*XElement{x.Root}}
			return xmlMethod(name, holder, a)
		case "ToString":
			return x.Root.String(), nil, true
		}
		return nil, nil, false
	case *XElement:
		el = x
	default:
		return nil, nil, false
	}
	switch name {
	case "Add":
		return nil, el.addContent(a, 0), true
	case "SetAttributeValue":
		if len(a) != 2 {
			return nil, errArg("SetAttributeValue takes a name and a value"), true
		}
		xn, err := xnameArg(a[0])
		if err != nil {
			return nil, err, true
		}
		el.setAttributeValue(xn, a[1])
		return nil, nil, true
	}
	var want *XName
	if len(a) > 0 {
		switch n := a[0].(type) {
		case string:
			xn := parseXName(n)
			want = &xn
		case XName:
			want = &n
		case nil:
			return nil, errArgNull("name"), true
		}
	}
	switch name {
	case "Element":
		if want == nil {
			return nil, errArg("Element needs a name"), true
		}
		for _, c := range el.Children {
			if c.Name == *want {
				return c, nil, true
			}
		}
		return nil, nil, true
	case "Elements":
		l := &List{}
		for _, c := range el.Children {
			if want == nil || c.Name == *want {
				l.Items = append(l.Items, c)
			}
		}
		return l, nil, true
	case "Descendants":
		return &List{Items: el.descendants(want, nil)}, nil, true
	case "Attribute":
		if want == nil {
			return nil, errArg("Attribute needs a name"), true
		}
		for _, at := range el.Attrs {
			if at.Name == *want {
				return at, nil, true
			}
		}
		return nil, nil, true
	case "Attributes":
		l := &List{}
		for _, at := range el.Attrs {
			if want == nil || at.Name == *want {
				l.Items = append(l.Items, at)
			}
		}
		return l, nil, true
	case "ToString":
		if len(a) > 0 {
			if o, ok := a[0].(Enum); ok && o.Type == "SaveOptions" && o.Val&1 != 0 {
				return el.compactString(), nil, true
			}
		}
		return el.String(), nil, true
	}
	return nil, nil, false
}

// validNCName reports whether s is an XML name without a colon.
func validNCName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_' || unicode.IsLetter(r):
		case i > 0 && (r == '-' || r == '.' || unicode.IsDigit(r)):
		default:
			return false
		}
	}
	return true
}

// xnameArg is the XName of a constructor or method argument: an XName, or
// a string in "{namespace}local" form (XName's implicit conversion).
func xnameArg(v any) (XName, error) {
	var xn XName
	switch n := v.(type) {
	case XName:
		xn = n
	case string:
		xn = parseXName(n)
	case nil:
		return XName{}, errArgNull("name")
	default:
		return XName{}, errInvalidCast(v, "System.Xml.Linq.XName")
	}
	if !validNCName(xn.Local) {
		return XName{}, &RuntimeError{Type: "XmlException", Msg: "The '" + xn.Local + "' name is not a valid XML name."}
	}
	return xn, nil
}

// xmlValueString converts a content or attribute value to text the way
// LINQ to XML does (XmlConvert: true/false, invariant numbers, ISO dates).
func xmlValueString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case bool:
		if x {
			return "true"
		}
		return "false"
	case float64:
		switch {
		case math.IsInf(x, 1):
			return "INF"
		case math.IsInf(x, -1):
			return "-INF"
		}
	case time.Time:
		s, err := formatDateTime(x, "yyyy-MM-ddTHH:mm:ss.FFFFFFFK")
		if err == nil {
			return s
		}
	case *XAttribute:
		return x.Name.Local + "=\"" + x.Value + "\""
	case *XElement:
		return x.String()
	}
	return ToString(v)
}

// cloneXElement is a deep copy of e under parent (XElement's copy
// constructor; adding an element that already has a parent adds a copy).
func cloneXElement(e *XElement, parent *XElement) *XElement {
	c := &XElement{Name: e.Name, parent: parent}
	for _, a := range e.Attrs {
		c.Attrs = append(c.Attrs, &XAttribute{Name: a.Name, Value: a.Value})
	}
	for _, p := range e.parts {
		switch x := p.(type) {
		case string:
			c.parts = append(c.parts, x)
		case *XElement:
			cc := cloneXElement(x, c)
			c.Children = append(c.Children, cc)
			c.parts = append(c.parts, cc)
		}
	}
	return c
}

// addContent is XElement.Add / the content arguments of new XElement:
// attributes, child elements (copied when they already have a parent),
// text (adjacent text merges), sequences of these; null is ignored.
func (e *XElement) addContent(items []any, depth int) error {
	if depth > maxXMLDepth {
		return errInvalidOp("content nested too deeply")
	}
	for _, it := range items {
		switch x := it.(type) {
		case nil:
		case *XAttribute:
			for _, a := range e.Attrs {
				if a.Name == x.Name {
					return errInvalidOp("Duplicate attribute.")
				}
			}
			e.Attrs = append(e.Attrs, &XAttribute{Name: x.Name, Value: x.Value})
		case *XElement:
			if x == e {
				x = cloneXElement(x, e)
			} else if x.parent != nil {
				x = cloneXElement(x, e)
			} else {
				x.parent = e
			}
			e.Children = append(e.Children, x)
			e.parts = append(e.parts, x)
		case *XDocument:
			if err := e.addContent([]any{x.Root}, depth+1); err != nil {
				return err
			}
		case *List:
			if err := e.addContent(x.Items, depth+1); err != nil {
				return err
			}
		default:
			s := xmlValueString(x)
			if n := len(e.parts); n > 0 {
				if prev, ok := e.parts[n-1].(string); ok {
					e.parts[n-1] = prev + s
					continue
				}
			}
			e.parts = append(e.parts, s)
		}
	}
	return nil
}

// setAttributeValue is XElement.SetAttributeValue: null removes the
// attribute, otherwise it is set or added.
func (e *XElement) setAttributeValue(xn XName, v any) {
	for i, a := range e.Attrs {
		if a.Name == xn {
			if v == nil {
				e.Attrs = append(e.Attrs[:i], e.Attrs[i+1:]...)
			} else {
				a.Value = xmlValueString(v)
			}
			return
		}
	}
	if v != nil {
		e.Attrs = append(e.Attrs, &XAttribute{Name: xn, Value: xmlValueString(v)})
	}
}
