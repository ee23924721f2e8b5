package policy

import (
	"math"
	"math/big"
	"strconv"
	"strings"
)

// liquidDecimal is a .NET System.Decimal: value = m / 10^scale, with
// |m| < 2^96 and 0 <= scale <= 28. DotLiquid's arithmetic filters compute
// in decimal whenever an operand is a real number, so 0.1 | Plus: 10 |
// Minus: 10 gives 0.1 and 1.50 keeps its trailing zero.
type liquidDecimal struct {
	m     *big.Int
	scale int
}

var (
	decMax  = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 96), big.NewInt(1))
	bigTen  = big.NewInt(10)
	bigZero = big.NewInt(0)
)

func pow10(n int) *big.Int { return new(big.Int).Exp(bigTen, big.NewInt(int64(n)), nil) }

func decFromInt(i int64) liquidDecimal { return liquidDecimal{m: big.NewInt(i)} }

// decFromFloat is Convert.ToDecimal(double): the double rounded to 15
// significant digits, trailing zeros dropped. ok is false where .NET throws
// an OverflowException.
func decFromFloat(f float64) (liquidDecimal, bool) {
	if math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) >= 7.9228162514264337593543950335e28 {
		return liquidDecimal{}, false
	}
	s := strconv.FormatFloat(f, 'e', 14, 64) // d.dddddddddddddde±XX
	mant, expStr, _ := strings.Cut(s, "e")
	exp, _ := strconv.Atoi(expStr)
	neg := strings.HasPrefix(mant, "-")
	digits := strings.Replace(strings.TrimPrefix(mant, "-"), ".", "", 1)
	m, _ := new(big.Int).SetString(digits, 10)
	scale := 14 - exp
	if scale < 0 {
		m.Mul(m, pow10(-scale))
		scale = 0
	}
	if neg {
		m.Neg(m)
	}
	d := liquidDecimal{m: m, scale: scale}
	for d.scale > 28 {
		d = d.roundTo(d.scale-1, false)
	}
	return d.trimZeros(0), true
}

// decParse parses a decimal as decimal.Parse with NumberStyles.Number or
// NumberStyles.Currency and the invariant culture: white space, a leading
// or trailing sign, parentheses (currency), thousands separators, one '.'.
func decParse(s string, currency bool) (liquidDecimal, bool) {
	s = strings.TrimSpace(s)
	neg := false
	if currency && strings.HasPrefix(s, "(") && strings.HasSuffix(s, ")") {
		neg, s = true, strings.TrimSpace(s[1:len(s)-1])
	}
	if currency {
		s = strings.TrimSpace(strings.Replace(s, "¤", "", 1))
	}
	switch {
	case strings.HasPrefix(s, "-"):
		neg, s = !neg, s[1:]
	case strings.HasPrefix(s, "+"):
		s = s[1:]
	case strings.HasSuffix(s, "-"):
		neg, s = !neg, s[:len(s)-1]
	case strings.HasSuffix(s, "+"):
		s = s[:len(s)-1]
	}
	if currency {
		s = strings.TrimSpace(strings.Replace(s, "¤", "", 1))
	}
	intPart, frac, hasDot := strings.Cut(s, ".")
	if intPart == "" && (!hasDot || frac == "") {
		return liquidDecimal{}, false
	}
	var digits strings.Builder
	for i, c := range intPart {
		switch {
		case c >= '0' && c <= '9':
			digits.WriteRune(c)
		case c == ',' && i > 0:
		default:
			return liquidDecimal{}, false
		}
	}
	for _, c := range frac {
		if c < '0' || c > '9' {
			return liquidDecimal{}, false
		}
	}
	digits.WriteString(frac)
	ds := digits.String()
	if ds == "" {
		ds = "0"
	}
	m, _ := new(big.Int).SetString(ds, 10)
	if neg {
		m.Neg(m)
	}
	d := liquidDecimal{m: m, scale: len(frac)}
	for d.scale > 0 && (d.scale > 28 || new(big.Int).Abs(d.m).Cmp(decMax) > 0) {
		d = d.roundTo(d.scale-1, false)
	}
	if new(big.Int).Abs(d.m).Cmp(decMax) > 0 {
		return liquidDecimal{}, false
	}
	return d, true
}

// roundTo rounds to n decimal places (n < scale), half to even, or half
// away from zero when away is set.
func (d liquidDecimal) roundTo(n int, away bool) liquidDecimal {
	if n >= d.scale {
		return d
	}
	div := pow10(d.scale - n)
	q, r := new(big.Int).QuoRem(d.m, div, new(big.Int))
	r2 := new(big.Int).Mul(new(big.Int).Abs(r), big.NewInt(2))
	c := r2.Cmp(div)
	if c > 0 || (c == 0 && (away || q.Bit(0) == 1)) {
		if d.m.Sign() < 0 {
			q.Sub(q, big.NewInt(1))
		} else {
			q.Add(q, big.NewInt(1))
		}
	}
	return liquidDecimal{m: q, scale: n}
}

// trimZeros drops trailing zeros down to scale min.
func (d liquidDecimal) trimZeros(min int) liquidDecimal {
	m := new(big.Int).Set(d.m)
	s := d.scale
	r := new(big.Int)
	for s > min {
		q, rem := new(big.Int).QuoRem(m, bigTen, r)
		if rem.Sign() != 0 {
			break
		}
		m, s = q, s-1
	}
	return liquidDecimal{m: m, scale: s}
}

func (d liquidDecimal) rescale(s int) *big.Int {
	return new(big.Int).Mul(d.m, pow10(s-d.scale))
}

// fit brings a result into decimal's range by dropping decimal places;
// ok is false on overflow.
func (d liquidDecimal) fit() (liquidDecimal, bool) {
	for d.scale > 28 || (d.scale > 0 && new(big.Int).Abs(d.m).Cmp(decMax) > 0) {
		d = d.roundTo(d.scale-1, false)
	}
	return d, new(big.Int).Abs(d.m).Cmp(decMax) <= 0
}

func decAdd(a, b liquidDecimal, sub bool) (liquidDecimal, bool) {
	s := max(a.scale, b.scale)
	bm := b.rescale(s)
	if sub {
		bm.Neg(bm)
	}
	return liquidDecimal{m: bm.Add(a.rescale(s), bm), scale: s}.fit()
}

func decMul(a, b liquidDecimal) (liquidDecimal, bool) {
	return liquidDecimal{m: new(big.Int).Mul(a.m, b.m), scale: a.scale + b.scale}.fit()
}

// decDiv is decimal division: the exact quotient at the dividend's scale
// minus the divisor's when that is exact, otherwise as many places as fit.
func decDiv(a, b liquidDecimal) (liquidDecimal, bool, bool) {
	if b.m.Sign() == 0 {
		return liquidDecimal{}, false, true
	}
	q := new(big.Rat).SetFrac(new(big.Int).Mul(a.m, pow10(b.scale)), new(big.Int).Mul(b.m, pow10(a.scale)))
	natural := max(a.scale-b.scale, 0)
	for s := natural; s <= 28; s++ {
		x := new(big.Rat).Mul(q, new(big.Rat).SetInt(pow10(s)))
		if x.IsInt() {
			if new(big.Int).Abs(x.Num()).Cmp(decMax) > 0 {
				break
			}
			return liquidDecimal{m: new(big.Int).Set(x.Num()), scale: s}, true, false
		}
	}
	for s := 28; s >= 0; s-- {
		x := new(big.Rat).Mul(q, new(big.Rat).SetInt(pow10(s)))
		n := roundRatEven(x)
		if new(big.Int).Abs(n).Cmp(decMax) <= 0 {
			return liquidDecimal{m: n, scale: s}.trimZeros(natural), true, false
		}
	}
	return liquidDecimal{}, false, false
}

func roundRatEven(x *big.Rat) *big.Int {
	q, r := new(big.Int).QuoRem(x.Num(), x.Denom(), new(big.Int))
	r2 := new(big.Int).Mul(new(big.Int).Abs(r), big.NewInt(2))
	c := r2.Cmp(x.Denom())
	if c > 0 || (c == 0 && q.Bit(0) == 1) {
		if x.Sign() < 0 {
			q.Sub(q, big.NewInt(1))
		} else {
			q.Add(q, big.NewInt(1))
		}
	}
	return q
}

// decMod is decimal remainder: the sign of the dividend, the larger scale.
func decMod(a, b liquidDecimal) (liquidDecimal, bool, bool) {
	if b.m.Sign() == 0 {
		return liquidDecimal{}, false, true
	}
	s := max(a.scale, b.scale)
	r := new(big.Int).Rem(a.rescale(s), b.rescale(s))
	return liquidDecimal{m: r, scale: s}, true, false
}

func (d liquidDecimal) float() float64 {
	f, _ := new(big.Rat).SetFrac(d.m, pow10(d.scale)).Float64()
	return f
}

// String is decimal.ToString() with the invariant culture.
func (d liquidDecimal) String() string {
	if d.m == nil {
		return "0"
	}
	s := new(big.Int).Abs(d.m).String()
	if d.scale > 0 {
		for len(s) <= d.scale {
			s = "0" + s
		}
		s = s[:len(s)-d.scale] + "." + s[len(s)-d.scale:]
	}
	if d.m.Sign() < 0 {
		s = "-" + s
	}
	return s
}

// fixed renders |d| with n decimal places (half away from zero, as .NET
// number formatting rounds) and thousands groups: the digits of "N"/"C".
func (d liquidDecimal) fixed(n int, group, dec string) string {
	r := d
	if d.scale > n {
		r = d.roundTo(n, true)
	}
	s := new(big.Int).Abs(r.m).String()
	for len(s) <= r.scale {
		s = "0" + s
	}
	intPart, frac := s[:len(s)-r.scale], s[len(s)-r.scale:]
	for len(frac) < n {
		frac += "0"
	}
	var b strings.Builder
	for i, c := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteString(group)
		}
		b.WriteRune(c)
	}
	if n > 0 {
		b.WriteString(dec)
		b.WriteString(frac)
	}
	return b.String()
}

func (d liquidDecimal) isZeroAfter(n int) bool {
	return d.roundTo(n, true).m.Cmp(bigZero) == 0
}
