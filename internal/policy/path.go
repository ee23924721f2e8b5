package policy

import "strings"

// ResolveDotSegments removes "." and ".." segments from the decoded path p
// (RFC 3986 §5.2.4). A ".." above the root makes ok false, or with clamp
// stays at the root as the RFC's algorithm does. A segment whose
// backslash-separated parts include "." or ".." makes ok false either way.
func ResolveDotSegments(p string, clamp bool) (string, bool) {
	if !strings.Contains(p, "/.") && !strings.Contains(p, "\\") && p != "." && p != ".." && !strings.HasPrefix(p, "./") && !strings.HasPrefix(p, "../") {
		return p, true // the common path: nothing to resolve
	}
	lead := strings.HasPrefix(p, "/")
	segs := strings.Split(strings.TrimPrefix(p, "/"), "/")
	out := make([]string, 0, len(segs))
	trailing := false
	for i, s := range segs {
		last := i == len(segs)-1
		if strings.IndexByte(s, '\\') >= 0 {
			for part := range strings.SplitSeq(s, "\\") {
				if part == "." || part == ".." {
					return "", false
				}
			}
		}
		switch s {
		case ".":
			trailing = last
			continue
		case "..":
			if len(out) == 0 {
				if !clamp {
					return "", false
				}
			} else {
				out = out[:len(out)-1]
			}
			trailing = last
			continue
		}
		out = append(out, s)
		trailing = false
	}
	r := strings.Join(out, "/")
	if trailing && r != "" {
		r += "/"
	}
	if lead {
		r = "/" + r
	}
	return r, true
}
