package expr

import (
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"
)

// .NET formatting with the invariant culture.

var monthNames = []string{"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"}
var dayNames = []string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"}

func offsetString(t time.Time) string {
	_, off := t.Zone()
	sign := "+"
	if off < 0 {
		sign = "-"
		off = -off
	}
	return sign + pad2(off/3600) + ":" + pad2(off%3600/60)
}

// isUTCKind reports whether a DateTime has DateTimeKind.Utc (vs Unspecified).
func isUTCKind(t time.Time) bool { return t.Location() == time.UTC }

// isLocalKind reports whether a DateTime has DateTimeKind.Local: the
// gateway's local time, UTC, kept in a +00:00 zone.
func isLocalKind(t time.Time) bool { return t.Location() != time.UTC && t.Location() != unspecified }

// asLocal is t converted to the gateway's local time (DateTimeKind.Local),
// as DateTime.Parse does with a string that names a zone.
func asLocal(t time.Time) time.Time {
	u := t.UTC()
	return time.Date(u.Year(), u.Month(), u.Day(), u.Hour(), u.Minute(), u.Second(), u.Nanosecond(), dtoLoc(0))
}

// unspecified is the location used for DateTimeKind.Unspecified values.
var unspecified = time.FixedZone("", 0)

// formatDateTime formats a DateTime with a .NET standard or custom format.
func formatDateTime(t time.Time, f string) (string, error) {
	if len(f) == 1 {
		switch f[0] {
		case 'o', 'O':
			f = "yyyy'-'MM'-'dd'T'HH':'mm':'ss.fffffffK"
		case 's':
			f = "yyyy'-'MM'-'dd'T'HH':'mm':'ss"
		case 'u':
			f = "yyyy'-'MM'-'dd HH':'mm':'ss'Z'"
		case 'r', 'R':
			return t.UTC().Format("Mon, 02 Jan 2006 15:04:05") + " GMT", nil
		case 'd':
			f = "MM/dd/yyyy"
		case 'D':
			f = "dddd, dd MMMM yyyy"
		case 't':
			f = "HH:mm"
		case 'T':
			f = "HH:mm:ss"
		case 'g':
			f = "MM/dd/yyyy HH:mm"
		case 'G':
			f = "MM/dd/yyyy HH:mm:ss"
		case 'f':
			f = "dddd, dd MMMM yyyy HH:mm"
		case 'F':
			f = "dddd, dd MMMM yyyy HH:mm:ss"
		case 'M', 'm':
			f = "MMMM dd"
		case 'Y', 'y':
			f = "yyyy MMMM"
		default:
			return "", errFormat("Input string was not in a correct format.")
		}
	}
	var sb strings.Builder
	for i := 0; i < len(f); {
		c := f[i]
		n := 1
		for i+n < len(f) && f[i+n] == c {
			n++
		}
		switch c {
		case 'y':
			y := t.Year()
			switch {
			case n == 1:
				sb.WriteString(strconv.Itoa(y % 100))
			case n == 2:
				sb.WriteString(pad2(y % 100))
			default:
				s := strconv.Itoa(y)
				for len(s) < n {
					s = "0" + s
				}
				sb.WriteString(s)
			}
		case 'M':
			m := int(t.Month())
			switch n {
			case 1:
				sb.WriteString(strconv.Itoa(m))
			case 2:
				sb.WriteString(pad2(m))
			case 3:
				sb.WriteString(monthNames[m-1][:3])
			default:
				sb.WriteString(monthNames[m-1])
			}
		case 'd':
			switch n {
			case 1:
				sb.WriteString(strconv.Itoa(t.Day()))
			case 2:
				sb.WriteString(pad2(t.Day()))
			case 3:
				sb.WriteString(dayNames[t.Weekday()][:3])
			default:
				sb.WriteString(dayNames[t.Weekday()])
			}
		case 'H':
			if n == 1 {
				sb.WriteString(strconv.Itoa(t.Hour()))
			} else {
				sb.WriteString(pad2(t.Hour()))
			}
		case 'h':
			h := t.Hour() % 12
			if h == 0 {
				h = 12
			}
			if n == 1 {
				sb.WriteString(strconv.Itoa(h))
			} else {
				sb.WriteString(pad2(h))
			}
		case 'm':
			if n == 1 {
				sb.WriteString(strconv.Itoa(t.Minute()))
			} else {
				sb.WriteString(pad2(t.Minute()))
			}
		case 's':
			if n == 1 {
				sb.WriteString(strconv.Itoa(t.Second()))
			} else {
				sb.WriteString(pad2(t.Second()))
			}
		case 'f', 'F':
			if n > 7 {
				return "", errFormat("Input string was not in a correct format.")
			}
			frac := strconv.Itoa(t.Nanosecond()/100 + 10000000)[1:] // 7 digits
			frac = frac[:n]
			if c == 'F' {
				frac = strings.TrimRight(frac, "0")
				if frac == "" && sb.Len() > 0 && strings.HasSuffix(sb.String(), ".") {
					s := sb.String()
					sb.Reset()
					sb.WriteString(s[:len(s)-1])
				}
			}
			sb.WriteString(frac)
		case 't':
			ampm := "AM"
			if t.Hour() >= 12 {
				ampm = "PM"
			}
			if n == 1 {
				ampm = ampm[:1]
			}
			sb.WriteString(ampm)
		case 'z':
			_, off := t.Zone()
			sign := "+"
			if off < 0 {
				sign, off = "-", -off
			}
			switch n {
			case 1:
				sb.WriteString(sign + strconv.Itoa(off/3600))
			case 2:
				sb.WriteString(sign + pad2(off/3600))
			default:
				sb.WriteString(sign + pad2(off/3600) + ":" + pad2(off%3600/60))
			}
		case 'K':
			for k := 0; k < n; k++ {
				if isUTCKind(t) {
					sb.WriteByte('Z')
				} else if t.Location() != unspecified {
					sb.WriteString(offsetString(t))
				}
			}
		case '\'', '"':
			end := strings.IndexByte(f[i+1:], c)
			if end < 0 {
				return "", errFormat("Cannot find a matching quote character for the character '" + string(c) + "'.")
			}
			sb.WriteString(f[i+1 : i+1+end])
			i += end + 2
			continue
		case '\\':
			if i+1 < len(f) {
				sb.WriteByte(f[i+1])
			}
			i += 2
			continue
		case '%':
			i++
			continue
		default:
			sb.WriteString(f[i : i+n])
		}
		i += n
	}
	return sb.String(), nil
}

// parseDateTime parses the formats DateTime.Parse commonly meets (ISO 8601,
// RFC 1123, invariant "MM/dd/yyyy HH:mm:ss").
func parseDateTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	layouts := []string{
		time.RFC3339Nano, "2006-01-02T15:04:05.9999999", "2006-01-02T15:04:05", "2006-01-02 15:04:05Z07:00",
		"2006-01-02 15:04:05", "2006-01-02T15:04", "2006-01-02", time.RFC1123, time.RFC1123Z,
		"01/02/2006 15:04:05", "1/2/2006 15:04:05", "01/02/2006", "1/2/2006", "1/2/2006 3:04:05 PM",
	}
	for _, l := range layouts {
		if t, err := time.Parse(l, s); err == nil {
			if strings.ContainsAny(l, "Z") || strings.HasSuffix(l, "MST") || l == time.RFC1123Z {
				// a zone converts to local time: DateTimeKind.Local
				return asLocal(t), nil
			}
			return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), unspecified), nil
		}
	}
	return time.Time{}, errFormat("String '" + s + "' was not recognized as a valid DateTime.")
}

// parseExact parses with a .NET custom format by converting it to a Go layout.
func parseExact(s, f string) (time.Time, error) {
	layout, ok := dotnetToGoLayout(f)
	if !ok {
		return time.Time{}, errFormat("unsupported DateTime format '" + f + "'")
	}
	t, err := time.Parse(layout, s)
	if err != nil {
		return time.Time{}, errFormat("String '" + s + "' was not recognized as a valid DateTime.")
	}
	if strings.ContainsAny(f, "zK") {
		return asLocal(t), nil
	}
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), unspecified), nil
}

func dotnetToGoLayout(f string) (string, bool) {
	repl := []struct{ from, to string }{
		{"yyyy", "2006"}, {"yy", "06"}, {"MMMM", "January"}, {"MMM", "Jan"}, {"MM", "01"}, {"M", "1"},
		{"dddd", "Monday"}, {"ddd", "Mon"}, {"dd", "02"}, {"d", "2"}, {"HH", "15"}, {"hh", "03"}, {"h", "3"},
		{"mm", "04"}, {"m", "4"}, {"ss", "05"}, {"s", "5"}, {"fffffff", "0000000"}, {"ffffff", "000000"},
		{"fffff", "00000"}, {"ffff", "0000"}, {"fff", "000"}, {"ff", "00"}, {"f", "0"}, {"tt", "PM"},
		{"zzz", "-07:00"}, {"K", "Z07:00"},
	}
	var sb strings.Builder
	for i := 0; i < len(f); {
		if f[i] == '\'' || f[i] == '"' {
			end := strings.IndexByte(f[i+1:], f[i])
			if end < 0 {
				return "", false
			}
			sb.WriteString(f[i+1 : i+1+end])
			i += end + 2
			continue
		}
		matched := false
		for _, r := range repl {
			if strings.HasPrefix(f[i:], r.from) {
				sb.WriteString(r.to)
				i += len(r.from)
				matched = true
				break
			}
		}
		if !matched {
			if f[i] == 'H' {
				return "", false
			}
			sb.WriteByte(f[i])
			i++
		}
	}
	return sb.String(), true
}

// ---- numbers ----

// formatNumber implements ToString(format) for integers and doubles.
func formatNumber(v any, f string) (string, error) {
	var isInt bool
	var iv int64
	var fv float64
	switch x := v.(type) {
	case int:
		isInt, iv, fv = true, int64(x), float64(x)
	case int64:
		isInt, iv, fv = true, x, float64(x)
	case byte:
		isInt, iv, fv = true, int64(x), float64(x)
	case float64:
		fv = x
	case Decimal:
		if f == "" || f == "G" || f == "g" {
			return x.String(), nil
		}
		if s, ok := formatDecimalFixed(x, f); ok {
			return s, nil
		}
		fv = x.Float()
	default:
		return ToString(v), nil
	}
	if f == "" {
		if isInt {
			return strconv.FormatInt(iv, 10), nil
		}
		return formatDouble(fv), nil
	}
	if !isInt && (math.IsInf(fv, 0) || math.IsNaN(fv)) {
		return formatDouble(fv), nil
	}
	spec := f[0]
	prec := -1
	if len(f) > 1 {
		p, err := strconv.Atoi(f[1:])
		if err != nil || p < 0 || p > 99 {
			return formatCustomNumber(fv, f)
		}
		prec = p
	}
	switch spec {
	case 'D', 'd':
		if !isInt {
			return "", errFormat("Format specifier was invalid.")
		}
		neg := iv < 0
		s := strconv.FormatUint(absU(iv), 10)
		for len(s) < prec {
			s = "0" + s
		}
		if neg {
			s = "-" + s
		}
		return s, nil
	case 'X', 'x':
		if !isInt {
			return "", errFormat("Format specifier was invalid.")
		}
		var s string
		if iv < 0 {
			if _, is32 := v.(int); is32 {
				s = strconv.FormatUint(uint64(uint32(iv)), 16)
			} else {
				s = strconv.FormatUint(uint64(iv), 16)
			}
		} else {
			s = strconv.FormatUint(uint64(iv), 16)
		}
		for len(s) < prec {
			s = "0" + s
		}
		if spec == 'X' {
			s = strings.ToUpper(s)
		}
		return s, nil
	case 'F', 'f', 'N', 'n':
		if prec < 0 {
			prec = 2
		}
		s := strconv.FormatFloat(roundAway(fv, prec), 'f', prec, 64)
		if spec == 'N' || spec == 'n' {
			s = groupThousands(s)
		}
		return s, nil
	case 'E', 'e':
		if prec < 0 {
			prec = 6
		}
		s := strconv.FormatFloat(fv, byte(spec), prec, 64)
		if i := strings.IndexAny(s, "eE"); i >= 0 {
			exp := s[i+2:]
			for len(exp) < 3 {
				exp = "0" + exp
			}
			s = s[:i+2] + exp
		}
		return s, nil
	case 'P', 'p':
		if prec < 0 {
			prec = 2
		}
		return groupThousands(strconv.FormatFloat(roundAway(fv*100, prec), 'f', prec, 64)) + " %", nil
	case 'G', 'g', 'R', 'r':
		if isInt {
			return strconv.FormatInt(iv, 10), nil
		}
		if prec > 0 {
			return strconv.FormatFloat(fv, 'G', prec, 64), nil
		}
		return formatDouble(fv), nil
	case 'C', 'c':
		if prec < 0 {
			prec = 2
		}
		return "¤" + groupThousands(strconv.FormatFloat(roundAway(fv, prec), 'f', prec, 64)), nil
	}
	return formatCustomNumber(fv, f)
}

func absU(v int64) uint64 {
	if v < 0 {
		return uint64(-v)
	}
	return uint64(v)
}

// roundAway rounds half away from zero at prec decimals (.NET Core formatting).
func roundAway(f float64, prec int) float64 {
	p := math.Pow(10, float64(prec))
	r := math.Round(f*p) / p
	if math.IsInf(r, 0) || math.IsNaN(r) {
		return f
	}
	return r
}

func groupThousands(s string) string {
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	intPart, frac, hasFrac := strings.Cut(s, ".")
	var sb strings.Builder
	for i, c := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			sb.WriteByte(',')
		}
		sb.WriteRune(c)
	}
	out := sb.String()
	if hasFrac {
		out += "." + frac
	}
	if neg {
		out = "-" + out
	}
	return out
}

// formatCustomNumber supports custom patterns made of 0, #, '.', ',' and literals.
func formatCustomNumber(f float64, pat string) (string, error) {
	if strings.Count(pat, "%") == 1 && !strings.ContainsAny(pat, ";‰Ee\\'\"") {
		// a percent sign multiplies by 100 and is kept in place
		s, err := formatCustomNumber(f*100, strings.Replace(pat, "%", "", 1))
		if err != nil {
			return "", err
		}
		i := strings.IndexByte(pat, '%')
		if i >= len(pat)-1 {
			return s + "%", nil
		}
		if i == 0 {
			return "%" + s, nil
		}
		return s + "%", nil
	}
	if strings.ContainsAny(pat, ";%‰Ee\\'\"") {
		return "", errFormat("unsupported numeric format '" + pat + "'")
	}
	intPat, fracPat, _ := strings.Cut(pat, ".")
	group := strings.Contains(intPat, ",")
	minFrac := strings.Count(fracPat, "0")
	maxFrac := minFrac + strings.Count(fracPat, "#")
	minInt := strings.Count(intPat, "0")
	s := strconv.FormatFloat(roundAway(math.Abs(f), maxFrac), 'f', maxFrac, 64)
	ip, fp, _ := strings.Cut(s, ".")
	fp = strings.TrimRight(fp, "0")
	for len(fp) < minFrac {
		fp += "0"
	}
	ip = strings.TrimLeft(ip, "0")
	for len(ip) < minInt {
		ip = "0" + ip
	}
	if group && ip != "" {
		ip = groupThousands(ip)
	}
	out := ip
	if fp != "" {
		out += "." + fp
	}
	if out == "" && minInt > 0 {
		out = "0"
	}
	// keep literal prefix/suffix characters of the pattern
	prefix := strings.TrimLeft(intPat, "")
	if i := strings.IndexAny(prefix, "0#,"); i > 0 {
		out = prefix[:i] + out
	}
	if f < 0 && strings.Trim(out, "0.,") != "" {
		out = "-" + out
	}
	return out, nil
}

// stringFormat implements string.Format's composite formatting.
func stringFormat(f string, args []any) (string, error) {
	var sb strings.Builder
	for i := 0; i < len(f); i++ {
		c := f[i]
		switch c {
		case '{':
			if i+1 < len(f) && f[i+1] == '{' {
				sb.WriteByte('{')
				i++
				continue
			}
			end := strings.IndexByte(f[i:], '}')
			if end < 0 {
				return "", errFormat("Input string was not in a correct format.")
			}
			item := f[i+1 : i+end]
			i += end
			spec := ""
			if k := strings.IndexByte(item, ':'); k >= 0 {
				spec = item[k+1:]
				item = item[:k]
			}
			align := 0
			if k := strings.IndexByte(item, ','); k >= 0 {
				a, err := strconv.Atoi(strings.TrimSpace(item[k+1:]))
				if err != nil {
					return "", errFormat("Input string was not in a correct format.")
				}
				if a > maxAlign || a < -maxAlign {
					return "", errFormat("Input string was not in a correct format.")
				}
				align = a
				item = item[:k]
			}
			n, err := strconv.Atoi(strings.TrimSpace(item))
			if err != nil || n < 0 {
				return "", errFormat("Input string was not in a correct format.")
			}
			if n >= len(args) {
				return "", errFormat("Index (zero based) must be greater than or equal to zero and less than the size of the argument list.")
			}
			s, ferr := formatValue(args[n], spec)
			if ferr != nil {
				return "", ferr
			}
			s = alignString(s, align)
			if err := checkStrLen(sb.Len() + len(s)); err != nil {
				return "", err
			}
			sb.WriteString(s)
		case '}':
			if i+1 < len(f) && f[i+1] == '}' {
				sb.WriteByte('}')
				i++
				continue
			}
			return "", errFormat("Input string was not in a correct format.")
		default:
			sb.WriteByte(c)
		}
	}
	return sb.String(), nil
}

// maxAlign is .NET's limit on a composite-format alignment.
const maxAlign = 1_000_000

func alignString(s string, align int) string {
	n := len([]rune(s))
	switch {
	case align > n:
		return strings.Repeat(" ", align-n) + s
	case -align > n:
		return s + strings.Repeat(" ", -align-n)
	}
	return s
}

// formatValue applies a format specifier to any value (ToString(format)).
func formatValue(v any, spec string) (string, error) {
	if spec == "" {
		return ToString(v), nil
	}
	switch x := v.(type) {
	case int, int64, float64, byte, Decimal:
		return formatNumber(x, spec)
	case time.Time:
		return formatDateTime(x, spec)
	case DateTimeOffset:
		return formatDateTime(x.T, spec)
	case time.Duration:
		return formatTimeSpanSpec(x, spec)
	case Guid:
		return formatGuid(x, spec)
	case *JValue:
		return formatValue(x.V, spec)
	}
	return ToString(v), nil
}

func formatTimeSpanSpec(d time.Duration, spec string) (string, error) {
	if spec == "c" || spec == "g" || spec == "G" {
		return formatTimeSpan(d), nil
	}
	// custom: hh, mm, ss, fff, d with escaped separators
	var sb strings.Builder
	if d < 0 {
		d = -d
	}
	for i := 0; i < len(spec); {
		c := spec[i]
		n := 1
		for i+n < len(spec) && spec[i+n] == c {
			n++
		}
		switch c {
		case 'd':
			s := strconv.Itoa(int(d.Hours()) / 24)
			for len(s) < n {
				s = "0" + s
			}
			sb.WriteString(s)
		case 'h':
			sb.WriteString(padN(int(d.Hours())%24, n))
		case 'm':
			sb.WriteString(padN(int(d.Minutes())%60, n))
		case 's':
			sb.WriteString(padN(int(d.Seconds())%60, n))
		case 'f', 'F':
			frac := strconv.Itoa(int(d%time.Second)/100 + 10000000)[1:]
			if n > 7 {
				n = 7
			}
			sb.WriteString(frac[:n])
		case '\\':
			if i+1 < len(spec) {
				sb.WriteByte(spec[i+1])
			}
			i += 2
			continue
		case '\'':
			end := strings.IndexByte(spec[i+1:], '\'')
			if end < 0 {
				return "", errFormat("Input string was not in a correct format.")
			}
			sb.WriteString(spec[i+1 : i+1+end])
			i += end + 2
			continue
		default:
			return "", errFormat("Input string was not in a correct format.")
		}
		i += n
	}
	return sb.String(), nil
}

func padN(v, n int) string {
	s := strconv.Itoa(v)
	for len(s) < n {
		s = "0" + s
	}
	return s
}

func formatGuid(g Guid, spec string) (string, error) {
	d := g.String()
	switch spec {
	case "D", "d", "":
		return d, nil
	case "N", "n":
		return strings.ReplaceAll(d, "-", ""), nil
	case "B", "b":
		return "{" + d + "}", nil
	case "P", "p":
		return "(" + d + ")", nil
	}
	return "", errFormat("Format string can be only \"D\", \"d\", \"N\", \"n\", \"P\", \"p\", \"B\", \"b\", \"X\" or \"x\".")
}

// formatDecimalFixed formats a decimal with F, N or C exactly (rounded half
// away from zero, as .NET formats decimals).
func formatDecimalFixed(d Decimal, f string) (string, bool) {
	spec := f[0]
	prec := 2
	if len(f) > 1 {
		p, err := strconv.Atoi(f[1:])
		if err != nil || p < 0 || p > 28 {
			return "", false
		}
		prec = p
	}
	switch spec {
	case 'F', 'f', 'N', 'n', 'C', 'c':
	default:
		return "", false
	}
	r := d.Round(int32(prec), "AwayFromZero")
	if r.s < int32(prec) {
		r = Decimal{c: new(big.Int).Mul(r.coef(), pow10(int32(prec)-r.s)), s: int32(prec)}
	}
	s := r.String()
	if spec != 'F' && spec != 'f' {
		s = groupThousands(s)
	}
	if spec == 'C' || spec == 'c' {
		if strings.HasPrefix(s, "-") {
			return "-¤" + s[1:], true
		}
		return "¤" + s, true
	}
	return s, true
}
