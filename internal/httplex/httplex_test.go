package httplex

import "testing"

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
