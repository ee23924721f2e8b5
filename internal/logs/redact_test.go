package logs

import "testing"

func TestRedactorURL(t *testing.T) {
	r := NewRedactor("apikey", "Code")
	for in, want := range map[string]string{
		"http://h/p":                                   "http://h/p",
		"http://h/p?a=1":                               "http://h/p?a=1",
		"http://h/p?subscription-key=k":                "http://h/p",
		"http://h/p?a=1&Subscription-Key=k&b=2":        "http://h/p?a=1&b=2",
		"http://h/p?SUBSCRIPTION-KEY=k":                "http://h/p",
		"http://h/p?subscription%2Dkey=k&a":            "http://h/p?a",
		"http://h/p?apiKey=k&code=c&x=1#f":             "http://h/p?x=1#f",
		"https://user:pw@h:8443/p?code=c":              "https://h:8443/p",
		"https://user:pw@h:8443/p":                     "https://h:8443/p",
		"/p?subscription-key=k":                        "/p",
		"http://h/p?subscription-keys=1":               "http://h/p?subscription-keys=1",
		"http://h/p?subscription-key":                  "http://h/p",
		"http://h/user@x?subscription-key=k&apikey=k2": "http://h/user@x",
	} {
		if got := r.URL(in); got != want {
			t.Errorf("URL(%q) = %q, want %q", in, got, want)
		}
	}
	var zero *Redactor
	if got := zero.URL("http://h/?Subscription-Key=k&a=1"); got != "http://h/?a=1" {
		t.Errorf("nil Redactor: %q", got)
	}
}
