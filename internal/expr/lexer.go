package expr

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

type tokKind uint8

const (
	tkEOF tokKind = iota
	tkIdent
	tkInt
	tkFloat
	tkString
	tkChar
	tkInterp
	tkOp
)

// numKind records the C# type of a numeric literal (suffix or form).
type numKind uint8

const (
	nkInt numKind = iota
	nkLong
	nkDouble
	nkDecimal
	nkUint
	nkUlong
	nkFloat
)

// interpPart is one piece of an interpolated string: literal text, or a hole
// whose source is re-parsed by the parser.
type interpPart struct {
	lit    string
	isHole bool
	src    string // hole expression source
	off    int    // offset of src in the whole program source
	align  string // ",N" alignment (without the comma)
	format string // ":fmt" format (without the colon)
}

type token struct {
	kind  tokKind
	text  string // identifier name or operator text
	sval  string // decoded string / char literal
	ival  int64
	fval  float64
	nk    numKind
	pos   int // byte offset in the source
	end   int
	parts []interpPart
}

type lexer struct {
	src  string
	base int // offset of src inside the whole program (for holes)
	pos  int
	toks []token
}

// multi-character operators, longest first.
var operators = []string{
	">>=", "<<=", "??=", "...",
	"=>", "==", "!=", "<=", ">=", "&&", "||", "??", "?.", "?[", "++", "--",
	"+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "<<", "::",
	"+", "-", "*", "/", "%", "<", ">", "=", "!", "~", "&", "|", "^",
	"?", ":", ".", ",", ";", "(", ")", "[", "]", "{", "}",
}

// lex tokenizes src; offsets are reported relative to base.
func lex(src string, base int) ([]token, *Error) {
	l := &lexer{src: src, base: base}
	for {
		if err := l.skipSpace(); err != nil {
			return nil, err
		}
		if l.pos >= len(l.src) {
			l.toks = append(l.toks, token{kind: tkEOF, pos: base + l.pos, end: base + l.pos})
			return l.toks, nil
		}
		if err := l.next(); err != nil {
			return nil, err
		}
	}
}

func (l *lexer) errAt(off int, msg string) *Error {
	return &Error{off: l.base + off, Msg: msg}
}

func (l *lexer) skipSpace() *Error {
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			l.pos++
		case c == '/' && l.pos+1 < len(l.src) && l.src[l.pos+1] == '/':
			for l.pos < len(l.src) && l.src[l.pos] != '\n' {
				l.pos++
			}
		case c == '/' && l.pos+1 < len(l.src) && l.src[l.pos+1] == '*':
			end := strings.Index(l.src[l.pos+2:], "*/")
			if end < 0 {
				return l.errAt(l.pos, "unterminated comment")
			}
			l.pos += end + 4
		case c >= 0x80:
			r, n := utf8.DecodeRuneInString(l.src[l.pos:])
			if !unicode.IsSpace(r) {
				return nil
			}
			l.pos += n
		default:
			return nil
		}
	}
	return nil
}

func isIdentStart(r rune) bool { return r == '_' || unicode.IsLetter(r) }
func isIdentPart(r rune) bool  { return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) }

func (l *lexer) next() *Error {
	start := l.pos
	c := l.src[l.pos]
	switch {
	case c == '"':
		s, err := l.regularString()
		if err != nil {
			return err
		}
		l.push(token{kind: tkString, sval: s}, start)
		return nil
	case c == '@' && l.peekAt(1) == '"':
		l.pos++
		s, err := l.verbatimString()
		if err != nil {
			return err
		}
		l.push(token{kind: tkString, sval: s}, start)
		return nil
	case c == '$' || (c == '@' && l.peekAt(1) == '$'):
		verbatim := false
		l.pos++
		if c == '@' {
			l.pos++
			verbatim = true
		} else if l.peekAt(0) == '@' {
			l.pos++
			verbatim = true
		}
		if l.peekAt(0) != '"' {
			return l.errAt(start, "unsupported C# construct: '$' not followed by a string")
		}
		parts, err := l.interpolated(verbatim)
		if err != nil {
			return err
		}
		l.push(token{kind: tkInterp, parts: parts}, start)
		return nil
	case c == '@':
		// @identifier (verbatim identifier)
		l.pos++
		if l.pos < len(l.src) {
			r, _ := utf8.DecodeRuneInString(l.src[l.pos:])
			if isIdentStart(r) {
				name := l.ident()
				l.push(token{kind: tkIdent, text: name}, start)
				return nil
			}
		}
		return l.errAt(start, "unexpected character '@'")
	case c == '\'':
		s, err := l.charLit()
		if err != nil {
			return err
		}
		l.push(token{kind: tkChar, sval: s}, start)
		return nil
	case c >= '0' && c <= '9' || (c == '.' && l.peekAt(1) >= '0' && l.peekAt(1) <= '9'):
		return l.number()
	}
	r, _ := utf8.DecodeRuneInString(l.src[l.pos:])
	if isIdentStart(r) {
		name := l.ident()
		l.push(token{kind: tkIdent, text: name}, start)
		return nil
	}
	for _, op := range operators {
		if strings.HasPrefix(l.src[l.pos:], op) {
			l.pos += len(op)
			l.push(token{kind: tkOp, text: op}, start)
			return nil
		}
	}
	return l.errAt(start, "unexpected character "+strconv.QuoteRune(r))
}

func (l *lexer) push(t token, start int) {
	t.pos = l.base + start
	t.end = l.base + l.pos
	l.toks = append(l.toks, t)
}

func (l *lexer) peekAt(k int) byte {
	if l.pos+k < len(l.src) {
		return l.src[l.pos+k]
	}
	return 0
}

func (l *lexer) ident() string {
	start := l.pos
	for l.pos < len(l.src) {
		r, n := utf8.DecodeRuneInString(l.src[l.pos:])
		if !isIdentPart(r) {
			break
		}
		l.pos += n
	}
	return l.src[start:l.pos]
}

func (l *lexer) number() *Error {
	start := l.pos
	s := l.src
	if s[l.pos] == '0' && (l.peekAt(1) == 'x' || l.peekAt(1) == 'X' || l.peekAt(1) == 'b' || l.peekAt(1) == 'B') {
		base := 16
		if l.peekAt(1) == 'b' || l.peekAt(1) == 'B' {
			base = 2
		}
		l.pos += 2
		ds := l.pos
		for l.pos < len(s) && (isHex(s[l.pos]) || s[l.pos] == '_') {
			l.pos++
		}
		digits := strings.ReplaceAll(s[ds:l.pos], "_", "")
		v, err := strconv.ParseUint(digits, base, 64)
		if err != nil || digits == "" {
			return l.errAt(start, "invalid integer literal "+strconv.Quote(s[start:l.pos]))
		}
		nk := l.intSuffix()
		if nk == nkInt && v > 0x7fffffff {
			if v <= 0xffffffff {
				nk = nkUint
			} else {
				nk = nkLong
			}
		}
		l.push(token{kind: tkInt, ival: int64(v), nk: nk}, start)
		return nil
	}
	isFloat := false
	for l.pos < len(s) && (s[l.pos] >= '0' && s[l.pos] <= '9' || s[l.pos] == '_') {
		l.pos++
	}
	if l.pos < len(s)-1 && s[l.pos] == '.' && s[l.pos+1] >= '0' && s[l.pos+1] <= '9' {
		isFloat = true
		l.pos++
		for l.pos < len(s) && (s[l.pos] >= '0' && s[l.pos] <= '9' || s[l.pos] == '_') {
			l.pos++
		}
	}
	if l.pos < len(s) && (s[l.pos] == 'e' || s[l.pos] == 'E') {
		p := l.pos + 1
		if p < len(s) && (s[p] == '+' || s[p] == '-') {
			p++
		}
		if p < len(s) && s[p] >= '0' && s[p] <= '9' {
			isFloat = true
			l.pos = p
			for l.pos < len(s) && s[l.pos] >= '0' && s[l.pos] <= '9' {
				l.pos++
			}
		}
	}
	text := strings.ReplaceAll(s[start:l.pos], "_", "")
	if l.pos < len(s) {
		switch s[l.pos] {
		case 'd', 'D', 'm', 'M', 'f', 'F':
			nk := nkDouble
			switch s[l.pos] {
			case 'm', 'M':
				nk = nkDecimal
			case 'f', 'F':
				nk = nkFloat
			}
			l.pos++
			v, err := strconv.ParseFloat(text, 64)
			if err != nil {
				return l.errAt(start, "invalid numeric literal "+strconv.Quote(s[start:l.pos]))
			}
			l.push(token{kind: tkFloat, fval: v, nk: nk, text: text}, start)
			return nil
		}
	}
	if isFloat {
		v, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return l.errAt(start, "invalid numeric literal "+strconv.Quote(text))
		}
		l.push(token{kind: tkFloat, fval: v, nk: nkDouble}, start)
		return nil
	}
	v, err := strconv.ParseUint(text, 10, 64)
	if err != nil {
		return l.errAt(start, "integer literal out of range: "+text)
	}
	nk := l.intSuffix()
	if nk == nkInt && v > 0x7fffffff {
		if v <= 0xffffffff {
			nk = nkUint
		} else {
			nk = nkLong
		}
	}
	if nk == nkLong && v > 1<<63-1 {
		nk = nkUlong
	}
	l.push(token{kind: tkInt, ival: int64(v), nk: nk}, start)
	return nil
}

func (l *lexer) intSuffix() numKind {
	nk := nkInt
	for l.pos < len(l.src) {
		switch l.src[l.pos] {
		case 'l', 'L':
			if nk == nkUint {
				nk = nkUlong
			} else {
				nk = nkLong
			}
		case 'u', 'U':
			if nk == nkLong {
				nk = nkUlong
			} else {
				nk = nkUint
			}
		default:
			return nk
		}
		l.pos++
	}
	return nk
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// escape decodes one C# escape sequence starting after the backslash.
func (l *lexer) escape(sb *strings.Builder) *Error {
	if l.pos >= len(l.src) {
		return l.errAt(l.pos, "unterminated escape sequence")
	}
	c := l.src[l.pos]
	l.pos++
	switch c {
	case '\'', '"', '\\':
		sb.WriteByte(c)
	case '0':
		sb.WriteByte(0)
	case 'a':
		sb.WriteByte(7)
	case 'b':
		sb.WriteByte(8)
	case 'f':
		sb.WriteByte(12)
	case 'n':
		sb.WriteByte('\n')
	case 'r':
		sb.WriteByte('\r')
	case 't':
		sb.WriteByte('\t')
	case 'v':
		sb.WriteByte(11)
	case 'u', 'x', 'U':
		max := 4
		if c == 'U' {
			max = 8
		}
		start := l.pos
		for l.pos < len(l.src) && l.pos-start < max && isHex(l.src[l.pos]) {
			l.pos++
		}
		if (c != 'x' && l.pos-start != max) || l.pos == start {
			return l.errAt(start-2, "invalid escape sequence")
		}
		v, _ := strconv.ParseUint(l.src[start:l.pos], 16, 32)
		if !utf8.ValidRune(rune(v)) {
			sb.WriteRune(utf8.RuneError)
		} else {
			sb.WriteRune(rune(v))
		}
	default:
		return l.errAt(l.pos-2, "unrecognized escape sequence \\"+string(c))
	}
	return nil
}

func (l *lexer) regularString() (string, *Error) {
	start := l.pos
	l.pos++
	var sb strings.Builder
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch c {
		case '"':
			l.pos++
			return sb.String(), nil
		case '\\':
			l.pos++
			if err := l.escape(&sb); err != nil {
				return "", err
			}
		case '\n':
			return "", l.errAt(start, "newline in string literal")
		default:
			sb.WriteByte(c)
			l.pos++
		}
	}
	return "", l.errAt(start, "unterminated string literal")
}

func (l *lexer) verbatimString() (string, *Error) {
	start := l.pos - 1
	l.pos++
	var sb strings.Builder
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		if c == '"' {
			if l.peekAt(1) == '"' {
				sb.WriteByte('"')
				l.pos += 2
				continue
			}
			l.pos++
			return sb.String(), nil
		}
		sb.WriteByte(c)
		l.pos++
	}
	return "", l.errAt(start, "unterminated verbatim string literal")
}

func (l *lexer) charLit() (string, *Error) {
	start := l.pos
	l.pos++
	var sb strings.Builder
	if l.pos >= len(l.src) {
		return "", l.errAt(start, "unterminated character literal")
	}
	if l.src[l.pos] == '\\' {
		l.pos++
		if err := l.escape(&sb); err != nil {
			return "", err
		}
	} else {
		r, n := utf8.DecodeRuneInString(l.src[l.pos:])
		if r == '\'' || r == '\n' {
			return "", l.errAt(start, "empty character literal")
		}
		sb.WriteRune(r)
		l.pos += n
	}
	if l.peekAt(0) != '\'' {
		return "", l.errAt(start, "too many characters in character literal")
	}
	l.pos++
	return sb.String(), nil
}

// interpolated scans $"..." / $@"..." starting at the opening quote.
func (l *lexer) interpolated(verbatim bool) ([]interpPart, *Error) {
	start := l.pos
	l.pos++
	var parts []interpPart
	var sb strings.Builder
	flush := func() {
		if sb.Len() > 0 {
			parts = append(parts, interpPart{lit: sb.String()})
			sb.Reset()
		}
	}
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch {
		case c == '"':
			if verbatim && l.peekAt(1) == '"' {
				sb.WriteByte('"')
				l.pos += 2
				continue
			}
			l.pos++
			flush()
			return parts, nil
		case c == '\\' && !verbatim:
			l.pos++
			if err := l.escape(&sb); err != nil {
				return nil, err
			}
		case c == '{':
			if l.peekAt(1) == '{' {
				sb.WriteByte('{')
				l.pos += 2
				continue
			}
			flush()
			l.pos++
			hole, err := l.hole()
			if err != nil {
				return nil, err
			}
			parts = append(parts, hole)
		case c == '}':
			if l.peekAt(1) == '}' {
				sb.WriteByte('}')
				l.pos += 2
				continue
			}
			return nil, l.errAt(l.pos, "unexpected '}' in interpolated string (use '}}')")
		case c == '\n' && !verbatim:
			return nil, l.errAt(start, "newline in interpolated string")
		default:
			sb.WriteByte(c)
			l.pos++
		}
	}
	return nil, l.errAt(start, "unterminated interpolated string")
}

// hole scans an interpolation hole after '{' up to the matching '}'.
func (l *lexer) hole() (interpPart, *Error) {
	start := l.pos
	depth := 0
	exprEnd, alignStart, fmtStart := -1, -1, -1
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch c {
		case '(', '[', '{':
			if fmtStart < 0 {
				depth++
			}
			l.pos++
		case ')', ']':
			if fmtStart < 0 {
				depth--
			}
			l.pos++
		case '}':
			if depth > 0 && fmtStart < 0 {
				depth--
				l.pos++
				continue
			}
			end := l.pos
			l.pos++
			p := interpPart{isHole: true}
			if exprEnd < 0 {
				exprEnd = end
			}
			p.src = l.src[start:exprEnd]
			p.off = l.base + start
			if alignStart >= 0 {
				aEnd := end
				if fmtStart >= 0 {
					aEnd = fmtStart - 1
				}
				p.align = strings.TrimSpace(l.src[alignStart:aEnd])
			}
			if fmtStart >= 0 {
				p.format = l.src[fmtStart:end]
			}
			if strings.TrimSpace(p.src) == "" {
				return p, l.errAt(start, "empty interpolation hole")
			}
			return p, nil
		case '"', '\'':
			if fmtStart >= 0 {
				l.pos++
				continue
			}
			var err *Error
			if c == '"' {
				_, err = l.regularString()
			} else {
				_, err = l.charLit()
			}
			if err != nil {
				return interpPart{}, err
			}
		case '@':
			if fmtStart < 0 && l.peekAt(1) == '"' {
				l.pos++
				if _, err := l.verbatimString(); err != nil {
					return interpPart{}, err
				}
				continue
			}
			l.pos++
		case '$':
			if fmtStart < 0 && (l.peekAt(1) == '"' || l.peekAt(1) == '@') {
				verb := l.peekAt(1) == '@'
				l.pos++
				if verb {
					l.pos++
				}
				if _, err := l.interpolated(verb); err != nil {
					return interpPart{}, err
				}
				continue
			}
			l.pos++
		case ',':
			if depth == 0 && fmtStart < 0 && alignStart < 0 {
				exprEnd = l.pos
				alignStart = l.pos + 1
			}
			l.pos++
		case ':':
			if depth == 0 && fmtStart < 0 && !(l.peekAt(1) == ':') {
				if exprEnd < 0 {
					exprEnd = l.pos
				}
				fmtStart = l.pos + 1
			}
			l.pos++
		case '?':
			// a conditional operator inside a hole must be parenthesized in C#;
			// '?.' and '??' are fine and never followed by ':' at depth 0.
			l.pos++
		case '\n':
			if fmtStart >= 0 {
				return interpPart{}, l.errAt(start, "newline in interpolation format")
			}
			l.pos++
		default:
			l.pos++
		}
	}
	return interpPart{}, l.errAt(start-1, "unterminated interpolation hole")
}
