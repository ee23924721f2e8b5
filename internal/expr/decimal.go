package expr

import (
	"math"
	"math/big"
	"strconv"
	"strings"
)

// Decimal is System.Decimal: a 96-bit integer coefficient scaled by a power
// of ten between 0 and 28. Values are immutable. Arithmetic follows .NET:
// results keep the scale of their operands (1.50m * 2 is 3.00), division
// gives up to 28 fractional digits rounded half to even, and a result that
// does not fit in 96 bits throws OverflowException.
type Decimal struct {
	c *big.Int // never nil
	s int32
}

var (
	decMax  = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 96), big.NewInt(1))
	bigTen  = big.NewInt(10)
	bigOne  = big.NewInt(1)
	bigZero = big.NewInt(0)
	pow10s  [60]*big.Int
)

func init() {
	pow10s[0] = big.NewInt(1)
	for i := 1; i < len(pow10s); i++ {
		pow10s[i] = new(big.Int).Mul(pow10s[i-1], bigTen)
	}
}

func pow10(n int32) *big.Int {
	if int(n) < len(pow10s) {
		return pow10s[n]
	}
	return new(big.Int).Exp(bigTen, big.NewInt(int64(n)), nil)
}

func errDecOverflow() error {
	return &RuntimeError{Type: "OverflowException", Msg: "Value was either too large or too small for a Decimal."}
}

func decFromInt(i int64) Decimal { return Decimal{c: big.NewInt(i)} }

// decFromFloat converts a double like .NET's explicit conversion: rounded
// to 15 significant digits, trailing zeros removed.
func decFromFloat(f float64) (Decimal, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) >= 7.9228162514264338e28 {
		return Decimal{}, errDecOverflow()
	}
	s := strconv.FormatFloat(f, 'e', 14, 64)
	d, ok := parseDecimalText(s, true)
	if !ok {
		return Decimal{}, errDecOverflow()
	}
	return d.trimZeros(), nil
}

// parseDecimalText parses [sign]digits[.digits][e[sign]digits] (the exponent
// only when exp is set), keeping the scale given by the text.
func parseDecimalText(s string, exp bool) (Decimal, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Decimal{}, false
	}
	neg := false
	if s[0] == '-' || s[0] == '+' {
		neg = s[0] == '-'
		s = s[1:]
	}
	e := 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		if !exp {
			return Decimal{}, false
		}
		n, err := strconv.Atoi(s[i+1:])
		if err != nil {
			return Decimal{}, false
		}
		e = n
		s = s[:i]
	}
	intPart, frac, _ := strings.Cut(s, ".")
	if intPart == "" && frac == "" {
		return Decimal{}, false
	}
	for _, r := range intPart + frac {
		if r < '0' || r > '9' {
			return Decimal{}, false
		}
	}
	c, ok := new(big.Int).SetString(intPart+frac, 10)
	if !ok {
		return Decimal{}, false
	}
	scale := int32(len(frac)) - int32(e)
	if scale < 0 {
		c.Mul(c, pow10(-scale))
		scale = 0
	}
	if neg {
		c.Neg(c)
	}
	d, err := decFit(c, scale)
	if err != nil {
		return Decimal{}, false
	}
	return d, true
}

// decFit rounds c/10^s (half to even) until it has at most 28 fractional
// digits and fits in 96 bits.
func decFit(c *big.Int, s int32) (Decimal, error) {
	for s > 28 || (s > 0 && new(big.Int).Abs(c).Cmp(decMax) > 0) {
		c = divRoundEven(c, bigTen)
		s--
	}
	if new(big.Int).Abs(c).Cmp(decMax) > 0 {
		return Decimal{}, errDecOverflow()
	}
	return Decimal{c: c, s: s}, nil
}

// divRoundEven is a/b rounded half to even.
func divRoundEven(a, b *big.Int) *big.Int {
	q, r := new(big.Int).QuoRem(a, b, new(big.Int))
	if r.Sign() == 0 {
		return q
	}
	r2 := new(big.Int).Abs(r)
	r2.Lsh(r2, 1)
	cmp := r2.Cmp(new(big.Int).Abs(b))
	if cmp > 0 || (cmp == 0 && q.Bit(0) == 1) {
		if (a.Sign() < 0) != (b.Sign() < 0) {
			q.Sub(q, bigOne)
		} else {
			q.Add(q, bigOne)
		}
	}
	return q
}

func (d Decimal) coef() *big.Int {
	if d.c == nil {
		return bigZero
	}
	return d.c
}

func (d Decimal) trimZeros() Decimal {
	c := new(big.Int).Set(d.coef())
	s := d.s
	r := new(big.Int)
	for s > 0 {
		q, m := new(big.Int).QuoRem(c, bigTen, r)
		if m.Sign() != 0 {
			break
		}
		c = q
		s--
	}
	return Decimal{c: c, s: s}
}

func (d Decimal) String() string {
	c := d.coef()
	neg := c.Sign() < 0
	digits := new(big.Int).Abs(c).String()
	if d.s > 0 {
		for int32(len(digits)) <= d.s {
			digits = "0" + digits
		}
		digits = digits[:int32(len(digits))-d.s] + "." + digits[int32(len(digits))-d.s:]
	}
	if neg {
		return "-" + digits
	}
	return digits
}

func (d Decimal) Float() float64 {
	f, _ := strconv.ParseFloat(d.String(), 64)
	return f
}

// Trunc returns the integer part (toward zero).
func (d Decimal) Trunc() *big.Int {
	return new(big.Int).Quo(d.coef(), pow10(d.s))
}

func align(a, b Decimal) (*big.Int, *big.Int, int32) {
	s := max(a.s, b.s)
	x := new(big.Int).Mul(a.coef(), pow10(s-a.s))
	y := new(big.Int).Mul(b.coef(), pow10(s-b.s))
	return x, y, s
}

func (d Decimal) Cmp(o Decimal) int {
	x, y, _ := align(d, o)
	return x.Cmp(y)
}

func decArith(op string, a, b Decimal) (any, error) {
	switch op {
	case "+", "-":
		x, y, s := align(a, b)
		if op == "+" {
			x.Add(x, y)
		} else {
			x.Sub(x, y)
		}
		return decFit(x, s)
	case "*":
		c := new(big.Int).Mul(a.coef(), b.coef())
		return decFit(c, a.s+b.s)
	case "/":
		return decDiv(a, b)
	case "%":
		if b.coef().Sign() == 0 {
			return nil, &RuntimeError{Type: "DivideByZeroException", Msg: "Attempted to divide by zero."}
		}
		x, y, s := align(a, b)
		return decFit(new(big.Int).Rem(x, y), s)
	}
	return nil, errInvalidOp("Operator '" + op + "' cannot be applied to operands of type 'System.Decimal' and 'System.Decimal'")
}

func decDiv(a, b Decimal) (any, error) {
	if b.coef().Sign() == 0 {
		return nil, &RuntimeError{Type: "DivideByZeroException", Msg: "Attempted to divide by zero."}
	}
	x := new(big.Int).Set(a.coef())
	y := new(big.Int).Set(b.coef())
	s := a.s - b.s
	if s < 0 {
		x.Mul(x, pow10(-s))
		s = 0
	}
	neg := (x.Sign() < 0) != (y.Sign() < 0)
	x.Abs(x)
	y.Abs(y)
	q, r := new(big.Int).QuoRem(x, y, new(big.Int))
	if q.Cmp(decMax) > 0 {
		return nil, errDecOverflow()
	}
	for r.Sign() != 0 && s < 28 {
		r.Mul(r, bigTen)
		d, r2 := new(big.Int).QuoRem(r, y, new(big.Int))
		nq := new(big.Int).Mul(q, bigTen)
		nq.Add(nq, d)
		if nq.Cmp(decMax) > 0 {
			r.Quo(r, bigTen) // undo: the remainder stays relative to q
			break
		}
		q, r = nq, r2
		s++
	}
	if r.Sign() != 0 {
		r2 := new(big.Int).Lsh(r, 1)
		cmp := r2.Cmp(y)
		if cmp > 0 || (cmp == 0 && q.Bit(0) == 1) {
			q.Add(q, bigOne)
		}
	}
	if neg {
		q.Neg(q)
	}
	return decFit(q, s)
}

// Round rounds to digits fractional digits (0..28); away selects
// MidpointRounding.AwayFromZero, otherwise to even.
func (d Decimal) Round(digits int32, mode string) Decimal {
	if d.s <= digits {
		return d
	}
	div := pow10(d.s - digits)
	c := d.coef()
	q, r := new(big.Int).QuoRem(c, div, new(big.Int))
	if r.Sign() != 0 {
		up := false
		switch mode {
		case "ToZero":
		case "ToPositiveInfinity", "Ceiling":
			up = c.Sign() > 0
		case "ToNegativeInfinity", "Floor":
			up = c.Sign() < 0
		default:
			r2 := new(big.Int).Abs(r)
			r2.Lsh(r2, 1)
			cmp := r2.Cmp(div)
			up = cmp > 0 || cmp == 0 && (mode == "AwayFromZero" || q.Bit(0) == 1)
		}
		if up {
			if c.Sign() < 0 {
				q.Sub(q, bigOne)
			} else {
				q.Add(q, bigOne)
			}
		}
	}
	return Decimal{c: q, s: digits}
}

func (d Decimal) Neg() Decimal { return Decimal{c: new(big.Int).Neg(d.coef()), s: d.s} }

func (d Decimal) Sign() int { return d.coef().Sign() }

// toDecimal converts an int, long, char, byte or decimal (implicitly) and a
// double (explicitly) to a Decimal.
func toDecimal(v any) (Decimal, bool, error) {
	switch x := v.(type) {
	case Decimal:
		return x, true, nil
	case int:
		return decFromInt(int64(x)), true, nil
	case int64:
		return decFromInt(x), true, nil
	case byte:
		return decFromInt(int64(x)), true, nil
	case Char:
		return decFromInt(int64(x)), true, nil
	case float64:
		d, err := decFromFloat(x)
		return d, true, err
	case *JValue:
		return toDecimal(x.V)
	}
	return Decimal{}, false, nil
}

// decToInt64 converts with truncation; ok is false when out of range.
func decToInt64(d Decimal) (int64, bool) {
	t := d.Trunc()
	if !t.IsInt64() {
		return 0, false
	}
	return t.Int64(), true
}
