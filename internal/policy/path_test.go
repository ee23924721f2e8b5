package policy

import "testing"

func TestResolveDotSegments(t *testing.T) {
	for _, c := range []struct {
		in, want, clamped string
		ok                bool
	}{
		{"/a/b", "/a/b", "/a/b", true},
		{"/", "/", "/", true},
		{"", "", "", true},
		{"/a/./b", "/a/b", "/a/b", true},
		{"/a/b/..", "/a/", "/a/", true},
		{"/a/b/../c", "/a/c", "/a/c", true},
		{"/a/.", "/a/", "/a/", true},
		{"/a/..", "/", "/", true},
		{"/..", "", "/", false},
		{"/a/../../b", "", "/b", false},
		{"../b", "", "b", false},
		{"/a//../b", "/a/b", "/a/b", true}, // an empty segment is a segment
		{"/a/..\\b", "", "", false},
		{"/a/b\\..\\c", "", "", false},
		{"/a/b\\c", "/a/b\\c", "/a/b\\c", true},
		{"/a/...", "/a/...", "/a/...", true},
		{"/a/.b/..c", "/a/.b/..c", "/a/.b/..c", true},
	} {
		got, ok := ResolveDotSegments(c.in, false)
		if ok != c.ok || ok && got != c.want {
			t.Errorf("ResolveDotSegments(%q) = %q, %v; want %q, %v", c.in, got, ok, c.want, c.ok)
		}
		got, ok = ResolveDotSegments(c.in, true)
		wantOK := c.clamped != "" || c.in == ""
		if ok != wantOK || ok && got != c.clamped {
			t.Errorf("ResolveDotSegments(%q, clamp) = %q, %v; want %q", c.in, got, ok, c.clamped)
		}
	}
}
