package httplex

import (
	"net/http"
	"reflect"
	"testing"
)

func TestLexicalRules(t *testing.T) {
	for s, want := range map[string]bool{"GET": true, "X-Custom_1": true, "": false, "a b": false, "a:b": false, "ä": false} {
		if ValidToken(s) != want {
			t.Errorf("ValidToken(%q) = %v", s, !want)
		}
	}
	for s, want := range map[string]bool{"a\tb c": true, "a\rb": false, "a\nb": false, "a\x00": false, "\x7f": false, "ünï": true} {
		if ValidFieldValue(s) != want {
			t.Errorf("ValidFieldValue(%q) = %v", s, !want)
		}
	}
	for s, want := range map[string]int64{"0": 0, "42": 42, "+1": -1, "1 ": -1, "": -1, "1,1": -1, "9999999999999999999": -1} {
		n, ok := ParseContentLength(s)
		if !ok {
			n = -1
		}
		if n != want {
			t.Errorf("ParseContentLength(%q) = %d", s, n)
		}
	}
	if !HasToken([]string{"keep-alive, Close"}, "close") || HasToken([]string{"closed"}, "close") {
		t.Error("HasToken")
	}
	if l, r := NextLine("a\r\nb\nc"); l != "a" || r != "b\nc" {
		t.Errorf("NextLine: %q %q", l, r)
	}
	if TrimOWS(" \ta b\t ") != "a b" || !IsEmptyLine([]byte("\r\n")) || IsEmptyLine([]byte("x\n")) {
		t.Error("TrimOWS/IsEmptyLine")
	}
}

func TestAddValue(t *testing.T) {
	h := http.Header{}
	vals := make([]string, 2)
	vals = AddValue(h, "A", "1", vals)
	vals = AddValue(h, "A", "2", vals)
	vals = AddValue(h, "B", "3", vals)
	vals = AddValue(h, "C", "4", vals) // beyond the prepared array
	if len(vals) != 0 || !reflect.DeepEqual(h, http.Header{"A": {"1", "2"}, "B": {"3"}, "C": {"4"}}) {
		t.Fatalf("%v (left %d)", h, len(vals))
	}
	h["B"] = append(h["B"], "5") // a full-capacity slice: must not overwrite C's
	if h["C"][0] != "4" {
		t.Fatal("values share storage")
	}
}
