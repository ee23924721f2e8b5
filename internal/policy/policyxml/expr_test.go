package policyxml

import "testing"

func TestScanExpr(t *testing.T) {
	tests := []struct {
		name, src string
		end       int    // offset past the expression, when ok
		err       string // error message, when not
		errOff    int
	}{
		{name: "simple", src: `@(a) rest`, end: 4},
		{name: "block", src: `@{ return 1; }"`, end: 14},
		{name: "nested brackets", src: `@(a[(b)]{c})x`, end: 12},
		{name: "string with closers", src: `@(")]}")x`, end: 8},
		{name: "escaped quote", src: `@("a\")")x`, end: 9},
		{name: "escaped backslash", src: `@("\\")x`, end: 7},
		{name: "verbatim doubled quote", src: `@(@"a"")"+"b")x`, end: 14},
		{name: "interpolated nested", src: `@($"{$"{x}"}")x`, end: 14},
		{name: "interpolated escapes", src: `@($"{{(}}")x`, end: 11},
		{name: "format specifier", src: `@($"{d:yyyy-MM-dd HH:mm}")x`, end: 26},
		{name: "alias qualifier is not a format", src: `@($"{global::X.Y}")x`, end: 19},
		{name: "char literals", src: `@('(' + '\'' + '\u0029')x`, end: 24},
		{name: "line comment", src: "@( // )\n)x", end: 9},
		{name: "block comment", src: `@( /* ) */ )x`, end: 12},
		{name: "generics ignored", src: `@(a.As<JObject>() < b >> c)x`, end: 27},
		{name: "at identifier", src: `@(@class)x`, end: 9},
		{name: "unterminated", src: `@(a(b)`, err: "unterminated expression", errOff: 6},
		{name: "mismatch", src: `@(a]`, err: "unexpected ']', expected ')'", errOff: 3},
		{name: "newline in string", src: "@(\"a\n\")", err: "unterminated string literal", errOff: 2},
		{name: "newline in interpolated string", src: "@($\"{a}\n\")", err: "unterminated string literal", errOff: 2},
		{name: "verbatim may span lines", src: "@(@\"a\n)\")x", end: 9},
		{name: "unterminated block comment", src: `@( /* )`, err: "unterminated comment", errOff: 3},
		{name: "empty char", src: `@('')`, err: "empty character literal", errOff: 2},
		{name: "paren closing a hole", src: `@($"{a)}")`, err: "unexpected ')' in interpolation hole", errOff: 6},
		{name: "unterminated hole", src: `@($"{a`, err: "unterminated interpolated string", errOff: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			end, err := scanExpr([]byte(tt.src), 1)
			if tt.err != "" {
				if err == nil || err.msg != tt.err || err.off != tt.errOff {
					t.Fatalf("scanExpr(%q) = %d, %+v; want error %q at %d", tt.src, end, err, tt.err, tt.errOff)
				}
				return
			}
			if err != nil || end != tt.end {
				t.Fatalf("scanExpr(%q) = %d, %+v; want %d", tt.src, end, err, tt.end)
			}
		})
	}
}
