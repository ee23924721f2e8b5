package store

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"net/http"
	"slices"
	"strings"
)

// CacheKeyOptions are the parts of a cache-lookup policy (and the request's
// context) that decide which stored response a request may be served.
type CacheKeyOptions struct {
	// API, Operation and Product are the ids of the matched API, operation
	// and product (context.Api.Id, context.Operation.Id, context.Product.Id);
	// APIM keys its response cache by all three.
	API, Operation, Product string
	// Developer is the caller's user id, set when vary-by-developer="true".
	Developer string
	// Groups are the caller's group ids, set when
	// vary-by-developer-groups="true" (order does not matter).
	Groups []string
	// VaryByHeaders are the vary-by-header names.
	VaryByHeaders []string
	// VaryByQuery are the vary-by-query-parameter names.
	VaryByQuery []string
}

// ResponseCacheKey is the Store key under which cache-store stores, and
// cache-lookup looks up, the response to r. It is made of the API,
// operation, product, the request path (so /orders/1 and /orders/2 never
// share an entry), the values of the vary-by headers and query parameters
// (other query parameters do not vary the key, as in APIM) and, when asked
// for, the developer and their groups. Values are hashed, so header values
// such as Authorization never appear in the store's keys.
func ResponseCacheKey(r *http.Request, o CacheKeyOptions) string {
	h := sha256.New()
	var buf []byte
	part := func(tag byte, s string) {
		buf = append(buf[:0], tag)
		buf = binary.AppendUvarint(buf, uint64(len(s)))
		h.Write(buf)
		h.Write([]byte(s))
	}
	part('a', o.API)
	part('o', o.Operation)
	part('p', o.Product)
	part('u', r.URL.EscapedPath())
	part('d', o.Developer)
	groups := slices.Clone(o.Groups)
	slices.Sort(groups)
	for _, g := range groups {
		part('g', g)
	}
	for _, name := range sortedFold(o.VaryByHeaders) {
		part('h', strings.ToLower(name))
		for _, v := range r.Header.Values(name) {
			part('v', v)
		}
	}
	q := r.URL.Query()
	for _, name := range sortedUnique(o.VaryByQuery) {
		part('q', name)
		for _, v := range q[name] {
			part('v', v)
		}
	}
	sum := h.Sum(nil)
	return "r:" + o.API + ":" + o.Operation + ":" + hex.EncodeToString(sum[:16])
}

// ValueCacheKey is the Store key of a cache-store-value /
// cache-lookup-value / cache-remove-value key. It lives in a namespace of
// its own, so a value key can never collide with a stored response.
func ValueCacheKey(key string) string {
	return "v:" + key
}

func sortedFold(names []string) []string {
	out := make([]string, 0, len(names))
	for _, n := range names {
		out = append(out, http.CanonicalHeaderKey(n))
	}
	return sortedUnique(out)
}

func sortedUnique(names []string) []string {
	out := slices.Clone(names)
	slices.Sort(out)
	return slices.Compact(out)
}

// CacheRules are the cache-lookup and cache-store attributes that decide
// whether a request may be served from the cache and whether a response
// may be stored.
type CacheRules struct {
	// AllowPrivateResponseCaching is cache-lookup's
	// allow-private-response-caching: requests carrying an Authorization
	// header are cached only when it is true (then vary-by-header
	// Authorization is almost always wanted).
	AllowPrivateResponseCaching bool
	// CacheResponse is cache-store's cache-response: when true any status
	// is stored, otherwise only 200 OK.
	CacheResponse bool
}

// RequestCacheable reports whether cache-lookup may look r up (and
// cache-store may store its response): APIM caches only GET requests, and
// a request with an Authorization header only when private response
// caching is allowed. A request that says Cache-Control: no-store is not
// cached either.
func RequestCacheable(r *http.Request, rules CacheRules) bool {
	if r.Method != http.MethodGet {
		return false
	}
	if r.Header.Get("Authorization") != "" && !rules.AllowPrivateResponseCaching {
		return false
	}
	return !hasDirective(r.Header, "no-store")
}

// ResponseStorable reports whether cache-store may store the response
// (status, header) to r. On top of RequestCacheable: the status must be 200
// unless cache-response is true; a response with Cache-Control no-store or
// Vary: * is never stored; one with Cache-Control private or a Set-Cookie
// header only when private response caching is allowed (a shared cache
// must not hand one caller's private response to another).
func ResponseStorable(r *http.Request, status int, header http.Header, rules CacheRules) bool {
	if !RequestCacheable(r, rules) {
		return false
	}
	if status != http.StatusOK && !rules.CacheResponse {
		return false
	}
	if hasDirective(header, "no-store") {
		return false
	}
	for _, v := range header.Values("Vary") {
		for _, f := range strings.Split(v, ",") {
			if strings.TrimSpace(f) == "*" {
				return false
			}
		}
	}
	if !rules.AllowPrivateResponseCaching &&
		(hasDirective(header, "private") || len(header.Values("Set-Cookie")) > 0) {
		return false
	}
	return true
}

// hasDirective reports whether a Cache-Control header in h has directive
// name (case-insensitive, with or without an argument).
func hasDirective(h http.Header, name string) bool {
	for _, v := range h.Values("Cache-Control") {
		for _, d := range strings.Split(v, ",") {
			d = strings.TrimSpace(d)
			if i := strings.IndexByte(d, '='); i >= 0 {
				d = strings.TrimSpace(d[:i])
			}
			if strings.EqualFold(d, name) {
				return true
			}
		}
	}
	return false
}
