package expr

import (
	"errors"
	"math"
	"strings"
)

// evalFn is a compiled expression.
type evalFn func(e *env) (any, error)

// execFn is a compiled statement.
type execFn func(e *env) (ctrl, error)

type ctrl uint8

const (
	ctrlNormal ctrl = iota
	ctrlBreak
	ctrlContinue
	ctrlReturn
)

// env is the per-evaluation frame: the context and local variable slots.
type env struct {
	c      *Context
	locals []any
	ret    any
	steps  int
	// caught is the exception of the innermost running catch clause (throw;)
	caught *RuntimeError
	// noPool is set when a lambda value was created: it references this
	// frame and may outlive the evaluation, so the frame is not reused.
	noPool bool
	// depth is the nesting of lambda calls (next to noPool, in its
	// padding)
	depth int32
	// stack holds call arguments; a call appends its arguments, passes the
	// window to the callee (which must not keep it) and truncates after.
	stack []any
}

func (e *env) popArgs(base int) {
	clear(e.stack[base:])
	e.stack = e.stack[:base]
}

// maxSteps bounds the loop iterations and lambda calls of one evaluation so
// an endless loop in a policy cannot pin a request goroutine forever.
const maxSteps = 10_000_000

func (e *env) tick() error {
	e.steps++
	if e.steps > maxSteps {
		return &RuntimeError{Type: "TimeoutException", Msg: "expression exceeded the limit of 10000000 loop iterations"}
	}
	return nil
}

// errShortCircuit unwinds a null-conditional chain (a?.b.c) to its root.
var errShortCircuit = errors.New("null-conditional short circuit")

// sType is the static type the compiler knows for an expression: the context
// object model (so unknown members are load-time errors and members resolve
// at compile time) plus a few primitives; everything else is dynamic.
type sType uint8

const (
	stAny sType = iota
	stContext
	stRequest
	stResponse
	stURL
	stQuery
	stHeaders
	stBody
	stVariables
	stSubscription
	stUser
	stProduct
	stApi
	stOperation
	stDeployment
	stGateway
	stLastError
	stParams
	stCert
	stJwt
	stClaims
	stAuthorization
	stCount
	stString
	stInt
	stBool
	stLong
	stDouble
	stDecimal
	stChar
	stDateTime
	stTimeSpan
	stObject // statically object: casts to value types unbox
	stByte
	stShort
)

var modelNames = [...]string{
	stContext: "context", stRequest: "context.Request", stResponse: "IResponse", stURL: "IUrl",
	stQuery: "query parameters", stHeaders: "headers", stBody: "IMessageBody", stVariables: "context.Variables",
	stSubscription: "context.Subscription", stUser: "context.User", stProduct: "context.Product",
	stApi: "context.Api", stOperation: "context.Operation", stDeployment: "context.Deployment",
	stGateway: "context.Deployment.Gateway", stLastError: "context.LastError", stParams: "MatchedParameters",
	stCert: "X509Certificate2", stJwt: "Jwt", stClaims: "Jwt.Claims", stAuthorization: "Authorization",
}

func isModel(st sType) bool { return st > stAny && st < stCount }

// strFn evaluates a string-typed expression as a string.
type strFn func(*Context) (string, error)

type cx struct {
	// cat, when set, are the operands of the string concatenation chain
	// fn evaluates (concat.go); code that replaces fn must drop it.
	cat []evalFn
	// ctx, when set, is fn for a chain of model members rooted at context:
	// it needs only the Context, not an evaluation frame. str, when set,
	// evaluates such a string-typed fn (or a concatenation of them) to the
	// same string without boxing it in an interface (an allocation);
	// catStr are the operands of cat so evaluated, when every one has a
	// str. Code that replaces fn must drop them too.
	ctx    func(*Context) (any, error)
	str    strFn
	catStr []strFn

	fn      evalFn
	st      sType
	isConst bool
	val     any
	isFunc  bool // a lambda
	t       *ty  // static type beyond st (collections, arrays, delegates, JSON tokens)
}

func (x cx) withT(t *ty) cx { return withTy(x, t) }

func constCx(v any) cx {
	st := stAny
	switch v.(type) {
	case string:
		st = stString
	case int:
		st = stInt
	case bool:
		st = stBool
	case int64:
		st = stLong
	case float64:
		st = stDouble
	case Decimal:
		st = stDecimal
	case Char:
		st = stChar
	}
	return cx{fn: func(*env) (any, error) { return v, nil }, isConst: true, val: v, st: st}
}

type local struct {
	slot int
	st   sType
	t    *ty
	fn   *hoistedFn // a local function, callable before its declaration
}

// hoistedFn is a local function declared at the start of its block (C#
// local functions may be called before their declaration): decl is its
// declaration, mk creates its value once the body is compiled.
type hoistedFn struct {
	decl *declStmt
	mk   evalFn
}

type scope struct {
	parent *scope
	vars   map[string]local
	fn     *lambdaCapture // set on a lambda's own scope
}

// lambdaCapture collects the outer locals a lambda uses.
type lambdaCapture struct{ slots []int }

func (lc *lambdaCapture) add(slot int) {
	for _, s := range lc.slots {
		if s == slot {
			return
		}
	}
	lc.slots = append(lc.slots, slot)
}

// cell holds a local variable captured by a lambda: each execution of its
// declaration makes a new cell (a new variable per loop iteration, as in
// C#), and lambdas keep the cells they were created with.
type cell struct{ v any }

func loadLocal(e *env, slot int) any {
	v := e.locals[slot]
	if c, ok := v.(*cell); ok {
		return c.v
	}
	return v
}

func storeLocal(e *env, slot int, v any) {
	if c, ok := e.locals[slot].(*cell); ok {
		c.v = v
		return
	}
	e.locals[slot] = v
}

type compiler struct {
	// captured[slot] is set when a lambda uses the local: its declaration
	// then stores a fresh cell (read at run time, after compilation).
	captured  *[]bool
	checked   bool       // inside checked( ) or checked { }: integer overflow throws
	unchecked bool       // inside unchecked( ): constant overflow is allowed
	inLambda  int        // depth of lambda bodies being compiled
	rets      *[]retInfo // the returns of the lambda being compiled
	inCatch   int        // depth of catch clauses being compiled (throw; is allowed)
	nslots    int
	sc        *scope
	loops     int
	anonNames map[string]bool
}

func (c *compiler) push() { c.sc = &scope{parent: c.sc, vars: map[string]local{}} }
func (c *compiler) pop()  { c.sc = c.sc.parent }

func (c *compiler) lookup(name string) (local, bool) {
	var crossed []*lambdaCapture
	for s := c.sc; s != nil; s = s.parent {
		if l, ok := s.vars[name]; ok {
			if len(crossed) > 0 {
				c.markCaptured(l.slot)
				for _, lc := range crossed {
					lc.add(l.slot)
				}
			}
			return l, true
		}
		if s.fn != nil {
			crossed = append(crossed, s.fn)
		}
	}
	return local{}, false
}

func (c *compiler) lookupNoCapture(name string) (local, bool) {
	for s := c.sc; s != nil; s = s.parent {
		if l, ok := s.vars[name]; ok {
			return l, true
		}
	}
	return local{}, false
}

func (c *compiler) markCaptured(slot int) {
	if c.captured == nil {
		c.captured = new([]bool)
	}
	for len(*c.captured) <= slot {
		*c.captured = append(*c.captured, false)
	}
	(*c.captured)[slot] = true
}

// declStore returns the store of a declaration: a new cell when the local
// turns out to be captured by a lambda, the plain slot otherwise.
func (c *compiler) declStore(slot int) func(e *env, v any) {
	if c.captured == nil {
		c.captured = new([]bool)
	}
	capt := c.captured
	return func(e *env, v any) {
		if slot < len(*capt) && (*capt)[slot] {
			e.locals[slot] = &cell{v: v}
			return
		}
		e.locals[slot] = v
	}
}

func (c *compiler) declare(pos int, name string, st sType) (int, *Error) {
	return c.declareT(pos, name, st, nil)
}

// declareT declares a local of static type st, or t when t is a type only
// ty describes.
func (c *compiler) declareT(pos int, name string, st sType, t *ty) (int, *Error) {
	if t != nil && t.k == tkST {
		st, t = t.st, nil
	}
	if name == "context" {
		return 0, &Error{off: pos, Msg: "a local variable named 'context' hides the policy context"}
	}
	if _, ok := c.lookupNoCapture(name); ok {
		return 0, &Error{off: pos, Msg: "a local variable named '" + name + "' is already defined in this scope"}
	}
	slot := c.nslots
	c.nslots++
	c.sc.vars[name] = local{slot: slot, st: st, t: t}
	return slot, nil
}

func errAt(n node, format string, args ...any) *Error {
	return &Error{off: n.offset(), Msg: sprintf(format, args...)}
}

// ---- statements ----

func (c *compiler) block(b *blockStmt) (execFn, *Error) {
	c.push()
	defer c.pop()
	return c.stmts(b.stmts)
}

func (c *compiler) stmts(list []node) (execFn, *Error) {
	// the block's local functions are in scope from its start
	var fnSlots []int
	for _, n := range list {
		d, ok := n.(*declStmt)
		if !ok || !d.fn || len(d.names) != 1 {
			continue
		}
		lx, ok := d.inits[0].(*lambdaExpr)
		if !ok {
			continue
		}
		ft := tyFromRef(d.typ)
		if ft != nil && (ft.k != tkFunc || ft.nparam != len(lx.params)) {
			ft = nil
		}
		slot, err := c.declareT(d.pos, d.names[0], stAny, ft)
		if err != nil {
			return nil, err
		}
		fnSlots = append(fnSlots, slot)
		l := c.sc.vars[d.names[0]]
		l.fn = &hoistedFn{decl: d}
		c.sc.vars[d.names[0]] = l
	}
	fns := make([]execFn, 0, len(list)+1)
	if len(fnSlots) > 0 {
		// Each time the block is entered (a loop's next pass), its local
		// functions are not made yet: a call before the declaration makes
		// one then, over the variables of this pass, instead of calling
		// the previous pass's.
		fns = append(fns, func(e *env) (ctrl, error) {
			for _, s := range fnSlots {
				e.locals[s] = nil
			}
			return ctrlNormal, nil
		})
	}
	for _, s := range list {
		f, err := c.stmt(s)
		if err != nil {
			return nil, err
		}
		if f != nil {
			fns = append(fns, f)
		}
	}
	switch len(fns) {
	case 0:
		return func(*env) (ctrl, error) { return ctrlNormal, nil }, nil
	case 1:
		return fns[0], nil
	}
	return func(e *env) (ctrl, error) {
		for _, f := range fns {
			if r, err := f(e); err != nil || r != ctrlNormal {
				return r, err
			}
		}
		return ctrlNormal, nil
	}, nil
}

func (c *compiler) stmt(n node) (execFn, *Error) {
	switch s := n.(type) {
	case *checkedNode:
		saved := c.checked
		c.checked = s.checked
		defer func() { c.checked = saved }()
		return c.stmt(s.x)
	case *blockStmt:
		return c.block(s)
	case *emptyStmt:
		return nil, nil
	case *declStmt:
		return c.decl(s)
	case *exprStmt:
		x, err := c.expr(s.x)
		if err != nil {
			return nil, err
		}
		f := x.fn
		return func(e *env) (ctrl, error) {
			_, err := f(e)
			return ctrlNormal, err
		}, nil
	case *returnStmt:
		if s.x == nil && c.inLambda == 0 {
			return nil, errAt(s, "An object of a type convertible to 'object' is required for the return statement")
		}
		if s.x == nil {
			return func(e *env) (ctrl, error) { e.ret = nil; return ctrlReturn, nil }, nil
		}
		x, err := c.expr(s.x)
		if err != nil {
			return nil, err
		}
		if c.inLambda > 0 && c.rets != nil {
			*c.rets = append(*c.rets, retInfo{n: s.x, x: x})
		}
		f := x.fn
		return func(e *env) (ctrl, error) {
			v, err := f(e)
			if err != nil {
				return ctrlNormal, err
			}
			e.ret = v
			return ctrlReturn, nil
		}, nil
	case *ifStmt:
		cond, err := c.boolExpr(s.cond)
		if err != nil {
			return nil, err
		}
		then, err := c.scoped(s.then)
		if err != nil {
			return nil, err
		}
		var els execFn
		if s.els != nil {
			if els, err = c.scoped(s.els); err != nil {
				return nil, err
			}
		}
		return func(e *env) (ctrl, error) {
			b, err := cond(e)
			if err != nil {
				return ctrlNormal, err
			}
			if b {
				return then(e)
			}
			if els != nil {
				return els(e)
			}
			return ctrlNormal, nil
		}, nil
	case *whileStmt:
		cond, err := c.boolExpr(s.cond)
		if err != nil {
			return nil, err
		}
		c.loops++
		body, err := c.scoped(s.body)
		c.loops--
		if err != nil {
			return nil, err
		}
		do := s.do
		return func(e *env) (ctrl, error) {
			first := true
			for {
				if !(do && first) {
					b, err := cond(e)
					if err != nil || !b {
						return ctrlNormal, err
					}
				}
				first = false
				if err := e.tick(); err != nil {
					return ctrlNormal, err
				}
				r, err := body(e)
				if err != nil {
					return r, err
				}
				if r == ctrlBreak {
					return ctrlNormal, nil
				}
				if r == ctrlReturn {
					return r, nil
				}
			}
		}, nil
	case *forStmt:
		return c.forStmt(s)
	case *foreachStmt:
		return c.foreach(s)
	case *breakStmt:
		if c.loops == 0 {
			return nil, errAt(s, "no enclosing loop out of which to break")
		}
		return func(*env) (ctrl, error) { return ctrlBreak, nil }, nil
	case *continueStmt:
		if c.loops == 0 {
			return nil, errAt(s, "no enclosing loop out of which to continue")
		}
		return func(*env) (ctrl, error) { return ctrlContinue, nil }, nil
	case *tryStmt:
		return c.tryStmt(s)
	case *throwStmt:
		return c.throwStmt(s)
	case *usingStmt:
		c.push()
		defer c.pop()
		init, err := c.stmt(s.decl)
		if err != nil {
			return nil, err
		}
		body, err := c.scoped(s.body)
		if err != nil {
			return nil, err
		}
		return func(e *env) (ctrl, error) {
			if r, err := init(e); err != nil {
				return r, err
			}
			return body(e)
		}, nil
	case *switchStmt:
		return c.switchStmt(s)
	}
	return nil, errAt(n, "unsupported C# construct: statement")
}

// scoped compiles an embedded statement in its own scope.
func (c *compiler) scoped(n node) (execFn, *Error) {
	c.push()
	defer c.pop()
	f, err := c.stmt(n)
	if err != nil {
		return nil, err
	}
	if f == nil {
		return func(*env) (ctrl, error) { return ctrlNormal, nil }, nil
	}
	return f, nil
}

func (c *compiler) decl(s *declStmt) (execFn, *Error) {
	var conv func(any) (any, error)
	declST := stAny
	if s.typ != nil {
		var err *Error
		conv, declST, err = implicitConv(s.typ)
		if err != nil {
			return nil, err
		}
	}
	var declTy *ty
	if s.typ != nil {
		declTy = tyFromRef(s.typ)
	}
	var fns []execFn
	if s.fn {
		return c.localFunc(s, declTy)
	}
	for i, name := range s.names {
		var init cx
		hasInit := s.inits[i] != nil
		if hasInit {
			var err *Error
			if init, err = c.exprWant(s.inits[i], declTy); err != nil {
				return nil, err
			}
		}
		st := declST
		var t *ty
		if rich(declTy) {
			t = declTy
		}
		if s.typ == nil {
			st, t = init.st, init.t
		} else if hasInit && !implicitOK(init.st, declST, init) && !constFits(init, declST) {
			return nil, convError(s.inits[i], init.st, declST, init)
		} else if hasInit && (rich(declTy) || rich(init.t)) && !convertible(tyOf(init), declTy, init) {
			return nil, convTyError(s.inits[i], tyOf(init), declTy)
		}
		slot, err := c.declareT(s.pos, name, st, t)
		if err != nil {
			return nil, err
		}
		if !hasInit {
			if s.typ != nil {
				dv := defaultValue(s.typ)
				st := c.declStore(slot)
				fns = append(fns, func(e *env) (ctrl, error) { st(e, dv); return ctrlNormal, nil })
			}
			continue
		}
		f := init.fn
		cv := conv
		store := c.declStore(slot)
		fns = append(fns, func(e *env) (ctrl, error) {
			v, err := f(e)
			if err != nil {
				return ctrlNormal, err
			}
			if cv != nil {
				if v, err = cv(v); err != nil {
					return ctrlNormal, err
				}
			}
			store(e, v)
			return ctrlNormal, nil
		})
	}
	if len(fns) == 1 {
		return fns[0], nil
	}
	return func(e *env) (ctrl, error) {
		for _, f := range fns {
			if _, err := f(e); err != nil {
				return ctrlNormal, err
			}
		}
		return ctrlNormal, nil
	}, nil
}

// localFunc compiles a local function: a local of its delegate type
// (declared by stmts at the start of the block, so that the body can call
// it and calls may precede it), holding the equivalent lambda.
func (c *compiler) localFunc(s *declStmt, ft *ty) (execFn, *Error) {
	lx, ok := s.inits[0].(*lambdaExpr)
	if !ok || len(s.names) != 1 {
		return nil, errAt(s, "unsupported C# construct: local function")
	}
	if ft != nil && (ft.k != tkFunc || ft.nparam != len(lx.params)) {
		ft = nil
	}
	var t *ty
	if ft != nil {
		t = ft
	}
	var slot int
	var hf *hoistedFn
	if l, ok := c.sc.vars[s.names[0]]; ok && l.fn != nil && l.fn.decl == s {
		// declared at the start of the block
		slot, hf = l.slot, l.fn
	} else {
		var err *Error
		if slot, err = c.declareT(s.pos, s.names[0], stAny, t); err != nil {
			return nil, err
		}
	}
	var params []*ty
	var ret *ty
	if ft != nil {
		params, ret = ft.params, ft.ret
	}
	init, err := c.lambdaT(lx, params, ret, ft != nil && !ft.action)
	if err != nil {
		return nil, err
	}
	mk := init.fn
	if hf != nil {
		hf.mk = mk
	}
	return func(e *env) (ctrl, error) {
		return ctrlNormal, storeLocalFunc(e, slot, mk)
	}, nil
}

// storeLocalFunc creates a local function's value and stores it in its
// slot (in the cell there when the function captured itself).
func storeLocalFunc(e *env, slot int, mk evalFn) error {
	v, err := mk(e)
	if err != nil {
		return err
	}
	if cl, ok := e.locals[slot].(*cell); ok {
		cl.v = v
	} else {
		e.locals[slot] = v
	}
	return nil
}

func (c *compiler) forStmt(s *forStmt) (execFn, *Error) {
	c.push()
	defer c.pop()
	init, err := c.stmts(s.init)
	if err != nil {
		return nil, err
	}
	var cond func(*env) (bool, error)
	if s.cond != nil {
		if cond, err = c.boolExpr(s.cond); err != nil {
			return nil, err
		}
	}
	post, err := c.stmts(s.post)
	if err != nil {
		return nil, err
	}
	c.loops++
	body, err := c.scoped(s.body)
	c.loops--
	if err != nil {
		return nil, err
	}
	return func(e *env) (ctrl, error) {
		if _, err := init(e); err != nil {
			return ctrlNormal, err
		}
		for {
			if cond != nil {
				b, err := cond(e)
				if err != nil || !b {
					return ctrlNormal, err
				}
			}
			if err := e.tick(); err != nil {
				return ctrlNormal, err
			}
			r, err := body(e)
			if err != nil {
				return r, err
			}
			if r == ctrlBreak {
				return ctrlNormal, nil
			}
			if r == ctrlReturn {
				return r, nil
			}
			if _, err := post(e); err != nil {
				return ctrlNormal, err
			}
		}
	}, nil
}

func (c *compiler) foreach(s *foreachStmt) (execFn, *Error) {
	coll, err := c.expr(s.coll)
	if err != nil {
		return nil, err
	}
	ct := tyOf(coll)
	if notEnumerable(ct) {
		return nil, errAt(s.coll, "foreach statement cannot operate on variables of type '%s' because '%s' does not contain a public instance or extension definition for 'GetEnumerator'", tyName(ct), tyName(ct))
	}
	et := elemTy(ct)
	c.push()
	defer c.pop()
	var conv func(any) (any, error)
	st := stAny
	var vt *ty
	if s.typ != nil {
		var cerr *Error
		if conv, st, cerr = explicitConv(s.typ); cerr != nil {
			return nil, cerr
		}
		vt = tyFromRef(s.typ)
		if et != nil && et.k == tkST && !explicitOK(et.st, st) {
			return nil, errAt(s, "Cannot convert type '%s' to '%s'", csName(et.st), csName(st))
		}
	} else {
		vt = et
	}
	slot, err := c.declareT(s.pos, s.name, st, vt)
	if err != nil {
		return nil, err
	}
	store := c.declStore(slot)
	c.loops++
	body, err := c.scoped(s.body)
	c.loops--
	if err != nil {
		return nil, err
	}
	cf := coll.fn
	return func(e *env) (ctrl, error) {
		v, err := cf(e)
		if err != nil {
			return ctrlNormal, err
		}
		items, err := iterate(v)
		if err != nil {
			return ctrlNormal, err
		}
		lst, _ := v.(*List)
		n0 := len(items)
		modified := func() error {
			if lst != nil && len(lst.Items) != n0 {
				return errInvalidOp("Collection was modified; enumeration operation may not execute.")
			}
			return nil
		}
		for i, it := range items {
			if i > 0 {
				if err := modified(); err != nil {
					return ctrlNormal, err
				}
			}
			if conv != nil {
				if it, err = conv(it); err != nil {
					return ctrlNormal, err
				}
			}
			store(e, it)
			if err := e.tick(); err != nil {
				return ctrlNormal, err
			}
			r, err := body(e)
			if err != nil {
				return r, err
			}
			if r == ctrlBreak {
				return ctrlNormal, nil
			}
			if r == ctrlReturn {
				return r, nil
			}
		}
		return ctrlNormal, modified()
	}, nil
}

func (c *compiler) tryStmt(s *tryStmt) (execFn, *Error) {
	body, err := c.block(s.body)
	if err != nil {
		return nil, err
	}
	type handler struct {
		typ  string
		slot int
		when func(*env) (bool, error)
		body execFn
	}
	var hs []handler
	for _, cc := range s.catches {
		c.push()
		h := handler{typ: "Exception", slot: -1}
		if cc.typ != nil {
			h.typ = cc.typ.name
		}
		if cc.name != "" {
			slot, err := c.declare(cc.pos, cc.name, stAny)
			if err != nil {
				c.pop()
				return nil, err
			}
			h.slot = slot
		}
		if cc.when != nil {
			if h.when, err = c.boolExpr(cc.when); err != nil {
				c.pop()
				return nil, err
			}
		}
		c.inCatch++
		h.body, err = c.block(cc.body)
		c.inCatch--
		c.pop()
		if err != nil {
			return nil, err
		}
		hs = append(hs, h)
	}
	var fin execFn
	if s.finally != nil {
		if fin, err = c.block(s.finally); err != nil {
			return nil, err
		}
	}
	return func(e *env) (ctrl, error) {
		r, err := body(e)
		if err != nil {
			var rt *RuntimeError
			if errors.As(err, &rt) {
				for _, h := range hs {
					if !exceptionMatches(h.typ, rt.Type) {
						continue
					}
					if h.slot >= 0 {
						ex := rt.exc
						if ex == nil {
							ex = &Exception{Type: rt.Type, Message: rt.Msg}
						}
						storeLocal(e, h.slot, ex)
					}
					if h.when != nil {
						ok, werr := h.when(e)
						if werr != nil {
							err = werr
							break
						}
						if !ok {
							continue
						}
					}
					saved := e.caught
					e.caught = rt
					r, err = h.body(e)
					e.caught = saved
					break
				}
			}
		}
		if fin != nil {
			if fr, ferr := fin(e); ferr != nil || fr != ctrlNormal {
				return fr, ferr
			}
		}
		return r, err
	}, nil
}

// exceptionMatches reports whether a catch clause of type clause catches an
// exception of type thrown (by name; Exception and SystemException catch all).
func exceptionMatches(clause, thrown string) bool {
	switch clause {
	case "Exception", "SystemException":
		return true
	case thrown:
		return true
	case "ArgumentException":
		return thrown == "ArgumentNullException" || thrown == "ArgumentOutOfRangeException"
	case "JsonException":
		return thrown == "JsonReaderException" || thrown == "JsonSerializationException"
	}
	return false
}

func (c *compiler) throwStmt(s *throwStmt) (execFn, *Error) {
	if s.x == nil {
		if c.inCatch == 0 {
			return nil, errAt(s, "A throw statement with no arguments is not allowed outside of a catch clause")
		}
		return func(e *env) (ctrl, error) {
			if e.caught == nil {
				return ctrlNormal, rtErr("Exception", "rethrow without an exception")
			}
			return ctrlNormal, e.caught
		}, nil
	}
	x, err := c.expr(s.x)
	if err != nil {
		return nil, err
	}
	f := x.fn
	return func(e *env) (ctrl, error) {
		v, err := f(e)
		if err != nil {
			return ctrlNormal, err
		}
		return ctrlNormal, throwValue(v)
	}, nil
}

func throwValue(v any) error {
	if ex, ok := v.(*Exception); ok {
		return &RuntimeError{Type: ex.Type, Msg: ex.Message, exc: ex}
	}
	if v == nil {
		return nullRef()
	}
	return rtErr("Exception", "%s", ToString(v))
}

func (c *compiler) switchStmt(s *switchStmt) (execFn, *Error) {
	x, err := c.expr(s.x)
	if err != nil {
		return nil, err
	}
	type arm struct {
		labels    []cx
		isDefault bool
		body      execFn
	}
	arms := make([]arm, 0, len(s.cases))
	c.loops++ // break exits the switch
	defer func() { c.loops-- }()
	c.push()
	defer c.pop()
	for _, cs := range s.cases {
		a := arm{isDefault: cs.isDefault}
		for _, l := range cs.labels {
			lx, err := c.expr(l)
			if err != nil {
				return nil, err
			}
			if !lx.isConst {
				return nil, errAt(l, "a case label must be a constant value")
			}
			a.labels = append(a.labels, lx)
		}
		if a.body, err = c.stmts(cs.body); err != nil {
			return nil, err
		}
		arms = append(arms, a)
	}
	xf := x.fn
	return func(e *env) (ctrl, error) {
		v, err := xf(e)
		if err != nil {
			return ctrlNormal, err
		}
		chosen := -1
		for i, a := range arms {
			for _, l := range a.labels {
				if valuesEqual(v, l.val) {
					chosen = i
					break
				}
			}
			if chosen >= 0 {
				break
			}
		}
		if chosen < 0 {
			for i, a := range arms {
				if a.isDefault {
					chosen = i
				}
			}
		}
		if chosen < 0 {
			return ctrlNormal, nil
		}
		r, err := arms[chosen].body(e)
		if r == ctrlBreak {
			r = ctrlNormal
		}
		return r, err
	}, nil
}

// ---- expressions ----

func (c *compiler) boolExpr(n node) (func(*env) (bool, error), *Error) {
	x, err := c.expr(n)
	if err != nil {
		return nil, err
	}
	if (known(x.st) || x.st == stObject) && x.st != stBool {
		return nil, errAt(n, "Cannot implicitly convert type '%s' to 'bool'", csName(x.st))
	}
	f := x.fn
	return func(e *env) (bool, error) {
		v, err := f(e)
		if err != nil {
			return false, err
		}
		return toBool(v)
	}, nil
}

func toBool(v any) (bool, error) {
	switch b := v.(type) {
	case bool:
		return b, nil
	case *JValue:
		if bb, ok := b.V.(bool); ok {
			return bb, nil
		}
	case nil:
		return false, nullRef()
	}
	return false, errInvalidCast(v, "System.Boolean")
}

func hasNullCond(n node) bool {
	for {
		switch x := n.(type) {
		case *memberExpr:
			if x.nullCond {
				return true
			}
			n = x.x
		case *indexExpr:
			if x.nullCond {
				return true
			}
			n = x.x
		case *callExpr:
			n = x.fn
		default:
			return false
		}
		if n == nil {
			return false
		}
	}
}

func (c *compiler) expr(n node) (cx, *Error) {
	switch n.(type) {
	case *memberExpr, *indexExpr, *callExpr:
		x, err := c.chain(n)
		if err != nil {
			return cx{}, err
		}
		if hasNullCond(n) {
			// a?.b is null when a is: a value type becomes Nullable<T>
			if isValueTy(x.t) {
				x.t = nil
			}
			if isValueST(x.st) {
				x.st = stAny
			}
			f := x.fn
			x.fn = func(e *env) (any, error) {
				v, err := f(e)
				if err == errShortCircuit {
					return nil, nil
				}
				return v, err
			}
			x.ctx, x.str, x.catStr = nil, nil, nil
		}
		return x, nil
	}
	return c.chain(n)
}

// chain compiles a node that may be part of a member/call/index chain.
func (c *compiler) chain(n node) (cx, *Error) {
	switch x := n.(type) {
	case *checkedNode:
		saved, savedU := c.checked, c.unchecked
		c.checked, c.unchecked = x.checked, !x.checked
		defer func() { c.checked, c.unchecked = saved, savedU }()
		return c.expr(x.x)
	case *litExpr:
		return constCx(x.val), nil
	case *identExpr:
		return c.ident(x)
	case *memberExpr:
		return c.member(x)
	case *callExpr:
		return c.call(x)
	case *indexExpr:
		return c.index(x)
	case *unaryExpr:
		return c.unary(x)
	case *binaryExpr:
		return c.binary(x)
	case *condExpr:
		cond, err := c.boolExpr(x.c)
		if err != nil {
			return cx{}, err
		}
		a, err := c.expr(x.a)
		if err != nil {
			return cx{}, err
		}
		b, err := c.expr(x.b)
		if err != nil {
			return cx{}, err
		}
		af, bf := a.fn, b.fn
		var ct *ty
		if rich(a.t) && rich(b.t) && complete(a.t) && identical(a.t, b.t) {
			ct = a.t
		}
		if ta, tb := tyOf(a), tyOf(b); (rich(ta) || rich(tb)) && complete(ta) && complete(tb) && !convertible(ta, tb, a) && !convertible(tb, ta, b) {
			return cx{}, errAt(x, "Type of conditional expression cannot be determined because there is no implicit conversion between '%s' and '%s'", tyName(ta), tyName(tb))
		}
		st := stAny
		if a.st == b.st {
			st = a.st
		} else if known(a.st) && known(b.st) {
			switch {
			case implicitOK(a.st, b.st, a):
				st = b.st
			case implicitOK(b.st, a.st, b):
				st = a.st
			default:
				return cx{}, errAt(x, "Type of conditional expression cannot be determined because there is no implicit conversion between '%s' and '%s'", csName(a.st), csName(b.st))
			}
		}
		if isNumericST(st) {
			// c ? 1 : 2.5 is a double either way
			af, bf = convTo(a, stTy(st)).fn, convTo(b, stTy(st)).fn
		}
		return cx{st: st, t: ct, fn: func(e *env) (any, error) {
			ok, err := cond(e)
			if err != nil {
				return nil, err
			}
			if ok {
				return af(e)
			}
			return bf(e)
		}}, nil
	case *assignExpr:
		return c.assign(x)
	case *incDecExpr:
		return c.incDec(x)
	case *castExpr:
		inner, err := c.expr(x.x)
		if err != nil {
			return cx{}, err
		}
		conv, st, cerr := explicitConv(x.typ)
		if cerr != nil {
			return cx{}, cerr
		}
		if !explicitOK(inner.st, st) {
			return cx{}, errAt(x, "Cannot convert type '%s' to '%s'", csName(inner.st), csName(st))
		}
		if inner.isConst && !c.unchecked && x.typ.rank == 0 && !x.typ.nullable {
			if _, ok := inner.val.(Decimal); !ok {
				if err := constCastCheck(inner.val, canonType(x.typ.name)); err != nil {
					return cx{}, errAt(x, "%s", err.Error())
				}
			}
		}
		if inner.st == stObject && x.typ.rank == 0 && !x.typ.nullable {
			if un := unboxConv(canonType(x.typ.name)); un != nil {
				conv = un
			}
		}
		if c.checked && x.typ.rank == 0 && !x.typ.nullable {
			name := canonType(x.typ.name)
			base := conv
			conv = func(v any) (any, error) {
				if err := checkedRange(v, name); err != nil {
					return nil, err
				}
				return base(v)
			}
		}
		if st == stObject && inner.isConst {
			k := constCx(inner.val)
			k.st = stObject
			return k, nil
		}
		f := inner.fn
		return cx{st: st, t: richOnly(tyFromRef(x.typ)), fn: func(e *env) (any, error) {
			v, err := f(e)
			if err != nil {
				return nil, err
			}
			return conv(v)
		}}, nil
	case *asExpr:
		inner, err := c.expr(x.x)
		if err != nil {
			return cx{}, err
		}
		test, st, cerr := typeTest(x.typ)
		if cerr != nil {
			return cx{}, cerr
		}
		f := inner.fn
		return cx{st: st, t: richOnly(tyFromRef(x.typ)), fn: func(e *env) (any, error) {
			v, err := f(e)
			if err != nil {
				return nil, err
			}
			if test(v) {
				return v, nil
			}
			return nil, nil
		}}, nil
	case *isExpr:
		return c.isExpr(x)
	case *newExpr:
		return c.newExpr(x)
	case *lambdaExpr:
		return c.lambda(x)
	case *interpExpr:
		return c.interp(x)
	case *defaultExpr:
		if x.typ == nil {
			return constCx(nil), nil
		}
		return constCx(defaultValue(x.typ)), nil
	case *typeofExpr:
		return cx{}, errAt(x, "unsupported C# construct: typeof")
	case *throwExpr:
		inner, err := c.expr(x.x)
		if err != nil {
			return cx{}, err
		}
		f := inner.fn
		return cx{fn: func(e *env) (any, error) {
			v, err := f(e)
			if err != nil {
				return nil, err
			}
			return nil, throwValue(v)
		}}, nil
	case *initPair, *indexInit:
		return cx{}, errAt(n, "unexpected initializer")
	}
	return cx{}, errAt(n, "unsupported C# construct: expression")
}

func (c *compiler) ident(x *identExpr) (cx, *Error) {
	if x.name == "context" {
		if _, ok := c.lookup("context"); !ok {
			return cx{st: stContext, fn: func(e *env) (any, error) { return e.c, nil },
				ctx: func(c *Context) (any, error) { return c, nil }}, nil
		}
	}
	if l, ok := c.lookup(x.name); ok {
		slot := l.slot
		return cx{st: l.st, t: l.t, fn: func(e *env) (any, error) { return loadLocal(e, slot), nil }}, nil
	}
	if isStaticTypeName(x.name) {
		return cx{}, errAt(x, "'%s' is a type, which is not valid in the given context", x.name)
	}
	return cx{}, errAt(x, "the name '%s' does not exist in the current context", x.name)
}

// staticName returns the dotted name of a chain of identifiers that is not a
// local variable or context (System.Text.Encoding), namespace-stripped.
func (c *compiler) staticName(n node) (string, bool) {
	switch x := n.(type) {
	case *identExpr:
		if x.name == "context" {
			return "", false
		}
		if _, ok := c.lookup(x.name); ok {
			return "", false
		}
		return x.name, true
	case *memberExpr:
		if x.nullCond || x.x == nil || len(x.typeArgs) > 0 {
			return "", false
		}
		base, ok := c.staticName(x.x)
		if !ok {
			return "", false
		}
		return base + "." + x.name, true
	}
	return "", false
}

var namespaces = []string{
	"System.Text.RegularExpressions.", "System.Security.Cryptography.", "System.Collections.Generic.",
	"System.Text.", "System.Linq.", "System.Net.", "System.Web.", "System.Globalization.", "System.IO.",
	"Newtonsoft.Json.Linq.", "Newtonsoft.Json.", "System.Xml.Linq.", "System.Xml.", "System.",
}

func stripNamespace(s string) string {
	for _, ns := range namespaces {
		if strings.HasPrefix(s, ns) {
			return s[len(ns):]
		}
	}
	return s
}

// unknownStatic reports a dotted name that is neither a value nor a known
// static member chain (Type.Member.Member is resolved by the caller).
func (c *compiler) unknownStatic(n node, name string) *Error {
	stripped := stripNamespace(name)
	for i := 0; i < len(stripped); i++ {
		if stripped[i] == '.' && isStaticTypeName(stripped[:i]) {
			return nil // Type.Member... : the receiver chain resolves it
		}
	}
	if strings.Contains(name, ".") || stripped != name {
		if len(stripped) > 0 && stripped[0] >= 'A' && stripped[0] <= 'Z' {
			return errAt(n, "unsupported C# construct: type '%s'", stripped)
		}
		return errAt(n, "unknown type or namespace '%s'", name)
	}
	if len(name) > 0 && name[0] >= 'A' && name[0] <= 'Z' && !isLowerStart(name) {
		if _, isLocal := c.lookup(name); !isLocal {
			return errAt(n, "the name '%s' does not exist in the current context (unsupported type?)", name)
		}
	}
	return errAt(n, "the name '%s' does not exist in the current context", name)
}

func isLowerStart(s string) bool { return s != "" && s[0] >= 'a' && s[0] <= 'z' }

func (c *compiler) member(x *memberExpr) (cx, *Error) {
	if x.x == nil {
		return cx{}, errAt(x, "unsupported C# construct: generic name '%s' used as a value", x.name)
	}
	// static member: Type.Member
	if name, ok := c.staticName(x.x); ok {
		tn := stripNamespace(name)
		if isStaticTypeName(tn) {
			r, err := staticProperty(x, tn, x.name)
			if err != nil || r.isConst {
				return r, err
			}
			return withTy(r, staticPropTy(canonType(tn), x.name)), nil
		}
		if err := c.unknownStatic(x.x, name); err != nil {
			return cx{}, err
		}
	}
	recv, err := c.chain(x.x)
	if err != nil {
		return cx{}, err
	}
	if len(x.typeArgs) > 0 {
		return cx{}, errAt(x, "'%s' with type arguments must be called", x.name)
	}
	if err := checkMember(x, recv.st, x.name, false); err != nil {
		return cx{}, err
	}
	if x.name == "HasValue" && !isModel(recv.st) {
		// Nullable<T>.HasValue: false for null without dereferencing
		rf := recv.fn
		return cx{st: stBool, fn: func(e *env) (any, error) {
			v, err := rf(e)
			if err != nil {
				return nil, err
			}
			return v != nil, nil
		}}, nil
	}
	mt, merr := memberTy(x, tyOf(recv), x.name)
	if merr != nil {
		return cx{}, merr
	}
	get, st, gerr := propertyGetter(x, recv.st, x.name, c.anonNames)
	if recv.st == stString && x.name == "Length" {
		st = stInt
	}
	if gerr != nil {
		return cx{}, gerr
	}
	rf := recv.fn
	nullCond := x.nullCond
	if hasNullCond(x) && isValueTy(mt) {
		mt = nil // a?.Count is int?
	}
	var ctx func(*Context) (any, error)
	var str strFn
	if rctx := recv.ctx; rctx != nil && isModel(recv.st) {
		ctx = func(c *Context) (any, error) {
			v, err := rctx(c)
			if err != nil {
				return nil, err
			}
			if v == nil || isNilModel(v) {
				if nullCond {
					return nil, errShortCircuit
				}
				return nil, nullRef()
			}
			return get(v)
		}
		if sget := modelStrProp(recv.st, x.name); sget != nil && st == stString {
			str = func(c *Context) (string, error) {
				v, err := rctx(c)
				if err != nil {
					return "", err
				}
				if v == nil || isNilModel(v) {
					if nullCond {
						return "", errShortCircuit
					}
					return "", nullRef()
				}
				return sget(v), nil
			}
		}
	}
	return withTy(cx{st: st, ctx: ctx, str: str, fn: func(e *env) (any, error) {
		v, err := rf(e)
		if err != nil {
			return nil, err
		}
		if v == nil || isNilModel(v) {
			if nullCond {
				return nil, errShortCircuit
			}
			return nil, nullRef()
		}
		return get(v)
	}}, mt), nil
}

func (c *compiler) index(x *indexExpr) (cx, *Error) {
	recv, err := c.chain(x.x)
	if err != nil {
		return cx{}, err
	}
	args := make([]evalFn, len(x.args))
	var constKey any
	var keys []cx
	for i, a := range x.args {
		ax, err := c.expr(a)
		if err != nil {
			return cx{}, err
		}
		args[i] = ax.fn
		keys = append(keys, ax)
		if ax.isConst {
			constKey = ax.val
		}
	}
	if len(args) != 1 {
		return cx{}, errAt(x, "unsupported C# construct: multi-dimensional index")
	}
	it, kerr := indexTy(x.args[0], tyOf(recv), keys[0])
	if kerr != nil {
		return cx{}, kerr
	}
	if rt := tyOf(recv); rt != nil && rt.k == tkDict {
		args[0] = convTo(keys[0], rt.key).fn
	}
	if hasNullCond(x) && isValueTy(it) {
		it = nil
	}
	get, st, ierr := indexGetter(x, recv.st, constKey)
	if ierr != nil {
		return cx{}, ierr
	}
	rf, af := recv.fn, args[0]
	nullCond := x.nullCond
	return withTy(cx{st: st, fn: func(e *env) (any, error) {
		v, err := rf(e)
		if err != nil {
			return nil, err
		}
		if v == nil || isNilModel(v) {
			if nullCond {
				return nil, errShortCircuit
			}
			return nil, nullRef()
		}
		k, err := af(e)
		if err != nil {
			return nil, err
		}
		return get(v, k)
	}}, it), nil
}

// compiledArg is an argument after compilation.
type compiledArg struct {
	cx
	name   string
	out    bool
	outSet func(e *env, v any) // writes an out argument
	node   node
}

func (c *compiler) args(list []argExpr) ([]compiledArg, *Error) {
	return c.argsHint(list, nil)
}

// argHint is what the receiver's type says about an argument: the
// parameter types of a lambda passed there (and the type its body must
// convert to), or the type of an out parameter.
type argHint struct {
	params []*ty
	ret    *ty
	out    *ty
}

func (c *compiler) argsHint(list []argExpr, hints []argHint) ([]compiledArg, *Error) {
	out := make([]compiledArg, 0, len(list))
	for i, a := range list {
		var h argHint
		if i < len(hints) {
			h = hints[i]
		}
		ca := compiledArg{name: a.name, out: a.out}
		switch {
		case a.out && a.outVar != "":
			st := stAny
			var t *ty
			if a.outTyp != nil {
				_, st, _ = implicitConv(a.outTyp)
				t = tyFromRef(a.outTyp)
				if h.out != nil && !identical(t, h.out) {
					return nil, errAt(a.outTyp, "Argument %d: cannot convert from 'out %s' to 'out %s'", i+1, tyName(t), tyName(h.out))
				}
			} else {
				t = h.out
			}
			if rich(t) {
				st = stAny
			} else if t != nil {
				st, t = t.st, nil
			}
			slot, err := c.declareT(0, a.outVar, st, t)
			if err != nil {
				return nil, err
			}
			ca.outSet = func(e *env, v any) { storeLocal(e, slot, v) }
			ca.cx = constCx(nil)
		case a.out:
			id, ok := a.x.(*identExpr)
			if !ok {
				return nil, errAt(a.x, "unsupported C# construct: out argument that is not a local variable")
			}
			l, found := c.lookup(id.name)
			if !found {
				return nil, errAt(a.x, "the name '%s' does not exist in the current context", id.name)
			}
			if lt := tyOf(cx{st: l.st, t: l.t}); h.out != nil && lt != nil && !identical(lt, h.out) {
				return nil, errAt(a.x, "Argument %d: cannot convert from 'out %s' to 'out %s'", i+1, tyName(lt), tyName(h.out))
			}
			slot := l.slot
			// a failed TryX leaves default(T) in the out variable
			zero := zeroOfST(l.st)
			ca.outSet = func(e *env, v any) {
				if v == nil && zero != nil {
					v = zero
				}
				storeLocal(e, slot, v)
			}
			ca.cx = constCx(nil)
			ca.node = a.x
		default:
			var x cx
			var err *Error
			if lx, ok := a.x.(*lambdaExpr); ok && (h.params != nil || h.ret != nil) {
				x, err = c.lambdaT(lx, h.params, h.ret, false)
			} else {
				x, err = c.expr(a.x)
			}
			if err != nil {
				return nil, err
			}
			ca.cx = x
			ca.node = a.x
		}
		out = append(out, ca)
	}
	return out, nil
}

// defaultIfNil gives default(T) where a call of value type T (List<int>.Find)
// found nothing.
func defaultIfNil(x cx, t *ty) cx {
	if x.fn == nil || !isValueTy(t) || t.k != tkST {
		return x
	}
	zero := zeroOfST(t.st)
	if zero == nil {
		return x
	}
	f := x.fn
	x.fn = func(e *env) (any, error) {
		v, err := f(e)
		if v == nil && err == nil {
			return zero, nil
		}
		return v, err
	}
	x.ctx, x.str, x.catStr = nil, nil, nil
	return x
}

// linqStatics are the LINQ methods whose static form Enumerable.M(seq, ...)
// compiles as seq.M(...). Reverse is left out: List<T>.Reverse() is the
// list's own (in place) method.
var linqStatics = map[string]bool{
	"Where": true, "Select": true, "SelectMany": true, "Any": true, "All": true, "Count": true, "LongCount": true,
	"First": true, "FirstOrDefault": true, "Last": true, "LastOrDefault": true, "Single": true, "SingleOrDefault": true,
	"ElementAt": true, "ElementAtOrDefault": true, "OrderBy": true, "OrderByDescending": true, "ThenBy": true,
	"ThenByDescending": true, "Skip": true, "Take": true, "SkipWhile": true, "TakeWhile": true, "Distinct": true,
	"Concat": true, "Union": true, "Except": true, "Intersect": true, "Contains": true, "Sum": true, "Average": true,
	"Max": true, "Min": true, "ToList": true, "ToArray": true, "ToDictionary": true, "ToHashSet": true,
	"GroupBy": true, "Aggregate": true, "SequenceEqual": true, "Zip": true, "Cast": true, "OfType": true,
	"DefaultIfEmpty": true,
}

// arrayLambdaStatics are Array's static methods taking (T[] array, delegate).
var arrayLambdaStatics = map[string]bool{
	"Exists": true, "Find": true, "FindAll": true, "FindIndex": true, "FindLast": true, "FindLastIndex": true,
	"TrueForAll": true, "ConvertAll": true, "ForEach": true, "Sort": true,
}

// arrayStaticArgs compiles the arguments of Array.M(array, lambda): the
// lambda's parameters take the array's element type, and an argument of a
// known type that is not an array cannot infer T.
func (c *compiler) arrayStaticArgs(fn *memberExpr, list []argExpr) ([]compiledArg, *Error) {
	if list[0].out || list[0].name != "" || list[1].out || list[1].name != "" {
		return c.args(list)
	}
	if _, isLambda := list[1].x.(*lambdaExpr); fn.name == "Sort" && !isLambda {
		// Array.Sort(keys, items) and Array.Sort(array, comparer) are not modelled
		return nil, errAt(fn, "unsupported C# construct: Array.Sort with a second argument that is not a lambda")
	}
	a0, err := c.expr(list[0].x)
	if err != nil {
		return nil, err
	}
	at := tyOf(a0)
	var hints []argHint
	if at != nil && at.k == tkArray && at.elem != nil {
		if lx, ok := list[1].x.(*lambdaExpr); ok {
			et := at.elem
			h := argHint{}
			switch {
			case fn.name == "Sort":
				if len(lx.params) == 2 {
					h = argHint{params: []*ty{et, et}, ret: stTy(stInt)}
				}
			case len(lx.params) == 1:
				h.params = []*ty{et}
				if predicates[fn.name] {
					h.ret = stTy(stBool)
				}
			}
			hints = []argHint{h}
		}
	} else if at != nil && at.k != tkArray && (at.k != tkST || known(at.st)) && !(fn.name == "Sort" && at.k == tkST && at.st == stObject) {
		return nil, errAt(fn, "The type arguments for method 'Array.%s' cannot be inferred from the usage. Try specifying the type arguments explicitly", fn.name)
	}
	rest, err := c.argsHint(list[1:], hints)
	if err != nil {
		return nil, err
	}
	return append([]compiledArg{{cx: a0, node: list[0].x}}, rest...), nil
}

func (c *compiler) call(x *callExpr) (res cx, cerr *Error) {
	switch fn := x.fn.(type) {
	case *memberExpr:
		if fn.x == nil {
			return cx{}, errAt(x, "unknown method '%s'", fn.name)
		}
		var args []compiledArg
		var err *Error
		if name, ok := c.staticName(fn.x); ok {
			tn := stripNamespace(name)
			if canonType(tn) == "Enumerable" && fn.name == "Reverse" && len(x.args) == 1 && !x.args[0].out && x.args[0].name == "" {
				// Enumerable.Reverse(seq) is LINQ's Reverse, a new sequence,
				// even over a List<T> (whose own Reverse() works in place):
				// seq.ToArray().Reverse()
				arr := &callExpr{pos: x.pos, fn: &memberExpr{pos: fn.pos, x: x.args[0].x, name: "ToArray"}}
				return c.call(&callExpr{pos: x.pos, fn: &memberExpr{pos: fn.pos, x: arr, name: "Reverse"}})
			}
			if canonType(tn) == "Enumerable" && linqStatics[fn.name] && len(x.args) >= 1 && !x.args[0].out && x.args[0].name == "" {
				// Enumerable.Where(seq, f) is the extension method seq.Where(f)
				return c.call(&callExpr{pos: x.pos, fn: &memberExpr{pos: fn.pos, x: x.args[0].x, name: fn.name, typeArgs: fn.typeArgs}, args: x.args[1:]})
			}
			if canonType(tn) == "Array" && arrayLambdaStatics[fn.name] && len(x.args) == 2 {
				args, err = c.arrayStaticArgs(fn, x.args)
			} else {
				args, err = c.args(x.args)
			}
			if err != nil {
				return cx{}, err
			}
			if isStaticTypeName(tn) {
				if err := checkArgTypes(fn, canonType(tn), fn.name, args, true); err != nil {
					return cx{}, err
				}
				if canonType(tn) == "string" && fn.name == "Format" && len(args) == 2 && args[1].isConst && args[1].val == nil {
					// a literal null binds to the params object[] overload
					return cx{fn: func(*env) (any, error) { return nil, errArgNull("args") }}, nil
				}
				r, err := staticCall(fn, tn, fn.name, fn.typeArgs, args)
				if err != nil {
					return r, err
				}
				rt := staticTy(canonType(tn), fn.name, fn.typeArgs, args)
				if canonType(tn) == "Array" && (fn.name == "Find" || fn.name == "FindLast") {
					r = defaultIfNil(r, rt)
				}
				return withTy(r, rt), nil
			}
			if err := c.unknownStatic(fn.x, name); err != nil {
				return cx{}, err
			}
		}
		recv, err := c.chain(fn.x)
		if err != nil {
			return cx{}, err
		}
		if err := checkMember(fn, recv.st, fn.name, true); err != nil {
			return cx{}, err
		}
		recvTy := tyOf(recv)
		if args == nil {
			if args, err = c.argsHint(x.args, callHints(recvTy, fn.name, x.args)); err != nil {
				return cx{}, err
			}
		}
		resTy, terr := callTy(fn, recvTy, fn.name, fn.typeArgs, args)
		if terr != nil {
			return cx{}, terr
		}
		if hasNullCond(fn) && isValueTy(resTy) {
			resTy = nil
		}
		if recv.st == stString {
			if err := checkArgTypes(fn, "string", fn.name, args, false); err != nil {
				return cx{}, err
			}
		}
		m, st, merr := methodCall(fn, recv.st, fn.name, fn.typeArgs, args)
		if merr != nil {
			return cx{}, merr
		}
		for i, a := range args {
			if a.name != "" && fn.name != "As" && fn.name != "AsFormUrlEncodedContent" {
				return cx{}, errAt(fn, "unsupported C# construct: named argument '%s'", a.name)
			}
			if a.outSet != nil && i != m.outIdx {
				return cx{}, errAt(fn, "unsupported C# construct: out argument %d of '%s'", i+1, fn.name)
			}
		}
		if m.outIdx >= 0 && (m.outIdx >= len(args) || args[m.outIdx].outSet == nil) {
			return cx{}, errAt(fn, "argument %d of '%s' must be passed with the 'out' keyword", m.outIdx+1, fn.name)
		}
		if fn.name == "Find" || fn.name == "FindLast" {
			defer func() { res = defaultIfNil(res, resTy) }()
		}
		rf := recv.fn
		nullCond := fn.nullCond
		argFns := make([]evalFn, len(args))
		for i, a := range args {
			argFns[i] = a.fn
		}
		outs := make([]func(*env, any), len(args))
		hasOut := false
		for i, a := range args {
			outs[i] = a.outSet
			hasOut = hasOut || a.outSet != nil
		}
		if m.direct != nil && isModel(recv.st) {
			direct := m.direct
			return cx{st: st, fn: func(e *env) (any, error) {
				v, err := rf(e)
				if err != nil {
					return nil, err
				}
				if v == nil || isNilModel(v) {
					if nullCond {
						return nil, errShortCircuit
					}
					return nil, nullRef()
				}
				return direct(e, v, argFns)
			}}.withT(resTy), nil
		}
		return withTy(cx{st: st, fn: func(e *env) (any, error) {
			v, err := rf(e)
			if err != nil {
				return nil, err
			}
			if v == nil || isNilModel(v) {
				if nullCond {
					return nil, errShortCircuit
				}
				if !m.nilOK {
					return nil, nullRef()
				}
			}
			base := len(e.stack)
			defer e.popArgs(base)
			for _, af := range argFns {
				a, err := af(e)
				if err != nil {
					return nil, err
				}
				e.stack = append(e.stack, a)
			}
			av := e.stack[base:len(e.stack):len(e.stack)]
			if hasOut {
				return m.callOut(e, v, av, outs)
			}
			return m.fn(e, v, av)
		}}, resTy), nil
	case *identExpr:
		if fn.name == "nameof" {
			return cx{}, errAt(x, "unsupported C# construct: nameof")
		}
		if l, ok := c.lookup(fn.name); ok {
			if known(l.st) || l.st == stObject {
				return cx{}, errAt(x, "'%s' is a variable but is used like a method", fn.name)
			}
			return c.invoke(x, l.slot, l.t, l.fn)
		}
		return cx{}, errAt(x, "unsupported C# construct: call to local function or delegate '%s'", fn.name)
	case *callExpr, *indexExpr:
		// a delegate returned by a call or read from an array: f(1)(2), fs[i]()
		fx, err := c.expr(fn)
		if err != nil {
			return cx{}, err
		}
		argFns, err := c.delegateArgs(x)
		if err != nil {
			return cx{}, err
		}
		ff := fx.fn
		return cx{fn: func(e *env) (any, error) {
			v, err := ff(e)
			if err != nil {
				return nil, err
			}
			f, ok := v.(*Func)
			if !ok {
				if v == nil {
					return nil, nullRef()
				}
				return nil, &RuntimeError{Type: "InvalidCastException", Msg: "the value is not a delegate"}
			}
			args := make([]any, len(argFns))
			for i, af := range argFns {
				if args[i], err = af(e); err != nil {
					return nil, err
				}
			}
			return f.call(args...)
		}}, nil
	}
	return cx{}, errAt(x, "unsupported C# construct: call of a computed value")
}

func (c *compiler) unary(x *unaryExpr) (cx, *Error) {
	inner, err := c.expr(x.x)
	if err != nil {
		return cx{}, err
	}
	f := inner.fn
	ar := c.arith()
	ust, uerr := checkUnary(x, x.op, inner.st)
	if uerr != nil {
		return cx{}, uerr
	}
	if inner.isConst && x.op == "-" {
		if v, err := arith("-", 0, inner.val); err == nil {
			if i, ok := inner.val.(int); ok && i == math.MinInt32 && !c.unchecked {
				return cx{}, errAt(x, "The operation overflows at compile time in checked mode")
			}
			return constCx(v), nil
		}
	}
	switch x.op {
	case "!":
		return cx{st: stBool, fn: func(e *env) (any, error) {
			v, err := f(e)
			if err != nil {
				return nil, err
			}
			b, err := toBool(v)
			return !b, err
		}}, nil
	case "-":
		return cx{st: ust, fn: func(e *env) (any, error) {
			v, err := f(e)
			if err != nil {
				return nil, err
			}
			if d, ok := v.(Decimal); ok {
				return d.Neg(), nil
			}
			return ar("-", 0, v)
		}}, nil
	case "+":
		inner.st = ust
		return inner, nil
	case "~":
		return cx{fn: func(e *env) (any, error) {
			v, err := f(e)
			if err != nil {
				return nil, err
			}
			switch n := v.(type) {
			case int:
				return ^n, nil
			case int64:
				return ^n, nil
			}
			return nil, errInvalidOp("Operator '~' cannot be applied to operand of type '" + typeName(v) + "'")
		}}, nil
	}
	return cx{}, errAt(x, "unsupported C# construct: unary operator %s", x.op)
}

func (c *compiler) binary(x *binaryExpr) (cx, *Error) {
	l, err := c.expr(x.l)
	if err != nil {
		return cx{}, err
	}
	r, err := c.expr(x.r)
	if err != nil {
		return cx{}, err
	}
	if rich(tyOf(l)) && tyOf(l).k == tkClass || rich(tyOf(r)) && tyOf(r).k == tkClass {
		t, err := classBinary(x, &l, &r)
		if err != nil {
			return cx{}, err
		}
		res, err := c.binaryOf(x, l, r)
		if err != nil {
			return cx{}, err
		}
		return withTy(res, t), nil
	}
	return c.binaryOf(x, l, r)
}

func (c *compiler) binaryOf(x *binaryExpr, l, r cx) (cx, *Error) {
	lf, rf := l.fn, r.fn
	bst, berr := checkBinary(x, x.op, l, r)
	if berr != nil {
		return cx{}, berr
	}
	if (x.op == "/" || x.op == "%") && r.isConst && (l.st == stInt || l.st == stLong) {
		if i, ok := r.val.(int); ok && i == 0 {
			return cx{}, errAt(x, "Division by constant zero")
		}
	}
	if (x.op == "==" || x.op == "!=") && jsonRefCompare(l, r) {
		neg := x.op == "!="
		return cx{st: stBool, fn: func(e *env) (any, error) {
			a, b, err := operands(e, lf, rf)
			if err != nil {
				return nil, err
			}
			if a == nil || b == nil {
				return (a == nil && b == nil) != neg, nil
			}
			// a string or number converted to a new JValue: never the same
			return (isJToken(a) && isJToken(b) && a == b) != neg, nil
		}}, nil
	}
	if (x.op == "==" || x.op == "!=") && (l.st == stObject || r.st == stObject) && !(l.isConst && l.val == nil) && !(r.isConst && r.val == nil) {
		// object == x compares references: boxed values are distinct
		// objects, strings are the same object only when both are literals
		neg := x.op == "!="
		bothLit := l.isConst && r.isConst
		return cx{st: stBool, fn: func(e *env) (any, error) {
			a, b, err := operands(e, lf, rf)
			if err != nil {
				return nil, err
			}
			return refEquals(a, b, bothLit) != neg, nil
		}}, nil
	}
	switch x.op {
	case "&&", "||":
		and := x.op == "&&"
		return cx{st: stBool, fn: func(e *env) (any, error) {
			a, err := lf(e)
			if err != nil {
				return nil, err
			}
			ab, err := toBool(a)
			if err != nil {
				return nil, err
			}
			if ab != and {
				return ab, nil
			}
			b, err := rf(e)
			if err != nil {
				return nil, err
			}
			return toBool(b)
		}}, nil
	case "??":
		return cx{fn: func(e *env) (any, error) {
			a, err := lf(e)
			if err != nil {
				return nil, err
			}
			if a != nil && !isNilModel(a) {
				return a, nil
			}
			return rf(e)
		}}, nil
	case "==", "!=":
		neg := x.op == "!="
		if r.isConst {
			if s, ok := r.val.(string); ok {
				return cx{st: stBool, fn: func(e *env) (any, error) {
					a, err := lf(e)
					if err != nil {
						return nil, err
					}
					if as, ok := a.(string); ok {
						return (as == s) != neg, nil
					}
					return valuesEqual(a, s) != neg, nil
				}}, nil
			}
		}
		return cx{st: stBool, fn: func(e *env) (any, error) {
			a, b, err := operands(e, lf, rf)
			if err != nil {
				return nil, err
			}
			return valuesEqual(a, b) != neg, nil
		}}, nil
	case "<", ">", "<=", ">=":
		op := x.op
		return cx{st: stBool, fn: func(e *env) (any, error) {
			a, b, err := operands(e, lf, rf)
			if err != nil {
				return nil, err
			}
			return compareOp(op, a, b)
		}}, nil
	}
	op := x.op
	st := bst
	ar := c.arith()
	if op == "+" && (l.st == stString || r.st == stString) {
		st = stString
	}
	if l.isConst && r.isConst {
		if !c.unchecked {
			if _, err := checkedArith(op, l.val, r.val); err != nil {
				return cx{}, errAt(x, "The operation overflows at compile time in checked mode")
			}
		}
		if v, err := arith(op, l.val, r.val); err == nil {
			return constCx(v), nil
		}
	}
	if op == "+" && st == stString {
		return concatCx(x.l, l, r, st, ar), nil
	}
	return cx{st: st, fn: func(e *env) (any, error) {
		a, b, err := operands(e, lf, rf)
		if err != nil {
			return nil, err
		}
		return ar(op, a, b)
	}}, nil
}

// operands evaluates a binary operator's two operands, the left one first.
func operands(e *env, lf, rf evalFn) (a, b any, err error) {
	if a, err = lf(e); err != nil {
		return nil, nil, err
	}
	b, err = rf(e)
	return a, b, err
}

// arith returns the arithmetic of the current checked/unchecked context.
func (c *compiler) arith() func(op string, a, b any) (any, error) {
	if c.checked {
		return checkedArith
	}
	return arith
}

func (c *compiler) isExpr(x *isExpr) (cx, *Error) {
	inner, err := c.expr(x.x)
	if err != nil {
		return cx{}, err
	}
	f := inner.fn
	neg := x.not
	if x.typ == nil {
		lit, err := c.expr(x.lit)
		if err != nil {
			return cx{}, err
		}
		lv := lit.val
		return cx{st: stBool, fn: func(e *env) (any, error) {
			v, err := f(e)
			if err != nil {
				return nil, err
			}
			if lv == nil {
				return (v == nil || isNilModel(v)) != neg, nil
			}
			return valuesEqual(v, lv) != neg, nil
		}}, nil
	}
	test, st, terr := typeTest(x.typ)
	if terr != nil {
		return cx{}, terr
	}
	slot := -1
	if x.bind != "" {
		s, err := c.declareT(x.pos, x.bind, st, richOnly(tyFromRef(x.typ)))
		if err != nil {
			return cx{}, err
		}
		slot = s
	}
	return cx{st: stBool, fn: func(e *env) (any, error) {
		v, err := f(e)
		if err != nil {
			return nil, err
		}
		ok := test(v)
		if ok && slot >= 0 {
			storeLocal(e, slot, v)
		}
		return ok != neg, nil
	}}, nil
}

// delegateArgs compiles the arguments of a delegate call, which takes
// neither named nor out arguments.
func (c *compiler) delegateArgs(x *callExpr) ([]evalFn, *Error) {
	argFns, _, err := c.delegateArgsT(x, nil)
	return argFns, err
}

// delegateArgsT compiles the arguments of a call of a delegate of static
// type ft (nil: unknown), checking their number and types.
func (c *compiler) delegateArgsT(x *callExpr, ft *ty) ([]evalFn, *ty, *Error) {
	if ft != nil && ft.k == tkFunc && len(x.args) != ft.nparam {
		return nil, nil, errAt(x, "Delegate '%s' does not take %d arguments", tyName(ft), len(x.args))
	}
	argFns := make([]evalFn, len(x.args))
	for i, a := range x.args {
		if a.name != "" || a.out {
			return nil, nil, errAt(x, "unsupported C# construct: named or out argument in a delegate call")
		}
		ax, err := c.expr(a.x)
		if err != nil {
			return nil, nil, err
		}
		if ft != nil && ft.k == tkFunc && i < len(ft.params) {
			if !convertible(tyOf(ax), ft.params[i], ax) {
				return nil, nil, argTyError(a.x, i+1, tyOf(ax), ft.params[i])
			}
			ax = convTo(ax, ft.params[i])
		}
		argFns[i] = ax.fn
	}
	if ft != nil && ft.k == tkFunc {
		return argFns, ft.ret, nil
	}
	return argFns, nil, nil
}

// invoke calls the delegate (a lambda or a local function) held in a local
// variable: f(a, b).
func (c *compiler) invoke(x *callExpr, slot int, ft *ty, hf *hoistedFn) (cx, *Error) {
	if hf != nil && ft != nil && ft.k == tkFunc && len(x.args) != ft.nparam {
		return cx{}, errAt(x, "No overload for method '%s' takes %d arguments", hf.decl.names[0], len(x.args))
	}
	argFns, rt, err := c.delegateArgsT(x, ft)
	if err != nil {
		return cx{}, err
	}
	return withTy(cx{st: stAny, fn: func(e *env) (any, error) {
		if hf != nil && loadLocal(e, slot) == nil && hf.mk != nil {
			// a local function called before its declaration ran
			if err := storeLocalFunc(e, slot, hf.mk); err != nil {
				return nil, err
			}
		}
		f, ok := loadLocal(e, slot).(*Func)
		if !ok {
			if loadLocal(e, slot) == nil {
				return nil, nullRef()
			}
			return nil, &RuntimeError{Type: "InvalidCastException", Msg: "the variable is not a delegate"}
		}
		args := make([]any, len(argFns))
		for i, af := range argFns {
			v, err := af(e)
			if err != nil {
				return nil, err
			}
			args[i] = v
		}
		return f.call(args...)
	}}, rt), nil
}

func (c *compiler) lambda(x *lambdaExpr) (cx, *Error) {
	return c.lambdaT(x, nil, nil, false)
}

// retInfo is a return statement (or the expression body) of a lambda.
type retInfo struct {
	n node
	x cx
}

// exprWant compiles n where a value of type want is expected: a lambda
// gets its parameter types from a delegate type and its returns are
// checked against the delegate's return type.
func (c *compiler) exprWant(n node, want *ty) (cx, *Error) {
	if lx, ok := n.(*lambdaExpr); ok && want != nil && want.k == tkFunc {
		if len(lx.params) != want.nparam {
			return cx{}, errAt(lx, "Delegate '%s' does not take %d arguments", tyName(want), len(lx.params))
		}
		return c.lambdaT(lx, want.params, want.ret, !want.action)
	}
	return c.expr(n)
}

// lambdaT compiles a lambda whose parameters have the static types params
// (nil entries or a short list: unknown). When wantRet is set, every
// returned value must convert to it. The result's t is the delegate type
// with the common type of the returned values.
func (c *compiler) lambdaT(x *lambdaExpr, params []*ty, wantRet *ty, strict bool) (cx, *Error) {
	savedRets := c.rets
	var rets []retInfo
	c.rets = &rets
	defer func() { c.rets = savedRets }()
	c.push()
	defer c.pop()
	lc := &lambdaCapture{}
	c.sc.fn = lc
	c.inLambda++
	defer func() { c.inLambda-- }()
	if c.captured == nil {
		c.captured = new([]bool)
	}
	capt := c.captured
	lo := c.nslots
	slots := make([]int, len(x.params))
	for i, p := range x.params {
		if p == "_" {
			slots[i] = c.nslots
			c.nslots++
			continue
		}
		var pt *ty
		if i < len(params) {
			pt = params[i]
		}
		s, err := c.declareT(x.pos, p, stAny, pt)
		if err != nil {
			return cx{}, err
		}
		slots[i] = s
	}
	var body evalFn
	if b, ok := x.body.(*blockStmt); ok {
		saved := c.loops
		c.loops = 0
		exec, err := c.block(b)
		c.loops = saved
		if err != nil {
			return cx{}, err
		}
		body = func(e *env) (any, error) {
			saved := e.ret
			r, err := exec(e)
			if err != nil {
				return nil, err
			}
			v := e.ret
			e.ret = saved
			if r != ctrlReturn {
				return nil, nil
			}
			return v, nil
		}
	} else {
		bx, err := c.expr(x.body)
		if err != nil {
			return cx{}, err
		}
		body = bx.fn
		rets = append(rets, retInfo{n: x.body, x: bx})
	}
	ft := &ty{k: tkFunc, params: params, nparam: len(x.params)}
	// no conversion is needed when every returned value has the type
	sameRet := len(rets) > 0
	for i, r := range rets {
		rt := tyOf(r.x)
		if !(complete(rt) && wantRet != nil && identical(rt, wantRet)) {
			sameRet = false
		}
		if wantRet != nil && !convertible(rt, wantRet, r.x) {
			return cx{}, convTyError(r.n, rt, wantRet)
		}
		if i == 0 && complete(rt) {
			ft.ret = rt
		} else if ft.ret != nil && !(complete(rt) && identical(rt, ft.ret)) {
			ft.ret = nil
		}
	}
	if wantRet != nil && strict {
		ft.ret = wantRet
		// Func<double> f = () => 1 returns 1.0
		if !sameRet {
			body = wrapConv(body, numConvTo(wantRet))
		}
	}
	code := &funcCode{slots: slots, body: body, capt: capt, lo: lo, hi: c.nslots}
	return cx{isFunc: true, t: ft, fn: func(e *env) (any, error) {
		e.noPool = true
		f := &Func{e: e, code: code}
		if len(lc.slots) > 0 {
			f.cells = make([]capturedCell, len(lc.slots))
			for i, s := range lc.slots {
				cl, _ := e.locals[s].(*cell)
				if cl == nil {
					// declared but not yet assigned, or not a cell: share the slot
					cl = &cell{v: e.locals[s]}
					e.locals[s] = cl
				}
				f.cells[i] = capturedCell{slot: s, c: cl}
			}
		}
		return f, nil
	}}, nil
}

func (c *compiler) interp(x *interpExpr) (cx, *Error) {
	type part struct {
		lit    string
		fn     evalFn
		align  int
		format string
	}
	parts := make([]part, 0, len(x.parts))
	for _, p := range x.parts {
		if p.x == nil {
			parts = append(parts, part{lit: p.lit})
			continue
		}
		hx, err := c.expr(p.x)
		if err != nil {
			return cx{}, err
		}
		if p.align > maxAlign || p.align < -maxAlign {
			return cx{}, errAt(p.x, "interpolation alignment is too large")
		}
		parts = append(parts, part{fn: hx.fn, align: p.align, format: p.format})
	}
	return cx{st: stString, fn: func(e *env) (any, error) {
		var sb strings.Builder
		for _, p := range parts {
			if p.fn == nil {
				sb.WriteString(p.lit)
				continue
			}
			v, err := p.fn(e)
			if err != nil {
				return nil, err
			}
			s, err := formatValue(v, p.format)
			if err != nil {
				return nil, err
			}
			if p.align != 0 {
				s = alignString(s, p.align)
			}
			if err := checkStrLen(sb.Len() + len(s)); err != nil {
				return nil, err
			}
			sb.WriteString(s)
		}
		return sb.String(), nil
	}}, nil
}

// ---- assignment ----

// lvalue compiles an assignable target into a getter and a setter that share
// one evaluation of the receiver and index.
type lvalue struct {
	prepare func(e *env) (ref any, key any, err error)
	get     func(e *env, ref, key any) (any, error)
	set     func(e *env, ref, key, v any) error
	t       *ty // the target's static type, when known
}

func (c *compiler) lvalue(n node) (lvalue, sType, *Error) {
	switch t := n.(type) {
	case *identExpr:
		l, ok := c.lookup(t.name)
		if !ok {
			if t.name == "context" {
				return lvalue{}, 0, errAt(t, "cannot assign to 'context'")
			}
			return lvalue{}, 0, errAt(t, "the name '%s' does not exist in the current context", t.name)
		}
		slot := l.slot
		return lvalue{
			prepare: func(*env) (any, any, error) { return nil, nil, nil },
			get:     func(e *env, _, _ any) (any, error) { return loadLocal(e, slot), nil },
			set:     func(e *env, _, _, v any) error { storeLocal(e, slot, v); return nil },
			t:       tyOf(cx{st: l.st, t: l.t}),
		}, l.st, nil
	case *indexExpr:
		recv, err := c.expr(t.x)
		if err != nil {
			return lvalue{}, 0, err
		}
		if isModel(recv.st) {
			return lvalue{}, 0, errAt(t, "%s is read-only", modelNames[recv.st])
		}
		key, err := c.expr(t.args[0])
		if err != nil {
			return lvalue{}, 0, err
		}
		get, _, gerr := indexGetter(t, recv.st, nil)
		if gerr != nil {
			return lvalue{}, 0, gerr
		}
		et, kerr := indexTy(t.args[0], tyOf(recv), key)
		if kerr != nil {
			return lvalue{}, 0, kerr
		}
		if rt := tyOf(recv); rt != nil && rt.k == tkDict {
			key = convTo(key, rt.key)
		}
		est := stAny
		if et != nil && et.k == tkST {
			est = et.st
		}
		rf, kf := recv.fn, key.fn
		return lvalue{
			prepare: func(e *env) (any, any, error) {
				r, err := rf(e)
				if err != nil {
					return nil, nil, err
				}
				if r == nil {
					return nil, nil, nullRef()
				}
				k, err := kf(e)
				return r, k, err
			},
			get: func(e *env, r, k any) (any, error) { return get(r, k) },
			set: func(e *env, r, k, v any) error { return indexSet(r, k, v) },
			t:   et,
		}, est, nil
	case *memberExpr:
		if t.x == nil {
			return lvalue{}, 0, errAt(t, "invalid assignment target")
		}
		recv, err := c.expr(t.x)
		if err != nil {
			return lvalue{}, 0, err
		}
		if isModel(recv.st) {
			return lvalue{}, 0, errAt(t, "%s.%s is read-only", modelNames[recv.st], t.name)
		}
		get, _, gerr := propertyGetter(t, recv.st, t.name, c.anonNames)
		if gerr != nil {
			return lvalue{}, 0, gerr
		}
		setter, serr := propertySetter(t, t.name)
		if serr != nil {
			return lvalue{}, 0, serr
		}
		rf := recv.fn
		return lvalue{
			prepare: func(e *env) (any, any, error) {
				r, err := rf(e)
				if err != nil {
					return nil, nil, err
				}
				if r == nil {
					return nil, nil, nullRef()
				}
				return r, nil, nil
			},
			get: func(e *env, r, _ any) (any, error) { return get(r) },
			set: func(e *env, r, _, v any) error { return setter(r, v) },
		}, stAny, nil
	}
	return lvalue{}, 0, errAt(n, "invalid assignment target")
}

func (c *compiler) assign(x *assignExpr) (cx, *Error) {
	lv, st, err := c.lvalue(x.target)
	if err != nil {
		return cx{}, err
	}
	var val cx
	if x.op == "=" {
		val, err = c.exprWant(x.value, lv.t)
	} else {
		val, err = c.expr(x.value)
	}
	if err != nil {
		return cx{}, err
	}
	vf := val.fn
	if x.op == "=" && !implicitOK(val.st, st, val) && !constFits(val, st) {
		return cx{}, convError(x.value, val.st, st, val)
	}
	if x.op == "=" && (rich(lv.t) || rich(val.t)) && !convertible(tyOf(val), lv.t, val) {
		return cx{}, convTyError(x.value, tyOf(val), lv.t)
	}
	if x.op == "=" {
		// double d; d = 1; stores 1.0
		val = convTo(val, lv.t)
		vf = val.fn
	}
	if x.op != "=" && x.op != "??=" {
		res, berr := checkBinary(x, strings.TrimSuffix(x.op, "="), cx{st: st}, val)
		if berr != nil {
			return cx{}, berr
		}
		if known(res) && known(st) && !implicitOK(res, st, cx{}) && !(isNumericST(res) && isNumericST(st)) {
			return cx{}, errAt(x.value, "Cannot implicitly convert type '%s' to '%s'", csName(res), csName(st))
		}
	}
	if x.op == "=" {
		return cx{st: st, fn: func(e *env) (any, error) {
			r, k, err := lv.prepare(e)
			if err != nil {
				return nil, err
			}
			v, err := vf(e)
			if err != nil {
				return nil, err
			}
			return v, lv.set(e, r, k, v)
		}}, nil
	}
	op := strings.TrimSuffix(x.op, "=")
	ar := c.arith()
	return cx{st: st, fn: func(e *env) (any, error) {
		r, k, err := lv.prepare(e)
		if err != nil {
			return nil, err
		}
		cur, err := lv.get(e, r, k)
		if err != nil {
			return nil, err
		}
		if op == "??" {
			if cur != nil {
				return cur, nil
			}
			v, err := vf(e)
			if err != nil {
				return nil, err
			}
			return v, lv.set(e, r, k, v)
		}
		v, err := vf(e)
		if err != nil {
			return nil, err
		}
		nv, err := ar(op, cur, v)
		if err != nil {
			return nil, err
		}
		return nv, lv.set(e, r, k, nv)
	}}, nil
}

func (c *compiler) incDec(x *incDecExpr) (cx, *Error) {
	lv, st, err := c.lvalue(x.x)
	if err != nil {
		return cx{}, err
	}
	op := "+"
	if x.op == "--" {
		op = "-"
	}
	prefix := x.prefix
	ar := c.arith()
	return cx{st: st, fn: func(e *env) (any, error) {
		r, k, err := lv.prepare(e)
		if err != nil {
			return nil, err
		}
		cur, err := lv.get(e, r, k)
		if err != nil {
			return nil, err
		}
		nv, err := ar(op, cur, 1)
		if err != nil {
			return nil, err
		}
		if err := lv.set(e, r, k, nv); err != nil {
			return nil, err
		}
		if prefix {
			return nv, nil
		}
		return cur, nil
	}}, nil
}
