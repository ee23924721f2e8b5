package policy

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/apimgw/apimgw/internal/expr"
	"github.com/apimgw/apimgw/internal/policy/policyxml"
	"github.com/apimgw/apimgw/internal/store"
)

func init() {
	register("cache-lookup", []string{SectionInbound}, compileCacheLookup)
	register("cache-store", []string{SectionOutbound}, compileCacheStore)
	register("cache-lookup-value", nil, compileCacheLookupValue)
	register("cache-store-value", nil, compileCacheStoreValue)
	register("cache-remove-value", nil, compileCacheRemoveValue)
}

// cachingTypes are the caching-type values; apimgw has one cache (the
// configured store: embedded memory, or Redis as APIM's external cache).
var cachingTypes = []string{"internal", "external", "prefer-external"}

func (b *builder) cachingType(attrs map[string]policyxml.Attr) {
	if a, ok := attrs["caching-type"]; ok && !contains(cachingTypes, a.Value) {
		b.errorf(a.ValuePos, "caching-type must be internal, external or prefer-external, got %q", a.Value)
	}
}

// cacheLookup serves a stored response on a hit, skipping the backend; on
// a miss it leaves the request to fill the entry in cache-store, while
// concurrent misses for the same key wait for that fill (coalescing).
type cacheLookup struct {
	keyOpts    store.CacheKeyOptions
	varyDev    bool
	varyGroups bool
	rules      store.CacheRules
	downstream string // none | private | public
	revalidate bool
}

// cacheFill is what cache-lookup hands to cache-store through State.
type cacheFill struct {
	fill  *store.Fill
	req   *http.Request
	rules store.CacheRules
	look  *cacheLookup
}

func compileCacheLookup(b *builder, el *policyxml.Element, path string) Step {
	attrs := b.attrs(el, "vary-by-developer", "vary-by-developer-groups", "downstream-caching-type", "must-revalidate", "allow-private-response-caching", "caching-type")
	if !b.require(el, attrs, "vary-by-developer", "vary-by-developer-groups") {
		return nil
	}
	b.cachingType(attrs)
	c := &cacheLookup{
		varyDev:    b.constBool(attrs["vary-by-developer"], false),
		varyGroups: b.constBool(attrs["vary-by-developer-groups"], false),
		revalidate: b.constBool(attrs["must-revalidate"], true),
		downstream: "none",
	}
	c.rules.AllowPrivateResponseCaching = b.constBool(attrs["allow-private-response-caching"], false)
	if a, ok := attrs["downstream-caching-type"]; ok {
		switch a.Value {
		case "none", "private", "public":
			c.downstream = a.Value
		default:
			b.errorf(a.ValuePos, "downstream-caching-type must be none, private or public, got %q", a.Value)
		}
	}
	for _, ch := range b.children(el, "vary-by-header", "vary-by-query-parameter") {
		b.noAttrs(ch)
		name := strings.TrimSpace(ch.Text())
		if name == "" {
			b.errorf(ch.Pos, "<%s> needs a name", ch.Name)
			continue
		}
		if ch.Name == "vary-by-header" {
			c.keyOpts.VaryByHeaders = append(c.keyOpts.VaryByHeaders, name)
		} else {
			c.keyOpts.VaryByQuery = append(c.keyOpts.VaryByQuery, strings.Split(name, ";")...)
		}
	}
	return c
}

// httpRequest is the client request as the cache rules and keys see it.
func (st *State) httpRequest() *http.Request {
	u := st.X.Request.OriginalUrl
	raw := ""
	if u.Query != nil {
		raw = u.Query.Encode()
	}
	return &http.Request{Method: st.X.Request.Method, URL: &url.URL{Path: u.Path, RawQuery: raw}, Header: st.X.Request.Headers}
}

func (c *cacheLookup) Run(st *State) error {
	rc := st.Env.Services.Responses
	if rc == nil {
		return &Error{Reason: "StoreUnavailable", Message: "no response cache is configured"}
	}
	req := st.httpRequest()
	if !store.RequestCacheable(req, c.rules) {
		return nil
	}
	o := c.keyOpts
	if st.X.Api != nil {
		o.API = st.X.Api.Id
	}
	if st.X.Operation != nil {
		o.Operation = st.X.Operation.Id
	}
	if st.X.Product != nil {
		o.Product = st.X.Product.Id
	}
	if c.varyDev && st.X.User != nil {
		o.Developer = st.X.User.Id
	} else if c.varyDev && st.X.Subscription != nil {
		o.Developer = st.X.Subscription.Id
	}
	if c.varyGroups && st.X.User != nil {
		o.Groups = st.X.User.Groups
	}
	key := store.ResponseCacheKey(req, o)
	hit, fill, err := rc.Lookup(st.Ctx, key)
	if err != nil {
		return &Error{Reason: ReasonClientConnectionFailure, Message: "the client went away while waiting for a cache fill", Status: 499, Err: err}
	}
	if hit != nil {
		st.Cache = "hit"
		st.Close()
		h := hit.Header
		if h == nil {
			h = http.Header{}
		}
		c.downstreamHeaders(h, hit.TTL-hit.Age(st.Env.now()))
		st.X.Response = &expr.Response{StatusCode: hit.StatusCode, StatusReason: http.StatusText(hit.StatusCode), Headers: h, Body: expr.NewBodyBytes(hit.Body)}
		st.Responded = true
		return errResponded
	}
	st.Cache = "miss"
	if fill != nil {
		st.fill = &cacheFill{fill: fill, req: req, rules: c.rules, look: c}
		st.Defer(func(int64) { fill.Abandon() }) // no-op once stored
	}
	return nil
}

// downstreamHeaders sets Cache-Control for clients as downstream-caching-type says.
func (c *cacheLookup) downstreamHeaders(h http.Header, ttl time.Duration) {
	if c.downstream == "none" {
		return
	}
	v := c.downstream + ", max-age=" + strconv.Itoa(int(ttl.Seconds()))
	if c.revalidate {
		v += ", must-revalidate"
	}
	h.Set("Cache-Control", v)
}

// cacheStore stores the response for the key cache-lookup computed.
type cacheStore struct {
	duration      *expr.Value
	cacheResponse bool
}

func compileCacheStore(b *builder, el *policyxml.Element, path string) Step {
	attrs := b.attrs(el, "duration", "cache-response", "cache-value")
	b.children(el)
	if !b.require(el, attrs, "duration") {
		return nil
	}
	return &cacheStore{duration: b.value(attrs["duration"]), cacheResponse: b.constBool(attrs["cache-response"], false)}
}

func (c *cacheStore) Run(st *State) error {
	f := st.fill
	if f == nil || c.duration == nil || st.X.Response == nil {
		return nil
	}
	secs, err := c.duration.Int(&st.X)
	if err != nil {
		return err
	}
	resp := st.X.Response
	rules := f.rules
	rules.CacheResponse = c.cacheResponse
	if secs <= 0 || !store.ResponseStorable(f.req, resp.StatusCode, resp.Headers, rules) {
		f.fill.Abandon()
		st.fill = nil
		return nil
	}
	var body []byte
	if resp.Body != nil {
		if body, err = resp.Body.Bytes(); err != nil {
			f.fill.Abandon()
			return &Error{Reason: ReasonBackendConnectionFailure, Message: "reading the backend response failed", Err: err}
		}
	}
	h := resp.Headers.Clone()
	RemoveHopHeaders(h)
	h.Del("Content-Length")
	ttl := time.Duration(secs) * time.Second
	if err := f.fill.Store(context.WithoutCancel(st.Ctx), &store.CachedResponse{StatusCode: resp.StatusCode, Header: h, Body: body, TTL: ttl}); err != nil && st.Env.Log != nil {
		st.Env.Log.Warn("cache-store failed", "err", err)
	}
	f.look.downstreamHeaders(resp.Headers, ttl)
	st.fill = nil
	return nil
}

// Value cache: cache-lookup-value, cache-store-value, cache-remove-value.
// Values keep their type across the store (and across replicas with
// Redis): strings, numbers, booleans and JSON tokens.

type cachedValue struct {
	T string          `json:"t"`
	V json.RawMessage `json:"v"`
}

func encodeValue(v any) ([]byte, error) {
	var cv cachedValue
	var err error
	switch t := v.(type) {
	case string:
		cv.T = "s"
		cv.V, err = json.Marshal(t)
	case bool:
		cv.T = "b"
		cv.V, err = json.Marshal(t)
	case int, int32, int64:
		cv.T = "i"
		cv.V, err = json.Marshal(t)
	case float64, float32:
		cv.T = "d"
		cv.V, err = json.Marshal(t)
	case nil:
		cv.T = "n"
		cv.V = json.RawMessage("null")
	default:
		s := expr.ToString(v)
		if _, isJSON := expr.ParseJSON(s); isJSON == nil && (strings.HasPrefix(strings.TrimSpace(s), "{") || strings.HasPrefix(strings.TrimSpace(s), "[")) {
			cv.T = "j"
			cv.V, err = json.Marshal(s)
		} else {
			cv.T = "s"
			cv.V, err = json.Marshal(s)
		}
	}
	if err != nil {
		return nil, err
	}
	return json.Marshal(cv)
}

func decodeValue(data []byte) (any, error) {
	var cv cachedValue
	if err := json.Unmarshal(data, &cv); err != nil {
		return nil, err
	}
	switch cv.T {
	case "s":
		return unmarshalAs[string](cv.V)
	case "b":
		return unmarshalAs[bool](cv.V)
	case "i":
		return unmarshalAs[int](cv.V)
	case "d":
		return unmarshalAs[float64](cv.V)
	case "n":
		return nil, nil
	case "j":
		var s string
		if err := json.Unmarshal(cv.V, &s); err != nil {
			return nil, err
		}
		return expr.ParseJSON(s)
	}
	return nil, fmt.Errorf("unknown cached value type %q", cv.T)
}

// unmarshalAs decodes raw as a T, returned as an interface value.
func unmarshalAs[T any](raw json.RawMessage) (any, error) {
	var v T
	err := json.Unmarshal(raw, &v)
	return v, err
}

type cacheLookupValue struct {
	key      *expr.Value
	def      *expr.Value
	variable string
}

func compileCacheLookupValue(b *builder, el *policyxml.Element, path string) Step {
	attrs := b.attrs(el, "key", "default-value", "variable-name", "caching-type")
	b.children(el)
	b.cachingType(attrs)
	if !b.require(el, attrs, "key", "variable-name") {
		return nil
	}
	c := &cacheLookupValue{key: b.value(attrs["key"]), variable: attrs["variable-name"].Value}
	if a, ok := attrs["default-value"]; ok {
		c.def = b.value(a)
	}
	return c
}

func (c *cacheLookupValue) Run(st *State) error {
	s, err := st.store()
	if err != nil || c.key == nil {
		return err
	}
	key, err := c.key.String(&st.X)
	if err != nil {
		return err
	}
	data, ok, err := s.Get(st.Ctx, store.ValueCacheKey(key))
	if err == nil && ok {
		if v, derr := decodeValue(data); derr == nil {
			st.X.Variables[c.variable] = v
			return nil
		}
	}
	// A miss (or an unreadable entry) sets the default value, or nothing.
	if c.def != nil {
		v, err := evalAny(c.def, &st.X)
		if err != nil {
			return err
		}
		st.X.Variables[c.variable] = v
	}
	return nil
}

type cacheStoreValue struct {
	key, value, duration *expr.Value
}

func compileCacheStoreValue(b *builder, el *policyxml.Element, path string) Step {
	attrs := b.attrs(el, "key", "value", "duration", "caching-type")
	b.children(el)
	b.cachingType(attrs)
	if !b.require(el, attrs, "key", "value", "duration") {
		return nil
	}
	return &cacheStoreValue{key: b.value(attrs["key"]), value: b.value(attrs["value"]), duration: b.value(attrs["duration"])}
}

func (c *cacheStoreValue) Run(st *State) error {
	s, err := st.store()
	if err != nil || c.key == nil || c.value == nil || c.duration == nil {
		return err
	}
	key, err := c.key.String(&st.X)
	if err != nil {
		return err
	}
	v, err := evalAny(c.value, &st.X)
	if err != nil {
		return err
	}
	secs, err := c.duration.Int(&st.X)
	if err != nil {
		return err
	}
	if secs <= 0 {
		return nil
	}
	data, err := encodeValue(v)
	if err != nil {
		return &Error{Reason: ReasonExpressionFailure, Message: "cache-store-value: " + err.Error(), Err: err}
	}
	if err := s.Set(st.Ctx, store.ValueCacheKey(key), data, time.Duration(secs)*time.Second); err != nil && st.Env.Log != nil {
		st.Env.Log.Warn("cache-store-value failed", "err", err)
	}
	return nil
}

type cacheRemoveValue struct{ key *expr.Value }

func compileCacheRemoveValue(b *builder, el *policyxml.Element, path string) Step {
	attrs := b.attrs(el, "key", "caching-type")
	b.children(el)
	b.cachingType(attrs)
	if !b.require(el, attrs, "key") {
		return nil
	}
	return &cacheRemoveValue{key: b.value(attrs["key"])}
}

func (c *cacheRemoveValue) Run(st *State) error {
	s, err := st.store()
	if err != nil || c.key == nil {
		return err
	}
	key, err := c.key.String(&st.X)
	if err != nil {
		return err
	}
	if err := s.Delete(st.Ctx, store.ValueCacheKey(key)); err != nil && st.Env.Log != nil {
		st.Env.Log.Warn("cache-remove-value failed", "err", err)
	}
	return nil
}
