package policyxml

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Parse reads the policy document src; filename is used only in errors.
//
// Outside policy expressions Parse follows XML 1.0: the five predefined
// entities and character references, CDATA sections, comments (dropped; "--"
// inside one is an error, as in XML), processing instructions (dropped), an
// XML declaration before the first element (a byte order mark and white space
// before it are tolerated), self-closing tags, and names with namespace
// prefixes kept as written. A DOCTYPE is refused. Several top-level elements
// are accepted, for policy snippets. Line breaks (CR LF, CR) are read as LF.
// Attribute values are not whitespace-normalised, so multi-line expressions
// keep their line breaks (and their // comments their ends).
//
// An attribute value or element text whose first non-blank characters are "@("
// or "@{" is a policy expression, which may be written in either APIM form:
// "xml", escaped like any XML text (&quot; &lt; &amp;), or "rawxml", verbatim
// C# that may contain ", <, &, && and so on. The rule that decides:
//
//  1. The XML reading: the attribute value up to the next quote character (for
//     text, the run up to the next '<'), entity references decoded. When that
//     is well-formed XML and holds exactly one balanced expression (blanks
//     around it allowed), it is the result.
//  2. Otherwise the raw reading: the expression's end is found by bracket
//     balancing from its '@' with C# lexical awareness (strings, verbatim and
//     interpolated strings, character literals, comments; see scanExpr). In
//     an attribute only blanks may follow before the closing quote. The
//     result is the source text, verbatim, with no entity decoding. In
//     element text it becomes a Text with Raw set (blanks before it are a
//     separate Text; Element.Text joins them) and parsing goes on after the
//     closing bracket. If the delimited text is itself valid XML (no '<', no
//     bare '&', and in an attribute no quote character) the XML reading of
//     step 1 is kept instead, though it is not one expression: the
//     expression compiler reports what is wrong with it.
//
// So a well-formed document means what XML says it means, and an expression
// written in either form yields the same Value or Text. The one ambiguity is a
// raw expression that is also valid XML and contains an entity reference, such
// as @("&amp;"): it reads as XML, giving "&".
//
// The error is a *SyntaxError for the first problem found, with its position;
// the Document is nil then. Parse never panics, and its time is linear in
// len(src) for any input.
func Parse(filename string, src []byte) (*Document, error) {
	p := newParser(filename, src)
	if err := p.parse(); err != nil {
		return nil, err
	}
	return &p.doc, nil
}

// parser holds the state of one Parse call.
type parser struct {
	filename string
	src      []byte
	lines    lineIndex
	i        int
	stack    []*Element
	doc      Document
	seenAny  bool // markup has been seen: an XML declaration is too late
	// strs interns names and blank text, which repeat throughout a document.
	strs map[string]string
}

// intern returns string(b), sharing one copy per distinct value.
func (p *parser) intern(b []byte) string {
	if s, ok := p.strs[string(b)]; ok {
		return s
	}
	s := string(b)
	p.strs[s] = s
	return s
}

func newParser(filename string, src []byte) *parser {
	src = bytes.TrimPrefix(src, []byte("\xef\xbb\xbf"))
	if bytes.IndexByte(src, '\r') >= 0 {
		src = normalizeNewlines(src)
	}
	return &parser{filename: filename, src: src, lines: *newLineIndex(src), strs: make(map[string]string)}
}

// normalizeNewlines returns a copy of src with CR LF and lone CR replaced by
// LF, as XML requires. Positions of all other characters are unchanged.
func normalizeNewlines(src []byte) []byte {
	out := make([]byte, 0, len(src))
	for i := 0; i < len(src); i++ {
		c := src[i]
		if c == '\r' {
			if i+1 < len(src) && src[i+1] == '\n' {
				continue
			}
			c = '\n'
		}
		out = append(out, c)
	}
	return out
}

// pos converts a byte offset (up to len(src)) into a position.
func (p *parser) pos(off int) Pos { return p.lines.pos(off) }

// lineIndex converts byte offsets of one source into positions.
type lineIndex struct {
	src   []byte
	start []int // byte offset of the start of each line
	// The last answer, so that the mostly increasing queries of a parse
	// count characters incrementally even on one very long line.
	lastOff, lastLine, lastCol int
}

// newLineIndex indexes the lines of src. A leading byte order mark is not
// counted as a character.
func newLineIndex(src []byte) *lineIndex {
	x := &lineIndex{src: src, start: make([]int, 1, 64)}
	if bytes.HasPrefix(src, []byte("\xef\xbb\xbf")) {
		x.start[0] = 3
	}
	for i, c := range src {
		if c == '\n' {
			x.start = append(x.start, i+1)
		}
	}
	return x
}

// pos converts a byte offset (up to len(src)) into a position.
func (x *lineIndex) pos(off int) Pos {
	if x.lastLine > 0 && off >= x.lastOff && (x.lastLine == len(x.start) || off < x.start[x.lastLine]) {
		x.lastCol += utf8.RuneCount(x.src[x.lastOff:off])
		x.lastOff = off
		return Pos{Line: x.lastLine, Col: x.lastCol}
	}
	line := sort.Search(len(x.start), func(k int) bool { return x.start[k] > off }) - 1
	if line < 0 {
		line = 0
	}
	from := min(x.start[line], off)
	x.lastOff, x.lastLine, x.lastCol = off, line+1, utf8.RuneCount(x.src[from:off])+1
	return Pos{Line: x.lastLine, Col: x.lastCol}
}

// errAt returns a syntax error at byte offset off.
func (p *parser) errAt(off int, format string, args ...any) *SyntaxError {
	return &SyntaxError{Filename: p.filename, Pos: p.pos(off), Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) parse() error {
	if err := p.checkChars(); err != nil {
		return err
	}
	src := p.src
	for {
		if len(p.stack) == 0 {
			p.skipSpace()
			if p.i >= len(src) {
				break
			}
			if src[p.i] != '<' {
				return p.errAt(p.i, "text is not allowed outside the root element")
			}
			if err := p.markup(true); err != nil {
				return err
			}
			continue
		}
		if p.i >= len(src) {
			top := p.stack[len(p.stack)-1]
			return p.errAt(p.i, "unexpected end of file: element <%s> opened at %s is not closed", top.Name, top.Pos)
		}
		var err *SyntaxError
		if src[p.i] == '<' {
			err = p.markup(false)
		} else {
			err = p.text()
		}
		if err != nil {
			return err
		}
	}
	if len(p.doc.Roots) == 0 {
		return p.errAt(p.i, "no root element: a policy document needs <policies>, <fragment> or a policy element")
	}
	return nil
}

// checkChars rejects invalid UTF-8 and characters XML does not allow.
func (p *parser) checkChars() *SyntaxError {
	src := p.src
	for i := 0; i < len(src); {
		c := src[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\n' {
				return p.errAt(i, "invalid character U+%04X", c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(src[i:])
		if r == utf8.RuneError && size == 1 {
			return p.errAt(i, "invalid UTF-8 encoding")
		}
		if !isXMLChar(r) {
			return p.errAt(i, "invalid character U+%04X", r)
		}
		i += size
	}
	return nil
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (p *parser) skipSpace() bool {
	start := p.i
	for p.i < len(p.src) && isSpace(p.src[p.i]) {
		p.i++
	}
	return p.i > start
}

// skipSpaceFrom returns the offset of the first non-blank byte at or after i.
func skipSpaceFrom(src []byte, i int) int {
	for i < len(src) && isSpace(src[i]) {
		i++
	}
	return i
}

// markup parses the construct starting with the '<' at p.i.
func (p *parser) markup(top bool) *SyntaxError {
	src, start := p.src, p.i
	rest := src[start:]
	defer func() { p.seenAny = true }()
	switch {
	case bytes.HasPrefix(rest, []byte("<!--")):
		return p.comment()
	case bytes.HasPrefix(rest, []byte("<![CDATA[")):
		if top {
			return p.errAt(start, "CDATA section is not allowed outside the root element")
		}
		end := indexFrom(src, start+9, "]]>")
		if end < 0 {
			return p.errAt(start, "unterminated CDATA section")
		}
		p.appendChild(&Text{Data: string(src[start+9 : end]), Pos: p.pos(start + 9)})
		p.i = end + 3
		return nil
	case bytes.HasPrefix(rest, []byte("<!DOCTYPE")):
		return p.errAt(start, "DOCTYPE is not allowed in a policy document")
	case bytes.HasPrefix(rest, []byte("<!")):
		return p.errAt(start, "invalid markup: expected <!-- or <![CDATA[")
	case bytes.HasPrefix(rest, []byte("<?")):
		return p.procInst()
	case bytes.HasPrefix(rest, []byte("</")):
		return p.endTag()
	}
	return p.startTag()
}

// comment skips a comment. As in XML, "--" may only appear in its "-->".
func (p *parser) comment() *SyntaxError {
	src, start := p.src, p.i
	k := indexFrom(src, start+4, "--")
	if k < 0 {
		return p.errAt(start, "unterminated comment")
	}
	if k+2 >= len(src) || src[k+2] != '>' {
		return p.errAt(k, "'--' is not allowed inside a comment (comment opened at %s)", p.pos(start))
	}
	p.i = k + 3
	return nil
}

// procInst skips a processing instruction or the XML declaration.
func (p *parser) procInst() *SyntaxError {
	src, start := p.src, p.i
	j := start + 2
	for j < len(src) && !isSpace(src[j]) && src[j] != '?' {
		j++
	}
	target := string(src[start+2 : j])
	if target == "" {
		return p.errAt(start, "expected a name after '<?'")
	}
	end := indexFrom(src, j, "?>")
	if end < 0 {
		return p.errAt(start, "unterminated processing instruction <?%s", target)
	}
	if strings.EqualFold(target, "xml") && (p.seenAny || len(p.stack) > 0) {
		return p.errAt(start, "XML declaration is only allowed at the start of the document")
	}
	p.i = end + 2
	return nil
}

// name reads an XML name at p.i; it returns "" when none starts there.
func (p *parser) name() string {
	src, start := p.src, p.i
	i := start
	for i < len(src) {
		c := src[i]
		if c < utf8.RuneSelf {
			ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' || c == ':' ||
				i > start && ('0' <= c && c <= '9' || c == '-' || c == '.')
			if !ok {
				break
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(src[i:])
		if !unicode.IsLetter(r) && (i == start || !unicode.IsDigit(r) && !unicode.Is(unicode.Mn, r) && !unicode.Is(unicode.Mc, r) && r != 0xB7) {
			break
		}
		i += size
	}
	p.i = i
	return p.intern(src[start:i])
}

func (p *parser) appendChild(n Node) {
	parent := p.stack[len(p.stack)-1]
	parent.Children = append(parent.Children, n)
}

// startTag parses a start tag or self-closing tag at p.i.
func (p *parser) startTag() *SyntaxError {
	src, start := p.src, p.i
	p.i++
	name := p.name()
	if name == "" {
		return p.errAt(start, "expected an element name after '<' (write a literal '<' as &lt;)")
	}
	el := &Element{Name: name, Pos: p.pos(start)}
	for {
		spaced := p.skipSpace()
		if p.i >= len(src) {
			return p.errAt(p.i, "unexpected end of file in start tag <%s> opened at %s", name, el.Pos)
		}
		switch c := src[p.i]; {
		case c == '>':
			p.i++
			p.attach(el)
			p.stack = append(p.stack, el)
			return nil
		case c == '/':
			if p.i+1 >= len(src) || src[p.i+1] != '>' {
				return p.errAt(p.i, "expected '>' after '/' in tag <%s>", name)
			}
			el.EndPos = p.pos(p.i)
			p.i += 2
			p.attach(el)
			return nil
		case !spaced:
			if len(el.Attrs) > 0 {
				return p.errAt(p.i, "expected '>' after attribute %s", el.Attrs[len(el.Attrs)-1].Name)
			}
			return p.errAt(p.i, "invalid character %q in element name <%s", rune(c), name)
		}
		if err := p.attr(el); err != nil {
			return err
		}
	}
}

// attach adds a new element to its parent, or to the roots.
func (p *parser) attach(el *Element) {
	if len(p.stack) == 0 {
		p.doc.Roots = append(p.doc.Roots, el)
		return
	}
	p.appendChild(el)
}

// attr parses one attribute at p.i and adds it to el.
func (p *parser) attr(el *Element) *SyntaxError {
	src, start := p.src, p.i
	name := p.name()
	if name == "" {
		return p.errAt(start, "expected an attribute name, '>' or '/>' in tag <%s>", el.Name)
	}
	if _, dup := el.Attr(name); dup {
		return p.errAt(start, "duplicate attribute %s in <%s>", name, el.Name)
	}
	p.skipSpace()
	if p.i >= len(src) || src[p.i] != '=' {
		return p.errAt(p.i, "expected '=' after attribute name %s", name)
	}
	p.i++
	p.skipSpace()
	if p.i >= len(src) || src[p.i] != '"' && src[p.i] != '\'' {
		return p.errAt(p.i, "value of attribute %s must be quoted", name)
	}
	quote := src[p.i]
	p.i++
	vstart := p.i
	value, err := p.attrValue(quote)
	if err != nil {
		return err
	}
	el.Attrs = append(el.Attrs, Attr{Name: name, Value: value, Pos: p.pos(start), ValuePos: p.pos(vstart)})
	return nil
}

// attrValue reads an attribute value starting at p.i up to and including its
// closing quote, applying the rawxml/xml rule described on Parse.
func (p *parser) attrValue(quote byte) (string, *SyntaxError) {
	src, vstart := p.src, p.i
	q := skipSpaceFrom(src, vstart)
	if !isExprStart(src, q) {
		return p.xmlAttrValue(quote)
	}
	// The XML reading first: it costs one pass over the value, and when it
	// holds a whole expression it is the answer.
	if vend := bytes.IndexByte(src[vstart:], quote); vend >= 0 {
		raw := src[vstart : vstart+vend]
		if bytes.IndexByte(raw, '<') < 0 {
			if v, derr := decodeEntities(raw); derr == nil && completeExpr(v) {
				p.i = vstart + vend + 1
				return v, nil
			}
		}
	}
	end, xerr := scanExpr(src, q+1)
	if xerr != nil {
		return "", p.exprErr(q, xerr)
	}
	e2 := skipSpaceFrom(src, end)
	if e2 >= len(src) || src[e2] != quote {
		return "", p.exprErr(q, &exprError{off: e2, msg: fmt.Sprintf("expected closing %c after expression", quote), openOff: -1})
	}
	raw := src[vstart:e2]
	p.i = e2 + 1
	if bytes.IndexByte(raw, quote) < 0 && bytes.IndexByte(raw, '<') < 0 && wellFormedRefs(raw) {
		// Valid XML whose decoded form is not one expression (such as an
		// escaped, unterminated string): the expression compiler reports it.
		v, _ := decodeEntities(raw)
		return v, nil
	}
	return decodeValidRefs(raw), nil
}

// xmlAttrValue reads an ordinary attribute value by XML rules.
func (p *parser) xmlAttrValue(quote byte) (string, *SyntaxError) {
	src, vstart := p.src, p.i
	vend := bytes.IndexByte(src[vstart:], quote)
	if vend < 0 {
		return "", p.errAt(vstart-1, "unterminated attribute value")
	}
	raw := src[vstart : vstart+vend]
	if lt := bytes.IndexByte(raw, '<'); lt >= 0 {
		return "", p.errAt(vstart+lt, "'<' is not allowed in an attribute value (write &lt;)")
	}
	v, derr := decodeEntities(raw)
	if derr != nil {
		return "", p.errAt(vstart+derr.off, "%s", derr.msg)
	}
	p.i = vstart + vend + 1
	return v, nil
}

// completeExpr reports whether s, after blanks, is exactly one balanced
// policy expression followed only by blanks.
func completeExpr(s string) bool {
	b := []byte(s)
	q := skipSpaceFrom(b, 0)
	if !isExprStart(b, q) {
		return false
	}
	end, err := scanExpr(b, q+1)
	return err == nil && skipSpaceFrom(b, end) == len(b)
}

// exprErr turns a delimiting failure of the expression whose '@' is at at
// into a syntax error.
func (p *parser) exprErr(at int, e *exprError) *SyntaxError {
	if strings.HasPrefix(e.msg, "expected closing") {
		return p.errAt(e.off, "%s starting at %s", e.msg, p.pos(at))
	}
	if e.msg == "unterminated expression" {
		return p.errAt(at, "unterminated expression starting at %s ('%c' at %s is never closed)", p.pos(at), p.src[e.openOff], p.pos(e.openOff))
	}
	msg := e.msg + " in expression starting at " + p.pos(at).String()
	if e.openOff >= 0 {
		msg += fmt.Sprintf(" ('%c' opened at %s)", p.src[e.openOff], p.pos(e.openOff))
	}
	return p.errAt(e.off, "%s", msg)
}

// text reads element content at p.i up to the next markup, applying the
// rawxml/xml rule described on Parse to a leading expression.
func (p *parser) text() *SyntaxError {
	src, start := p.src, p.i
	q := skipSpaceFrom(src, start)
	if !isExprStart(src, q) {
		return p.xmlText()
	}
	runEnd := len(src)
	if lt := bytes.IndexByte(src[start:], '<'); lt >= 0 {
		runEnd = start + lt
	}
	if v, derr := decodeEntities(src[start:runEnd]); derr == nil && completeExpr(v) {
		p.appendChild(&Text{Data: v, Pos: p.pos(start)})
		p.i = runEnd
		return nil
	}
	end, xerr := scanExpr(src, q+1)
	if xerr != nil {
		return p.exprErr(q, xerr)
	}
	raw := src[q:end]
	if bytes.IndexByte(raw, '<') < 0 && wellFormedRefs(raw) {
		// An expression followed by more text: plain XML text.
		return p.xmlText()
	}
	if q > start {
		p.appendChild(&Text{Data: p.intern(src[start:q]), Pos: p.pos(start)})
	}
	p.appendChild(&Text{Data: decodeValidRefs(raw), Pos: p.pos(q), Raw: true})
	p.i = end
	return nil
}

// xmlText reads character data by XML rules up to the next '<'.
func (p *parser) xmlText() *SyntaxError {
	src, start := p.src, p.i
	end := len(src)
	if lt := bytes.IndexByte(src[start:], '<'); lt >= 0 {
		end = start + lt
	}
	var v string
	if skipSpaceFrom(src[:end], start) == end {
		v = p.intern(src[start:end])
	} else {
		var derr *decodeError
		if v, derr = decodeEntities(src[start:end]); derr != nil {
			return p.errAt(start+derr.off, "%s", derr.msg)
		}
	}
	p.appendChild(&Text{Data: v, Pos: p.pos(start)})
	p.i = end
	return nil
}

// endTag parses an end tag at p.i and closes the innermost open element.
func (p *parser) endTag() *SyntaxError {
	src, start := p.src, p.i
	p.i += 2
	name := p.name()
	if name == "" {
		return p.errAt(start, "expected an element name after '</'")
	}
	p.skipSpace()
	if p.i >= len(src) || src[p.i] != '>' {
		return p.errAt(p.i, "expected '>' to end the end tag </%s>", name)
	}
	if len(p.stack) == 0 {
		return p.errAt(start, "unexpected end tag </%s>: no element is open", name)
	}
	top := p.stack[len(p.stack)-1]
	if top.Name != name {
		return p.errAt(start, "mismatched end tag </%s>, expected </%s> (opened at %s)", name, top.Name, top.Pos)
	}
	top.EndPos = p.pos(start)
	p.stack = p.stack[:len(p.stack)-1]
	p.i++
	return nil
}
