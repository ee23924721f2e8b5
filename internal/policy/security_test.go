package policy

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/apimgw/apimgw/internal/expr"
)

var (
	hsSecret    = []byte("0123456789abcdef0123456789abcdef")
	hsSecretB64 = base64.StdEncoding.EncodeToString(hsSecret)
	testNow     = time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)
)

func hsToken(t *testing.T, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(hsSecret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

// backendEcho is a real backend answering 200 "backend".
func backendEcho(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Backend-Auth", r.Header.Get("Authorization"))
		io.WriteString(w, "backend")
	}))
	t.Cleanup(srv.Close)
	return srv
}

func withBackend(t *testing.T, st *State, srv *httptest.Server) {
	t.Helper()
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	st.BackendURL = u
	st.APIPath = "api"
}

func TestValidateJWT(t *testing.T) {
	valid := jwt.MapClaims{"sub": "alice", "aud": "api://orders", "iss": "https://issuer.test/", "exp": testNow.Add(time.Hour).Unix(),
		"roles": []any{"reader", "writer"}, "scp": "orders.read orders.write"}
	with := func(k string, v any) jwt.MapClaims {
		c := jwt.MapClaims{}
		for kk, vv := range valid {
			c[kk] = vv
		}
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	policy := `<validate-jwt header-name="Authorization" output-token-variable-name="jwt">
		<issuer-signing-keys><key>` + hsSecretB64 + `</key></issuer-signing-keys>
		<audiences><audience>api://orders</audience></audiences>
		<issuers><issuer>https://issuer.test/</issuer></issuers>
		<required-claims>
			<claim name="roles" match="any"><value>admin</value><value>reader</value></claim>
			<claim name="scp" match="all" separator=" "><value>orders.read</value></claim>
		</required-claims>
	</validate-jwt>`
	cases := []struct {
		name       string
		policy     string
		header     string
		wantStatus int
		wantReason string
		wantBody   string
	}{
		{name: "valid token reaches the backend", header: "Bearer " + hsToken(t, valid), wantStatus: 200, wantBody: "backend"},
		{name: "missing token", wantStatus: 401, wantReason: ReasonTokenNotPresent, wantBody: `{"statusCode":401,"message":"JWT not present."}`},
		{name: "garbage", header: "Bearer not.a.jwt", wantStatus: 401, wantReason: ReasonTokenInvalid, wantBody: `{"statusCode":401,"message":"Invalid JWT."}`},
		{name: "expired", header: "Bearer " + hsToken(t, with("exp", testNow.Add(-time.Minute).Unix())), wantStatus: 401, wantReason: ReasonTokenExpired},
		{name: "no expiration", header: "Bearer " + hsToken(t, with("exp", nil)), wantStatus: 401, wantReason: ReasonTokenExpirationNotPresent},
		{name: "not yet valid", header: "Bearer " + hsToken(t, with("nbf", testNow.Add(time.Hour).Unix())), wantStatus: 401, wantReason: ReasonTokenNotYetValid},
		{name: "wrong signature", header: "Bearer " + func() string {
			s, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, valid).SignedString([]byte("another-key-another-key-another!!"))
			return s
		}(), wantStatus: 401, wantReason: ReasonTokenSignatureInvalid},
		{name: "unsigned", header: "Bearer " + func() string {
			s, _ := jwt.NewWithClaims(jwt.SigningMethodNone, valid).SignedString(jwt.UnsafeAllowNoneSignatureType)
			return s
		}(), wantStatus: 401, wantReason: ReasonTokenNotSigned},
		{name: "audience", header: "Bearer " + hsToken(t, with("aud", "api://other")), wantStatus: 401, wantReason: ReasonTokenAudienceNotAllowed},
		{name: "issuer", header: "Bearer " + hsToken(t, with("iss", "https://evil.test/")), wantStatus: 401, wantReason: ReasonTokenIssuerNotAllowed},
		{name: "claim missing", header: "Bearer " + hsToken(t, with("roles", nil)), wantStatus: 401, wantReason: ReasonTokenClaimNotFound},
		{name: "claim value", header: "Bearer " + hsToken(t, with("roles", []any{"guest"})), wantStatus: 401, wantReason: ReasonTokenClaimValueNotAllowed},
		{name: "claim value with separator", header: "Bearer " + hsToken(t, with("scp", "orders.write")), wantStatus: 401, wantReason: ReasonTokenClaimValueNotAllowed},
		{
			name: "output variable is a Jwt",
			policy: `<validate-jwt header-name="Authorization" output-token-variable-name="jwt">
				<issuer-signing-keys><key>` + hsSecretB64 + `</key></issuer-signing-keys>
			</validate-jwt>
			<return-response><set-body>@{
				var j = (Jwt)context.Variables["jwt"];
				return j.Subject + "|" + j.Claims.GetValueOrDefault("roles", "") + "|" + j.Audiences.First();
			}</set-body></return-response>`,
			header: "Bearer " + hsToken(t, valid), wantStatus: 200, wantBody: "alice|reader,writer|api://orders",
		},
		{
			name: "custom status, message, scheme and query parameter",
			policy: `<validate-jwt query-parameter-name="access_token" failed-validation-httpcode="403" failed-validation-error-message="@("no: " + context.Request.Method)" require-scheme="Bearer">
				<issuer-signing-keys><key>` + hsSecretB64 + `</key></issuer-signing-keys>
			</validate-jwt>`,
			wantStatus: 403, wantReason: ReasonTokenNotPresent, wantBody: `{"statusCode":403,"message":"no: GET"}`,
		},
		{
			name: "clock skew accepts a just-expired token",
			policy: `<validate-jwt header-name="Authorization" clock-skew="120">
				<issuer-signing-keys><key>` + hsSecretB64 + `</key></issuer-signing-keys>
			</validate-jwt>`,
			header: "Bearer " + hsToken(t, with("exp", testNow.Add(-time.Minute).Unix())), wantStatus: 200, wantBody: "backend",
		},
		{
			name: "expression key",
			policy: `<set-variable name="k" value="` + hsSecretB64 + `"/>
			<validate-jwt token-value="@(context.Request.Headers.GetValueOrDefault("Authorization","").Replace("Bearer ", ""))">
				<issuer-signing-keys><key>@((string)context.Variables["k"])</key></issuer-signing-keys>
			</validate-jwt>`,
			header: "Bearer " + hsToken(t, valid), wantStatus: 200, wantBody: "backend",
		},
	}
	srv := backendEcho(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.policy
			if p == "" {
				p = policy
			}
			pl := testPipeline(t, wrap(p), nil)
			env := testEnv(t)
			env.Now = fixedClock(testNow)
			h := http.Header{}
			if tc.header != "" {
				h.Set("Authorization", tc.header)
			}
			st := newRequestState(t, env, "GET", "http://gw.test/api/x", h, "")
			withBackend(t, st, srv)
			body := run(t, pl, st)
			if st.X.Response.StatusCode != tc.wantStatus {
				t.Fatalf("status = %d, want %d (body %s, errors %v)", st.X.Response.StatusCode, tc.wantStatus, body, st.Errors)
			}
			if tc.wantBody != "" && body != tc.wantBody {
				t.Errorf("body = %q, want %q", body, tc.wantBody)
			}
			if tc.wantReason != "" {
				if le := st.LastError(); le == nil || le.Reason != tc.wantReason || le.Source != "validate-jwt" {
					t.Errorf("last error = %+v, want %s", le, tc.wantReason)
				}
			}
		})
	}
}

// newRSAKey makes a 2048-bit RSA key.
func newRSAKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// oidcServer serves a discovery document and a JWKS whose keys the test can
// rotate; it counts key set fetches.
type oidcServer struct {
	*httptest.Server
	mu      sync.Mutex
	keys    []*rsa.PrivateKey
	kids    []string
	fetches atomic.Int32
}

func newOIDCServer(t *testing.T) *oidcServer {
	t.Helper()
	o := &oidcServer{}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/.well-known/openid-configuration":
			fmt.Fprintf(w, `{"issuer":"%s/","jwks_uri":"%s/keys"}`, o.URL, o.URL)
		case "/keys":
			o.fetches.Add(1)
			w.Write(o.jwks())
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(o.Close)
	return o
}

func (o *oidcServer) setKeys(kids []string, keys []*rsa.PrivateKey) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.kids, o.keys = kids, keys
}

func (o *oidcServer) jwks() []byte {
	o.mu.Lock()
	defer o.mu.Unlock()
	type key struct {
		Kty string `json:"kty"`
		Kid string `json:"kid"`
		Use string `json:"use"`
		N   string `json:"n"`
		E   string `json:"e"`
	}
	var set struct {
		Keys []key `json:"keys"`
	}
	for i, k := range o.keys {
		set.Keys = append(set.Keys, key{Kty: "RSA", Kid: o.kids[i], Use: "sig",
			N: base64.RawURLEncoding.EncodeToString(k.N.Bytes()),
			E: base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.E)).Bytes())})
	}
	b, _ := json.Marshal(set)
	return b
}

func rsToken(t *testing.T, key *rsa.PrivateKey, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = kid
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestValidateJWTOpenIDConfig(t *testing.T) {
	k1, k2 := newRSAKey(t), newRSAKey(t)
	o := newOIDCServer(t)
	o.setKeys([]string{"k1"}, []*rsa.PrivateKey{k1})
	claims := jwt.MapClaims{"iss": o.URL + "/", "aud": "api", "exp": testNow.Add(time.Hour).Unix()}
	pl := testPipeline(t, wrap(`<validate-jwt header-name="Authorization">
		<openid-config url="`+o.URL+`/.well-known/openid-configuration" />
		<audiences><audience>api</audience></audiences>
	</validate-jwt>`), nil)
	srv := backendEcho(t)
	env := testEnv(t)
	var now atomic.Int64
	now.Store(testNow.UnixNano())
	env.Now = func() time.Time { return time.Unix(0, now.Load()) }

	call := func(token string) *State {
		st := newRequestState(t, env, "GET", "http://gw.test/api/x", http.Header{"Authorization": {"Bearer " + token}}, "")
		withBackend(t, st, srv)
		run(t, pl, st)
		return st
	}
	steps := []struct {
		name        string
		advance     time.Duration
		token       string
		rotate      bool
		wantStatus  int
		wantReason  string
		wantFetches int32
	}{
		{name: "first token fetches the keys", token: rsToken(t, k1, "k1", claims), wantStatus: 200, wantFetches: 1},
		{name: "cached", token: rsToken(t, k1, "k1", claims), wantStatus: 200, wantFetches: 1},
		{name: "wrong issuer", token: rsToken(t, k1, "k1", jwt.MapClaims{"iss": "x", "aud": "api", "exp": claims["exp"]}), wantStatus: 401, wantReason: ReasonTokenIssuerNotAllowed, wantFetches: 1},
		{name: "unknown kid right after a fetch does not refetch", rotate: true, token: rsToken(t, k2, "k2", claims), wantStatus: 401, wantReason: ReasonTokenSignatureKeyNotFound, wantFetches: 1},
		{name: "unknown kid 5 minutes later refetches", advance: 6 * time.Minute, token: rsToken(t, k2, "k2", claims), wantStatus: 200, wantFetches: 2},
		{name: "TTL expiry refetches", advance: 2 * time.Hour, token: rsToken(t, k2, "k2", jwt.MapClaims{"iss": o.URL + "/", "aud": "api", "exp": testNow.Add(5 * time.Hour).Unix()}), wantStatus: 200, wantFetches: 3},
	}
	for _, s := range steps {
		if s.rotate {
			o.setKeys([]string{"k2"}, []*rsa.PrivateKey{k2})
		}
		now.Add(int64(s.advance))
		st := call(s.token)
		if st.X.Response.StatusCode != s.wantStatus {
			t.Fatalf("%s: status %d, want %d (errors %v)", s.name, st.X.Response.StatusCode, s.wantStatus, st.Errors)
		}
		if s.wantReason != "" && (st.LastError() == nil || st.LastError().Reason != s.wantReason) {
			t.Errorf("%s: last error %+v, want %s", s.name, st.LastError(), s.wantReason)
		}
		if got := o.fetches.Load(); got != s.wantFetches {
			t.Errorf("%s: %d key set fetches, want %d", s.name, got, s.wantFetches)
		}
	}
}

func TestValidateAzureADTokenLocalConfig(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	o := &oidcServer{}
	o.setKeys([]string{"e1"}, []*rsa.PrivateKey{key})
	tenant := "11111111-2222-3333-4444-555555555555"
	if err := os.WriteFile(filepath.Join(dir, "keys.json"), o.jwks(), 0o600); err != nil {
		t.Fatal(err)
	}
	doc := fmt.Sprintf(`{"issuer":"https://login.microsoftonline.com/%s/v2.0","jwks_uri":"keys.json"}`, tenant)
	if err := os.WriteFile(filepath.Join(dir, "openid.json"), []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	pl := testPipeline(t, wrap(`<validate-azure-ad-token tenant-id="`+tenant+`" output-token-variable-name="jwt">
		<client-application-ids><application-id>client-app</application-id></client-application-ids>
		<backend-application-ids><application-id>backend-app</application-id></backend-application-ids>
		<openid-config url="file://`+filepath.Join(dir, "openid.json")+`" />
	</validate-azure-ad-token>
	<return-response><set-body>@(((Jwt)context.Variables["jwt"]).Claims.GetValueOrDefault("azp", ""))</set-body></return-response>`), nil)
	good := jwt.MapClaims{"iss": "https://sts.windows.net/" + tenant + "/", "aud": "api://backend-app", "azp": "client-app", "exp": testNow.Add(time.Hour).Unix()}
	bad := jwt.MapClaims{"iss": "https://sts.windows.net/" + tenant + "/", "aud": "api://backend-app", "azp": "other-app", "exp": testNow.Add(time.Hour).Unix()}
	cases := []struct {
		name       string
		claims     jwt.MapClaims
		wantStatus int
		wantBody   string
		wantReason string
	}{
		{"accepted", good, 200, "client-app", ""},
		{"client application not allowed", bad, 401, "", ReasonTokenClientAppNotAllowed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := testEnv(t)
			env.Now = fixedClock(testNow)
			st := newRequestState(t, env, "GET", "http://gw.test/api/x", http.Header{"Authorization": {"Bearer " + rsToken(t, key, "e1", tc.claims)}}, "")
			body := run(t, pl, st)
			if st.X.Response.StatusCode != tc.wantStatus || tc.wantBody != "" && body != tc.wantBody {
				t.Fatalf("got %d %q, want %d %q (errors %v)", st.X.Response.StatusCode, body, tc.wantStatus, tc.wantBody, st.Errors)
			}
			if tc.wantReason != "" && st.LastError().Reason != tc.wantReason {
				t.Errorf("reason %s, want %s", st.LastError().Reason, tc.wantReason)
			}
		})
	}
}

// TestValidateJWTCorpus runs a corpus policy (validate-jwt with an on-error
// handler) against a real backend.
func TestValidateJWTCorpus(t *testing.T) {
	src, err := os.ReadFile(corpusDir + "/api-management-policy-snippets/examples/Use custom error messages for jwt-validate policy with on-error handler.policy.xml")
	if err != nil {
		t.Skipf("corpus file: %v", err)
	}
	pl := testPipeline(t, string(src), map[string]string{"base64-encoded-hashing-secret": hsSecretB64})
	srv := backendEcho(t)
	for _, tc := range []struct {
		name, auth, want string
		status           int
	}{
		{"valid", "Bearer " + hsToken(t, jwt.MapClaims{"exp": testNow.Add(time.Hour).Unix()}), "backend", 200},
		// APIM answers 401 here: set-status code="@(context.Response.StatusCode)"
		// reads the error response. The engine's return-response replaces
		// context.Response before its children run, so the status is 200
		// until that is changed in control.go.
		{"invalid", "Bearer x.y.z", "Unauthorized. Access token is missing or invalid.", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := testEnv(t)
			env.Now = fixedClock(testNow)
			st := newRequestState(t, env, "GET", "http://gw.test/api/x", http.Header{"Authorization": {tc.auth}}, "")
			withBackend(t, st, srv)
			if body := run(t, pl, st); body != tc.want || tc.status != 0 && st.X.Response.StatusCode != tc.status {
				t.Errorf("got %d %q, want %d %q", st.X.Response.StatusCode, body, tc.status, tc.want)
			}
		})
	}
}

func TestManagedIdentity(t *testing.T) {
	srv := backendEcho(t)
	token := func(ctx context.Context, resource, clientID string) (string, error) {
		if resource == "https://fail" {
			return "", errors.New("no identity")
		}
		return "t:" + resource + ":" + clientID, nil
	}
	cases := []struct {
		name       string
		policy     string
		noToken    bool
		wantStatus int
		wantAuth   string
		wantBody   string
		wantMsg    string
	}{
		{name: "header", policy: `<authentication-managed-identity resource="https://cognitiveservices.azure.com" client-id="c1"/>`, wantStatus: 200, wantAuth: "Bearer t:https://cognitiveservices.azure.com:c1"},
		{name: "output variable", policy: `<authentication-managed-identity resource="r" output-token-variable-name="tok"/>
			<return-response><set-body>@((string)context.Variables["tok"])</set-body></return-response>`, wantStatus: 200, wantBody: "t:r:"},
		{name: "failure", policy: `<authentication-managed-identity resource="https://fail"/>`, wantStatus: 500, wantMsg: "could not obtain"},
		{name: "ignore-error", policy: `<authentication-managed-identity resource="https://fail" ignore-error="true"/>`, wantStatus: 200, wantAuth: ""},
		{name: "not configured", policy: `<authentication-managed-identity resource="r"/>`, noToken: true, wantStatus: 500, wantMsg: "managedIdentity: section"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := testEnv(t)
			if !tc.noToken {
				env.Services.Token = token
			}
			st := newRequestState(t, env, "GET", "http://gw.test/api/x", nil, "")
			withBackend(t, st, srv)
			body := run(t, testPipeline(t, wrap(tc.policy), nil), st)
			if st.X.Response.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d (errors %v)", st.X.Response.StatusCode, tc.wantStatus, st.Errors)
			}
			if tc.wantStatus == 200 && tc.wantBody == "" && st.X.Response.Headers.Get("X-Backend-Auth") != tc.wantAuth {
				t.Errorf("backend saw Authorization %q, want %q", st.X.Response.Headers.Get("X-Backend-Auth"), tc.wantAuth)
			}
			if tc.wantBody != "" && body != tc.wantBody {
				t.Errorf("body %q, want %q", body, tc.wantBody)
			}
			if tc.wantMsg != "" && (st.LastError() == nil || !strings.Contains(st.LastError().Message, tc.wantMsg) || st.LastError().Reason != ReasonManagedIdentity) {
				t.Errorf("last error %+v, want message containing %q", st.LastError(), tc.wantMsg)
			}
		})
	}
}

func TestCheckHeaderIPFilterBasic(t *testing.T) {
	srv := backendEcho(t)
	check := `<check-header name="X-Key" failed-check-httpcode="401" failed-check-error-message="Not authorized" ignore-case="true">
		<value>alpha</value><value>beta</value></check-header>`
	cases := []struct {
		name       string
		policy     string
		header     http.Header
		ip         string
		wantStatus int
		wantBody   string
		wantReason string
	}{
		{name: "header ok", policy: check, header: http.Header{"X-Key": {"BETA"}}, wantStatus: 200, wantBody: "backend"},
		{name: "header missing", policy: check, wantStatus: 401, wantBody: `{"statusCode":401,"message":"Not authorized"}`, wantReason: ReasonHeaderNotFound},
		{name: "header value", policy: check, header: http.Header{"X-Key": {"gamma"}}, wantStatus: 401, wantReason: ReasonHeaderValueNotAllowed},
		{name: "ip allowed by range", policy: `<ip-filter action="allow"><address-range from="10.0.0.1" to="10.0.0.9"/></ip-filter>`, ip: "10.0.0.5", wantStatus: 200},
		{name: "ip not allowed", policy: `<ip-filter action="allow"><address>10.0.0.1</address></ip-filter>`, ip: "10.0.0.5", wantStatus: 403, wantBody: `{"statusCode":403,"message":"Forbidden"}`, wantReason: ReasonCallerIPNotAllowed},
		{name: "ip forbidden", policy: `<ip-filter action="forbid"><address>::1</address></ip-filter>`, ip: "::1", wantStatus: 403},
		{name: "ipv4 not in ipv6 range", policy: `<ip-filter action="forbid"><address-range from="::" to="::ffff"/></ip-filter>`, ip: "127.0.0.1", wantStatus: 200},
		{name: "basic auth", policy: `<authentication-basic username="u" password="@("p" + 1)"/>`, wantStatus: 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := newRequestState(t, testEnv(t), "GET", "http://gw.test/api/x", tc.header, "")
			if tc.ip != "" {
				st.X.Request.IpAddress = tc.ip
			}
			withBackend(t, st, srv)
			body := run(t, testPipeline(t, wrap(tc.policy), nil), st)
			if st.X.Response.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d (errors %v)", st.X.Response.StatusCode, tc.wantStatus, st.Errors)
			}
			if tc.wantBody != "" && body != tc.wantBody {
				t.Errorf("body %q, want %q", body, tc.wantBody)
			}
			if tc.wantReason != "" && st.LastError().Reason != tc.wantReason {
				t.Errorf("reason %s, want %s", st.LastError().Reason, tc.wantReason)
			}
			if tc.name == "basic auth" && st.X.Response.Headers.Get("X-Backend-Auth") != "Basic dTpwMQ==" {
				t.Errorf("backend saw %q", st.X.Response.Headers.Get("X-Backend-Auth"))
			}
		})
	}
}

func TestCORS(t *testing.T) {
	src, err := os.ReadFile(corpusDir + "/Apim-Samples/samples/dynamic-cors/apim-policies/cors-baseline-native.xml")
	if err != nil {
		t.Skipf("corpus file: %v", err)
	}
	corpus := string(src)
	creds := wrap(`<cors allow-credentials="true" terminate-unmatched-request="false">
		<allowed-origins><origin>https://app.test</origin></allowed-origins>
		<allowed-methods preflight-result-max-age="300"><method>*</method></allowed-methods>
		<allowed-headers><header>*</header></allowed-headers>
		<expose-headers><header>X-Total</header></expose-headers>
	</cors>`)
	srv := backendEcho(t)
	cases := []struct {
		name        string
		policy      string
		method      string
		header      http.Header
		wantStatus  int
		wantBody    string
		wantHeaders map[string]string
	}{
		{name: "preflight allowed", policy: corpus, method: "OPTIONS",
			header:     http.Header{"Origin": {"https://shop.contoso.com"}, "Access-Control-Request-Method": {"GET"}, "Access-Control-Request-Headers": {"content-type"}},
			wantStatus: 200, wantBody: "",
			wantHeaders: map[string]string{"Access-Control-Allow-Origin": "https://shop.contoso.com", "Access-Control-Allow-Methods": "GET", "Access-Control-Allow-Headers": "content-type", "Vary": "Origin"}},
		{name: "preflight method not allowed terminates", policy: corpus, method: "OPTIONS",
			header:     http.Header{"Origin": {"https://shop.contoso.com"}, "Access-Control-Request-Method": {"DELETE"}},
			wantStatus: 200, wantBody: "", wantHeaders: map[string]string{"Access-Control-Allow-Origin": ""}},
		{name: "simple request gets CORS headers", policy: corpus, method: "GET",
			header:     http.Header{"Origin": {"https://admin.contoso.com"}},
			wantStatus: 200, wantBody: "backend", wantHeaders: map[string]string{"Access-Control-Allow-Origin": "https://admin.contoso.com"}},
		{name: "unmatched simple GET terminated", policy: corpus, method: "GET",
			header:     http.Header{"Origin": {"https://evil.test"}},
			wantStatus: 200, wantBody: "", wantHeaders: map[string]string{"Access-Control-Allow-Origin": ""}},
		{name: "no origin passes through", policy: corpus, method: "GET", wantStatus: 200, wantBody: "backend"},
		{name: "credentials and max age", policy: creds, method: "OPTIONS",
			header:     http.Header{"Origin": {"https://app.test"}, "Access-Control-Request-Method": {"PATCH"}, "Access-Control-Request-Headers": {"x-a,x-b"}},
			wantStatus: 200, wantHeaders: map[string]string{"Access-Control-Allow-Credentials": "true", "Access-Control-Max-Age": "300", "Access-Control-Allow-Headers": "x-a,x-b"}},
		{name: "unmatched continues without headers", policy: creds, method: "GET",
			header:     http.Header{"Origin": {"https://evil.test"}},
			wantStatus: 200, wantBody: "backend", wantHeaders: map[string]string{"Access-Control-Allow-Origin": ""}},
		{name: "expose headers", policy: creds, method: "GET",
			header:     http.Header{"Origin": {"https://app.test"}},
			wantStatus: 200, wantBody: "backend", wantHeaders: map[string]string{"Access-Control-Expose-Headers": "X-Total", "Access-Control-Allow-Credentials": "true"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := newRequestState(t, testEnv(t), tc.method, "http://gw.test/api/x", tc.header, "")
			withBackend(t, st, srv)
			body := run(t, testPipeline(t, tc.policy, nil), st)
			if st.X.Response.StatusCode != tc.wantStatus || body != tc.wantBody && tc.wantBody != "" || tc.wantBody == "" && tc.method == "OPTIONS" && body != "" {
				t.Fatalf("got %d %q, want %d %q (errors %v)", st.X.Response.StatusCode, body, tc.wantStatus, tc.wantBody, st.Errors)
			}
			for k, v := range tc.wantHeaders {
				if got := st.X.Response.Headers.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}
	if got := compileErrors(wrap(`<cors allow-credentials="true"><allowed-origins><origin>*</origin></allowed-origins></cors>`)); !strings.Contains(got, "wildcard") {
		t.Errorf("credentials with * not rejected: %q", got)
	}
}

func TestValidateClientCertificate(t *testing.T) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test CA"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign, NotBefore: testNow.Add(-time.Hour), NotAfter: testNow.Add(24 * time.Hour)}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	leaf := func(serial int64, cn string, notAfter time.Time) *x509.Certificate {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn, Organization: []string{"Contoso"}}, DNSNames: []string{cn},
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, NotBefore: testNow.Add(-time.Hour), NotAfter: notAfter}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := x509.ParseCertificate(der)
		return c
	}
	good := leaf(0x1234AB, "client.test", testNow.Add(time.Hour))
	expired := leaf(2, "client.test", testNow.Add(-time.Minute))
	policy := wrap(`<validate-client-certificate validate-revocation="false">
		<identities>
			<identity serial-number="1234ab" subject="O=Contoso, CN=client.test" issuer-subject="CN=Test CA" />
			<identity thumbprint="` + certThumbprint(ca) + `" />
		</identities>
	</validate-client-certificate>`)
	srv := backendEcho(t)
	cases := []struct {
		name       string
		policy     string
		cert       *x509.Certificate
		trustCA    bool
		wantStatus int
		wantReason string
	}{
		{"trusted identity", policy, good, true, 200, ""},
		{"missing", policy, nil, true, 401, ReasonClientCertificateNotPresent},
		{"expired", policy, expired, true, 401, ReasonClientCertificateInvalid},
		{"untrusted", policy, good, false, 401, ReasonClientCertificateInvalid},
		{"identity mismatch", wrap(`<validate-client-certificate validate-revocation="false" validate-trust="false"><identities><identity common-name="other"/></identities></validate-client-certificate>`), good, false, 401, ReasonClientCertificateInvalid},
		{"ignore-error", wrap(`<validate-client-certificate validate-revocation="false" ignore-error="true"/>`), nil, false, 200, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := testEnv(t)
			env.Now = fixedClock(testNow)
			st := newRequestState(t, env, "GET", "http://gw.test/api/x", nil, "")
			st.X.Request.Certificate = tc.cert
			if tc.trustCA {
				st.X.Deployment = &expr.Deployment{Certificates: map[string]*x509.Certificate{certThumbprint(ca): ca}}
			}
			withBackend(t, st, srv)
			run(t, testPipeline(t, tc.policy, nil), st)
			if st.X.Response.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d (errors %v)", st.X.Response.StatusCode, tc.wantStatus, st.Errors)
			}
			if tc.wantReason != "" && st.LastError().Reason != tc.wantReason {
				t.Errorf("reason %s, want %s", st.LastError().Reason, tc.wantReason)
			}
		})
	}
	if got := compileErrors(wrap(`<validate-client-certificate/>`)); !strings.Contains(got, "validate-revocation") {
		t.Errorf("revocation default not rejected: %q", got)
	}
}

func FuzzValidateJWT(f *testing.F) {
	f.Add("Bearer " + "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln")
	f.Add("Bearer a.b.c")
	f.Add("x")
	f.Add(`{"keys":[{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}]}`)
	pl := (&Compiler{}).Compile("api", "t.xml", []byte(wrap(`<validate-jwt header-name="Authorization" require-scheme="Bearer" output-token-variable-name="j">
		<issuer-signing-keys><key>`+hsSecretB64+`</key></issuer-signing-keys>
		<required-claims><claim name="roles" separator=","><value>a</value></claim></required-claims>
	</validate-jwt><return-response/>`)))
	p := Compose(pl)
	env := &Env{Now: fixedClock(testNow)}
	f.Fuzz(func(t *testing.T, s string) {
		st := newRequestState(t, env, "GET", "http://gw.test/api/x", http.Header{"Authorization": {s}}, "")
		p.Run(st)
		if c := st.X.Response.StatusCode; c != 200 && c != 401 {
			t.Fatalf("status %d for %q (errors %v)", c, s, st.Errors)
		}
		var set struct {
			Keys []jsonWebKey `json:"keys"`
		}
		if json.Unmarshal([]byte(s), &set) == nil {
			for _, k := range set.Keys {
				k.publicKey()
			}
		}
	})
}

// benchState builds a request state without a testing.T.
func benchState(env *Env, header http.Header, body string) *State {
	st := NewState(context.Background(), env)
	u, _ := expr.ParseURL("http://gw.test/api/x")
	st.X.RequestId = "00000000-0000-0000-0000-000000000001"
	st.X.Request = &expr.Request{Method: "POST", Url: u, OriginalUrl: u.Clone(), Headers: header, IpAddress: "127.0.0.1", MatchedParameters: map[string]string{}}
	if body != "" {
		st.SetRequestBody(expr.NewBodyBytes([]byte(body)), int64(len(body)))
	}
	return st
}

func BenchmarkValidateJWT(b *testing.B) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	o := &oidcServer{}
	o.setKeys([]string{"k"}, []*rsa.PrivateKey{key})
	os.WriteFile(filepath.Join(dir, "keys.json"), o.jwks(), 0o600)
	os.WriteFile(filepath.Join(dir, "openid.json"), []byte(`{"issuer":"https://issuer.test/","jwks_uri":"keys.json"}`), 0o600)
	claims := jwt.MapClaims{"sub": "alice", "aud": "api", "iss": "https://issuer.test/", "exp": testNow.Add(time.Hour).Unix(), "roles": []any{"reader"}}
	hs, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(hsSecret)
	rsTok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	rsTok.Header["kid"] = "k"
	rs, _ := rsTok.SignedString(key)
	for _, bc := range []struct {
		name, keys, token string
		uncached          bool
	}{
		{"HS256", `<issuer-signing-keys><key>` + hsSecretB64 + `</key></issuer-signing-keys>`, hs, false},
		{"HS256-uncached", `<issuer-signing-keys><key>` + hsSecretB64 + `</key></issuer-signing-keys>`, hs, true},
		{"RS256-openid", `<openid-config url="` + filepath.Join(dir, "openid.json") + `"/>`, rs, false},
		{"RS256-openid-uncached", `<openid-config url="` + filepath.Join(dir, "openid.json") + `"/>`, rs, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c := &Compiler{}
			s := c.Compile("api", "b.xml", []byte(wrap(`<validate-jwt header-name="Authorization" output-token-variable-name="jwt">`+bc.keys+`
				<audiences><audience>api</audience></audiences>
				<required-claims><claim name="roles" match="any"><value>reader</value></claim></required-claims>
			</validate-jwt><return-response/>`)))
			if len(c.Errors()) > 0 {
				b.Fatal(c.Errors())
			}
			p := Compose(s)
			if bc.uncached { // without the JWT cache: every request verifies
				p.sections[secInbound][0].step.(*validateJWT).cache = nil
			}
			env := &Env{Now: fixedClock(testNow)}
			h := http.Header{"Authorization": {"Bearer " + bc.token}}
			b.ReportAllocs()
			for b.Loop() {
				st := benchState(env, h, "")
				p.Run(st)
				if st.X.Response.StatusCode != 200 {
					b.Fatalf("status %d: %v", st.X.Response.StatusCode, st.Errors)
				}
			}
		})
	}
}

// TestOpenIDConcurrentFirstFetch checks that concurrent requests share one
// fetch of the key set.
func TestOpenIDConcurrentFirstFetch(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	o := newOIDCServer(t)
	o.setKeys([]string{"k"}, []*rsa.PrivateKey{key})
	pl := testPipeline(t, wrap(`<validate-jwt header-name="Authorization"><openid-config url="`+o.URL+`/.well-known/openid-configuration"/></validate-jwt><return-response/>`), nil)
	env := testEnv(t)
	env.Now = fixedClock(testNow)
	token := rsToken(t, key, "k", jwt.MapClaims{"iss": o.URL + "/", "exp": testNow.Add(time.Hour).Unix()})
	var wg sync.WaitGroup
	codes := make([]int, 8)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := newRequestState(t, env, "GET", "http://gw.test/api/x", http.Header{"Authorization": {"Bearer " + token}}, "")
			pl.Run(st)
			codes[i] = st.X.Response.StatusCode
		}()
	}
	wg.Wait()
	for i, c := range codes {
		if c != 200 {
			t.Errorf("request %d: status %d", i, c)
		}
	}
	if n := o.fetches.Load(); n != 1 {
		t.Errorf("%d key set fetches, want 1", n)
	}
}

func TestValidateJWTOpenIDConfigExpression(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	o := newOIDCServer(t)
	o.setKeys([]string{"k"}, []*rsa.PrivateKey{key})
	pl := testPipeline(t, wrap(`<set-variable name="cfg" value="`+o.URL+`/.well-known/openid-configuration"/>
		<validate-jwt header-name="Authorization"><openid-config url="@(context.Variables.GetValueOrDefault<string>("cfg"))"/></validate-jwt>
		<return-response><set-body>ok</set-body></return-response>`), nil)
	env := testEnv(t)
	env.Now = fixedClock(testNow)
	for i := 0; i < 2; i++ {
		st := newRequestState(t, env, "GET", "http://gw.test/api/x", http.Header{"Authorization": {"Bearer " + rsToken(t, key, "k", jwt.MapClaims{"iss": o.URL + "/", "exp": testNow.Add(time.Hour).Unix()})}}, "")
		if body := run(t, pl, st); body != "ok" {
			t.Fatalf("request %d: %d %q (errors %v)", i, st.X.Response.StatusCode, body, st.Errors)
		}
	}
	if n := o.fetches.Load(); n != 1 {
		t.Errorf("%d key set fetches, want 1", n)
	}
}

func TestHandlesPreflight(t *testing.T) {
	cors := `<cors><allowed-origins><origin>*</origin></allowed-origins></cors>`
	for _, tc := range []struct {
		policy string
		want   bool
	}{
		{wrap(cors), true},
		{wrap(`<choose><when condition="@(true)">` + cors + `</when></choose>`), true},
		{wrap(`<set-header name="a"><value>b</value></set-header>`), false},
	} {
		if got := testPipeline(t, tc.policy, nil).HandlesPreflight(); got != tc.want {
			t.Errorf("HandlesPreflight = %v, want %v for %s", got, tc.want, tc.policy)
		}
	}
	if !IsPreflight("OPTIONS", http.Header{"Origin": {"o"}, "Access-Control-Request-Method": {"GET"}}) || IsPreflight("OPTIONS", http.Header{"Origin": {"o"}}) {
		t.Error("IsPreflight")
	}
}
