package expr

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
)

// IsExpression reports whether s (trimmed) starts with "@(" or "@{".
func IsExpression(s string) bool {
	t := strings.TrimSpace(s)
	return strings.HasPrefix(t, "@(") || strings.HasPrefix(t, "@{")
}

// Program is a compiled expression; it is safe for concurrent use.
type Program struct {
	src    string
	block  bool
	expr   evalFn
	stmts  execFn
	nslots int
	pool   sync.Pool
	// str is expr evaluated as a string without boxing, when it can be.
	str strFn
}

// Compile parses and type-checks "@(expr)" or "@{ statements }" once.
// Errors are *Error with line and column relative to the start of src.
func Compile(src string) (*Program, error) {
	p, err := compile(src)
	if err != nil {
		return nil, err.locate(src)
	}
	return p, nil
}

func compile(src string) (*Program, *Error) {
	start := len(src) - len(strings.TrimLeft(src, " \t\r\n"))
	body := strings.TrimRight(src[start:], " \t\r\n")
	if len(body) < 3 || body[0] != '@' || (body[1] != '(' && body[1] != '{') {
		return nil, &Error{off: start, Msg: "an expression must start with \"@(\" or \"@{\""}
	}
	closer := byte(')')
	if body[1] == '{' {
		closer = '}'
	}
	if body[len(body)-1] != closer {
		return nil, &Error{off: start + len(body), Msg: fmt.Sprintf("expression must end with '%c'", closer)}
	}
	inner := body[2 : len(body)-1]
	innerOff := start + 2
	// lex the inner text with offsets relative to the whole source
	padded := strings.Repeat(" ", innerOff) + inner
	toks, err := lex(padded, 0)
	if err != nil {
		return nil, err
	}
	// Header and Query are the members of Api.SubscriptionKeyParameterNames
	anon := map[string]bool{"Header": true, "Query": true, "Item1": true, "Item2": true, "Item3": true, "Item4": true, "Item5": true, "Item6": true, "Item7": true}
	for i := 0; i+2 < len(toks); i++ {
		// anonymous object member names: new { Name = ... , ...}
		if toks[i].kind == tkIdent && toks[i+1].kind == tkOp && toks[i+1].text == "=" && i > 0 && toks[i-1].kind == tkOp && (toks[i-1].text == "{" || toks[i-1].text == ",") {
			anon[toks[i].text] = true
		}
	}
	// projection members: new { x, p.Name } has members x and Name
	for i := 0; i+1 < len(toks); i++ {
		if toks[i].kind != tkIdent || toks[i].text != "new" || toks[i+1].kind != tkOp || toks[i+1].text != "{" {
			continue
		}
		depth := 0
		for j := i + 1; j < len(toks); j++ {
			if toks[j].kind == tkOp {
				switch toks[j].text {
				case "{", "(", "[":
					depth++
				case "}", ")", "]":
					depth--
				}
			}
			if depth == 0 || depth == 1 && toks[j].kind == tkOp && toks[j].text == "," {
				if k := j - 1; k > i+1 && toks[k].kind == tkIdent {
					anon[toks[k].text] = true
				}
				if depth == 0 {
					break
				}
			}
		}
	}
	c := &compiler{anonNames: anon}
	c.push()
	p := &Program{src: src, block: body[1] == '{'}
	if p.block {
		b, perr := parseBlock(toks)
		if perr != nil {
			return nil, perr
		}
		exec, cerr := c.stmts(b.stmts)
		if cerr != nil {
			return nil, cerr
		}
		if derr := checkDefinite(b, true); derr != nil {
			return nil, derr
		}
		if !hasReturn(b) {
			return nil, &Error{off: start, Msg: "not all code paths return a value: a block expression needs a return statement"}
		}
		p.stmts = exec
	} else {
		if len(toks) == 1 {
			return nil, &Error{off: innerOff, Msg: "empty expression"}
		}
		n, perr := parseExpression(toks)
		if perr != nil {
			return nil, perr
		}
		x, cerr := c.expr(n)
		if cerr != nil {
			return nil, cerr
		}
		if derr := checkDefinite(n, false); derr != nil {
			return nil, derr
		}
		p.expr = x.fn
		p.str = x.str
	}
	p.nslots = c.nslots
	return p, nil
}

// Source returns the source text the program was compiled from.
func (p *Program) Source() string { return p.src }

// Eval runs the program. Runtime failures are *RuntimeError.
func (p *Program) Eval(c *Context) (v any, err error) {
	e := p.env(c)
	defer func() {
		if r := recover(); r != nil {
			v, err = nil, internalError(r)
		}
		p.release(e)
	}()
	if !p.block {
		v, err = p.expr(e)
	} else {
		var r ctrl
		r, err = p.stmts(e)
		if err == nil {
			if r == ctrlReturn {
				v = e.ret
			}
		}
	}
	if err != nil {
		if err == errShortCircuit {
			return nil, nil
		}
		return nil, runtimeError(err)
	}
	return v, nil
}

// env returns a frame for one evaluation with context c.
func (p *Program) env(c *Context) *env {
	if c == nil {
		c = &Context{}
	}
	var e *env
	if x := p.pool.Get(); x != nil {
		e = x.(*env)
	} else {
		e = &env{locals: make([]any, p.nslots)}
	}
	e.c = c
	return e
}

// release returns e to the pool unless a lambda may still use it.
func (p *Program) release(e *env) {
	if e.noPool {
		return
	}
	clear(e.locals)
	e.popArgs(0)
	e.c, e.ret, e.steps, e.caught = nil, nil, 0, nil
	p.pool.Put(e)
}

// internalError reports a Go runtime error inside a built-in like a .NET
// exception instead of crashing the gateway.
func internalError(r any) *RuntimeError {
	return &RuntimeError{Type: "Exception", Msg: fmt.Sprintf("internal error evaluating expression: %v", r)}
}

// runtimeError is err as Eval returns it.
func runtimeError(err error) error {
	if _, ok := err.(*RuntimeError); !ok {
		return &RuntimeError{Type: "Exception", Msg: err.Error()}
	}
	return err
}

// EvalString runs the program and converts the result with C# ToString
// semantics (bool → "True"/"False", null → "").
func (p *Program) EvalString(c *Context) (s string, err error) {
	if p.str == nil {
		v, err := p.Eval(c)
		if err != nil {
			return "", err
		}
		return ToString(v), nil
	}
	// A string-typed expression of context's members, evaluated as Eval
	// does without boxing its result and operands, nor an evaluation
	// frame.
	if c == nil {
		c = &Context{}
	}
	defer func() {
		if r := recover(); r != nil {
			s, err = "", internalError(r)
		}
	}()
	s, err = p.str(c)
	if err != nil {
		if err == errShortCircuit {
			return "", nil
		}
		return "", runtimeError(err)
	}
	return s, nil
}

// EvalBool runs the program and requires a bool result.
func (p *Program) EvalBool(c *Context) (bool, error) {
	v, err := p.Eval(c)
	if err != nil {
		return false, err
	}
	b, err := toBool(v)
	if err != nil {
		return false, &RuntimeError{Type: "InvalidCastException", Msg: "the expression did not return a bool: " + err.Error()}
	}
	return b, nil
}

// Value is a policy attribute or text value: a literal or an expression.
type Value struct {
	lit  string
	prog *Program
}

// CompileValue compiles s when it is an expression, otherwise keeps it as a literal.
func CompileValue(s string) (*Value, error) {
	if !IsExpression(s) {
		return &Value{lit: s}, nil
	}
	p, err := Compile(s)
	if err != nil {
		return nil, err
	}
	return &Value{prog: p}, nil
}

// IsConst reports whether the value is a literal.
func (v *Value) IsConst() bool { return v.prog == nil }

// Program returns the compiled expression, or nil for a literal.
func (v *Value) Program() *Program { return v.prog }

// String evaluates the value as a string.
func (v *Value) String(c *Context) (string, error) {
	if v.prog == nil {
		return v.lit, nil
	}
	return v.prog.EvalString(c)
}

// Bool evaluates the value as a bool; literals accept "true"/"false" in any case.
func (v *Value) Bool(c *Context) (bool, error) {
	if v.prog == nil {
		switch strings.ToLower(strings.TrimSpace(v.lit)) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
		return false, fmt.Errorf("%q is not a boolean", v.lit)
	}
	return v.prog.EvalBool(c)
}

// Int evaluates the value as an integer; an expression may return a number
// or a numeric string.
func (v *Value) Int(c *Context) (int, error) {
	if v.prog == nil {
		n, err := strconv.Atoi(strings.TrimSpace(v.lit))
		if err != nil {
			return 0, fmt.Errorf("%q is not an integer: %w", v.lit, err)
		}
		return n, nil
	}
	r, err := v.prog.Eval(c)
	if err != nil {
		return 0, err
	}
	out, err := changeType("int", r)
	if err != nil {
		return 0, err
	}
	return out.(int), nil
}

// hasReturn reports whether a statement tree (outside lambdas) returns.
func hasReturn(n node) bool {
	switch s := n.(type) {
	case *returnStmt:
		return true
	case *throwStmt:
		return true
	case *blockStmt:
		for _, x := range s.stmts {
			if hasReturn(x) {
				return true
			}
		}
	case *ifStmt:
		return hasReturn(s.then) || (s.els != nil && hasReturn(s.els))
	case *forStmt:
		return hasReturn(s.body)
	case *foreachStmt:
		return hasReturn(s.body)
	case *whileStmt:
		return hasReturn(s.body)
	case *tryStmt:
		if hasReturn(s.body) || (s.finally != nil && hasReturn(s.finally)) {
			return true
		}
		for _, c := range s.catches {
			if hasReturn(c.body) {
				return true
			}
		}
	case *usingStmt:
		return hasReturn(s.body)
	case *checkedNode:
		return hasReturn(s.x)
	case *switchStmt:
		for _, c := range s.cases {
			for _, x := range c.body {
				if hasReturn(x) {
					return true
				}
			}
		}
	}
	return false
}
