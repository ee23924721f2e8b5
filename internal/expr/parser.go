package expr

import (
	"strconv"
	"strings"
)

// parser is a recursive-descent parser over the token slice. It backtracks
// (by saving and restoring p.i) only to tell casts, generic calls, lambdas and
// declarations apart from ordinary expressions, as the C# grammar requires.
type parser struct {
	toks  []token
	i     int
	depth int
}

const maxDepth = 200

func (p *parser) peek() *token { return &p.toks[p.i] }

func (p *parser) peekN(n int) *token {
	if p.i+n < len(p.toks) {
		return &p.toks[p.i+n]
	}
	return &p.toks[len(p.toks)-1]
}

func (p *parser) advance() *token {
	t := &p.toks[p.i]
	if t.kind != tkEOF {
		p.i++
	}
	return t
}

func (p *parser) isOp(s string) bool {
	t := p.peek()
	return t.kind == tkOp && t.text == s
}

func (p *parser) isKw(s string) bool {
	t := p.peek()
	return t.kind == tkIdent && t.text == s
}

func (p *parser) accept(s string) bool {
	if p.isOp(s) {
		p.i++
		return true
	}
	return false
}

func (p *parser) errf(t *token, format string, args ...any) *Error {
	msg := format
	if len(args) > 0 {
		msg = sprintf(format, args...)
	}
	return &Error{off: t.pos, Msg: msg}
}

func describe(t *token) string {
	switch t.kind {
	case tkEOF:
		return "end of expression"
	case tkIdent:
		return "'" + t.text + "'"
	case tkOp:
		return "'" + t.text + "'"
	case tkString, tkInterp:
		return "string literal"
	case tkChar:
		return "character literal"
	default:
		return "number"
	}
}

func (p *parser) expect(s string) *Error {
	if p.accept(s) {
		return nil
	}
	return p.errf(p.peek(), "expected '%s' but found %s", s, describe(p.peek()))
}

func (p *parser) enter() *Error {
	p.depth++
	if p.depth > maxDepth {
		return p.errf(p.peek(), "expression nested too deeply")
	}
	return nil
}

func (p *parser) leave() { p.depth-- }

// keywords that cannot be identifiers.
var reserved = map[string]bool{
	"var": false, // contextual
	"new": true, "return": true, "if": true, "else": true, "for": true, "foreach": true,
	"in": true, "while": true, "do": true, "break": true, "continue": true, "true": true,
	"false": true, "null": true, "is": true, "as": true, "try": true, "catch": true,
	"finally": true, "throw": true, "using": true, "switch": true, "case": true,
	"default": true, "out": true, "ref": true, "typeof": true, "this": true, "base": true,
	"class": true, "struct": true, "namespace": true, "goto": true, "lock": true,
	"checked": true, "unchecked": true, "unsafe": true, "fixed": true, "stackalloc": true,
	"sizeof": true, "operator": true, "implicit": true, "explicit": true, "static": true,
	"const": true, "readonly": true, "public": true, "private": true, "protected": true,
	"internal": true, "virtual": true, "override": true, "abstract": true, "sealed": true,
	"extern": true, "volatile": true, "event": true, "delegate": true, "interface": true,
	"enum": true, "params": true,
}

var unsupportedKeywords = map[string]string{
	"goto": "goto", "lock": "lock statement", "checked": "checked", "unchecked": "unchecked",
	"unsafe": "unsafe code", "fixed": "fixed statement", "stackalloc": "stackalloc",
	"sizeof": "sizeof", "class": "class declaration", "struct": "struct declaration",
	"namespace": "namespace declaration", "delegate": "anonymous delegate", "interface": "interface declaration",
	"enum": "enum declaration", "static": "local function or static declaration", "const": "local constant",
	"ref": "ref argument", "this": "this", "base": "base access", "operator": "operator declaration",
	"event": "event", "yield": "yield",
}

// builtinTypeKeywords are C# type keywords usable in casts and declarations.
var builtinTypeKeywords = map[string]bool{
	"string": true, "int": true, "long": true, "bool": true, "double": true, "decimal": true,
	"float": true, "char": true, "byte": true, "sbyte": true, "short": true, "ushort": true,
	"uint": true, "ulong": true, "object": true, "dynamic": true,
}

// parseType parses a type reference (Name, ns.Name, Name<T,U>, T[], T?).
func (p *parser) parseType() (*typeRef, *Error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	t := p.peek()
	if t.kind != tkIdent || (reserved[t.text] && !builtinTypeKeywords[t.text]) {
		return nil, p.errf(t, "expected a type but found %s", describe(t))
	}
	p.advance()
	name := t.text
	for p.isOp(".") && p.peekN(1).kind == tkIdent {
		p.advance()
		name = p.advance().text // keep the last segment: System.Text.Encoding -> Encoding
	}
	ref := &typeRef{pos: t.pos, name: name}
	if p.isOp("<") {
		save := p.i
		p.advance()
		for {
			a, err := p.parseType()
			if err != nil {
				p.i = save
				return nil, err
			}
			ref.args = append(ref.args, a)
			if p.accept(",") {
				continue
			}
			break
		}
		if !p.accept(">") {
			p.i = save
			return nil, p.errf(p.peek(), "expected '>' in generic type")
		}
	}
	if p.isOp("?") && !p.looksLikeConditional() {
		p.advance()
		ref.nullable = true
	}
	for p.isOp("[") && p.peekN(1).kind == tkOp && p.peekN(1).text == "]" {
		p.advance()
		p.advance()
		ref.rank++
	}
	return ref, nil
}

// looksLikeConditional reports whether a '?' after a type starts a ?: operator.
func (p *parser) looksLikeConditional() bool {
	n := p.peekN(1)
	if n.kind == tkIdent && p.peekN(2).kind == tkOp {
		s := p.peekN(2).text
		return !(s == "=" || s == ";" || s == "," || s == ")")
	}
	return n.kind != tkOp || (n.text != ")" && n.text != "[" && n.text != ">" && n.text != ",")
}

// parseProgram parses "@(expr)" or "@{ stmts }" (already stripped of '@').
func parseExpression(toks []token) (node, *Error) {
	p := &parser{toks: toks}
	x, err := p.expr()
	if err != nil {
		return nil, err
	}
	if p.peek().kind != tkEOF {
		return nil, p.errf(p.peek(), "unexpected %s after expression", describe(p.peek()))
	}
	return x, nil
}

func parseBlock(toks []token) (*blockStmt, *Error) {
	p := &parser{toks: toks}
	b := &blockStmt{pos: p.peek().pos}
	for p.peek().kind != tkEOF {
		s, err := p.stmt()
		if err != nil {
			return nil, err
		}
		b.stmts = append(b.stmts, s)
	}
	return b, nil
}

func (p *parser) block() (*blockStmt, *Error) {
	t := p.peek()
	if err := p.expect("{"); err != nil {
		return nil, err
	}
	b := &blockStmt{pos: t.pos}
	for !p.isOp("}") {
		if p.peek().kind == tkEOF {
			return nil, p.errf(t, "missing '}' for block")
		}
		s, err := p.stmt()
		if err != nil {
			return nil, err
		}
		b.stmts = append(b.stmts, s)
	}
	p.advance()
	return b, nil
}

func (p *parser) stmt() (node, *Error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	t := p.peek()
	if t.kind == tkOp {
		switch t.text {
		case "{":
			return p.block()
		case ";":
			p.advance()
			return &emptyStmt{pos: t.pos}, nil
		}
	}
	if t.kind == tkIdent {
		switch t.text {
		case "return":
			p.advance()
			r := &returnStmt{pos: t.pos}
			if !p.isOp(";") {
				x, err := p.expr()
				if err != nil {
					return nil, err
				}
				r.x = x
			}
			return r, p.expect(";")
		case "if":
			p.advance()
			if err := p.expect("("); err != nil {
				return nil, err
			}
			c, err := p.expr()
			if err != nil {
				return nil, err
			}
			if err := p.expect(")"); err != nil {
				return nil, err
			}
			then, err := p.embedded()
			if err != nil {
				return nil, err
			}
			s := &ifStmt{pos: t.pos, cond: c, then: then}
			if p.isKw("else") {
				p.advance()
				if s.els, err = p.embedded(); err != nil {
					return nil, err
				}
			}
			return s, nil
		case "while":
			p.advance()
			if err := p.expect("("); err != nil {
				return nil, err
			}
			c, err := p.expr()
			if err != nil {
				return nil, err
			}
			if err := p.expect(")"); err != nil {
				return nil, err
			}
			body, err := p.embedded()
			if err != nil {
				return nil, err
			}
			return &whileStmt{pos: t.pos, cond: c, body: body}, nil
		case "do":
			p.advance()
			body, err := p.embedded()
			if err != nil {
				return nil, err
			}
			if !p.isKw("while") {
				return nil, p.errf(p.peek(), "expected 'while' after do body")
			}
			p.advance()
			if err := p.expect("("); err != nil {
				return nil, err
			}
			c, err := p.expr()
			if err != nil {
				return nil, err
			}
			if err := p.expect(")"); err != nil {
				return nil, err
			}
			return &whileStmt{pos: t.pos, cond: c, body: body, do: true}, p.expect(";")
		case "for":
			return p.forStmt()
		case "foreach":
			return p.foreachStmt()
		case "break":
			p.advance()
			return &breakStmt{pos: t.pos}, p.expect(";")
		case "continue":
			p.advance()
			return &continueStmt{pos: t.pos}, p.expect(";")
		case "try":
			return p.tryStmt()
		case "throw":
			p.advance()
			s := &throwStmt{pos: t.pos}
			if !p.isOp(";") {
				x, err := p.expr()
				if err != nil {
					return nil, err
				}
				s.x = x
			}
			return s, p.expect(";")
		case "using":
			return p.usingStmt()
		case "switch":
			return p.switchStmt()
		case "else", "catch", "finally", "case", "default":
			if t.text != "default" || !(p.peekN(1).kind == tkOp && (p.peekN(1).text == "(" || p.peekN(1).text == ";")) {
				return nil, p.errf(t, "unexpected '%s'", t.text)
			}
		}
		switch t.text {
		case "const":
			// a local constant behaves like an initialized local here
			p.advance()
			d, ok, err := p.tryDecl()
			if err != nil {
				return nil, err
			}
			if !ok {
				return nil, p.errf(t, "expected a constant declaration")
			}
			if ds, ok := d.(*declStmt); ok {
				ds.isConst = true
			}
			return d, p.expect(";")
		case "checked", "unchecked":
			if n := p.peekN(1); n.kind == tkOp && n.text == "{" {
				p.advance()
				b, err := p.block()
				if err != nil {
					return nil, err
				}
				return &checkedNode{pos: t.pos, x: b, checked: t.text == "checked", block: true}, nil
			}
		}
		if what, ok := unsupportedKeywords[t.text]; ok && !(t.text == "checked" || t.text == "unchecked") {
			return nil, p.errf(t, "unsupported C# construct: %s", what)
		}
	}
	if d, ok, err := p.tryDecl(); err != nil {
		return nil, err
	} else if ok {
		if ds, isDecl := d.(*declStmt); isDecl && ds.fn {
			return d, nil // a local function ends with its block
		}
		return d, p.expect(";")
	}
	x, err := p.expr()
	if err != nil {
		return nil, err
	}
	switch x.(type) {
	case *assignExpr, *callExpr, *incDecExpr, *newExpr, *throwExpr:
	default:
		return nil, &Error{off: t.pos, Msg: "only assignment, call, increment, decrement and new expressions can be used as a statement"}
	}
	return &exprStmt{pos: t.pos, x: x}, p.expect(";")
}

// embedded parses the body of if/for/while: a statement that is not a declaration.
func (p *parser) embedded() (node, *Error) {
	return p.stmt()
}

// tryDecl parses "Type name [= init] {, name [= init]}" when the tokens form one.
func (p *parser) tryDecl() (node, bool, *Error) {
	t := p.peek()
	if t.kind != tkIdent || (reserved[t.text] && !builtinTypeKeywords[t.text]) {
		return nil, false, nil
	}
	save := p.i
	var typ *typeRef
	if t.text == "var" && p.peekN(1).kind == tkIdent {
		p.advance()
	} else {
		ty, err := p.parseType()
		if err != nil {
			p.i = save
			return nil, false, nil
		}
		typ = ty
	}
	n := p.peek()
	if n.kind != tkIdent || reserved[n.text] {
		p.i = save
		return nil, false, nil
	}
	nx := p.peekN(1)
	if typ != nil && nx.kind == tkOp && nx.text == "(" {
		if fn, ok, err := p.localFunction(t, typ); ok || err != nil {
			return fn, ok, err
		}
		p.i = save
		return nil, false, nil
	}
	if nx.kind != tkOp || (nx.text != "=" && nx.text != ";" && nx.text != ",") {
		p.i = save
		return nil, false, nil
	}
	d := &declStmt{pos: t.pos, typ: typ}
	for {
		nt := p.peek()
		if nt.kind != tkIdent || reserved[nt.text] {
			return nil, false, p.errf(nt, "expected a variable name")
		}
		p.advance()
		d.names = append(d.names, nt.text)
		var init node
		if p.accept("=") {
			var err *Error
			if p.isOp("{") && typ != nil && typ.rank > 0 {
				init, err = p.arrayInitializer(typ)
			} else {
				init, err = p.expr()
			}
			if err != nil {
				return nil, false, err
			}
		}
		d.inits = append(d.inits, init)
		if !p.accept(",") {
			break
		}
	}
	if typ == nil {
		for _, in := range d.inits {
			if in == nil {
				return nil, false, p.errf(t, "implicitly-typed variables must be initialized")
			}
		}
	}
	return d, true, nil
}

// localFunction parses "Type Name(Type a, Type b) { body }" (the return
// type is already read) into a declaration of Name holding the equivalent
// lambda. It reports ok=false, without consuming, when the tokens are not a
// local function (the caller then tries an expression statement).
func (p *parser) localFunction(start *token, ret *typeRef) (node, bool, *Error) {
	name := p.peek()
	save := p.i
	p.advance() // name
	p.advance() // (
	var params []string
	var ptypes []*typeRef
	if !p.accept(")") {
		for {
			pt, err := p.parseType()
			if err != nil {
				p.i = save
				return nil, false, nil
			}
			ptypes = append(ptypes, pt)
			pn := p.peek()
			if pn.kind != tkIdent || reserved[pn.text] {
				p.i = save
				return nil, false, nil
			}
			p.advance()
			params = append(params, pn.text)
			if p.accept(")") {
				break
			}
			if !p.accept(",") {
				p.i = save
				return nil, false, nil
			}
		}
	}
	if !p.isOp("{") {
		p.i = save
		return nil, false, nil
	}
	body, err := p.block()
	if err != nil {
		return nil, false, err
	}
	fn := &lambdaExpr{pos: name.pos, params: params, body: body}
	// the function's type is the delegate type of its signature
	typ := &typeRef{pos: start.pos, name: "Func", args: append(ptypes, ret)}
	if ret.name == "void" && ret.rank == 0 && len(ret.args) == 0 {
		typ = &typeRef{pos: start.pos, name: "Action", args: ptypes}
	}
	if len(typ.args) > 16 {
		typ = &typeRef{pos: start.pos, name: "Func"}
	}
	return &declStmt{pos: start.pos, typ: typ, names: []string{name.text}, inits: []node{fn}, fn: true}, true, nil
}

func (p *parser) arrayInitializer(typ *typeRef) (node, *Error) {
	t := p.peek()
	n := &newExpr{pos: t.pos, typ: typ, hasInit: true}
	elems, err := p.initializerList()
	if err != nil {
		return nil, err
	}
	n.elems = elems
	return n, nil
}

func (p *parser) forStmt() (node, *Error) {
	t := p.advance()
	if err := p.expect("("); err != nil {
		return nil, err
	}
	s := &forStmt{pos: t.pos}
	if !p.isOp(";") {
		if d, ok, err := p.tryDecl(); err != nil {
			return nil, err
		} else if ok {
			s.init = append(s.init, d)
		} else {
			for {
				x, err := p.expr()
				if err != nil {
					return nil, err
				}
				s.init = append(s.init, &exprStmt{pos: x.offset(), x: x})
				if !p.accept(",") {
					break
				}
			}
		}
	}
	if err := p.expect(";"); err != nil {
		return nil, err
	}
	if !p.isOp(";") {
		c, err := p.expr()
		if err != nil {
			return nil, err
		}
		s.cond = c
	}
	if err := p.expect(";"); err != nil {
		return nil, err
	}
	if !p.isOp(")") {
		for {
			x, err := p.expr()
			if err != nil {
				return nil, err
			}
			s.post = append(s.post, &exprStmt{pos: x.offset(), x: x})
			if !p.accept(",") {
				break
			}
		}
	}
	if err := p.expect(")"); err != nil {
		return nil, err
	}
	body, err := p.embedded()
	if err != nil {
		return nil, err
	}
	s.body = body
	return s, nil
}

func (p *parser) foreachStmt() (node, *Error) {
	t := p.advance()
	if err := p.expect("("); err != nil {
		return nil, err
	}
	s := &foreachStmt{pos: t.pos}
	if p.isKw("var") {
		p.advance()
	} else {
		ty, err := p.parseType()
		if err != nil {
			return nil, err
		}
		s.typ = ty
	}
	n := p.peek()
	if n.kind != tkIdent || reserved[n.text] {
		if n.kind == tkOp && n.text == "(" {
			return nil, p.errf(n, "unsupported C# construct: tuple deconstruction in foreach")
		}
		return nil, p.errf(n, "expected a loop variable name")
	}
	p.advance()
	s.name = n.text
	if !p.isKw("in") {
		return nil, p.errf(p.peek(), "expected 'in' in foreach")
	}
	p.advance()
	c, err := p.expr()
	if err != nil {
		return nil, err
	}
	s.coll = c
	if err := p.expect(")"); err != nil {
		return nil, err
	}
	if s.body, err = p.embedded(); err != nil {
		return nil, err
	}
	return s, nil
}

func (p *parser) tryStmt() (node, *Error) {
	t := p.advance()
	body, err := p.block()
	if err != nil {
		return nil, err
	}
	s := &tryStmt{pos: t.pos, body: body}
	for p.isKw("catch") {
		ct := p.advance()
		c := catchClause{pos: ct.pos}
		if p.accept("(") {
			ty, err := p.parseType()
			if err != nil {
				return nil, err
			}
			c.typ = ty
			if p.peek().kind == tkIdent && !reserved[p.peek().text] {
				c.name = p.advance().text
			}
			if err := p.expect(")"); err != nil {
				return nil, err
			}
		}
		if p.isKw("when") {
			p.advance()
			if err := p.expect("("); err != nil {
				return nil, err
			}
			w, err := p.expr()
			if err != nil {
				return nil, err
			}
			c.when = w
			if err := p.expect(")"); err != nil {
				return nil, err
			}
		}
		if c.body, err = p.block(); err != nil {
			return nil, err
		}
		s.catches = append(s.catches, c)
	}
	if p.isKw("finally") {
		p.advance()
		if s.finally, err = p.block(); err != nil {
			return nil, err
		}
	}
	if len(s.catches) == 0 && s.finally == nil {
		return nil, p.errf(p.peek(), "expected catch or finally")
	}
	return s, nil
}

func (p *parser) usingStmt() (node, *Error) {
	t := p.advance()
	if !p.isOp("(") {
		// using declaration: using var x = ...;
		d, ok, err := p.tryDecl()
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, p.errf(p.peek(), "unsupported C# construct: using directive")
		}
		return d, p.expect(";")
	}
	p.advance()
	s := &usingStmt{pos: t.pos}
	if d, ok, err := p.tryDecl(); err != nil {
		return nil, err
	} else if ok {
		s.decl = d
	} else {
		x, err := p.expr()
		if err != nil {
			return nil, err
		}
		s.decl = &exprStmt{pos: x.offset(), x: x}
	}
	if err := p.expect(")"); err != nil {
		return nil, err
	}
	body, err := p.embedded()
	if err != nil {
		return nil, err
	}
	s.body = body
	return s, nil
}

func (p *parser) switchStmt() (node, *Error) {
	t := p.advance()
	if err := p.expect("("); err != nil {
		return nil, err
	}
	x, err := p.expr()
	if err != nil {
		return nil, err
	}
	if err := p.expect(")"); err != nil {
		return nil, err
	}
	if err := p.expect("{"); err != nil {
		return nil, err
	}
	s := &switchStmt{pos: t.pos, x: x}
	for !p.accept("}") {
		ct := p.peek()
		c := switchCase{pos: ct.pos}
		gotLabel := false
		for {
			if p.isKw("case") {
				p.advance()
				l, err := p.expr()
				if err != nil {
					return nil, err
				}
				if p.isKw("when") {
					return nil, p.errf(p.peek(), "unsupported C# construct: case guard (when)")
				}
				c.labels = append(c.labels, l)
				if err := p.expect(":"); err != nil {
					return nil, err
				}
				gotLabel = true
				continue
			}
			if p.isKw("default") && p.peekN(1).kind == tkOp && p.peekN(1).text == ":" {
				p.advance()
				p.advance()
				c.isDefault = true
				gotLabel = true
				continue
			}
			break
		}
		if !gotLabel {
			return nil, p.errf(p.peek(), "expected 'case' or 'default' in switch")
		}
		for !p.isKw("case") && !(p.isKw("default") && p.peekN(1).kind == tkOp && p.peekN(1).text == ":") && !p.isOp("}") {
			if p.peek().kind == tkEOF {
				return nil, p.errf(t, "missing '}' for switch")
			}
			st, err := p.stmt()
			if err != nil {
				return nil, err
			}
			c.body = append(c.body, st)
		}
		s.cases = append(s.cases, c)
	}
	return s, nil
}

// ---- expressions ----

func (p *parser) expr() (node, *Error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	if lam, ok, err := p.tryLambda(); ok || err != nil {
		return lam, err
	}
	if p.isKw("throw") {
		t := p.advance()
		x, err := p.expr()
		if err != nil {
			return nil, err
		}
		return &throwExpr{pos: t.pos, x: x}, nil
	}
	lhs, err := p.conditional()
	if err != nil {
		return nil, err
	}
	t := p.peek()
	if t.kind == tkOp {
		switch t.text {
		case "=", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "??=", "<<=":
			p.advance()
			rhs, err := p.expr()
			if err != nil {
				return nil, err
			}
			if !isAssignable(lhs) {
				return nil, p.errf(t, "the left-hand side of an assignment must be a variable, property or indexer")
			}
			return &assignExpr{pos: lhs.offset(), op: t.text, target: lhs, value: rhs}, nil
		case ">":
			// '>' '>=' adjacent forms '>>='
			if n := p.peekN(1); n.kind == tkOp && n.text == ">=" && n.pos == t.end {
				p.advance()
				p.advance()
				rhs, err := p.expr()
				if err != nil {
					return nil, err
				}
				if !isAssignable(lhs) {
					return nil, p.errf(t, "the left-hand side of an assignment must be a variable, property or indexer")
				}
				return &assignExpr{pos: lhs.offset(), op: ">>=", target: lhs, value: rhs}, nil
			}
		}
	}
	return lhs, nil
}

func isAssignable(n node) bool {
	switch x := n.(type) {
	case *identExpr:
		return true
	case *memberExpr:
		return !x.nullCond
	case *indexExpr:
		return !x.nullCond
	}
	return false
}

func (p *parser) tryLambda() (node, bool, *Error) {
	t := p.peek()
	var params []string
	save := p.i
	switch {
	case t.kind == tkIdent && !reserved[t.text] && p.peekN(1).kind == tkOp && p.peekN(1).text == "=>":
		params = []string{t.text}
		p.i += 2
	case t.kind == tkOp && t.text == "(":
		p.advance()
		ok := true
		for !p.isOp(")") {
			// optional type before the name
			a := p.peek()
			if a.kind != tkIdent || reserved[a.text] && !builtinTypeKeywords[a.text] {
				ok = false
				break
			}
			if n := p.peekN(1); n.kind == tkIdent || (n.kind == tkOp && (n.text == "<" || n.text == "[")) {
				if _, err := p.parseType(); err != nil {
					ok = false
					break
				}
				a = p.peek()
				if a.kind != tkIdent || reserved[a.text] {
					ok = false
					break
				}
			}
			p.advance()
			params = append(params, a.text)
			if !p.accept(",") {
				break
			}
		}
		if !ok || !p.accept(")") || !p.isOp("=>") {
			p.i = save
			return nil, false, nil
		}
		p.advance()
	default:
		return nil, false, nil
	}
	lam := &lambdaExpr{pos: t.pos, params: params}
	if p.isOp("{") {
		b, err := p.block()
		if err != nil {
			return nil, true, err
		}
		lam.body = b
	} else {
		x, err := p.expr()
		if err != nil {
			return nil, true, err
		}
		lam.body = x
	}
	return lam, true, nil
}

func (p *parser) conditional() (node, *Error) {
	c, err := p.coalesce()
	if err != nil {
		return nil, err
	}
	if p.isOp("?") {
		t := p.advance()
		a, err := p.expr()
		if err != nil {
			return nil, err
		}
		if err := p.expect(":"); err != nil {
			return nil, err
		}
		b, err := p.expr()
		if err != nil {
			return nil, err
		}
		return &condExpr{pos: t.pos, c: c, a: a, b: b}, nil
	}
	return c, nil
}

func (p *parser) coalesce() (node, *Error) {
	l, err := p.binary(0)
	if err != nil {
		return nil, err
	}
	if p.isOp("??") {
		t := p.advance()
		if err := p.enter(); err != nil {
			return nil, err
		}
		defer p.leave()
		var r node
		if p.isKw("throw") {
			tt := p.advance()
			x, err := p.expr()
			if err != nil {
				return nil, err
			}
			r = &throwExpr{pos: tt.pos, x: x}
		} else if r, err = p.coalesce(); err != nil {
			return nil, err
		}
		return &binaryExpr{pos: t.pos, op: "??", l: l, r: r}, nil
	}
	return l, nil
}

var binPrec = map[string]int{
	"||": 1, "&&": 2, "|": 3, "^": 4, "&": 5,
	"==": 6, "!=": 6,
	"<": 7, ">": 7, "<=": 7, ">=": 7,
	"<<": 8, ">>": 8,
	"+": 9, "-": 9,
	"*": 10, "/": 10, "%": 10,
}

// binOp returns the binary operator at the cursor (combining adjacent '>' '>'
// into a shift) and how many tokens it spans.
func (p *parser) binOp() (string, int) {
	t := p.peek()
	if t.kind == tkIdent && (t.text == "is" || t.text == "as") {
		return t.text, 1
	}
	if t.kind != tkOp {
		return "", 0
	}
	if t.text == ">" {
		if n := p.peekN(1); n.kind == tkOp && n.text == ">" && n.pos == t.end {
			return ">>", 2
		}
		if n := p.peekN(1); n.kind == tkOp && n.text == ">=" && n.pos == t.end {
			return "", 0 // >>= handled by assignment
		}
	}
	if _, ok := binPrec[t.text]; ok {
		return t.text, 1
	}
	return "", 0
}

func (p *parser) binary(minPrec int) (node, *Error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	l, err := p.unary()
	if err != nil {
		return nil, err
	}
	for {
		op, n := p.binOp()
		if op == "" {
			return l, nil
		}
		prec := 7
		if op != "is" && op != "as" {
			prec = binPrec[op]
		}
		if prec <= minPrec {
			return l, nil
		}
		t := p.peek()
		p.i += n
		switch op {
		case "is":
			ie := &isExpr{pos: t.pos, x: l}
			if p.isKw("not") {
				p.advance()
				ie.not = true
			}
			if p.isKw("null") || p.peek().kind == tkString || p.peek().kind == tkInt || p.isKw("true") || p.isKw("false") {
				lit, err := p.unary()
				if err != nil {
					return nil, err
				}
				ie.lit = lit
			} else {
				ty, err := p.parseType()
				if err != nil {
					return nil, err
				}
				ie.typ = ty
				if nt := p.peek(); nt.kind == tkIdent && !reserved[nt.text] && nt.text != "and" && nt.text != "or" {
					p.advance()
					ie.bind = nt.text
				}
			}
			l = ie
			continue
		case "as":
			ty, err := p.parseType()
			if err != nil {
				return nil, err
			}
			l = &asExpr{pos: t.pos, x: l, typ: ty}
			continue
		}
		r, err := p.binary(prec)
		if err != nil {
			return nil, err
		}
		l = &binaryExpr{pos: t.pos, op: op, l: l, r: r}
	}
}

func (p *parser) unary() (node, *Error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	t := p.peek()
	if t.kind == tkOp {
		switch t.text {
		case "!", "-", "+", "~":
			p.advance()
			x, err := p.unary()
			if err != nil {
				return nil, err
			}
			// fold negative numeric literals so int.MinValue-style literals work
			if lit, ok := x.(*litExpr); ok && t.text == "-" {
				switch v := lit.val.(type) {
				case int:
					return &litExpr{pos: t.pos, val: -v}, nil
				case int64:
					return &litExpr{pos: t.pos, val: -v}, nil
				case float64:
					return &litExpr{pos: t.pos, val: -v}, nil
				}
			}
			return &unaryExpr{pos: t.pos, op: t.text, x: x}, nil
		case "++", "--":
			p.advance()
			x, err := p.unary()
			if err != nil {
				return nil, err
			}
			if !isAssignable(x) {
				return nil, p.errf(t, "the operand of an increment or decrement operator must be a variable, property or indexer")
			}
			return &incDecExpr{pos: t.pos, op: t.text, prefix: true, x: x}, nil
		case "(":
			if c, ok, err := p.tryCast(); err != nil || ok {
				return c, err
			}
		case "&", "*":
			return nil, p.errf(t, "unsupported C# construct: pointer operator '%s'", t.text)
		}
	}
	if t.kind == tkIdent && t.text == "await" {
		return nil, p.errf(t, "unsupported C# construct: await")
	}
	return p.postfix()
}

// tryCast recognises "(Type) operand" using C#'s disambiguation rule: the
// parenthesised tokens form a type and the next token can start an operand.
func (p *parser) tryCast() (node, bool, *Error) {
	save := p.i
	t := p.advance() // (
	ty, err := p.parseType()
	if err != nil || !p.isOp(")") {
		p.i = save
		return nil, false, nil
	}
	p.advance()
	n := p.peek()
	castable := false
	switch n.kind {
	case tkIdent:
		castable = !reserved[n.text] || n.text == "new" || n.text == "true" || n.text == "false" || n.text == "null" || n.text == "default" || n.text == "typeof" || builtinTypeKeywords[n.text] || n.text == "this"
		if n.text == "is" || n.text == "as" {
			castable = false
		}
	case tkInt, tkFloat, tkString, tkChar, tkInterp:
		castable = true
	case tkOp:
		switch n.text {
		case "(", "!", "~":
			castable = true
		case "-", "+":
			castable = builtinTypeKeywords[ty.name] && ty.rank == 0 && len(ty.args) == 0
		}
	}
	if !castable {
		p.i = save
		return nil, false, nil
	}
	x, err := p.unary()
	if err != nil {
		return nil, true, err
	}
	return &castExpr{pos: t.pos, typ: ty, x: x}, true, nil
}

func (p *parser) postfix() (node, *Error) {
	x, err := p.primary()
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		if t.kind != tkOp {
			return x, nil
		}
		switch t.text {
		case ".", "?.":
			p.advance()
			n := p.peek()
			if n.kind != tkIdent {
				return nil, p.errf(n, "expected a member name after '%s'", t.text)
			}
			p.advance()
			m := &memberExpr{pos: n.pos, x: x, name: n.text, nullCond: t.text == "?."}
			if p.isOp("<") {
				if args, ok := p.tryTypeArgs(); ok {
					m.typeArgs = args
				}
			}
			x = m
		case "(":
			args, err := p.arguments(")")
			if err != nil {
				return nil, err
			}
			x = &callExpr{pos: x.offset(), fn: x, args: args}
		case "[", "?[":
			p.advance()
			ix := &indexExpr{pos: t.pos, x: x, nullCond: t.text == "?["}
			for {
				a, err := p.expr()
				if err != nil {
					return nil, err
				}
				ix.args = append(ix.args, a)
				if !p.accept(",") {
					break
				}
			}
			if err := p.expect("]"); err != nil {
				return nil, err
			}
			x = ix
		case "++", "--":
			if !isAssignable(x) {
				return x, nil
			}
			p.advance()
			x = &incDecExpr{pos: t.pos, op: t.text, x: x}
		case "!":
			// null-forgiving operator x! (only when not followed by '=')
			if n := p.peekN(1); n.kind == tkOp && (n.text == "=" || n.text == "==") {
				return x, nil
			}
			if n := p.peekN(1); n.kind == tkOp && (n.text == "." || n.text == ")" || n.text == ";" || n.text == "[" || n.text == ",") {
				p.advance()
				continue
			}
			return x, nil
		default:
			return x, nil
		}
	}
}

// tryTypeArgs parses "<T, U>" after a name when followed by a token that
// makes it a generic argument list rather than a comparison.
func (p *parser) tryTypeArgs() ([]*typeRef, bool) {
	save := p.i
	p.advance()
	var args []*typeRef
	for {
		ty, err := p.parseType()
		if err != nil {
			p.i = save
			return nil, false
		}
		args = append(args, ty)
		if !p.accept(",") {
			break
		}
	}
	if !p.accept(">") {
		p.i = save
		return nil, false
	}
	n := p.peek()
	if n.kind == tkOp {
		switch n.text {
		case "(", ")", "]", "}", ":", ";", ",", ".", "?", "==", "!=", "|", "^", "&&", "||", "&", "[":
			return args, true
		}
	}
	if n.kind == tkEOF {
		return args, true
	}
	p.i = save
	return nil, false
}

func (p *parser) arguments(closer string) ([]argExpr, *Error) {
	p.advance() // ( or [
	var args []argExpr
	if p.accept(closer) {
		return args, nil
	}
	for {
		var a argExpr
		t := p.peek()
		if t.kind == tkIdent && !reserved[t.text] && p.peekN(1).kind == tkOp && p.peekN(1).text == ":" {
			a.name = t.text
			p.i += 2
		}
		if p.isKw("out") {
			p.advance()
			a.out = true
			// out var x / out T x / out x
			if p.isKw("var") && p.peekN(1).kind == tkIdent {
				p.advance()
				a.outVar = p.advance().text
			} else if n := p.peekN(1); p.peek().kind == tkIdent && (n.kind == tkIdent || (n.kind == tkOp && (n.text == "<" || n.text == "["))) {
				ty, err := p.parseType()
				if err != nil {
					return nil, err
				}
				if p.peek().kind != tkIdent {
					return nil, p.errf(p.peek(), "expected a variable name after out type")
				}
				a.outTyp = ty
				a.outVar = p.advance().text
			} else {
				x, err := p.postfix()
				if err != nil {
					return nil, err
				}
				a.x = x
			}
		} else if p.isKw("ref") || p.isKw("in") && p.peekN(1).kind == tkIdent {
			return nil, p.errf(p.peek(), "unsupported C# construct: %s argument", p.peek().text)
		} else {
			x, err := p.expr()
			if err != nil {
				return nil, err
			}
			a.x = x
		}
		args = append(args, a)
		if p.accept(",") {
			continue
		}
		if err := p.expect(closer); err != nil {
			return nil, err
		}
		return args, nil
	}
}

func (p *parser) primary() (node, *Error) {
	t := p.peek()
	switch t.kind {
	case tkInt:
		p.advance()
		switch t.nk {
		case nkInt:
			return &litExpr{pos: t.pos, val: int(t.ival)}, nil
		case nkUint, nkLong, nkUlong:
			return &litExpr{pos: t.pos, val: t.ival}, nil
		}
		return &litExpr{pos: t.pos, val: int(t.ival)}, nil
	case tkFloat:
		p.advance()
		if t.nk == nkDecimal {
			d, ok := parseDecimalText(t.text, true)
			if !ok {
				return nil, p.errf(t, "Floating-point constant is outside the range of type 'decimal'")
			}
			return &litExpr{pos: t.pos, val: d}, nil
		}
		return &litExpr{pos: t.pos, val: t.fval}, nil
	case tkString:
		p.advance()
		return &litExpr{pos: t.pos, val: t.sval}, nil
	case tkChar:
		p.advance()
		r := []rune(t.sval)
		if len(r) != 1 {
			return nil, p.errf(t, "invalid character literal")
		}
		return &litExpr{pos: t.pos, val: Char(r[0])}, nil
	case tkInterp:
		p.advance()
		return p.interp(t)
	case tkEOF:
		return nil, p.errf(t, "unexpected end of expression")
	case tkOp:
		if t.text == "(" {
			p.advance()
			x, err := p.expr()
			if err != nil {
				return nil, err
			}
			if p.isOp(",") {
				return nil, p.errf(p.peek(), "unsupported C# construct: tuple")
			}
			if err := p.expect(")"); err != nil {
				return nil, err
			}
			return x, nil
		}
		return nil, p.errf(t, "unexpected %s", describe(t))
	}
	// identifier / keyword
	switch t.text {
	case "true":
		p.advance()
		return &litExpr{pos: t.pos, val: true}, nil
	case "false":
		p.advance()
		return &litExpr{pos: t.pos, val: false}, nil
	case "null":
		p.advance()
		return &litExpr{pos: t.pos, val: nil}, nil
	case "new":
		return p.newExpr()
	case "default":
		p.advance()
		d := &defaultExpr{pos: t.pos}
		if p.accept("(") {
			ty, err := p.parseType()
			if err != nil {
				return nil, err
			}
			d.typ = ty
			if err := p.expect(")"); err != nil {
				return nil, err
			}
		}
		return d, nil
	case "checked", "unchecked":
		p.advance()
		if err := p.expect("("); err != nil {
			return nil, err
		}
		x, err := p.expr()
		if err != nil {
			return nil, err
		}
		return &checkedNode{pos: t.pos, x: x, checked: t.text == "checked"}, p.expect(")")
	case "typeof":
		p.advance()
		if err := p.expect("("); err != nil {
			return nil, err
		}
		ty, err := p.parseType()
		if err != nil {
			return nil, err
		}
		if err := p.expect(")"); err != nil {
			return nil, err
		}
		return &typeofExpr{pos: t.pos, typ: ty}, nil
	}
	if what, ok := unsupportedKeywords[t.text]; ok {
		return nil, p.errf(t, "unsupported C# construct: %s", what)
	}
	if reserved[t.text] {
		return nil, p.errf(t, "unexpected keyword '%s'", t.text)
	}
	p.advance()
	id := &identExpr{pos: t.pos, name: t.text}
	if p.isOp("<") {
		if args, ok := p.tryTypeArgs(); ok {
			return &memberExpr{pos: t.pos, x: nil, name: t.text, typeArgs: args}, nil
		}
	}
	return id, nil
}

func (p *parser) newExpr() (node, *Error) {
	t := p.advance()
	n := &newExpr{pos: t.pos}
	if p.isOp("{") {
		// anonymous object
		n.anon = true
		p.advance()
		for !p.accept("}") {
			ft := p.peek()
			if ft.kind != tkIdent {
				return nil, p.errf(ft, "expected a member name in anonymous object")
			}
			var f fieldInit
			if p.peekN(1).kind == tkOp && p.peekN(1).text == "=" {
				p.advance()
				p.advance()
				v, err := p.expr()
				if err != nil {
					return nil, err
				}
				f = fieldInit{pos: ft.pos, name: ft.text, value: v}
			} else {
				v, err := p.expr()
				if err != nil {
					return nil, err
				}
				name := projectionName(v)
				if name == "" {
					return nil, &Error{off: ft.pos, Msg: "invalid anonymous type member declarator"}
				}
				f = fieldInit{pos: ft.pos, name: name, value: v}
			}
			n.fields = append(n.fields, f)
			if !p.accept(",") {
				if err := p.expect("}"); err != nil {
					return nil, err
				}
				break
			}
		}
		return n, nil
	}
	if p.isOp("[") {
		// implicit array new[] { ... }
		p.advance()
		if err := p.expect("]"); err != nil {
			return nil, err
		}
		n.implicit = true
		elems, err := p.initializerList()
		if err != nil {
			return nil, err
		}
		n.elems = elems
		n.hasInit = true
		return n, nil
	}
	// type name without array rank (we parse [n] ourselves)
	nt := p.peek()
	if nt.kind != tkIdent {
		return nil, p.errf(nt, "expected a type after 'new'")
	}
	save := p.i
	ty, err := p.parseType()
	if err != nil {
		return nil, err
	}
	n.typ = ty
	if ty.rank == 0 && p.isOp("[") {
		// new T[n] { ... }
		p.i = save
		ty2, err := p.parseTypeNoRank()
		if err != nil {
			return nil, err
		}
		n.typ = ty2
		p.advance() // [
		ln, err := p.expr()
		if err != nil {
			return nil, err
		}
		n.arrayLen = ln
		if err := p.expect("]"); err != nil {
			return nil, err
		}
		n.typ.rank = 1
		for p.isOp("[") && p.peekN(1).kind == tkOp && p.peekN(1).text == "]" {
			return nil, p.errf(p.peek(), "unsupported C# construct: jagged array creation")
		}
	}
	if p.isOp("(") {
		args, err := p.arguments(")")
		if err != nil {
			return nil, err
		}
		n.args = args
		n.hasArgs = true
	}
	if p.isOp("{") {
		if n.typ.rank > 0 {
			elems, err := p.initializerList()
			if err != nil {
				return nil, err
			}
			n.elems = elems
			n.hasInit = true
			return n, nil
		}
		if err := p.objectOrCollectionInit(n); err != nil {
			return nil, err
		}
	}
	if !n.hasArgs && !n.hasInit && n.arrayLen == nil {
		return nil, p.errf(p.peek(), "expected '(' or '{' after 'new %s'", n.typ.name)
	}
	return n, nil
}

func (p *parser) parseTypeNoRank() (*typeRef, *Error) {
	t := p.peek()
	p.advance()
	name := t.text
	for p.isOp(".") && p.peekN(1).kind == tkIdent {
		p.advance()
		name = p.advance().text
	}
	ref := &typeRef{pos: t.pos, name: name}
	if p.isOp("<") {
		p.advance()
		for {
			a, err := p.parseType()
			if err != nil {
				return nil, err
			}
			ref.args = append(ref.args, a)
			if !p.accept(",") {
				break
			}
		}
		if err := p.expect(">"); err != nil {
			return nil, err
		}
	}
	return ref, nil
}

func projectionName(n node) string {
	switch x := n.(type) {
	case *identExpr:
		return x.name
	case *memberExpr:
		return x.name
	}
	return ""
}

// initializerList parses "{ a, b, c }" (array initializer).
func (p *parser) initializerList() ([]node, *Error) {
	if err := p.expect("{"); err != nil {
		return nil, err
	}
	var elems []node
	for !p.accept("}") {
		if p.isOp("{") {
			return nil, p.errf(p.peek(), "unsupported C# construct: nested array initializer")
		}
		e, perr := p.expr()
		if perr != nil {
			return nil, perr
		}
		elems = append(elems, e)
		if !p.accept(",") {
			if err := p.expect("}"); err != nil {
				return nil, err
			}
			break
		}
	}
	return elems, nil
}

// objectOrCollectionInit parses "{ Name = v, ... }", "{ [k] = v }", "{ a, b }" or "{ {k, v}, ... }".
func (p *parser) objectOrCollectionInit(n *newExpr) *Error {
	p.advance() // {
	n.hasInit = true
	for !p.accept("}") {
		t := p.peek()
		switch {
		case t.kind == tkIdent && !reserved[t.text] && p.peekN(1).kind == tkOp && p.peekN(1).text == "=":
			p.i += 2
			v, err := p.initValue()
			if err != nil {
				return err
			}
			n.fields = append(n.fields, fieldInit{pos: t.pos, name: t.text, value: v})
		case t.kind == tkOp && t.text == "[":
			p.advance()
			k, err := p.expr()
			if err != nil {
				return err
			}
			if err := p.expect("]"); err != nil {
				return err
			}
			if err := p.expect("="); err != nil {
				return err
			}
			v, err := p.expr()
			if err != nil {
				return err
			}
			n.elems = append(n.elems, &indexInit{pos: t.pos, key: k, value: v})
		case t.kind == tkOp && t.text == "{":
			p.advance()
			pair := &initPair{pos: t.pos}
			for !p.accept("}") {
				v, err := p.expr()
				if err != nil {
					return err
				}
				pair.items = append(pair.items, v)
				if !p.accept(",") {
					if err := p.expect("}"); err != nil {
						return err
					}
					break
				}
			}
			n.elems = append(n.elems, pair)
		default:
			v, err := p.expr()
			if err != nil {
				return err
			}
			n.elems = append(n.elems, v)
		}
		if !p.accept(",") {
			return p.expect("}")
		}
	}
	return nil
}

func (p *parser) initValue() (node, *Error) {
	if p.isOp("{") {
		return nil, p.errf(p.peek(), "unsupported C# construct: nested object initializer")
	}
	return p.expr()
}

// interp parses the holes of an interpolated string token.
func (p *parser) interp(t *token) (node, *Error) {
	ie := &interpExpr{pos: t.pos}
	for _, part := range t.parts {
		if !part.isHole {
			ie.parts = append(ie.parts, interpHole{lit: part.lit})
			continue
		}
		toks, err := lex(part.src, part.off)
		if err != nil {
			return nil, err
		}
		sub := &parser{toks: toks, depth: p.depth}
		x, err := sub.expr()
		if err != nil {
			return nil, err
		}
		if sub.peek().kind != tkEOF {
			return nil, sub.errf(sub.peek(), "unexpected %s in interpolation hole", describe(sub.peek()))
		}
		h := interpHole{x: x, format: part.format}
		if part.align != "" {
			a, convErr := strconv.Atoi(strings.TrimSpace(part.align))
			if convErr != nil {
				return nil, &Error{off: part.off, Msg: "interpolation alignment must be a constant integer"}
			}
			h.align = a
		}
		ie.parts = append(ie.parts, h)
	}
	return ie, nil
}
