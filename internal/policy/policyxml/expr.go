package policyxml

import "bytes"

// exprError describes why an expression could not be delimited. Offsets are
// byte offsets into the scanned source; the parser turns them into positions.
type exprError struct {
	off     int    // where the problem is
	msg     string // what it is, without positions
	openOff int    // offset of the related opening bracket, or -1
}

// frame is one open construct on the expression scanner's stack.
type frame struct {
	kind     byte // '(', '[', '{', or 'h' for an interpolation hole
	off      int  // offset of the opening character
	verbatim bool // for 'h': the enclosing interpolated string is verbatim
	strOff   int  // for 'h': offset of the enclosing string's first quote
}

// isExprStart reports whether src[i:] starts a policy expression "@(" or "@{".
func isExprStart(src []byte, i int) bool {
	return i+1 < len(src) && src[i] == '@' && (src[i+1] == '(' || src[i+1] == '{')
}

// scanExpr delimits the policy expression whose opening bracket, '(' or '{',
// is at src[open] (just after the '@'). It returns the offset just past the
// matching closing bracket.
//
// Brackets (), [] and {} must balance and match. The contents of C# strings
// ("..." with backslash escapes, @"..." with "" escapes, $"..." and $@"..."
// interpolated strings whose {holes} are scanned as code), character literals
// and comments are skipped, so brackets and quotes inside them do not count.
// A regular (non-verbatim) string or character literal may not span lines, as
// in C#. Angle brackets are not brackets: they are generics or operators.
func scanExpr(src []byte, open int) (int, *exprError) {
	end, stack, err := scanExprStack(src, open)
	if err != nil && err.openOff < 0 {
		// Say which bracket the scan was still inside: the usual cause is
		// a missing closing bracket before the value's end.
		for k := len(stack) - 1; k >= 0; k-- {
			if stack[k].kind != 'h' {
				err.openOff = stack[k].off
				break
			}
		}
	}
	return end, err
}

// scanExprStack does the work of scanExpr and also returns the stack of open
// constructs at the point of an error.
func scanExprStack(src []byte, open int) (int, []frame, *exprError) {
	stack := make([]frame, 1, 8)
	stack[0] = frame{kind: src[open], off: open}
	i := open + 1
	for i < len(src) {
		c := src[i]
		switch c {
		case '(', '[', '{':
			stack = append(stack, frame{kind: c, off: i})
			i++
		case ')', ']', '}':
			top := stack[len(stack)-1]
			if top.kind == 'h' {
				if c != '}' {
					return 0, stack, &exprError{off: i, msg: "unexpected '" + string(c) + "' in interpolation hole", openOff: top.off}
				}
				stack = stack[:len(stack)-1]
				next, hole, err := scanString(src, i+1, top.strOff, top.verbatim, true)
				if err != nil {
					return 0, stack, err
				}
				if hole {
					stack = append(stack, frame{kind: 'h', off: next - 1, verbatim: top.verbatim, strOff: top.strOff})
				}
				i = next
				continue
			}
			if closer(top.kind) != c {
				return 0, stack, &exprError{off: i, msg: "unexpected '" + string(c) + "', expected '" + string(closer(top.kind)) + "'", openOff: top.off}
			}
			stack = stack[:len(stack)-1]
			i++
			if len(stack) == 0 {
				return i, nil, nil
			}
		case ':':
			// A colon directly inside an interpolation hole starts the
			// format specifier, which runs to the closing brace.
			top := stack[len(stack)-1]
			if top.kind != 'h' || (i+1 < len(src) && src[i+1] == ':') {
				i++
				if i < len(src) && src[i] == ':' {
					i++
				}
				continue
			}
			j := i + 1
			for j < len(src) && src[j] != '}' && src[j] != '"' && (top.verbatim || src[j] != '\n') {
				j++
			}
			if j >= len(src) || src[j] != '}' {
				return 0, stack, &exprError{off: top.strOff, msg: "unterminated interpolated string", openOff: -1}
			}
			stack = stack[:len(stack)-1]
			next, hole, err := scanString(src, j+1, top.strOff, top.verbatim, true)
			if err != nil {
				return 0, stack, err
			}
			if hole {
				stack = append(stack, frame{kind: 'h', off: next - 1, verbatim: top.verbatim, strOff: top.strOff})
			}
			i = next
		case '"', '@', '$':
			verbatim, interp, n := stringPrefix(src, i)
			if n == 0 {
				i++
				continue
			}
			next, hole, err := scanString(src, i+n, i, verbatim, interp)
			if err != nil {
				return 0, stack, err
			}
			if hole {
				stack = append(stack, frame{kind: 'h', off: next - 1, verbatim: verbatim, strOff: i})
			}
			i = next
		case '\'':
			next, err := scanChar(src, i)
			if err != nil {
				return 0, stack, err
			}
			i = next
		case '/':
			if i+1 < len(src) && src[i+1] == '/' {
				for i < len(src) && src[i] != '\n' {
					i++
				}
				continue
			}
			if i+1 < len(src) && src[i+1] == '*' {
				end := indexFrom(src, i+2, "*/")
				if end < 0 {
					return 0, stack, &exprError{off: i, msg: "unterminated comment", openOff: -1}
				}
				i = end + 2
				continue
			}
			i++
		default:
			i++
		}
	}
	top := stack[len(stack)-1]
	if top.kind == 'h' {
		return 0, stack, &exprError{off: top.strOff, msg: "unterminated interpolated string", openOff: -1}
	}
	return 0, stack, &exprError{off: len(src), msg: "unterminated expression", openOff: top.off}
}

// closer returns the closing bracket for an opening one.
func closer(open byte) byte {
	switch open {
	case '(':
		return ')'
	case '[':
		return ']'
	default:
		return '}'
	}
}

// stringPrefix recognises the start of a C# string literal at src[i]: one of
// ", @", $", $@" or @$". It returns the string's kind and the length of the
// prefix including the opening quote, or n == 0 when no string starts here.
func stringPrefix(src []byte, i int) (verbatim, interp bool, n int) {
	at := func(k int, c byte) bool { return i+k < len(src) && src[i+k] == c }
	switch {
	case at(0, '"'):
		return false, false, 1
	case at(0, '@') && at(1, '"'):
		return true, false, 2
	case at(0, '$') && at(1, '"'):
		return false, true, 2
	case at(0, '$') && at(1, '@') && at(2, '"'), at(0, '@') && at(1, '$') && at(2, '"'):
		return true, true, 3
	}
	return false, false, 0
}

// scanString scans string literal content starting at src[i] until the
// closing quote, returning the offset past it. For an interpolated string it
// stops after an opening hole brace instead and reports hole == true; the
// caller scans the hole as code and resumes the string after its '}'.
func scanString(src []byte, i, start int, verbatim, interp bool) (next int, hole bool, err *exprError) {
	for i < len(src) {
		switch c := src[i]; c {
		case '"':
			if verbatim && i+1 < len(src) && src[i+1] == '"' {
				i += 2
				continue
			}
			return i + 1, false, nil
		case '\\':
			if verbatim {
				i++
				continue
			}
			if i+1 < len(src) && src[i+1] == '\n' {
				return 0, false, &exprError{off: start, msg: "unterminated string literal", openOff: -1}
			}
			i += 2
		case '\n':
			if !verbatim {
				return 0, false, &exprError{off: start, msg: "unterminated string literal", openOff: -1}
			}
			i++
		case '{', '}':
			if !interp {
				i++
				continue
			}
			if i+1 < len(src) && src[i+1] == c {
				i += 2
				continue
			}
			if c == '{' {
				return i + 1, true, nil
			}
			i++ // a lone '}' is a C# error, not a delimiting problem
		default:
			i++
		}
	}
	return 0, false, &exprError{off: start, msg: "unterminated string literal", openOff: -1}
}

// scanChar scans a C# character literal starting at the quote at src[i] and
// returns the offset past its closing quote. It is lenient: anything up to the
// next unescaped quote on the same line is accepted (real policies write
// 'Retry-After' for a string), leaving the C# error to the expression compiler.
func scanChar(src []byte, i int) (int, *exprError) {
	for j := i + 1; j < len(src); j++ {
		switch src[j] {
		case '\\':
			j++
			if j < len(src) && src[j] == '\n' {
				return 0, &exprError{off: i, msg: "unterminated character literal", openOff: -1}
			}
		case '\n':
			return 0, &exprError{off: i, msg: "unterminated character literal", openOff: -1}
		case '\'':
			if j == i+1 {
				return 0, &exprError{off: i, msg: "empty character literal", openOff: -1}
			}
			return j + 1, nil
		}
	}
	return 0, &exprError{off: i, msg: "unterminated character literal", openOff: -1}
}

// indexFrom returns the offset of the first sep in src at or after from, or -1.
func indexFrom(src []byte, from int, sep string) int {
	if from > len(src) {
		return -1
	}
	i := bytes.Index(src[from:], []byte(sep))
	if i < 0 {
		return -1
	}
	return from + i
}
