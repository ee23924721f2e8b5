package policy

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
)

// FuzzLiquidFilters renders every filter of the set-body reference over
// arbitrary input and arguments (strings, and the numbers and dates they
// parse as): no filter may panic, whatever it gets.
func FuzzLiquidFilters(f *testing.F) {
	for _, s := range []string{"", " ", "-3.5", "1,234.5", "2012-03-21T05:40Z", "a b&c", "%zz%C3", "<p>x</p>\n", "😀é", "79228162514264337593543950335", "1e400", "/Date(1)/"} {
		f.Add(s, "2", "x")
	}
	names := strings.Fields(`Abs Append AtLeast AtMost Capitalize Compact Currency Date Default DividedBy
	  Downcase Escape First H Join Last Lstrip Map Minus Modulo NewlineToBr Plus Prepend Remove RemoveFirst Replace
	  ReplaceFirst Round Rstrip Size Slice Sort Split Strip StripHtml StripNewlines Times Truncate TruncateWords Uniq
	  Upcase UrlDecode UrlEncode`)
	var renders []func(map[string]any)
	for _, n := range names {
		for _, src := range []string{`{{ x | ` + n + ` }}`, `{{ x | ` + n + `: a }}`, `{{ x | ` + n + `: a, b }}`, `{{ list | ` + n + `: a }}`} {
			tmpl, err := engine().ParseString(src)
			if err != nil {
				f.Fatal(err)
			}
			renders = append(renders, func(b map[string]any) { tmpl.RenderString(b) })
		}
	}
	engine()
	if len(liquidFilters) != len(names) {
		f.Fatalf("%d filters registered, want %d", len(liquidFilters), len(names))
	}
	f.Fuzz(func(t *testing.T, x, a, b string) {
		for _, xv := range []any{x, liquidJSON(jsonNumberOrString(x), true)} {
			for _, av := range []any{a, liquidJSON(jsonNumberOrString(a), true)} {
				bind := map[string]any{"x": xv, "a": av, "b": b, "list": []any{xv, nil, a, []any{b}}}
				if _, ok := xv.(string); ok {
					for _, render := range renders {
						render(bind) // errors are fine
					}
				}
				// The filters themselves, outside the engine's recovery:
				// a panic fails the fuzz test.
				for _, in := range []any{xv, bind["list"], nil, map[string]any{"k": xv}} {
					for _, args := range [][]any{nil, {av}, {av, b}, {nil}} {
						for _, fn := range liquidFilters {
							fn(in, args)
						}
					}
				}
			}
		}
	})
}

// jsonNumberOrString is s as a JSON number when it reads as one.
func jsonNumberOrString(s string) any {
	if _, err := strconv.ParseFloat(s, 64); err == nil && s != "" && !strings.ContainsAny(s, " _xXpPnNiI") {
		return json.Number(s)
	}
	return s
}
