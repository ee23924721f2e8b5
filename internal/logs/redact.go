package logs

import (
	"net/url"
	"strings"
)

// Subscription keys and other secrets never reach a log: a URL is logged
// without the query parameters that carry them (the subscription key under
// any casing and every name an API gives it, the query credentials of
// backends) and without user information ("user:password@").

// DefaultKeyQuery is APIM's subscription key query parameter.
const DefaultKeyQuery = "subscription-key"

// Redactor strips secret query parameters from URLs before they are
// logged. Its zero value strips the default subscription key parameter.
type Redactor struct {
	names []string // lower case, DefaultKeyQuery first
}

// NewRedactor strips DefaultKeyQuery and names, compared case-insensitively.
func NewRedactor(names ...string) *Redactor {
	r := &Redactor{names: []string{DefaultKeyQuery}}
	for _, n := range names {
		r.Add(n)
	}
	return r
}

// Add adds a secret parameter name.
func (r *Redactor) Add(name string) {
	name = strings.ToLower(name)
	if name == "" {
		return
	}
	for _, n := range r.names {
		if n == name {
			return
		}
	}
	r.names = append(r.names, name)
}

// Secret reports whether a query parameter name carries a secret.
func (r *Redactor) Secret(name string) bool {
	if r == nil || len(r.names) == 0 {
		return strings.EqualFold(name, DefaultKeyQuery)
	}
	for _, n := range r.names {
		if strings.EqualFold(name, n) {
			return true
		}
	}
	if strings.IndexByte(name, '%') >= 0 || strings.IndexByte(name, '+') >= 0 {
		// An encoded name ("subscription%2Dkey") is the same parameter
		// to a server that decodes it.
		if d, err := url.QueryUnescape(name); err == nil && d != name {
			return r.Secret(d)
		}
	}
	return false
}

// URL returns raw, an absolute URL or a request target, without secret
// query parameters and without user information. It returns raw itself
// when there is nothing to remove.
func (r *Redactor) URL(raw string) string {
	q := strings.IndexByte(raw, '?')
	head, query, frag := raw, "", ""
	if q >= 0 {
		head, query = raw[:q], raw[q+1:]
		if f := strings.IndexByte(query, '#'); f >= 0 {
			query, frag = query[:f], query[f:]
		}
	}
	if s := strings.Index(head, "://"); s >= 0 {
		auth := head[s+3:]
		if e := strings.IndexByte(auth, '/'); e >= 0 {
			auth = auth[:e]
		}
		if at := strings.LastIndexByte(auth, '@'); at >= 0 {
			head = head[:s+3] + head[s+3+at+1:]
		}
	}
	if q < 0 {
		return head
	}
	secret := false
	for part := range strings.SplitSeq(query, "&") {
		name, _, _ := strings.Cut(part, "=")
		if r.Secret(name) {
			secret = true
			break
		}
	}
	if !secret {
		if len(head) == q {
			return raw
		}
		return head + "?" + query + frag
	}
	var b strings.Builder
	b.Grow(len(raw))
	b.WriteString(head)
	sep := byte('?')
	for part := range strings.SplitSeq(query, "&") {
		name, _, _ := strings.Cut(part, "=")
		if r.Secret(name) {
			continue
		}
		b.WriteByte(sep)
		b.WriteString(part)
		sep = '&'
	}
	b.WriteString(frag)
	return b.String()
}
