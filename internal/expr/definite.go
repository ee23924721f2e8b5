package expr

// Definite assignment (C# spec, "Definite assignment"): a local variable
// must be definitely assigned where its value is read, or the C# compiler
// rejects the policy with CS0165. The analysis follows the spec's flow
// rules for statements, && / || / ! and constant conditions, loops, try,
// switch, out arguments, pattern variables and lambdas. Where it cannot
// tell (null-conditional calls with out arguments, conditions that may be
// constant), it assumes "assigned", so it never rejects what C# accepts.

type daState struct {
	dead bool // unreachable: every variable counts as assigned
	bits [4]uint64
	more map[int]bool // ids beyond the bits (copied on write)
}

const daBits = 256

func (s daState) has(id int) bool {
	if s.dead {
		return true
	}
	if id < daBits {
		return s.bits[id/64]&(1<<(id%64)) != 0
	}
	return s.more[id]
}

func (s daState) with(id int) daState {
	if s.dead {
		return s
	}
	if id < daBits {
		s.bits[id/64] |= 1 << (id % 64)
		return s
	}
	m := make(map[int]bool, len(s.more)+1)
	for k := range s.more {
		m[k] = true
	}
	m[id] = true
	s.more = m
	return s
}

var daDead = daState{dead: true}

// join is the state where two control flows meet: assigned on both.
func join(a, b daState) daState {
	if a.dead {
		return b
	}
	if b.dead {
		return a
	}
	for i := range a.bits {
		a.bits[i] &= b.bits[i]
	}
	if len(a.more) > 0 {
		m := map[int]bool{}
		for k := range a.more {
			if b.more[k] {
				m[k] = true
			}
		}
		a.more = m
	}
	return a
}

// union is assigned on either (the end of try-finally).
func union(a, b daState) daState {
	if a.dead || b.dead {
		return daDead
	}
	for i := range a.bits {
		a.bits[i] |= b.bits[i]
	}
	if len(b.more) > 0 {
		m := map[int]bool{}
		for k := range a.more {
			m[k] = true
		}
		for k := range b.more {
			m[k] = true
		}
		a.more = m
	}
	return a
}

type daVar struct {
	name       string
	id         int
	maybeConst bool // a local constant
}

type definite struct {
	vars  []daVar // the visible locals, innermost last
	marks []int   // len(vars) where each open scope began
	next  int
	err   *Error
	// the states at the break and continue statements of the enclosing
	// loops and switches (innermost last); a switch has no continues
	breaks    [][]daState
	continues [][]daState
	// initial storage, so that a typical expression allocates once
	varsBuf  [8]daVar
	marksBuf [8]int
	brBuf    [4][]daState
	coBuf    [4][]daState
}

// checkDefinite reports the first read of an unassigned local in a block
// (stmt) or an expression's lambdas.
func checkDefinite(n node, isBlock bool) *Error {
	d := &definite{}
	d.vars, d.marks = d.varsBuf[:0], d.marksBuf[:0]
	d.breaks, d.continues = d.brBuf[:0], d.coBuf[:0]
	d.push()
	if isBlock {
		d.stmts(n.(*blockStmt).stmts, daState{})
	} else {
		d.ex(n, daState{})
	}
	return d.err
}

func (d *definite) push() { d.marks = append(d.marks, len(d.vars)) }

func (d *definite) pop() {
	k := len(d.marks) - 1
	d.vars, d.marks = d.vars[:d.marks[k]], d.marks[:k]
}

func (d *definite) declare(name string, maybeConst bool) int {
	d.next++
	d.vars = append(d.vars, daVar{name: name, id: d.next, maybeConst: maybeConst})
	return d.next
}

func (d *definite) lookup(name string) (daVar, bool) {
	for i := len(d.vars) - 1; i >= 0; i-- {
		if d.vars[i].name == name {
			return d.vars[i], true
		}
	}
	return daVar{}, false
}

// allAssigned is the state in which every visible local is assigned (the
// body of a local function, which may run after any assignment).
func (d *definite) allAssigned() daState {
	var s daState
	for _, v := range d.vars {
		s = s.with(v.id)
	}
	return s
}

func (d *definite) read(n *identExpr, s daState) {
	if d.err != nil {
		return
	}
	if v, ok := d.lookup(n.name); ok && !s.has(v.id) {
		d.err = errAt(n, "Use of unassigned local variable '%s'", n.name)
	}
}

// maybeConst reports an expression C# may treat as a constant: literals,
// operators on them, local constants, static members.
func (d *definite) maybeConst(n node) bool {
	switch x := n.(type) {
	case *litExpr:
		return true
	case *identExpr:
		if x.name == "context" {
			return false
		}
		v, ok := d.lookup(x.name)
		return !ok || v.maybeConst
	case *memberExpr:
		if x.x == nil {
			return false
		}
		if id, ok := x.x.(*identExpr); ok {
			// Type.Constant (int.MaxValue): a type name, not a local
			_, local := d.lookup(id.name)
			return !local && id.name != "context"
		}
		_, isMember := x.x.(*memberExpr)
		return isMember && d.maybeConst(x.x)
	case *unaryExpr:
		return d.maybeConst(x.x)
	case *binaryExpr:
		return d.maybeConst(x.l) && d.maybeConst(x.r)
	case *condExpr:
		return d.maybeConst(x.c) && d.maybeConst(x.a) && d.maybeConst(x.b)
	case *castExpr:
		return d.maybeConst(x.x)
	case *checkedNode:
		return !x.block && d.maybeConst(x.x)
	case *defaultExpr:
		return true
	}
	return false
}

// literalBool evaluates a condition made of literals only.
func literalBool(n node) (bool, bool) {
	switch x := n.(type) {
	case *litExpr:
		b, ok := x.val.(bool)
		return b, ok
	case *unaryExpr:
		if x.op == "!" {
			b, ok := literalBool(x.x)
			return !b, ok
		}
	}
	return false, false
}

// cond returns the states after a boolean expression when true and when
// false.
func (d *definite) cond(n node, s daState) (daState, daState) {
	if d.maybeConst(n) {
		if b, ok := literalBool(n); ok {
			if b {
				return s, daDead
			}
			return daDead, s
		}
		if _, isLit := n.(*litExpr); !isLit {
			// possibly a constant C# folds: do not claim either branch
			// (its operands are literals, constants and static members)
			return daDead, daDead
		}
	}
	switch x := n.(type) {
	case *unaryExpr:
		if x.op == "!" {
			t, f := d.cond(x.x, s)
			return f, t
		}
	case *binaryExpr:
		switch x.op {
		case "&&":
			at, af := d.cond(x.l, s)
			bt, bf := d.cond(x.r, at)
			return bt, join(af, bf)
		case "||":
			at, af := d.cond(x.l, s)
			bt, bf := d.cond(x.r, af)
			return join(at, bt), bf
		}
	case *isExpr:
		s1 := d.ex(x.x, s)
		if x.lit != nil {
			s1 = d.ex(x.lit, s1)
		}
		if x.bind == "" {
			return s1, s1
		}
		id := d.declare(x.bind, false)
		if x.not {
			return s1, s1.with(id)
		}
		return s1.with(id), s1
	case *checkedNode:
		if !x.block {
			return d.cond(x.x, s)
		}
	}
	s1 := d.ex(n, s)
	return s1, s1
}

func (d *definite) ex(n node, s daState) daState {
	if d.err != nil || n == nil {
		return s
	}
	switch x := n.(type) {
	case *identExpr:
		d.read(x, s)
	case *memberExpr:
		if x.x != nil {
			return d.ex(x.x, s)
		}
	case *callExpr:
		switch fn := x.fn.(type) {
		case *memberExpr:
			if fn.x != nil {
				s = d.ex(fn.x, s)
			}
		default:
			s = d.ex(fn, s)
		}
		for _, a := range x.args {
			s = d.arg(a, s)
		}
	case *indexExpr:
		s = d.ex(x.x, s)
		for _, a := range x.args {
			s = d.ex(a, s)
		}
	case *unaryExpr:
		return d.ex(x.x, s)
	case *binaryExpr:
		switch x.op {
		case "&&", "||":
			t, f := d.cond(x, s)
			return join(t, f)
		case "??":
			s1 := d.ex(x.l, s)
			d.ex(x.r, s1)
			return s1
		}
		return d.ex(x.r, d.ex(x.l, s))
	case *condExpr:
		t, f := d.cond(x.c, s)
		return join(d.ex(x.a, t), d.ex(x.b, f))
	case *assignExpr:
		if id, ok := x.target.(*identExpr); ok {
			if x.op != "=" {
				d.read(id, s)
			}
			s = d.ex(x.value, s)
			if v, ok := d.lookup(id.name); ok {
				s = s.with(v.id)
			}
			return s
		}
		switch t := x.target.(type) {
		case *memberExpr:
			if t.x != nil {
				s = d.ex(t.x, s)
			}
		case *indexExpr:
			s = d.ex(t.x, s)
			for _, a := range t.args {
				s = d.ex(a, s)
			}
		default:
			s = d.ex(t, s)
		}
		return d.ex(x.value, s)
	case *incDecExpr:
		return d.ex(x.x, s)
	case *castExpr:
		return d.ex(x.x, s)
	case *asExpr:
		return d.ex(x.x, s)
	case *isExpr:
		t, f := d.cond(x, s)
		return join(t, f)
	case *newExpr:
		for _, a := range x.args {
			s = d.arg(a, s)
		}
		s = d.ex(x.arrayLen, s)
		for _, el := range x.elems {
			switch p := el.(type) {
			case *initPair:
				for _, it := range p.items {
					s = d.ex(it, s)
				}
			case *indexInit:
				s = d.ex(p.value, d.ex(p.key, s))
			default:
				s = d.ex(el, s)
			}
		}
		for _, f := range x.fields {
			s = d.ex(f.value, s)
		}
	case *lambdaExpr:
		d.lambda(x, s)
	case *interpExpr:
		for _, p := range x.parts {
			if p.x != nil {
				s = d.ex(p.x, s)
			}
		}
	case *checkedNode:
		if x.block {
			return d.stmt(x.x, s)
		}
		return d.ex(x.x, s)
	case *throwExpr:
		d.ex(x.x, s)
		return daDead
	}
	return s
}

func (d *definite) arg(a argExpr, s daState) daState {
	switch {
	case a.out && a.outVar != "":
		return s.with(d.declare(a.outVar, false))
	case a.out:
		if id, ok := a.x.(*identExpr); ok {
			if v, ok := d.lookup(id.name); ok {
				return s.with(v.id)
			}
			return s
		}
	}
	return d.ex(a.x, s)
}

// lambda checks a lambda body from the state where the lambda is written;
// it does not change the enclosing state.
func (d *definite) lambda(x *lambdaExpr, s daState) {
	savedB, savedC := d.breaks, d.continues
	d.breaks, d.continues = nil, nil
	d.push()
	for _, p := range x.params {
		s = s.with(d.declare(p, false))
	}
	if b, ok := x.body.(*blockStmt); ok {
		d.stmts(b.stmts, s)
	} else {
		d.ex(x.body, s)
	}
	d.pop()
	d.breaks, d.continues = savedB, savedC
}

func (d *definite) stmts(list []node, s daState) daState {
	for _, n := range list {
		s = d.stmt(n, s)
	}
	return s
}

func (d *definite) scoped(n node, s daState) daState {
	d.push()
	defer d.pop()
	return d.stmt(n, s)
}

// loop analyses a loop body (in its own scope) with a new break/continue
// target and returns its end state and the states at its breaks and
// continues.
func (d *definite) loop(body node, s daState) (end daState, breaks, continues []daState) {
	d.breaks = append(d.breaks, nil)
	d.continues = append(d.continues, nil)
	end = d.scoped(body, s)
	k := len(d.breaks) - 1
	breaks, d.breaks = d.breaks[k], d.breaks[:k]
	k = len(d.continues) - 1
	continues, d.continues = d.continues[k], d.continues[:k]
	return end, breaks, continues
}

func joinAll(s daState, others []daState) daState {
	for _, o := range others {
		s = join(s, o)
	}
	return s
}

func (d *definite) stmt(n node, s daState) daState {
	if d.err != nil || n == nil {
		return s
	}
	switch x := n.(type) {
	case *blockStmt:
		d.push()
		defer d.pop()
		return d.stmts(x.stmts, s)
	case *checkedNode:
		return d.stmt(x.x, s)
	case *declStmt:
		for i, name := range x.names {
			init := x.inits[i]
			if x.fn {
				id := d.declare(name, false)
				s = s.with(id)
				if lx, ok := init.(*lambdaExpr); ok {
					d.lambda(lx, d.allAssigned())
				}
				continue
			}
			id := d.declare(name, x.isConst)
			if init != nil {
				s = d.ex(init, s).with(id)
			}
		}
		return s
	case *exprStmt:
		return d.ex(x.x, s)
	case *returnStmt:
		d.ex(x.x, s)
		return daDead
	case *throwStmt:
		d.ex(x.x, s)
		return daDead
	case *breakStmt:
		if k := len(d.breaks); k > 0 {
			d.breaks[k-1] = append(d.breaks[k-1], s)
		}
		return daDead
	case *continueStmt:
		if k := len(d.continues); k > 0 {
			d.continues[k-1] = append(d.continues[k-1], s)
		}
		return daDead
	case *ifStmt:
		t, f := d.cond(x.cond, s)
		a := d.scoped(x.then, t)
		if x.els != nil {
			f = d.scoped(x.els, f)
		}
		return join(a, f)
	case *whileStmt:
		if !x.do {
			t, f := d.cond(x.cond, s)
			_, breaks, _ := d.loop(x.body, t)
			return joinAll(f, breaks)
		}
		end, breaks, conts := d.loop(x.body, s)
		_, f := d.cond(x.cond, joinAll(end, conts))
		return joinAll(f, breaks)
	case *forStmt:
		d.push()
		defer d.pop()
		s = d.stmts(x.init, s)
		t, f := s, daDead
		if x.cond != nil {
			t, f = d.cond(x.cond, s)
		}
		end, breaks, conts := d.loop(x.body, t)
		d.stmts(x.post, joinAll(end, conts))
		return joinAll(f, breaks)
	case *foreachStmt:
		s = d.ex(x.coll, s)
		d.push()
		id := d.declare(x.name, false)
		d.loop(x.body, s.with(id))
		d.pop()
		return s
	case *tryStmt:
		end := d.stmt(x.body, s)
		for _, c := range x.catches {
			d.push()
			cs := s
			if c.name != "" {
				cs = cs.with(d.declare(c.name, false))
			}
			if c.when != nil {
				cs, _ = d.cond(c.when, cs)
			}
			end = join(end, d.stmt(c.body, cs))
			d.pop()
		}
		if x.finally != nil {
			end = union(end, d.stmt(x.finally, s))
		}
		return end
	case *usingStmt:
		d.push()
		defer d.pop()
		if _, ok := x.decl.(*declStmt); ok {
			s = d.stmt(x.decl, s)
		} else {
			s = d.ex(x.decl, s)
		}
		return d.stmt(x.body, s)
	case *switchStmt:
		s = d.ex(x.x, s)
		d.push()
		defer d.pop()
		d.breaks = append(d.breaks, nil)
		k := len(d.breaks) - 1
		hasDefault := false
		for _, c := range x.cases {
			hasDefault = hasDefault || c.isDefault
			cs := s
			for _, l := range c.labels {
				cs = d.ex(l, cs)
			}
			if end := d.stmts(c.body, cs); !end.dead {
				d.breaks[k] = append(d.breaks[k], end)
			}
		}
		b := d.breaks[k]
		d.breaks = d.breaks[:k]
		after := daDead
		if !hasDefault {
			after = s
		}
		return joinAll(after, b)
	case *emptyStmt:
		return s
	}
	// an expression used as a statement
	return d.ex(n, s)
}
