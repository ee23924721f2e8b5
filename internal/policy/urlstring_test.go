package policy

import (
	"net/url"
	"testing"
)

// checkURLString compares urlString with net/url's String for one URL.
func checkURLString(t *testing.T, u *url.URL) {
	t.Helper()
	want := u.String()
	if got := urlString(u, ""); got != want {
		t.Errorf("urlString(%#v) = %q, want %q", u, got, want)
	}
	if origin := plainOrigin(u); origin != "" {
		if got := urlString(u, origin); got != want {
			t.Errorf("urlString(%#v, %q) = %q, want %q", u, origin, got, want)
		}
	}
}

// TestURLString: the outbound URL's string is net/url's, for hosts and
// paths that need escaping and for those that need none.
func TestURLString(t *testing.T) {
	for _, u := range []url.URL{
		{Scheme: "http", Host: "127.0.0.1:8080", Path: "/bench"},
		{Scheme: "https", Host: "backend.example", Path: "/a/b;c=d/e:f@g$h&i+j,k", RawQuery: "x=1&y=%20"},
		{Scheme: "http", Host: "[::1]:80", Path: ""},
		{Scheme: "http", Host: "h", Path: "/a b/ü/%41/?#"},
		{Scheme: "http", Host: "h", Path: "rel/path"},
		{Scheme: "http", Host: "h", Path: "/p", RawPath: "/%70"},
		{Scheme: "http", Host: "h", Path: "/p", ForceQuery: true},
		{Scheme: "http", Host: "h", Path: "/p", Fragment: "f"},
		{Scheme: "http", Host: "h", Path: "/p", User: url.UserPassword("u", "p:w")},
		{Scheme: "http", Host: "h%zz", Path: "/p!*'()"},
		{Scheme: "http", Host: "", Path: "/p"},
		{Scheme: "", Host: "h", Path: "/p"},
		{Scheme: "http", Host: "h", Path: "/p", OmitHost: true},
		{Scheme: "http", Opaque: "o"},
	} {
		checkURLString(t, &u)
	}
}

func FuzzURLString(f *testing.F) {
	f.Add("http", "127.0.0.1:8080", "/bench", "")
	f.Add("https", "[fe80::1%25en0]:443", "/a b/%/ü", "q=1")
	f.Add("http", "h", "a:b/c", "")
	f.Fuzz(func(t *testing.T, scheme, host, path, query string) {
		checkURLString(t, &url.URL{Scheme: scheme, Host: host, Path: path, RawQuery: query})
	})
}
