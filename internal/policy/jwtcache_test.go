package policy

import (
	"crypto/rsa"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// jwtProbe runs a pipeline whose inbound section is a validate-jwt followed
// by a 200 return-response, against a clock the test moves.
type jwtProbe struct {
	t   *testing.T
	pl  *Pipeline
	env *Env
	now atomic.Int64
}

func newJWTProbe(t *testing.T, validate string) *jwtProbe {
	t.Helper()
	p := &jwtProbe{t: t, pl: testPipeline(t, wrap(validate+`<return-response><set-status code="200"/></return-response>`), nil), env: testEnv(t)}
	p.now.Store(testNow.UnixNano())
	p.env.Now = func() time.Time { return time.Unix(0, p.now.Load()) }
	return p
}

func (p *jwtProbe) advance(d time.Duration) { p.now.Add(int64(d)) }

// call sends token (with the Bearer scheme) plus extra headers and returns
// the status and the last error.
func (p *jwtProbe) call(token string, extra ...string) (int, *Error) {
	p.t.Helper()
	h := http.Header{"Authorization": {"Bearer " + token}}
	for i := 0; i+1 < len(extra); i += 2 {
		h.Set(extra[i], extra[i+1])
	}
	st := newRequestState(p.t, p.env, "GET", "http://gw.test/api/x", h, "")
	run(p.t, p.pl, st)
	return st.X.Response.StatusCode, st.LastError()
}

// cache returns the pipeline's (first) validate-jwt JWT cache.
func (p *jwtProbe) cache() *jwtCache {
	p.t.Helper()
	for _, n := range p.pl.sections[secInbound] {
		if v, ok := n.step.(*validateJWT); ok {
			return v.cache
		}
	}
	p.t.Fatal("no validate-jwt in the pipeline")
	return nil
}

// sameFailure fails the test unless a and b are the same policy error
// (reason, message and cause), i.e. a cached token fails exactly as a
// fresh validation does.
func sameFailure(t *testing.T, what string, a, b *Error) {
	t.Helper()
	if a == nil || b == nil {
		t.Fatalf("%s: errors %+v and %+v", what, a, b)
	}
	errText := func(e *Error) string {
		if e.Err == nil {
			return ""
		}
		return e.Err.Error()
	}
	if a.Reason != b.Reason || a.Message != b.Message || a.ClientMessage != b.ClientMessage || errText(a) != errText(b) {
		t.Errorf("%s: cached token failed with %s %q (%s), a fresh validation with %s %q (%s)", what,
			a.Reason, a.Message, errText(a), b.Reason, b.Message, errText(b))
	}
}

const hsPolicy = `<validate-jwt header-name="Authorization" require-scheme="Bearer">
	<issuer-signing-keys><key>%s</key></issuer-signing-keys>
	<audiences><audience>api://orders</audience></audiences>
	<issuers><issuer>https://issuer.test/</issuer></issuers>
</validate-jwt>`

func hsClaims(exp time.Time) jwt.MapClaims {
	return jwt.MapClaims{"sub": "alice", "aud": "api://orders", "iss": "https://issuer.test/", "exp": exp.Unix()}
}

func TestJWTCacheExpiredWhileCached(t *testing.T) {
	p := newJWTProbe(t, fmt.Sprintf(hsPolicy, hsSecretB64))
	token := hsToken(t, hsClaims(testNow.Add(time.Minute)))
	for i := 0; i < 3; i++ {
		if status, le := p.call(token); status != 200 {
			t.Fatalf("call %d: status %d (%+v)", i, status, le)
		}
	}
	if n := p.cache().len(); n != 1 {
		t.Fatalf("cache holds %d tokens, want 1", n)
	}
	p.advance(time.Minute) // exp is now: expired (exp must be after now)
	status, cached := p.call(token)
	if status != 401 || cached == nil || cached.Reason != ReasonTokenExpired {
		t.Fatalf("expired cached token: status %d, error %+v", status, cached)
	}
	if n := p.cache().len(); n != 0 {
		t.Errorf("the expired token is still cached (%d entries)", n)
	}
	fresh := newJWTProbe(t, fmt.Sprintf(hsPolicy, hsSecretB64))
	fresh.now.Store(p.now.Load())
	_, want := fresh.call(token)
	sameFailure(t, "expired", cached, want)
}

func TestJWTCacheClockSkew(t *testing.T) {
	p := newJWTProbe(t, `<validate-jwt header-name="Authorization" clock-skew="120">
		<issuer-signing-keys><key>`+hsSecretB64+`</key></issuer-signing-keys>
	</validate-jwt>`)
	token := hsToken(t, jwt.MapClaims{"exp": testNow.Add(time.Minute).Unix(), "nbf": testNow.Add(time.Minute).Unix()})
	// nbf one minute ahead is within the two minutes of skew.
	if status, le := p.call(token); status != 200 {
		t.Fatalf("status %d (%+v)", status, le)
	}
	p.advance(2 * time.Minute) // one minute past exp: within the skew
	if status, le := p.call(token); status != 200 {
		t.Fatalf("within the skew: status %d (%+v)", status, le)
	}
	p.advance(time.Minute) // exactly exp + skew: expired
	if status, le := p.call(token); status != 401 || le.Reason != ReasonTokenExpired {
		t.Fatalf("past the skew: status %d, error %+v", status, le)
	}
	// A clock set back before nbf - skew: a cached token is not valid yet
	// either.
	p.now.Store(testNow.UnixNano())
	if status, le := p.call(token); status != 200 {
		t.Fatalf("status %d (%+v)", status, le)
	}
	p.advance(-2*time.Minute + -time.Second)
	status, cached := p.call(token)
	if status != 401 || cached.Reason != ReasonTokenNotYetValid {
		t.Fatalf("before nbf - skew: status %d, error %+v", status, cached)
	}
}

func TestJWTCacheNeverPassesABadSignature(t *testing.T) {
	p := newJWTProbe(t, fmt.Sprintf(hsPolicy, hsSecretB64))
	good := hsToken(t, hsClaims(testNow.Add(time.Hour)))
	if status, le := p.call(good); status != 200 {
		t.Fatalf("status %d (%+v)", status, le)
	}
	// The same header and claims with another signature, and the good
	// signature with other claims.
	head, payload, sig := splitJWT(t, good)
	forged := hsToken(t, jwt.MapClaims{"sub": "mallory", "aud": "api://orders", "iss": "https://issuer.test/", "exp": testNow.Add(time.Hour).Unix()})
	_, forgedPayload, _ := splitJWT(t, forged)
	other, err := jwt.NewWithClaims(jwt.SigningMethodHS256, hsClaims(testNow.Add(time.Hour))).SignedString([]byte("another-key-another-key-another!!"))
	if err != nil {
		t.Fatal(err)
	}
	_, _, otherSig := splitJWT(t, other)
	flipped := []byte(sig)
	flipped[0] ^= 1
	for name, token := range map[string]string{
		"other key's signature": head + "." + payload + "." + otherSig,
		"altered signature":     head + "." + payload + "." + string(flipped),
		"altered claims":        head + "." + forgedPayload + "." + sig,
		"good token plus junk":  good + "x",
	} {
		for i := 0; i < 2; i++ {
			if status, le := p.call(token); status != 401 || le == nil || (le.Reason != ReasonTokenSignatureInvalid && le.Reason != ReasonTokenInvalid) {
				t.Errorf("%s (call %d): status %d, error %+v", name, i, status, le)
			}
		}
	}
	if n := p.cache().len(); n != 1 {
		t.Errorf("cache holds %d tokens, want only the good one", n)
	}
	if status, le := p.call(good); status != 200 {
		t.Fatalf("good token after the forgeries: status %d (%+v)", status, le)
	}
}

func splitJWT(t *testing.T, token string) (string, string, string) {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q", token)
	}
	return parts[0], parts[1], parts[2]
}

func TestJWTCacheIsPerPolicy(t *testing.T) {
	otherSecret := "b3RoZXItc2VjcmV0LW90aGVyLXNlY3JldC1vdGhlciE=" // another key
	a := newJWTProbe(t, fmt.Sprintf(hsPolicy, hsSecretB64))
	b := newJWTProbe(t, fmt.Sprintf(hsPolicy, otherSecret))
	token := hsToken(t, hsClaims(testNow.Add(time.Hour)))
	if status, le := a.call(token); status != 200 {
		t.Fatalf("policy A: status %d (%+v)", status, le)
	}
	if status, le := b.call(token); status != 401 || le.Reason != ReasonTokenSignatureInvalid {
		t.Fatalf("policy B (another key) accepted a token policy A cached: status %d, error %+v", status, le)
	}
	// Two policies in one pipeline: the second, with the other key, rejects
	// the token the first has cached.
	both := newJWTProbe(t, fmt.Sprintf(hsPolicy, hsSecretB64)+fmt.Sprintf(hsPolicy, otherSecret))
	for i := 0; i < 2; i++ {
		if status, le := both.call(token); status != 401 || le.Reason != ReasonTokenSignatureInvalid || le.Path != "validate-jwt[2]" {
			t.Fatalf("call %d: status %d, error %+v", i, status, le)
		}
	}
}

func TestJWTCacheRechecksExpressionClaims(t *testing.T) {
	p := newJWTProbe(t, `<validate-jwt header-name="Authorization">
		<issuer-signing-keys><key>`+hsSecretB64+`</key></issuer-signing-keys>
		<audiences><audience>@(context.Request.Headers.GetValueOrDefault("X-Aud", ""))</audience></audiences>
	</validate-jwt>`)
	token := hsToken(t, hsClaims(testNow.Add(time.Hour)))
	if status, le := p.call(token, "X-Aud", "api://orders"); status != 200 {
		t.Fatalf("status %d (%+v)", status, le)
	}
	if n := p.cache().len(); n != 1 {
		t.Fatalf("cache holds %d tokens, want 1", n)
	}
	status, cached := p.call(token, "X-Aud", "api://other")
	if status != 401 || cached.Reason != ReasonTokenAudienceNotAllowed {
		t.Fatalf("cached token, audience not allowed: status %d, error %+v", status, cached)
	}
	fresh := newJWTProbe(t, `<validate-jwt header-name="Authorization">
		<issuer-signing-keys><key>`+hsSecretB64+`</key></issuer-signing-keys>
		<audiences><audience>@(context.Request.Headers.GetValueOrDefault("X-Aud", ""))</audience></audiences>
	</validate-jwt>`)
	_, want := fresh.call(token, "X-Aud", "api://other")
	sameFailure(t, "audience", cached, want)
	if status, le := p.call(token, "X-Aud", "api://orders"); status != 200 {
		t.Fatalf("status %d (%+v)", status, le)
	}
}

func TestJWTCacheBounded(t *testing.T) {
	p := newJWTProbe(t, fmt.Sprintf(hsPolicy, hsSecretB64))
	n := jwtCacheEntries + 50
	tokens := make([]string, n)
	for i := range tokens {
		c := hsClaims(testNow.Add(time.Hour))
		c["jti"] = fmt.Sprint(i)
		tokens[i] = hsToken(t, c)
	}
	for i, token := range tokens {
		if status, le := p.call(token); status != 200 {
			t.Fatalf("token %d: status %d (%+v)", i, status, le)
		}
		if got := p.cache().len(); got > jwtCacheEntries {
			t.Fatalf("after %d tokens the cache holds %d, more than %d", i+1, got, jwtCacheEntries)
		}
	}
	if got := p.cache().len(); got != jwtCacheEntries {
		t.Errorf("cache holds %d tokens, want %d", got, jwtCacheEntries)
	}
	// Evicted or not, every token still validates.
	for i := 0; i < n; i += 97 {
		if status, le := p.call(tokens[i]); status != 200 {
			t.Fatalf("token %d again: status %d (%+v)", i, status, le)
		}
	}
	// A token longer than jwtCacheMaxToken is validated but not cached.
	big := hsClaims(testNow.Add(time.Hour))
	big["pad"] = strings.Repeat("x", jwtCacheMaxToken)
	bigToken := hsToken(t, big)
	before := p.cache().len()
	if status, le := p.call(bigToken); status != 200 {
		t.Fatalf("long token: status %d (%+v)", status, le)
	}
	if p.cache().get(bigToken) != nil || p.cache().len() != before {
		t.Errorf("a %d-byte token was cached", len(bigToken))
	}
}

func TestJWTCacheNotForExpressionKeys(t *testing.T) {
	p := newJWTProbe(t, `<validate-jwt header-name="Authorization">
		<issuer-signing-keys><key>@(context.Request.Headers.GetValueOrDefault("X-Key", ""))</key></issuer-signing-keys>
	</validate-jwt>`)
	if p.cache() != nil {
		t.Fatal("a policy with expression keys has a JWT cache")
	}
	token := hsToken(t, hsClaims(testNow.Add(time.Hour)))
	if status, le := p.call(token, "X-Key", hsSecretB64); status != 200 {
		t.Fatalf("status %d (%+v)", status, le)
	}
	if status, le := p.call(token, "X-Key", "b3RoZXItc2VjcmV0LW90aGVyLXNlY3JldC1vdGhlciE="); status != 401 || le.Reason != ReasonTokenSignatureInvalid {
		t.Fatalf("other key: status %d, error %+v", status, le)
	}
}

// An openid-config key set that changes (here: the key that signed a cached
// token is removed, and the cached set expires) makes the cached token go
// through the full validation again.
func TestJWTCacheOpenIDKeyRotation(t *testing.T) {
	k1, k2 := newRSAKey(t), newRSAKey(t)
	o := newOIDCServer(t)
	o.setKeys([]string{"k1"}, []*rsa.PrivateKey{k1})
	policy := `<validate-jwt header-name="Authorization">
		<openid-config url="` + o.URL + `/.well-known/openid-configuration" />
		<audiences><audience>api</audience></audiences>
	</validate-jwt>`
	p := newJWTProbe(t, policy)
	claims := jwt.MapClaims{"iss": o.URL + "/", "aud": "api", "exp": testNow.Add(10 * time.Hour).Unix()}
	token := rsToken(t, k1, "k1", claims)
	for i := 0; i < 3; i++ {
		if status, le := p.call(token); status != 200 {
			t.Fatalf("call %d: status %d (%+v)", i, status, le)
		}
	}
	if n := p.cache().len(); n != 1 || o.fetches.Load() != 1 {
		t.Fatalf("cache holds %d tokens after %d key set fetches, want 1 and 1", n, o.fetches.Load())
	}
	o.setKeys([]string{"k2"}, []*rsa.PrivateKey{k2})
	p.advance(2 * time.Hour) // past the key set's TTL: the next use fetches
	status, cached := p.call(token)
	if status != 401 || cached.Reason != ReasonTokenSignatureKeyNotFound {
		t.Fatalf("token signed by a removed key: status %d, error %+v", status, cached)
	}
	if status, le := p.call(rsToken(t, k2, "k2", claims)); status != 200 {
		t.Fatalf("token signed by the new key: status %d (%+v)", status, le)
	}
}

// Concurrent requests with valid, expired and forged tokens on one policy
// (run with -race).
func TestJWTCacheConcurrent(t *testing.T) {
	p := newJWTProbe(t, fmt.Sprintf(hsPolicy, hsSecretB64))
	var good []string
	for i := 0; i < 8; i++ {
		c := hsClaims(testNow.Add(time.Hour))
		c["jti"] = fmt.Sprint(i)
		good = append(good, hsToken(t, c))
	}
	expired := hsToken(t, hsClaims(testNow.Add(-time.Minute)))
	head, payload, _ := splitJWT(t, good[0])
	forged := head + "." + payload + ".AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				token, want := good[(g+i)%len(good)], 200
				switch i % 5 {
				case 3:
					token, want = expired, 401
				case 4:
					token, want = forged, 401
				}
				if status, le := p.call(token); status != want {
					t.Errorf("goroutine %d call %d: status %d, want %d (%+v)", g, i, status, want, le)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	if n := p.cache().len(); n != len(good) {
		t.Errorf("cache holds %d tokens, want %d", n, len(good))
	}
}
