package policyxml

import (
	"strconv"
	"strings"
)

// Pos is a position in a policy document. Line and Col are 1-based; Col counts
// characters (Unicode code points, a tab is one), not bytes, from the start of
// the line. A byte order mark at the start of the document is not counted, and
// CR LF or a lone CR counts as one line break. The zero Pos means "unknown".
type Pos struct {
	Line, Col int
}

// String formats p as "line:col".
func (p Pos) String() string {
	return strconv.Itoa(p.Line) + ":" + strconv.Itoa(p.Col)
}

// IsValid reports whether p is a known position.
func (p Pos) IsValid() bool { return p.Line > 0 }

// Advance returns the position just after s, when s starts at p. It maps an
// offset inside Attr.Value or Text.Data back to the source, for example for
// an error in an expression: attr.ValuePos.Advance(attr.Value[:off]). The
// result is exact when the value was read verbatim (raw expressions, CDATA,
// text without entity references); after a decoded entity reference it is
// early by the length of the reference minus one.
func (p Pos) Advance(s string) Pos {
	for _, r := range s {
		if r == '\n' {
			p.Line++
			p.Col = 1
		} else {
			p.Col++
		}
	}
	return p
}

// Attr is one attribute of an element.
type Attr struct {
	// Name is the attribute name as written, namespace prefix included.
	Name string
	// Value is the attribute value. Entity references are decoded unless
	// the value is a raw (rawxml form) policy expression, which is kept
	// verbatim; see Parse for the exact rule.
	Value string
	// Pos is the position of the first character of the name.
	Pos Pos
	// ValuePos is the position of the first character of the value, just
	// after the opening quote.
	ValuePos Pos
}

// Node is an element or a text node in a document. Comments and processing
// instructions are not kept.
type Node interface {
	node()
}

// Element is an XML element.
type Element struct {
	// Name is the element name as written, namespace prefix included.
	Name string
	// Attrs holds the attributes in document order.
	Attrs []Attr
	// Children holds the child elements and text nodes in document order.
	Children []Node
	// Pos is the position of the '<' that starts the element.
	Pos Pos
	// EndPos is the position of the "</" of the end tag, or of the "/>"
	// of a self-closing tag.
	EndPos Pos
}

func (*Element) node() {}

// Attr returns the attribute called name and whether it is present.
func (e *Element) Attr(name string) (Attr, bool) {
	for _, a := range e.Attrs {
		if a.Name == name {
			return a, true
		}
	}
	return Attr{}, false
}

// Elements returns the child elements of e, without text nodes, in document
// order.
func (e *Element) Elements() []*Element {
	var out []*Element
	for _, c := range e.Children {
		if el, ok := c.(*Element); ok {
			out = append(out, el)
		}
	}
	return out
}

// Text returns the concatenated data of the direct text children of e
// (character data and CDATA sections, entity references decoded; raw policy
// expressions verbatim). Text inside child elements is not included.
func (e *Element) Text() string {
	switch n := len(e.Children); {
	case n == 0:
		return ""
	case n == 1:
		if t, ok := e.Children[0].(*Text); ok {
			return t.Data
		}
		return ""
	}
	var b strings.Builder
	for _, c := range e.Children {
		if t, ok := c.(*Text); ok {
			b.WriteString(t.Data)
		}
	}
	return b.String()
}

// Text is character data: ordinary text, a CDATA section or a raw policy
// expression.
type Text struct {
	// Data is the text, entity references decoded, or the verbatim
	// expression (from its '@' to its closing bracket) when Raw is set.
	Data string
	// Pos is the position of the first character of Data in the source
	// (for a CDATA section, the first character after "<![CDATA[").
	Pos Pos
	// Raw is true when Data is a policy expression written in the rawxml
	// form, delimited by bracket balancing instead of XML rules.
	Raw bool
}

func (*Text) node() {}

// Document is a parsed policy document.
type Document struct {
	// Roots holds the top-level elements. A policy file has one
	// (<policies> or <fragment>); snippets may have several.
	Roots []*Element
}
