package diagnose

import (
	"bytes"
	"time"
)

// parseTime parses the timestamp formats found in gateway logs and Azure
// exports into Unix milliseconds: RFC 3339 with or without fraction and
// zone ("2024-05-01T10:00:00.000Z", a space instead of "T", no zone = UTC),
// and the US format of the portal's CSV export ("5/1/2024, 10:00:00.000 AM").
// offset (minutes) is applied to times that carry no zone of their own.
func parseTime(b []byte, offsetMin int) (int64, bool) {
	b = bytes.TrimSpace(b)
	if len(b) >= 19 && b[4] == '-' {
		return parseISO(b, offsetMin)
	}
	if bytes.IndexByte(b, '/') > 0 {
		return parseUS(b, offsetMin)
	}
	return 0, false
}

func digits(b []byte) (int, bool) {
	if len(b) == 0 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func parseISO(b []byte, offsetMin int) (int64, bool) {
	// YYYY-MM-DDTHH:MM:SS
	if b[7] != '-' || (b[10] != 'T' && b[10] != 't' && b[10] != ' ') || b[13] != ':' || b[16] != ':' {
		return 0, false
	}
	y, ok1 := digits(b[0:4])
	mo, ok2 := digits(b[5:7])
	d, ok3 := digits(b[8:10])
	h, ok4 := digits(b[11:13])
	mi, ok5 := digits(b[14:16])
	s, ok6 := digits(b[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) {
		return 0, false
	}
	rest := b[19:]
	ms := 0
	if len(rest) > 0 && (rest[0] == '.' || rest[0] == ',') {
		i := 1
		scale := 100
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			ms += int(rest[i]-'0') * scale
			scale /= 10
			i++
		}
		if i == 1 {
			return 0, false
		}
		rest = rest[i:]
	}
	off := offsetMin
	switch {
	case len(rest) == 0:
	case len(rest) == 1 && (rest[0] == 'Z' || rest[0] == 'z'):
		off = 0
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		oh, ok1 := digits(rest[1:3])
		om, ok2 := digits(rest[4:6])
		if !ok1 || !ok2 {
			return 0, false
		}
		off = oh*60 + om
		if rest[0] == '-' {
			off = -off
		}
	default:
		return 0, false
	}
	return civilMillis(y, mo, d, h, mi, s, ms, off)
}

// parseUS parses "M/D/YYYY, h:mm:ss[.fff] AM|PM" (the comma, fraction and
// AM/PM are optional; without AM/PM the hour is 0-23).
func parseUS(b []byte, offsetMin int) (int64, bool) {
	i := 0
	num := func(max int) (int, bool) {
		j := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' && i-j < max {
			i++
		}
		return digits(b[j:i])
	}
	expect := func(c byte) bool {
		if i < len(b) && b[i] == c {
			i++
			return true
		}
		return false
	}
	mo, ok := num(2)
	if !ok || !expect('/') {
		return 0, false
	}
	d, ok := num(2)
	if !ok || !expect('/') {
		return 0, false
	}
	y, ok := num(4)
	if !ok {
		return 0, false
	}
	expect(',')
	if !expect(' ') {
		return 0, false
	}
	for expect(' ') {
	}
	h, ok := num(2)
	if !ok || !expect(':') {
		return 0, false
	}
	mi, ok := num(2)
	if !ok || !expect(':') {
		return 0, false
	}
	s, ok := num(2)
	if !ok {
		return 0, false
	}
	ms := 0
	if expect('.') {
		scale := 100
		j := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			ms += int(b[i]-'0') * scale
			scale /= 10
			i++
		}
		if i == j {
			return 0, false
		}
	}
	for expect(' ') {
	}
	if i < len(b) {
		ampm := b[i:]
		switch {
		case bytes.EqualFold(ampm, []byte("AM")):
			if h == 12 {
				h = 0
			}
		case bytes.EqualFold(ampm, []byte("PM")):
			if h != 12 {
				h += 12
			}
		default:
			return 0, false
		}
		if h > 23 {
			return 0, false
		}
	}
	return civilMillis(y, mo, d, h, mi, s, ms, offsetMin)
}

// civilMillis converts a civil UTC-offset time to Unix milliseconds, checking
// ranges (leap seconds are folded into :59).
func civilMillis(y, mo, d, h, mi, s, ms, offMin int) (int64, bool) {
	if mo < 1 || mo > 12 || d < 1 || d > 31 || h > 24 || mi > 59 || s > 60 || y < 1 {
		return 0, false
	}
	if s == 60 {
		s = 59
	}
	days := daysFromCivil(y, mo, d)
	sec := days*86400 + int64(h*3600+mi*60+s) - int64(offMin)*60
	return sec*1000 + int64(ms), true
}

// daysFromCivil returns days since 1970-01-01 (Howard Hinnant's algorithm).
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

// msTime converts Unix milliseconds to a UTC time.Time.
func msTime(ms int64) time.Time { return time.UnixMilli(ms).UTC() }
