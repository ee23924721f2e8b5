package policy

import (
	"net/http"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// The JWT cache of validate-jwt (and validate-azure-ad-token), as Envoy's
// jwt_authn keeps one: a client sends the same token with every request
// until it expires, and decoding it and checking its signature again each
// time is most of what the policy costs (an HMAC, an RSA or ECDSA
// verification, two base64 and JSON decodes).
//
// Each compiled policy has its own cache, so a token verified by one
// policy (or by the configuration before a reload) is never taken as
// verified by another one with other keys. It holds only tokens the full
// validation accepted, keyed by the token's text, with their claims and
// the exp and nbf times; what depends on the moment is still checked on
// every request: the exp and nbf times against the clock (with the policy's
// clock skew, the very comparisons of the full validation), the
// openid-config key set the token was verified with being still the one in
// use, and the audience, issuer and required-claim checks when one of their
// values is an expression. When any of these fails the entry is dropped and
// the request runs the full validation, which gives the failure its usual
// reason and message; a token that failed is never cached. Policies whose
// signing keys are expressions are not cached (their keys may differ from
// one request to the next).
//
// The cache is bounded: at most jwtCacheEntries tokens per policy (a full
// cache drops an arbitrary entry for a new one), tokens longer than
// jwtCacheMaxToken bytes are not cached.
const (
	jwtCacheEntries  = 1024
	jwtCacheMaxToken = 4096
)

// jwtCache maps a token's text to what its successful validation found.
type jwtCache struct {
	mu      sync.RWMutex
	entries map[string]*jwtEntry
}

// jwtEntry is one verified token.
type jwtEntry struct {
	claims         jwt.MapClaims
	exp, nbf       time.Time
	hasExp, hasNbf bool
	// expSkew and nbfSkew are exp and nbf moved by the policy's clock skew
	// (the cache is the policy's own), the bounds the clock is checked
	// against.
	expSkew, nbfSkew time.Time
	// keySets are the openid-config key sets (their first element, in the
	// policy's source order) the token was verified with, and issuers the
	// issuers those documents named.
	keySets []*signingKey
	issuers []string
}

func newJWTCache() *jwtCache {
	return &jwtCache{entries: make(map[string]*jwtEntry)}
}

func (c *jwtCache) get(token string) *jwtEntry {
	c.mu.RLock()
	e := c.entries[token]
	c.mu.RUnlock()
	return e
}

func (c *jwtCache) put(token string, e *jwtEntry) {
	if len(token) > jwtCacheMaxToken {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[token]; !ok && len(c.entries) >= jwtCacheEntries {
		for k := range c.entries { // map order: an arbitrary victim
			delete(c.entries, k)
			break
		}
	}
	c.entries[token] = e
}

// drop removes token's entry if it is still e (another request may have
// replaced it meanwhile).
func (c *jwtCache) drop(token string, e *jwtEntry) {
	c.mu.Lock()
	if c.entries[token] == e {
		delete(c.entries, token)
	}
	c.mu.Unlock()
}

func (c *jwtCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}

// setupCache gives the policy its JWT cache when its keys are fixed, and
// records whether its claim checks can be skipped for a cached token (and
// the canonical form of the token's header).
func (v *validateJWT) setupCache() {
	v.headerKey = http.CanonicalHeaderKey(v.header)
	if len(v.keyValues) > 0 || len(v.oidcExprs) > 0 {
		return
	}
	v.cache = newJWTCache()
	v.constChecks = true
	for _, x := range v.audiences {
		v.constChecks = v.constChecks && x.IsConst()
	}
	for _, x := range v.issuers {
		v.constChecks = v.constChecks && x.IsConst()
	}
	for _, rc := range v.claims {
		for _, x := range rc.values {
			v.constChecks = v.constChecks && x.IsConst()
		}
	}
}

// newJWTEntry records a token the full validation accepted, for a policy
// with clock skew skew; nil when it cannot be cached.
func newJWTEntry(claims jwt.MapClaims, keySets []*signingKey, issuers []string, skew time.Duration) *jwtEntry {
	e := &jwtEntry{claims: claims, keySets: keySets, issuers: issuers}
	exp, err := claims.GetExpirationTime()
	if err != nil {
		return nil
	}
	if exp != nil {
		e.exp, e.hasExp = exp.Time, true
	}
	nbf, err := claims.GetNotBefore()
	if err != nil {
		return nil
	}
	if nbf != nil {
		e.nbf, e.hasNbf = nbf.Time, true
	}
	e.expSkew, e.nbfSkew = e.exp.Add(skew), e.nbf.Add(-skew)
	return e
}

// cached reports whether the full validation of the cached token e would
// accept it now. An error is a failed claim check (the same error the full
// validation returns).
func (v *validateJWT) cached(st *State, e *jwtEntry) (bool, error) {
	// jwt.Validator's checks: exp must be after now, nbf not after it,
	// each with the leeway.
	if e.hasExp || e.hasNbf {
		now := st.Env.now()
		if e.hasExp && !now.Before(e.expSkew) {
			return false, nil
		}
		if e.hasNbf && now.Before(e.nbfSkew) {
			return false, nil
		}
	}
	if len(v.oidc) != len(e.keySets) {
		return false, nil
	}
	for i, src := range v.oidc {
		_, keys, err := src.get(st, false)
		if err != nil || len(keys) == 0 || &keys[0] != e.keySets[i] {
			return false, nil
		}
	}
	if !v.constChecks {
		if err := v.checkClaims(st, e.claims, e.issuers); err != nil {
			return false, err
		}
	}
	return true, nil
}
