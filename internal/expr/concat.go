package expr

import "strings"

// A chain of string concatenations, a + b + c + ..., compiles to one
// function over the operands instead of one per +: the result is built
// once, not once per operator with every intermediate string thrown away.
// It evaluates like the left fold of the binary operator: operands left to
// right, each step as arith does it (the first steps may be something else
// than a string concatenation, an XName for instance), the length limit
// checked at every step.

// concatStep reports whether arith("+", a, b) concatenates strings.
func concatStep(a, b any) bool {
	if _, ok := a.(XNamespace); ok {
		if _, ok := b.(string); ok {
			return false // an XName
		}
	}
	_, as := a.(string)
	_, bs := b.(string)
	return as || bs
}

// concatCx compiles l + r, a string-typed +, extending l's chain when l is
// itself one (lx is l's node).
func concatCx(lx node, l, r cx, st sType, ar func(op string, a, b any) (any, error)) cx {
	var ops []evalFn
	if b, ok := lx.(*binaryExpr); ok && b.op == "+" && l.cat != nil {
		ops = append(ops, l.cat...)
	} else {
		ops = append(ops, l.fn)
	}
	ops = append(ops[:len(ops):len(ops)], r.fn)
	x := cx{st: st, cat: ops, fn: func(e *env) (any, error) { return concatChain(e, ops, ar) }}
	// When every operand is a string its str (or constant) gives it without
	// boxing, and the chain has a str of its own.
	var strs []strFn
	if b, ok := lx.(*binaryExpr); ok && b.op == "+" && l.cat != nil {
		strs = append(strs, l.catStr...)
		if l.catStr == nil {
			return x
		}
	} else if f := strOf(l); f != nil {
		strs = append(strs, f)
	} else {
		return x
	}
	f := strOf(r)
	if f == nil {
		return x
	}
	strs = append(strs[:len(strs):len(strs)], f)
	x.catStr = strs
	x.str = func(c *Context) (string, error) { return concatStrings(c, strs) }
	return x
}

// strOf returns x's evaluation as a string without boxing, or nil.
func strOf(x cx) strFn {
	if x.isConst {
		if s, ok := x.val.(string); ok {
			return func(*Context) (string, error) { return s, nil }
		}
		return nil
	}
	if x.st != stString {
		return nil
	}
	return x.str
}

// concatStrings is concatChain over operands that are all strings: the
// same operands evaluated in the same order, the same length checks.
func concatStrings(c *Context, ops []strFn) (string, error) {
	acc, err := ops[0](c)
	if err != nil {
		return "", err
	}
	var j joiner
	j.start(acc)
	for _, f := range ops[1:] {
		y, err := f(c)
		if err != nil {
			return "", err
		}
		if err := j.add(y); err != nil {
			return "", err
		}
	}
	return j.String(), nil
}

func concatChain(e *env, ops []evalFn, ar func(op string, a, b any) (any, error)) (any, error) {
	acc, err := ops[0](e)
	if err != nil {
		return nil, err
	}
	var j joiner
	for _, f := range ops[1:] {
		b, err := f(e)
		if err != nil {
			return nil, err
		}
		if j.n == 0 {
			if !concatStep(acc, b) {
				if acc, err = ar("+", acc, b); err != nil {
					return nil, err
				}
				continue
			}
			// From here on the left operand is a string: every step
			// concatenates.
			j.start(ToString(acc))
		}
		if err := j.add(ToString(b)); err != nil {
			return nil, err
		}
	}
	if j.n == 0 {
		return acc, nil
	}
	return j.String(), nil
}

// joiner gathers the parts of a concatenation and joins them once, at
// the end (and every eight parts): one allocation instead of one per +.
type joiner struct {
	buf      [8]string
	n, total int
}

// start sets the first part, a string that exists already (its length
// is not checked again).
func (j *joiner) start(s string) { j.buf[0], j.n, j.total = s, 1, len(s) }

// add appends a part, failing as .NET does past the longest string.
func (j *joiner) add(s string) error {
	if j.n == len(j.buf) {
		j.buf[0], j.n = strings.Join(j.buf[:], ""), 1
	}
	if err := checkStrLen(j.total + len(s)); err != nil {
		return err
	}
	j.buf[j.n], j.n, j.total = s, j.n+1, j.total+len(s)
	return nil
}

func (j *joiner) String() string {
	var sb strings.Builder
	sb.Grow(j.total)
	for _, p := range j.buf[:j.n] {
		sb.WriteString(p)
	}
	return sb.String()
}
