package expr

import "testing"

func TestUnknownMethodSuggestion(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{`@("a".ToUpperr())`, "1:7: unknown method 'ToUpperr' (did you mean 'ToUpper'?)"},
		{`@(new[] { 1 }.Wher(x => x > 0))`, "1:15: unknown method 'Wher' (did you mean 'Where'?)"},
		{`@(string.IsNullOrEmty("a"))`, "1:10: unknown static method 'string.IsNullOrEmty' (did you mean 'IsNullOrEmpty'?)"},
		{`@(Math.Rund(1.5))`, "1:8: unknown static method 'Math.Rund' (did you mean 'Round'?)"},
		{`@("a".Frobnicate())`, "1:7: unknown method 'Frobnicate'"},
	} {
		_, err := Compile(tc.src)
		if err == nil || err.Error() != tc.want {
			t.Errorf("Compile(%s) = %v, want %s", tc.src, err, tc.want)
		}
	}
}
