package policy

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/apimgw/apimgw/internal/backend"
	"github.com/apimgw/apimgw/internal/expr"
	"github.com/apimgw/apimgw/internal/policy/policyxml"
)

func init() {
	in := []string{SectionInbound}
	register("authentication-managed-identity", nil, compileManagedIdentity) // real policies also use it in outbound and on-error with output-token-variable-name
	register("authentication-basic", in, compileAuthBasic)
	register("authentication-certificate", in, compileAuthCertificate)
	register("check-header", in, compileCheckHeader)
	register("ip-filter", in, compileIPFilter)
	register("cors", in, compileCORS)
	register("validate-jwt", in, compileValidateJWT)
	register("validate-azure-ad-token", in, compileValidateAzureADToken)
	register("validate-client-certificate", in, compileValidateClientCertificate)
}

// Reasons of context.LastError raised by the security policies. APIM's
// names where APIM documents one.
const (
	ReasonManagedIdentity       = "ManagedIdentityTokenFailure"
	ReasonHeaderNotFound        = "HeaderNotFound"
	ReasonHeaderValueNotAllowed = "HeaderValueNotAllowed"
	ReasonCallerIPNotAllowed    = "CallerIpNotAllowed"
	ReasonCallerIPBlocked       = "CallerIpBlocked"
)

// managedIdentity is authentication-managed-identity: get a token for
// resource from Services.Token (the local stand-in for Azure's managed
// identity) and send it as a bearer token or store it in a variable.
type managedIdentity struct {
	resource    *expr.Value
	clientID    *expr.Value
	outputVar   string
	ignoreError bool
}

func compileManagedIdentity(b *builder, el *policyxml.Element, path string) Step {
	attrs := b.attrs(el, "resource", "client-id", "output-token-variable-name", "ignore-error")
	b.children(el)
	if !b.require(el, attrs, "resource") {
		return nil
	}
	m := &managedIdentity{
		resource:    b.value(attrs["resource"]),
		outputVar:   attrs["output-token-variable-name"].Value,
		ignoreError: b.constBool(attrs["ignore-error"], false),
	}
	if a, ok := attrs["client-id"]; ok {
		m.clientID = b.value(a)
	}
	if m.resource == nil {
		return nil
	}
	return m
}

// token returns the access token, or "" with a nil error when the call
// failed and ignore-error is set.
func (m *managedIdentity) token(st *State) (string, error) {
	resource, err := m.resource.String(&st.X)
	if err != nil {
		return "", err
	}
	clientID := ""
	if m.clientID != nil {
		if clientID, err = m.clientID.String(&st.X); err != nil {
			return "", err
		}
	}
	if st.Env.Services.Token == nil {
		if m.ignoreError {
			return "", nil
		}
		return "", &Error{Reason: ReasonManagedIdentity, Status: http.StatusInternalServerError,
			Message: "authentication-managed-identity needs a token source: add a managedIdentity: section (command, file or env) to gateway.yaml"}
	}
	tok, err := st.Env.Services.Token(st.Ctx, resource, clientID)
	if err != nil {
		if m.ignoreError {
			return "", nil
		}
		return "", &Error{Reason: ReasonManagedIdentity, Status: http.StatusInternalServerError,
			Message: fmt.Sprintf("could not obtain a managed identity token for resource %q", resource), Err: err}
	}
	return strings.TrimSpace(tok), nil
}

func (m *managedIdentity) Run(st *State) error {
	tok, err := m.token(st)
	if err != nil {
		return err
	}
	if m.outputVar != "" {
		if st.X.Variables == nil {
			st.X.Variables = expr.Variables{}
		}
		st.X.Variables[m.outputVar] = tok
		return nil
	}
	if tok != "" {
		requestHeaders(st).Set("Authorization", "Bearer "+tok)
	}
	return nil
}

// requestHeaders returns the request's headers, creating them if needed.
func requestHeaders(st *State) http.Header {
	if st.X.Request.Headers == nil {
		st.X.Request.Headers = http.Header{}
	}
	return st.X.Request.Headers
}

// authBasic is authentication-basic: HTTP Basic credentials for the backend.
type authBasic struct {
	username, password *expr.Value
}

func compileAuthBasic(b *builder, el *policyxml.Element, path string) Step {
	attrs := b.attrs(el, "username", "password")
	b.children(el)
	if !b.require(el, attrs, "username", "password") {
		return nil
	}
	a := &authBasic{username: b.value(attrs["username"]), password: b.value(attrs["password"])}
	if a.username == nil || a.password == nil {
		return nil
	}
	return a
}

func (a *authBasic) header(st *State) (string, error) {
	u, err := a.username.String(&st.X)
	if err != nil {
		return "", err
	}
	p, err := a.password.String(&st.X)
	if err != nil {
		return "", err
	}
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(u+":"+p)), nil
}

func (a *authBasic) Run(st *State) error {
	v, err := a.header(st)
	if err != nil {
		return err
	}
	requestHeaders(st).Set("Authorization", v)
	return nil
}

// Certificates are the configured client certificates (APIM's certificate
// entities) that authentication-certificate presents to backends, by id and
// by thumbprint. Certificates given to the policy as PKCS#12 data (body)
// are decoded once and kept, up to maxBodyCertificates.
type Certificates struct {
	ByID         map[string]*backend.ClientCert
	ByThumbprint map[string]*backend.ClientCert

	mu     sync.Mutex
	bodies map[[32]byte]*backend.ClientCert
}

// maxBodyCertificates bounds the decoded body certificates kept: each has
// its own connection pools, so a policy minting a new one per request must
// not grow memory without end.
const maxBodyCertificates = 64

// NewCertificates indexes certs by id and thumbprint.
func NewCertificates(certs []*backend.ClientCert) *Certificates {
	c := &Certificates{ByID: map[string]*backend.ClientCert{}, ByThumbprint: map[string]*backend.ClientCert{}}
	for _, cc := range certs {
		c.ByID[cc.ID] = cc
		c.ByThumbprint[cc.Thumbprint] = cc
	}
	return c
}

// FindByThumbprint returns the certificate with thumbprint v (any case,
// spaces and colons ignored), or nil.
func (c *Certificates) FindByThumbprint(v string) *backend.ClientCert {
	if c == nil {
		return nil
	}
	return c.ByThumbprint[backend.NormalizeThumbprint(v)]
}

// FindByID returns the certificate with id v, or nil.
func (c *Certificates) FindByID(v string) *backend.ClientCert {
	if c == nil {
		return nil
	}
	return c.ByID[strings.TrimSpace(v)]
}

// fromBody decodes PKCS#12 data, reusing an earlier decode of the same data
// and password.
func (c *Certificates) fromBody(data []byte, password string) (*backend.ClientCert, error) {
	h := sha256.New()
	h.Write(data)
	h.Write([]byte{0})
	h.Write([]byte(password))
	var key [32]byte
	h.Sum(key[:0])
	c.mu.Lock()
	cc, ok := c.bodies[key]
	c.mu.Unlock()
	if ok {
		return cc, nil
	}
	cc, err := backend.ParseClientCertPFX("", data, password)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.bodies == nil || len(c.bodies) >= maxBodyCertificates {
		c.bodies = map[[32]byte]*backend.ClientCert{}
	}
	c.bodies[key] = cc
	return cc, nil
}

// ReasonCertificateNotFound is context.LastError.Reason when
// authentication-certificate names a certificate the gateway does not have.
const ReasonCertificateNotFound = "CertificateNotFound"

// authCertificate is authentication-certificate: the client certificate
// the following forward-request (or the enclosing send-request) presents in
// its TLS handshake with the backend.
type authCertificate struct {
	thumbprint, id, body, password *expr.Value
	fixed                          *backend.ClientCert // resolved when constant
}

func compileAuthCertificate(b *builder, el *policyxml.Element, path string) Step {
	attrs := b.attrs(el, "thumbprint", "certificate-id", "body", "password")
	b.children(el)
	var which []string
	for _, n := range []string{"thumbprint", "certificate-id", "body"} {
		if _, ok := attrs[n]; ok {
			which = append(which, n)
		}
	}
	if len(which) != 1 {
		b.errorf(el.Pos, "<authentication-certificate> needs exactly one of thumbprint, certificate-id or body")
		return nil
	}
	a := &authCertificate{}
	if p, ok := attrs["password"]; ok {
		if which[0] != "body" {
			b.errorf(p.Pos, "authentication-certificate password is for a certificate given in body; configured certificates carry their own")
		}
		a.password = b.value(p)
	}
	at := attrs[which[0]]
	v := b.value(at)
	if v == nil {
		return nil
	}
	certs := b.c.Certificates
	switch which[0] {
	case "thumbprint":
		a.thumbprint = v
		if v.IsConst() && certs != nil {
			if a.fixed = certs.FindByThumbprint(at.Value); a.fixed == nil {
				b.errorf(at.ValuePos, "no certificate in the configuration (certificates) has thumbprint %q", at.Value)
			}
		}
	case "certificate-id":
		a.id = v
		if v.IsConst() && certs != nil {
			if a.fixed = certs.FindByID(at.Value); a.fixed == nil {
				b.errorf(at.ValuePos, "no certificate in the configuration (certificates) has id %q", at.Value)
			}
		}
	default:
		a.body = v
	}
	return a
}

func (a *authCertificate) Run(st *State) error {
	c, err := a.certificate(st)
	if err != nil {
		return err
	}
	st.ClientCert = c
	return nil
}

// certificate resolves the certificate for this request.
func (a *authCertificate) certificate(st *State) (*backend.ClientCert, error) {
	if a.fixed != nil {
		return a.fixed, nil
	}
	certs := st.Env.Services.Certificates
	switch {
	case a.thumbprint != nil:
		v, err := a.thumbprint.String(&st.X)
		if err != nil {
			return nil, err
		}
		if c := certs.FindByThumbprint(v); c != nil {
			return c, nil
		}
		return nil, &Error{Reason: ReasonCertificateNotFound, Message: fmt.Sprintf("Certificate with thumbprint '%s' could not be found.", v)}
	case a.id != nil:
		v, err := a.id.String(&st.X)
		if err != nil {
			return nil, err
		}
		if c := certs.FindByID(v); c != nil {
			return c, nil
		}
		return nil, &Error{Reason: ReasonCertificateNotFound, Message: fmt.Sprintf("Certificate with id '%s' could not be found.", v)}
	}
	v, err := evalAny(a.body, &st.X)
	if err != nil {
		return nil, err
	}
	var data []byte
	switch x := v.(type) {
	case []byte:
		data = x
	case string:
		// A literal body: the certificate as base64 text.
		if data, err = base64.StdEncoding.DecodeString(strings.TrimSpace(x)); err != nil {
			return nil, &Error{Reason: ReasonExpressionFailure, Message: "authentication-certificate body is not a byte array or base64 text"}
		}
	default:
		return nil, &Error{Reason: ReasonExpressionFailure, Message: "authentication-certificate body must be a byte array"}
	}
	password := ""
	if a.password != nil {
		if password, err = a.password.String(&st.X); err != nil {
			return nil, err
		}
	}
	if certs == nil {
		certs = &Certificates{}
	}
	c, err := certs.fromBody(data, password)
	if err != nil {
		return nil, &Error{Reason: ReasonExpressionFailure, Message: "The client certificate given in authentication-certificate body could not be read.", Err: err}
	}
	return c, nil
}

// checkHeader is check-header: require a header, optionally with one of a
// set of values.
type checkHeader struct {
	name       string
	status     int
	message    *expr.Value
	ignoreCase bool
	values     []string
}

func compileCheckHeader(b *builder, el *policyxml.Element, path string) Step {
	attrs := b.attrs(el, "name", "failed-check-httpcode", "failed-check-error-message", "ignore-case")
	if !b.require(el, attrs, "name", "failed-check-httpcode", "failed-check-error-message") {
		return nil
	}
	c := &checkHeader{
		name:       attrs["name"].Value,
		status:     b.constInt(attrs["failed-check-httpcode"], 0, 100, 599),
		message:    b.value(attrs["failed-check-error-message"]),
		ignoreCase: b.constBool(attrs["ignore-case"], false),
	}
	for _, v := range b.children(el, "value") {
		b.noAttrs(v)
		c.values = append(c.values, strings.TrimSpace(v.Text()))
	}
	return c
}

func (c *checkHeader) fail(st *State, reason, msg string) error {
	clientMsg := msg
	if c.message != nil {
		m, err := c.message.String(&st.X)
		if err != nil {
			return err
		}
		clientMsg = m
	}
	return &Error{Reason: reason, Message: msg, Status: c.status, ClientMessage: clientMsg}
}

func (c *checkHeader) Run(st *State) error {
	vals := st.X.Request.Headers.Values(c.name)
	if len(vals) == 0 {
		return c.fail(st, ReasonHeaderNotFound, fmt.Sprintf("Header %s was not found.", c.name))
	}
	if len(c.values) == 0 {
		return nil
	}
	for _, v := range vals {
		for _, part := range strings.Split(v, ",") {
			part = strings.TrimSpace(part)
			for _, want := range c.values {
				if part == want || c.ignoreCase && strings.EqualFold(part, want) {
					return nil
				}
			}
		}
	}
	return c.fail(st, ReasonHeaderValueNotAllowed, fmt.Sprintf("Header %s value is not allowed.", c.name))
}

// ipFilter is ip-filter: allow or forbid callers by address or range.
type ipFilter struct {
	allow  bool
	ranges []ipRange
}

type ipRange struct{ from, to netip.Addr }

func (r ipRange) contains(a netip.Addr) bool {
	return r.from.BitLen() == a.BitLen() && r.from.Compare(a) <= 0 && a.Compare(r.to) <= 0
}

func compileIPFilter(b *builder, el *policyxml.Element, path string) Step {
	attrs := b.attrs(el, "action")
	if !b.require(el, attrs, "action") {
		return nil
	}
	f := &ipFilter{}
	switch strings.ToLower(attrs["action"].Value) {
	case "allow":
		f.allow = true
	case "forbid":
	default:
		b.errorf(attrs["action"].ValuePos, `ip-filter action must be "allow" or "forbid", got %q`, attrs["action"].Value)
	}
	parse := func(c *policyxml.Element, s string) (netip.Addr, bool) {
		a, err := netip.ParseAddr(strings.TrimSpace(s))
		if err != nil {
			b.errorf(c.Pos, "ip-filter: %q is not an IP address", s)
			return netip.Addr{}, false
		}
		return a.Unmap(), true
	}
	for _, c := range b.children(el, "address", "address-range") {
		switch c.Name {
		case "address":
			b.noAttrs(c)
			b.children(c)
			if a, ok := parse(c, c.Text()); ok {
				f.ranges = append(f.ranges, ipRange{a, a})
			}
		case "address-range":
			ra := b.attrs(c, "from", "to")
			b.children(c)
			if !b.require(c, ra, "from", "to") {
				continue
			}
			from, ok1 := parse(c, ra["from"].Value)
			to, ok2 := parse(c, ra["to"].Value)
			if !ok1 || !ok2 {
				continue
			}
			if from.BitLen() != to.BitLen() || from.Compare(to) > 0 {
				b.errorf(c.Pos, "ip-filter: invalid range %s - %s", from, to)
				continue
			}
			f.ranges = append(f.ranges, ipRange{from, to})
		}
	}
	if len(f.ranges) == 0 {
		b.errorf(el.Pos, "<ip-filter> needs at least one <address> or <address-range>")
	}
	return f
}

func (f *ipFilter) Run(st *State) error {
	ip, err := netip.ParseAddr(st.X.Request.IpAddress)
	matched := false
	if err == nil {
		ip = ip.Unmap()
		for _, r := range f.ranges {
			if r.contains(ip) {
				matched = true
				break
			}
		}
	}
	if matched == f.allow {
		return nil
	}
	if !f.allow {
		return &Error{Reason: ReasonCallerIPBlocked, Status: http.StatusForbidden, ClientMessage: "Forbidden",
			Message: fmt.Sprintf("Caller IP address %s is blocked. Access denied.", st.X.Request.IpAddress)}
	}
	return &Error{Reason: ReasonCallerIPNotAllowed, Status: http.StatusForbidden, ClientMessage: "Forbidden",
		Message: fmt.Sprintf("Caller IP address %s is not allowed. Access denied.", st.X.Request.IpAddress)}
}

// corsPolicy is the cors policy. Preflight requests are answered by the policy;
// for other cross-origin requests it records the headers to add to the final
// response, which FinishResponse applies.
type corsPolicy struct {
	credentials   bool
	terminate     bool
	anyOrigin     bool
	origins       []string
	anyMethod     bool
	methods       []string
	maxAge        int
	anyHeader     bool
	headers       []string
	exposeHeaders []string
}

// deferToResponse registers f to run on the final response, after the
// pipeline (and on-error) finished and before the response is written.
func deferToResponse(st *State, f func(st *State)) {
	st.beforeSend = append(st.beforeSend, f)
}

func compileCORS(b *builder, el *policyxml.Element, path string) Step {
	attrs := b.attrs(el, "allow-credentials", "terminate-unmatched-request")
	c := &corsPolicy{
		credentials: b.constBool(attrs["allow-credentials"], false),
		terminate:   b.constBool(attrs["terminate-unmatched-request"], true),
	}
	list := func(parent *policyxml.Element, child string) (all bool, out []string) {
		for _, v := range b.children(parent, child) {
			b.noAttrs(v)
			s := strings.TrimSpace(v.Text())
			if s == "*" {
				all = true
				continue
			}
			if s != "" {
				out = append(out, s)
			}
		}
		return all, out
	}
	seenOrigins := false
	for _, ch := range b.children(el, "allowed-origins", "allowed-methods", "allowed-headers", "expose-headers") {
		switch ch.Name {
		case "allowed-origins":
			b.noAttrs(ch)
			seenOrigins = true
			c.anyOrigin, c.origins = list(ch, "origin")
			for i, o := range c.origins {
				c.origins[i] = strings.TrimRight(o, "/")
			}
		case "allowed-methods":
			ma := b.attrs(ch, "preflight-result-max-age")
			c.maxAge = b.constInt(ma["preflight-result-max-age"], 0, 0, 1<<30)
			c.anyMethod, c.methods = list(ch, "method")
		case "allowed-headers":
			b.noAttrs(ch)
			c.anyHeader, c.headers = list(ch, "header")
		case "expose-headers":
			b.noAttrs(ch)
			_, c.exposeHeaders = list(ch, "header")
		}
	}
	if !seenOrigins || !c.anyOrigin && len(c.origins) == 0 {
		b.errorf(el.Pos, "<cors> needs <allowed-origins> with at least one <origin>")
	}
	if c.credentials && c.anyOrigin {
		b.errorf(el.Pos, `<cors> allow-credentials="true" cannot be used with the wildcard origin "*"`)
	}
	if !c.anyMethod && len(c.methods) == 0 {
		// APIM allows GET and POST when allowed-methods is absent.
		c.methods = []string{http.MethodGet, http.MethodPost}
	}
	return c
}

func (c *corsPolicy) originAllowed(origin string) bool {
	if c.anyOrigin {
		return true
	}
	o := strings.TrimRight(origin, "/")
	for _, want := range c.origins {
		if strings.EqualFold(want, o) {
			return true
		}
	}
	return false
}

func (c *corsPolicy) methodAllowed(m string) bool {
	if c.anyMethod {
		return true
	}
	for _, want := range c.methods {
		if strings.EqualFold(want, m) {
			return true
		}
	}
	return false
}

func (c *corsPolicy) headersAllowed(list string) bool {
	if c.anyHeader {
		return true
	}
	for _, h := range strings.Split(list, ",") {
		h = strings.TrimSpace(h)
		if h == "" {
			continue
		}
		ok := false
		for _, want := range c.headers {
			if strings.EqualFold(want, h) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func (c *corsPolicy) allowOrigin(origin string) string {
	if c.anyOrigin && !c.credentials {
		return "*"
	}
	return origin
}

func (c *corsPolicy) Run(st *State) error {
	req := st.X.Request
	origin := req.Headers.Get("Origin")
	if origin == "" {
		return nil
	}
	reqMethod := req.Headers.Get("Access-Control-Request-Method")
	if req.Method == http.MethodOptions && reqMethod != "" {
		reqHeaders := strings.Join(req.Headers.Values("Access-Control-Request-Headers"), ",")
		h := http.Header{}
		if c.originAllowed(origin) && c.methodAllowed(reqMethod) && c.headersAllowed(reqHeaders) {
			h.Set("Access-Control-Allow-Origin", c.allowOrigin(origin))
			if c.credentials {
				h.Set("Access-Control-Allow-Credentials", "true")
			}
			h.Set("Access-Control-Allow-Methods", reqMethod)
			if strings.TrimSpace(reqHeaders) != "" {
				h.Set("Access-Control-Allow-Headers", reqHeaders)
			}
			if c.maxAge > 0 {
				h.Set("Access-Control-Max-Age", strconv.Itoa(c.maxAge))
			}
		} else if !c.terminate {
			return nil
		}
		if !c.anyOrigin || c.credentials {
			h.Set("Vary", "Origin")
		}
		return c.respond(st, h)
	}
	if !c.originAllowed(origin) {
		if c.terminate && (req.Method == http.MethodGet || req.Method == http.MethodHead) {
			return c.respond(st, http.Header{})
		}
		return nil
	}
	h := http.Header{}
	h.Set("Access-Control-Allow-Origin", c.allowOrigin(origin))
	if c.credentials {
		h.Set("Access-Control-Allow-Credentials", "true")
	}
	if len(c.exposeHeaders) > 0 {
		h.Set("Access-Control-Expose-Headers", strings.Join(c.exposeHeaders, ","))
	}
	if !c.anyOrigin || c.credentials {
		h.Set("Vary", "Origin")
	}
	deferToResponse(st, func(st *State) {
		resp := st.response()
		for k, v := range h {
			if k == "Vary" {
				resp.Headers.Add(k, v[0])
				continue
			}
			resp.Headers[k] = v
		}
	})
	return nil
}

// respond ends the pipeline with an empty 200 carrying h.
func (c *corsPolicy) respond(st *State, h http.Header) error {
	st.Close()
	st.X.Response = &expr.Response{StatusCode: http.StatusOK, StatusReason: "OK", Headers: h, Body: expr.NewBodyBytes(nil)}
	st.Responded = true
	return errResponded
}

// FinishResponse runs what policies deferred to the final response (the
// CORS headers of a cross-origin request, LLM token metrics). The gateway
// calls it once after Pipeline.Run, whatever the outcome, before writing
// the response.
func FinishResponse(st *State) {
	d := st.beforeSend
	st.beforeSend = nil
	for _, f := range d {
		f(st)
	}
}

// Reasons of context.LastError raised by validate-jwt and
// validate-azure-ad-token (APIM's names).
const (
	ReasonTokenNotPresent            = "TokenNotPresent"
	ReasonTokenInvalid               = "TokenInvalid"
	ReasonTokenSchemeNotAllowed      = "TokenSchemeNotAllowed"
	ReasonTokenNotSigned             = "TokenNotSigned"
	ReasonTokenExpired               = "TokenExpired"
	ReasonTokenNotYetValid           = "TokenNotYetValid"
	ReasonTokenExpirationNotPresent  = "TokenExpirationTimeNotPresent"
	ReasonTokenSignatureKeyNotFound  = "TokenSignatureKeyNotFound"
	ReasonTokenSignatureInvalid      = "TokenSignatureInvalid"
	ReasonTokenAudienceNotAllowed    = "TokenAudienceNotAllowed"
	ReasonTokenIssuerNotAllowed      = "TokenIssuerNotAllowed"
	ReasonTokenClaimNotFound         = "TokenClaimNotFound"
	ReasonTokenClaimValueNotAllowed  = "TokenClaimValueNotAllowed"
	ReasonTokenClientAppNotAllowed   = "TokenClientApplicationNotAllowed"
	ReasonOpenIDConfigurationFailure = "OpenIdConfigurationNotAvailable"
)

// defaultJWTMessages are the client messages of validate-jwt failures when
// failed-validation-error-message is not set.
const (
	msgJWTNotPresent = "JWT not present."
	msgJWTInvalid    = "Invalid JWT."
)

// validateJWT is validate-jwt (and, configured for Microsoft Entra ID,
// validate-azure-ad-token).
type validateJWT struct {
	policy        string
	header        string
	headerKey     string // header in canonical form
	query         string
	tokenValue    *expr.Value
	scheme        string
	status        int
	message       *expr.Value
	requireExp    bool
	requireSigned bool
	skew          time.Duration
	outputVar     string
	keys          []signingKey
	keyValues     []*expr.Value // keys given by expressions (base64 HS keys)
	oidc          []*oidcSource
	oidcExprs     []*expr.Value // openid-config urls given by expressions
	dynamic       *oidcSources
	audiences     []*expr.Value
	issuers       []*expr.Value
	claims        []requiredClaim
	clientApps    []string // validate-azure-ad-token client-application-ids
	toJwt         *expr.Program
	// cache holds the tokens this policy accepted (nil when its keys are
	// expressions); constChecks is set when its audience, issuer and claim
	// checks have no expression, so they need not run again for a cached
	// token.
	cache       *jwtCache
	constChecks bool
}

// signingKey is a verification key with its key id ("" matches any kid).
type signingKey struct {
	kid string
	key any // []byte, *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey
}

type requiredClaim struct {
	name      string
	matchAny  bool
	separator string
	values    []*expr.Value
}

func compileValidateJWT(b *builder, el *policyxml.Element, path string) Step {
	attrs := b.attrs(el, "header-name", "query-parameter-name", "token-value", "failed-validation-httpcode",
		"failed-validation-error-message", "require-expiration-time", "require-scheme", "require-signed-tokens",
		"clock-skew", "output-token-variable-name")
	v := &validateJWT{policy: el.Name}
	sources := 0
	if a, ok := attrs["header-name"]; ok {
		v.header, sources = a.Value, sources+1
	}
	if a, ok := attrs["query-parameter-name"]; ok {
		v.query, sources = a.Value, sources+1
	}
	if a, ok := attrs["token-value"]; ok {
		v.tokenValue, sources = b.value(a), sources+1
	}
	if sources != 1 {
		b.errorf(el.Pos, "<validate-jwt> needs exactly one of header-name, query-parameter-name or token-value")
	}
	v.compileCommon(b, attrs)
	v.requireExp = b.constBool(attrs["require-expiration-time"], true)
	v.requireSigned = b.constBool(attrs["require-signed-tokens"], true)
	v.scheme = strings.TrimSpace(attrs["require-scheme"].Value)
	v.skew = b.seconds(attrs["clock-skew"], 0, 24*3600)
	for _, c := range b.children(el, "openid-config", "issuer-signing-keys", "decryption-keys", "audiences", "issuers", "required-claims") {
		switch c.Name {
		case "openid-config":
			v.compileOpenID(b, c)
		case "issuer-signing-keys":
			b.noAttrs(c)
			for _, k := range b.children(c, "key") {
				v.compileKey(b, k)
			}
		case "decryption-keys":
			b.errorf(c.Pos, "<decryption-keys> is not supported: apimgw validates signed tokens (JWS) only, not encrypted ones (JWE)")
		case "audiences":
			b.noAttrs(c)
			v.audiences = append(v.audiences, b.valueList(c, "audience")...)
		case "issuers":
			b.noAttrs(c)
			v.issuers = append(v.issuers, b.valueList(c, "issuer")...)
		case "required-claims":
			v.compileClaims(b, c)
		}
	}
	// A policy without keys is accepted, as APIM does: every signed token
	// then fails with TokenSignatureKeyNotFound.
	v.setupCache()
	return v
}

// compileCommon compiles the attributes validate-jwt and
// validate-azure-ad-token share.
func (v *validateJWT) compileCommon(b *builder, attrs map[string]policyxml.Attr) {
	v.status = b.constInt(attrs["failed-validation-httpcode"], http.StatusUnauthorized, 100, 599)
	if a, ok := attrs["failed-validation-error-message"]; ok {
		v.message = b.value(a)
	}
	v.outputVar = attrs["output-token-variable-name"].Value
	if v.outputVar != "" {
		prog, err := expr.Compile(`@(((string)context.Variables["t"]).AsJwt())`)
		if err != nil {
			b.errorf(attrs["output-token-variable-name"].ValuePos, "output-token-variable-name: %v", err)
		}
		v.toJwt = prog
	}
}

// valueList compiles the text of every child element named child.
func (b *builder) valueList(parent *policyxml.Element, child string) []*expr.Value {
	var out []*expr.Value
	for _, c := range b.children(parent, child) {
		b.noAttrs(c)
		if val := b.textValue(c); val != nil {
			out = append(out, val)
		}
	}
	return out
}

func (v *validateJWT) compileOpenID(b *builder, c *policyxml.Element) {
	a := b.attrs(c, "url", "validate-connectivity")
	b.children(c)
	if !b.require(c, a, "url") {
		return
	}
	b.constBool(a["validate-connectivity"], false)
	u := strings.TrimSpace(a["url"].Value)
	if expr.IsExpression(u) {
		if val := b.value(a["url"]); val != nil {
			v.oidcExprs = append(v.oidcExprs, val)
			if v.dynamic == nil {
				v.dynamic = &oidcSources{byURL: map[string]*oidcSource{}}
			}
		}
		return
	}
	v.oidc = append(v.oidc, &oidcSource{url: u})
}

// maxDynamicOpenID bounds the distinct openid-config URLs one policy caches
// when its url is an expression.
const maxDynamicOpenID = 32

// oidcSources caches the openid-config sources of expression URLs.
type oidcSources struct {
	mu    sync.Mutex
	byURL map[string]*oidcSource
}

func (d *oidcSources) source(u string) (*oidcSource, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if s, ok := d.byURL[u]; ok {
		return s, nil
	}
	if len(d.byURL) >= maxDynamicOpenID {
		return nil, fmt.Errorf("openid-config: more than %d distinct URLs from one policy", maxDynamicOpenID)
	}
	s := &oidcSource{url: u}
	d.byURL[u] = s
	return s, nil
}

func (v *validateJWT) compileKey(b *builder, k *policyxml.Element) {
	a := b.attrs(k, "certificate-id", "n", "e")
	b.children(k)
	kid := ""
	if id, ok := k.Attr("id"); ok {
		kid = id.Value
	}
	switch {
	case a["certificate-id"].Name != "":
		b.errorf(k.Pos, "<key certificate-id> is not supported: apimgw has no certificate store; give the RSA key as n and e, or use <openid-config>")
	case a["n"].Name != "" || a["e"].Name != "":
		if !b.require(k, a, "n", "e") {
			return
		}
		pub, err := rsaKey(a["n"].Value, a["e"].Value)
		if err != nil {
			b.errorf(k.Pos, "validate-jwt key: %v", err)
			return
		}
		v.keys = append(v.keys, signingKey{kid: kid, key: pub})
	default:
		text := strings.TrimSpace(k.Text())
		if expr.IsExpression(text) {
			if val := b.textValue(k); val != nil {
				v.keyValues = append(v.keyValues, val)
			}
			return
		}
		secret, err := decodeBase64(text)
		if err != nil || len(secret) == 0 {
			b.errorf(k.Pos, "validate-jwt key must be a base64-encoded symmetric key")
			return
		}
		v.keys = append(v.keys, signingKey{kid: kid, key: secret})
	}
}

func (v *validateJWT) compileClaims(b *builder, c *policyxml.Element) {
	b.noAttrs(c)
	for _, cl := range b.children(c, "claim") {
		a := b.attrs(cl, "name", "match", "separator")
		if !b.require(cl, a, "name") {
			continue
		}
		rc := requiredClaim{name: a["name"].Value, separator: a["separator"].Value}
		switch strings.ToLower(a["match"].Value) {
		case "", "all":
		case "any":
			rc.matchAny = true
		default:
			b.errorf(a["match"].ValuePos, `claim match must be "all" or "any", got %q`, a["match"].Value)
		}
		rc.values = b.valueList(cl, "value")
		v.claims = append(v.claims, rc)
	}
}

// decodeBase64 accepts standard and URL alphabets, padded or not.
func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if out, err := enc.DecodeString(s); err == nil {
			return out, nil
		}
	}
	return nil, fmt.Errorf("%q is not base64", s)
}

func rsaKey(n, e string) (*rsa.PublicKey, error) {
	nb, err := decodeBase64(n)
	if err != nil {
		return nil, fmt.Errorf("rsa modulus: %w", err)
	}
	eb, err := decodeBase64(e)
	if err != nil {
		return nil, fmt.Errorf("rsa exponent: %w", err)
	}
	exp := new(big.Int).SetBytes(eb)
	if len(nb) < 64 || !exp.IsInt64() || exp.Int64() < 3 || exp.Int64() > 1<<31-1 {
		return nil, fmt.Errorf("invalid RSA public key")
	}
	return &rsa.PublicKey{N: new(big.Int).SetBytes(nb), E: int(exp.Int64())}, nil
}

// fail builds the policy's error for one validation failure.
func (v *validateJWT) fail(st *State, reason, detail string, err error) error {
	clientMsg := msgJWTInvalid
	if reason == ReasonTokenNotPresent {
		clientMsg = msgJWTNotPresent
	}
	if v.message != nil {
		m, merr := v.message.String(&st.X)
		if merr != nil {
			return merr
		}
		clientMsg = m
	}
	return &Error{Reason: reason, Message: detail, Status: v.status, ClientMessage: clientMsg, Err: err}
}

// token extracts the token text, stripping the authorization scheme.
func (v *validateJWT) token(st *State) (string, error) {
	var raw string
	switch {
	case v.tokenValue != nil:
		s, err := v.tokenValue.String(&st.X)
		if err != nil {
			return "", err
		}
		raw = s
	case v.header != "":
		if vals := st.X.Request.Headers[v.headerKey]; len(vals) > 0 { // Headers.Get without canonicalizing per request
			raw = vals[0]
		}
	case v.query != "":
		raw, _ = st.X.Request.Url.Query.Get(v.query)
	}
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", v.fail(st, ReasonTokenNotPresent, "JWT not present.", nil)
	}
	scheme, rest, hasScheme := strings.Cut(raw, " ")
	if hasScheme && strings.Contains(scheme, ".") {
		hasScheme = false
	}
	if v.scheme != "" {
		if !hasScheme || scheme != v.scheme && !strings.EqualFold(scheme, v.scheme) {
			return "", v.fail(st, ReasonTokenSchemeNotAllowed, fmt.Sprintf("JWT must use the %s scheme.", v.scheme), nil)
		}
	}
	if hasScheme {
		raw = strings.TrimSpace(rest)
	}
	if raw == "" {
		return "", v.fail(st, ReasonTokenNotPresent, "JWT not present.", nil)
	}
	return raw, nil
}

var (
	errKeyNotFound = errors.New("no signing key matches the token")
	errNotSigned   = errors.New("the token is not signed")
	errOIDC        = errors.New("openid configuration not available")
)

// The signing algorithms validate-jwt accepts, without and with unsigned
// tokens (require-signed-tokens="false").
var (
	jwtMethods         = []string{"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
	jwtMethodsUnsigned = append(jwtMethods[:len(jwtMethods):len(jwtMethods)], "none")
)

func (v *validateJWT) Run(st *State) error {
	raw, err := v.token(st)
	if err != nil {
		return err
	}
	if v.cache != nil {
		if e := v.cache.get(raw); e != nil {
			ok, err := v.cached(st, e)
			if err != nil {
				return err
			}
			if ok {
				return v.output(st, raw)
			}
			v.cache.drop(raw, e)
		}
	}
	methods := jwtMethods
	if !v.requireSigned {
		methods = jwtMethodsUnsigned
	}
	opts := []jwt.ParserOption{jwt.WithValidMethods(methods), jwt.WithLeeway(v.skew), jwt.WithTimeFunc(st.Env.now)}
	if v.requireExp {
		opts = append(opts, jwt.WithExpirationRequired())
	}
	var oidcIssuers []string
	var keySets []*signingKey
	var oidcErr error
	claims := jwt.MapClaims{}
	_, err = jwt.ParseWithClaims(raw, claims, func(t *jwt.Token) (any, error) {
		if t.Method.Alg() == "none" {
			if v.requireSigned {
				return nil, errNotSigned
			}
			return jwt.UnsafeAllowNoneSignatureType, nil
		}
		kid, _ := t.Header["kid"].(string)
		keys, err := v.candidates(st, t.Method.Alg(), kid, &oidcIssuers, &keySets, false)
		if err != nil {
			oidcErr = err
			return nil, err
		}
		if len(keys) == 0 && kid != "" && len(v.oidc)+len(v.oidcExprs) > 0 {
			oidcIssuers, keySets = oidcIssuers[:0], keySets[:0]
			if keys, err = v.candidates(st, t.Method.Alg(), kid, &oidcIssuers, &keySets, true); err != nil {
				oidcErr = err
				return nil, err
			}
		}
		if len(keys) == 0 {
			return nil, errKeyNotFound
		}
		return jwt.VerificationKeySet{Keys: keys}, nil
	}, opts...)
	if err != nil {
		return v.parseFailure(st, raw, err, oidcErr)
	}
	if err := v.checkClaims(st, claims, oidcIssuers); err != nil {
		return err
	}
	if v.cache != nil && (len(v.oidc) == 0 || len(keySets) == len(v.oidc)) {
		// An unsigned token (alg none) has no key sets to record when the
		// policy has openid-config sources: it is not cached.
		if e := newJWTEntry(claims, keySets, oidcIssuers, v.skew); e != nil {
			v.cache.put(raw, e)
		}
	}
	return v.output(st, raw)
}

// output sets the output-token-variable-name variable to the validated
// token.
func (v *validateJWT) output(st *State, raw string) error {
	if v.outputVar != "" && v.toJwt != nil {
		j, err := v.toJwt.Eval(&expr.Context{Variables: expr.Variables{"t": raw}})
		if err != nil {
			return err
		}
		if st.X.Variables == nil {
			st.X.Variables = expr.Variables{}
		}
		st.X.Variables[v.outputVar] = j
	}
	return nil
}

// tokenAlg returns the alg of a compact JWT's header ("" when unreadable).
func tokenAlg(raw string) string {
	head, _, _ := strings.Cut(raw, ".")
	data, err := decodeBase64(head)
	if err != nil {
		return ""
	}
	var h struct {
		Alg string `json:"alg"`
	}
	if json.Unmarshal(data, &h) != nil {
		return ""
	}
	return h.Alg
}

func (v *validateJWT) parseFailure(st *State, raw string, err, oidcErr error) error {
	switch {
	case oidcErr != nil:
		return v.fail(st, ReasonOpenIDConfigurationFailure, "Unable to obtain the OpenID configuration to validate the JWT.", oidcErr)
	case errors.Is(err, errNotSigned) || tokenAlg(raw) == "none":
		return v.fail(st, ReasonTokenNotSigned, "JWT is not signed.", err)
	case errors.Is(err, errKeyNotFound):
		return v.fail(st, ReasonTokenSignatureKeyNotFound, "JWT signature validation failed: no issuer signing key matches the token.", err)
	case errors.Is(err, jwt.ErrTokenMalformed):
		return v.fail(st, ReasonTokenInvalid, "JWT is malformed.", err)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return v.fail(st, ReasonTokenSignatureInvalid, "JWT signature is invalid.", err)
	case errors.Is(err, jwt.ErrTokenExpired):
		return v.fail(st, ReasonTokenExpired, "JWT has expired.", err)
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return v.fail(st, ReasonTokenNotYetValid, "JWT is not valid yet.", err)
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return v.fail(st, ReasonTokenExpirationNotPresent, "JWT has no expiration time.", err)
	}
	return v.fail(st, ReasonTokenInvalid, "JWT is invalid.", err)
}

// candidates returns the keys that may verify a token signed with alg and
// kid: the policy's own keys, then the openid-config keys (refreshed when
// refresh is set).
//
// keySets receives the first key of each openid-config key set consulted,
// in source order, which identifies the set (a fetch makes a new one).
func (v *validateJWT) candidates(st *State, alg, kid string, issuers *[]string, keySets *[]*signingKey, refresh bool) ([]jwt.VerificationKey, error) {
	var out []jwt.VerificationKey
	add := func(k signingKey) {
		if kid != "" && k.kid != "" && k.kid != kid {
			return
		}
		if keyFitsAlg(k.key, alg) {
			out = append(out, k.key)
		}
	}
	for _, k := range v.keys {
		add(k)
	}
	for _, kv := range v.keyValues {
		s, err := kv.String(&st.X)
		if err != nil {
			return nil, err
		}
		if secret, err := decodeBase64(s); err == nil && len(secret) > 0 {
			add(signingKey{key: secret})
		}
	}
	sources := v.oidc
	for _, e := range v.oidcExprs {
		u, err := e.String(&st.X)
		if err != nil {
			return nil, err
		}
		src, err := v.dynamic.source(strings.TrimSpace(u))
		if err != nil {
			return nil, err
		}
		sources = append(sources[:len(sources):len(sources)], src)
	}
	for _, src := range sources {
		iss, keys, err := src.get(st, refresh)
		if err != nil {
			return nil, err
		}
		if iss != "" {
			*issuers = append(*issuers, iss)
		}
		if len(keys) > 0 {
			*keySets = append(*keySets, &keys[0])
		}
		for _, k := range keys {
			add(k)
		}
	}
	return out, nil
}

func keyFitsAlg(key any, alg string) bool {
	switch key.(type) {
	case []byte:
		return strings.HasPrefix(alg, "HS")
	case *rsa.PublicKey:
		return strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS")
	case *ecdsa.PublicKey:
		return strings.HasPrefix(alg, "ES")
	case ed25519.PublicKey:
		return alg == "EdDSA"
	}
	return false
}

// claimValues returns a claim's values as strings (arrays flattened, a
// string split by sep when given); ok is false when the claim is absent.
func claimValues(claims jwt.MapClaims, name, sep string) ([]string, bool) {
	raw, ok := claims[name]
	if !ok || raw == nil {
		return nil, false
	}
	var out []string
	addOne := func(x any) {
		s := claimString(x)
		if sep != "" {
			for _, p := range strings.Split(s, sep) {
				out = append(out, strings.TrimSpace(p))
			}
			return
		}
		out = append(out, s)
	}
	if arr, isArr := raw.([]any); isArr {
		for _, x := range arr {
			addOne(x)
		}
	} else {
		addOne(raw)
	}
	return out, true
}

func claimString(x any) string {
	switch t := x.(type) {
	case string:
		return t
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64)
	case bool:
		if t {
			return "True"
		}
		return "False"
	}
	b, err := json.Marshal(x)
	if err != nil {
		return fmt.Sprint(x)
	}
	return string(b)
}

func (v *validateJWT) evalList(st *State, list []*expr.Value) ([]string, error) {
	out := make([]string, 0, len(list))
	for _, x := range list {
		s, err := x.String(&st.X)
		if err != nil {
			return nil, err
		}
		out = append(out, strings.TrimSpace(s))
	}
	return out, nil
}

func (v *validateJWT) checkClaims(st *State, claims jwt.MapClaims, oidcIssuers []string) error {
	if len(v.audiences) > 0 {
		allowed, err := v.evalList(st, v.audiences)
		if err != nil {
			return err
		}
		aud, _ := claimValues(claims, "aud", "")
		if !containsAny(aud, allowed) {
			return v.fail(st, ReasonTokenAudienceNotAllowed, "Audience validation failed: the token's audience is not allowed.", nil)
		}
	}
	allowedIss, err := v.evalList(st, v.issuers)
	if err != nil {
		return err
	}
	allowedIss = append(allowedIss, oidcIssuers...)
	if len(allowedIss) > 0 {
		iss, _ := claimValues(claims, "iss", "")
		if !containsAny(iss, allowedIss) {
			return v.fail(st, ReasonTokenIssuerNotAllowed, "Issuer validation failed: the token's issuer is not allowed.", nil)
		}
	}
	if len(v.clientApps) > 0 {
		app, ok := claimValues(claims, "azp", "")
		if !ok {
			app, _ = claimValues(claims, "appid", "")
		}
		if !containsAny(app, v.clientApps) {
			return v.fail(st, ReasonTokenClientAppNotAllowed, "The token's client application is not allowed.", nil)
		}
	}
	var missing []string
	for _, rc := range v.claims {
		if _, ok := claims[rc.name]; !ok {
			missing = append(missing, rc.name)
		}
	}
	if len(missing) > 0 {
		return v.fail(st, ReasonTokenClaimNotFound, fmt.Sprintf("JWT is missing the following claims: %s", strings.Join(missing, ", ")), nil)
	}
	for _, rc := range v.claims {
		if len(rc.values) == 0 {
			continue
		}
		want, err := v.evalList(st, rc.values)
		if err != nil {
			return err
		}
		have, _ := claimValues(claims, rc.name, rc.separator)
		ok := true
		if rc.matchAny {
			ok = containsAny(have, want)
		} else {
			for _, w := range want {
				if !containsAny(have, []string{w}) {
					ok = false
					break
				}
			}
		}
		if !ok {
			return v.fail(st, ReasonTokenClaimValueNotAllowed, fmt.Sprintf("Claim %s value of %s is not allowed.", rc.name, strings.Join(have, ",")), nil)
		}
	}
	return nil
}

func containsAny(have, allowed []string) bool {
	for _, h := range have {
		for _, a := range allowed {
			if h == a {
				return true
			}
		}
	}
	return false
}

// validate-azure-ad-token maps onto validate-jwt: Microsoft Entra ID's
// v2.0 discovery document for the tenant, its two issuer forms, the backend
// application ids as audiences and the client application ids checked
// against azp/appid.

// entraAuthority is the Microsoft Entra ID login host.
const entraAuthority = "https://login.microsoftonline.com"

func compileValidateAzureADToken(b *builder, el *policyxml.Element, path string) Step {
	attrs := b.attrs(el, "tenant-id", "header-name", "query-parameter-name", "token-value", "authentication-endpoint",
		"failed-validation-httpcode", "failed-validation-error-message", "output-token-variable-name")
	if !b.require(el, attrs, "tenant-id") {
		return nil
	}
	tenant := strings.TrimSpace(attrs["tenant-id"].Value)
	if expr.IsExpression(tenant) || tenant == "" || strings.ContainsAny(tenant, "/?#") {
		b.errorf(attrs["tenant-id"].ValuePos, "tenant-id must be a tenant id or domain, got %q", tenant)
		return nil
	}
	v := &validateJWT{policy: el.Name, header: "Authorization", requireExp: true, requireSigned: true}
	sources := 0
	if a, ok := attrs["header-name"]; ok {
		v.header, sources = a.Value, sources+1
	}
	if a, ok := attrs["query-parameter-name"]; ok {
		v.header, v.query, sources = "", a.Value, sources+1
	}
	if a, ok := attrs["token-value"]; ok {
		v.header, v.tokenValue, sources = "", b.value(a), sources+1
	}
	if sources > 1 {
		b.errorf(el.Pos, "<validate-azure-ad-token> takes at most one of header-name, query-parameter-name or token-value")
	}
	authority := entraAuthority
	if a, ok := attrs["authentication-endpoint"]; ok {
		authority = strings.TrimRight(strings.TrimSpace(a.Value), "/")
		if !strings.HasPrefix(authority, "https://") {
			b.errorf(a.ValuePos, "authentication-endpoint must be an https URL, got %q", a.Value)
		}
	}
	v.compileCommon(b, attrs)
	v.issuers = []*expr.Value{b.compileValue(authority+"/"+tenant+"/v2.0", el.Pos), b.compileValue("https://sts.windows.net/"+tenant+"/", el.Pos)}
	custom := false
	for _, c := range b.children(el, "client-application-ids", "backend-application-ids", "audiences", "required-claims", "decryption-keys", "openid-config") {
		switch c.Name {
		case "client-application-ids":
			b.noAttrs(c)
			for _, id := range b.children(c, "application-id") {
				b.noAttrs(id)
				v.clientApps = append(v.clientApps, strings.TrimSpace(id.Text()))
			}
		case "backend-application-ids":
			b.noAttrs(c)
			for _, id := range b.children(c, "application-id") {
				b.noAttrs(id)
				app := strings.TrimSpace(id.Text())
				v.audiences = append(v.audiences, b.compileValue(app, id.Pos), b.compileValue("api://"+app, id.Pos))
			}
		case "audiences":
			b.noAttrs(c)
			v.audiences = append(v.audiences, b.valueList(c, "audience")...)
		case "required-claims":
			v.compileClaims(b, c)
		case "decryption-keys":
			b.errorf(c.Pos, "<decryption-keys> is not supported: apimgw validates signed tokens (JWS) only, not encrypted ones (JWE)")
		case "openid-config":
			// apimgw extension: a local discovery document for offline use.
			custom = true
			v.compileOpenID(b, c)
		}
	}
	if !custom {
		v.oidc = append(v.oidc, &oidcSource{url: authority + "/" + tenant + "/v2.0/.well-known/openid-configuration"})
	}
	v.setupCache()
	return v
}

// OpenID configuration cache timings: keys are kept oidcTTL; a token with
// an unknown kid refreshes them at most every oidcRefreshEvery; a failed
// first fetch is retried at most every oidcRetryEvery.
const (
	oidcTTL          = time.Hour
	oidcRefreshEvery = 5 * time.Minute
	oidcRetryEvery   = 10 * time.Second
	oidcFetchTimeout = 10 * time.Second
	oidcMaxDocument  = 1 << 20
)

// oidcSource is one openid-config: its discovery document and key set,
// fetched on first use and cached per compiled policy. The URL may be
// http(s) (fetched through the gateway's transport), file:// or a local path.
type oidcSource struct {
	url string

	mu       sync.Mutex
	issuer   string
	keys     []signingKey
	fetched  time.Time // last successful fetch
	tried    time.Time // last attempt
	lastErr  error
	inflight chan struct{} // closed when the running fetch ends
}

// get returns the issuer and keys, fetching them when absent or stale, or
// when refresh is set and the last attempt is old enough. One fetch runs at
// a time: while it runs, callers use the cached set if there is one and
// wait for the fetch otherwise. The fetch is detached from the client's
// context (a client leaving must not fail it for everyone) and bounded by
// oidcFetchTimeout.
func (o *oidcSource) get(st *State, refresh bool) (string, []signingKey, error) {
	o.mu.Lock()
	for {
		now := st.Env.now()
		have := !o.fetched.IsZero()
		if o.inflight != nil {
			if have {
				break
			}
			ch := o.inflight
			o.mu.Unlock()
			select {
			case <-ch:
			case <-st.Ctx.Done():
				return "", nil, fmt.Errorf("openid-config %s: %w", o.url, st.Ctx.Err())
			}
			o.mu.Lock()
			continue
		}
		due := !have && (o.tried.IsZero() || now.Sub(o.tried) >= oidcRetryEvery) ||
			have && now.Sub(o.fetched) >= oidcTTL ||
			have && refresh && now.Sub(o.tried) >= oidcRefreshEvery
		if !due {
			break
		}
		ch := make(chan struct{})
		o.inflight, o.tried = ch, now
		o.mu.Unlock()
		iss, keys, err := fetchOpenID(st, o.url)
		o.mu.Lock()
		if err == nil {
			o.issuer, o.keys, o.fetched, o.lastErr = iss, keys, now, nil
		} else {
			o.lastErr = err
			if st.Env.Log != nil {
				st.Env.Log.Warn("openid-config fetch failed", "url", o.url, "error", err.Error())
			}
		}
		o.inflight = nil
		close(ch)
		break
	}
	defer o.mu.Unlock()
	if o.fetched.IsZero() {
		if o.lastErr == nil {
			o.lastErr = errOIDC
		}
		return "", nil, o.lastErr
	}
	// A stale set is still used when a refresh failed: the issuer's keys
	// rotate slowly and refusing every token would be worse.
	return o.issuer, o.keys, nil
}

// fetchOpenID reads the discovery document at u and the key set it names.
func fetchOpenID(st *State, u string) (string, []signingKey, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(st.Ctx), oidcFetchTimeout)
	defer cancel()
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := fetchJSON(ctx, st.Env.Transport, u, &doc); err != nil {
		return "", nil, fmt.Errorf("openid-config %s: %w", u, err)
	}
	if doc.JWKSURI == "" {
		return "", nil, fmt.Errorf("openid-config %s: no jwks_uri", u)
	}
	jwksURL, err := oidcResolve(u, doc.JWKSURI)
	if err != nil {
		return "", nil, fmt.Errorf("openid-config %s: %w", u, err)
	}
	var set struct {
		Keys []jsonWebKey `json:"keys"`
	}
	if err := fetchJSON(ctx, st.Env.Transport, jwksURL, &set); err != nil {
		return "", nil, fmt.Errorf("openid-config %s: key set: %w", u, err)
	}
	var keys []signingKey
	for _, k := range set.Keys {
		if key, err := k.publicKey(); err == nil {
			keys = append(keys, signingKey{kid: k.Kid, key: key})
		}
	}
	if len(keys) == 0 {
		return "", nil, fmt.Errorf("openid-config %s: key set %s has no usable key", u, jwksURL)
	}
	return doc.Issuer, keys, nil
}

// oidcResolve resolves ref against base, for URLs and local paths alike.
func oidcResolve(base, ref string) (string, error) {
	if oidcIsLocal(base) && !strings.Contains(ref, "://") {
		if filepath.IsAbs(ref) {
			return ref, nil
		}
		return filepath.Join(filepath.Dir(oidcLocalPath(base)), ref), nil
	}
	b, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	r, err := url.Parse(ref)
	if err != nil {
		return "", err
	}
	return b.ResolveReference(r).String(), nil
}

func oidcIsLocal(u string) bool {
	return strings.HasPrefix(u, "file://") || !strings.Contains(u, "://")
}

func oidcLocalPath(u string) string {
	if p, ok := strings.CutPrefix(u, "file://"); ok {
		return p
	}
	return u
}

// fetchJSON decodes the JSON document at u into out.
func fetchJSON(ctx context.Context, transport http.RoundTripper, u string, out any) error {
	var data []byte
	if oidcIsLocal(u) {
		f, err := os.Open(oidcLocalPath(u))
		if err != nil {
			return err
		}
		defer f.Close()
		data, err = io.ReadAll(io.LimitReader(f, oidcMaxDocument))
		if err != nil {
			return err
		}
	} else {
		if transport == nil {
			return errors.New("no outbound transport is configured")
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Accept", "application/json")
		resp, err := transport.RoundTrip(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		data, err = io.ReadAll(io.LimitReader(resp.Body, oidcMaxDocument))
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: status %d", u, resp.StatusCode)
		}
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decode %s: %w", u, err)
	}
	return nil
}

// jsonWebKey is one JSON Web Key (RFC 7517) of a key set.
type jsonWebKey struct {
	Kty string   `json:"kty"`
	Kid string   `json:"kid"`
	Use string   `json:"use"`
	N   string   `json:"n"`
	E   string   `json:"e"`
	Crv string   `json:"crv"`
	X   string   `json:"x"`
	Y   string   `json:"y"`
	K   string   `json:"k"`
	X5c []string `json:"x5c"`
}

func (k jsonWebKey) publicKey() (any, error) {
	if k.Use != "" && k.Use != "sig" {
		return nil, fmt.Errorf("key %s is not a signing key", k.Kid)
	}
	switch k.Kty {
	case "RSA":
		if k.N == "" && len(k.X5c) > 0 {
			return x5cKey(k.X5c[0])
		}
		return rsaKey(k.N, k.E)
	case "EC":
		var curve elliptic.Curve
		switch k.Crv {
		case "P-256":
			curve = elliptic.P256()
		case "P-384":
			curve = elliptic.P384()
		case "P-521":
			curve = elliptic.P521()
		default:
			return nil, fmt.Errorf("unsupported curve %q", k.Crv)
		}
		x, err1 := decodeBase64(k.X)
		y, err2 := decodeBase64(k.Y)
		if err1 != nil || err2 != nil {
			return nil, errors.New("invalid EC key coordinates")
		}
		size := (curve.Params().BitSize + 7) / 8
		if len(x) > size || len(y) > size {
			return nil, errors.New("invalid EC key coordinates")
		}
		point := make([]byte, 1+2*size)
		point[0] = 4
		copy(point[1+size-len(x):], x)
		copy(point[1+2*size-len(y):], y)
		return ecdsa.ParseUncompressedPublicKey(curve, point)
	case "OKP":
		if k.Crv != "Ed25519" {
			return nil, fmt.Errorf("unsupported curve %q", k.Crv)
		}
		x, err := decodeBase64(k.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			return nil, errors.New("invalid Ed25519 key")
		}
		return ed25519.PublicKey(x), nil
	case "oct":
		secret, err := decodeBase64(k.K)
		if err != nil || len(secret) == 0 {
			return nil, errors.New("invalid symmetric key")
		}
		return secret, nil
	}
	return nil, fmt.Errorf("unsupported key type %q", k.Kty)
}

func x5cKey(der64 string) (any, error) {
	der, err := base64.StdEncoding.DecodeString(der64)
	if err != nil {
		return nil, fmt.Errorf("x5c: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("x5c: %w", err)
	}
	return cert.PublicKey, nil
}

// Reasons of validate-client-certificate.
const (
	ReasonClientCertificateNotPresent = "ClientCertificateNotPresent"
	ReasonClientCertificateInvalid    = "ClientCertificateInvalid"
)

// validateClientCert is validate-client-certificate: check the client's TLS
// certificate (context.Request.Certificate) for validity period, trust and
// identity. Revocation cannot be checked locally, so validate-revocation
// must be set to false.
type validateClientCert struct {
	trust, notBefore, notAfter, ignoreError bool
	identities                              []certIdentity
}

type certIdentity struct {
	thumbprint, serial, commonName, subject, dnsName, issuerSubject, issuerThumbprint string
}

func compileValidateClientCertificate(b *builder, el *policyxml.Element, path string) Step {
	attrs := b.attrs(el, "validate-revocation", "validate-trust", "validate-not-before", "validate-not-after", "ignore-error")
	v := &validateClientCert{
		trust:       b.constBool(attrs["validate-trust"], true),
		notBefore:   b.constBool(attrs["validate-not-before"], true),
		notAfter:    b.constBool(attrs["validate-not-after"], true),
		ignoreError: b.constBool(attrs["ignore-error"], false),
	}
	if b.constBool(attrs["validate-revocation"], true) {
		b.errorf(el.Pos, `validate-client-certificate: validate-revocation="true" (the default) is not supported: apimgw cannot check certificate revocation (CRL/OCSP); set validate-revocation="false"`)
	}
	for _, c := range b.children(el, "identities") {
		b.noAttrs(c)
		for _, id := range b.children(c, "identity") {
			a := b.attrs(id, "thumbprint", "serial-number", "common-name", "subject", "dns-name", "issuer-subject", "issuer-thumbprint", "issuer-certificate-id")
			b.children(id)
			if _, ok := a["issuer-certificate-id"]; ok {
				b.errorf(id.Pos, "identity issuer-certificate-id is not supported: apimgw has no certificate store; use issuer-thumbprint or issuer-subject")
			}
			ci := certIdentity{
				thumbprint: a["thumbprint"].Value, serial: a["serial-number"].Value, commonName: a["common-name"].Value,
				subject: a["subject"].Value, dnsName: a["dns-name"].Value, issuerSubject: a["issuer-subject"].Value,
				issuerThumbprint: a["issuer-thumbprint"].Value,
			}
			if ci == (certIdentity{}) {
				b.errorf(id.Pos, "<identity> needs at least one attribute")
				continue
			}
			v.identities = append(v.identities, ci)
		}
	}
	return v
}

func (v *validateClientCert) fail(reason, msg string) error {
	if v.ignoreError {
		return nil
	}
	return &Error{Reason: reason, Message: msg, Status: http.StatusUnauthorized, ClientMessage: "Invalid client certificate."}
}

func (v *validateClientCert) Run(st *State) error {
	cert := st.X.Request.Certificate
	if cert == nil {
		return v.fail(ReasonClientCertificateNotPresent, "Client certificate is not present.")
	}
	now := st.Env.now()
	if v.notBefore && now.Before(cert.NotBefore) {
		return v.fail(ReasonClientCertificateInvalid, "Client certificate is not valid yet.")
	}
	if v.notAfter && now.After(cert.NotAfter) {
		return v.fail(ReasonClientCertificateInvalid, "Client certificate has expired.")
	}
	var issuer *x509.Certificate
	if v.trust {
		roots := st.Env.Services.TrustRoots
		if roots == nil {
			roots = TrustRoots(st.X.Deployment)
		}
		chains, err := cert.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
		if err != nil {
			return v.fail(ReasonClientCertificateInvalid, "Client certificate is not trusted: "+err.Error())
		}
		if len(chains) > 0 && len(chains[0]) > 1 {
			issuer = chains[0][1]
		}
	}
	if len(v.identities) == 0 {
		return nil
	}
	for _, id := range v.identities {
		if id.matches(cert, issuer) {
			return nil
		}
	}
	return v.fail(ReasonClientCertificateInvalid, "Client certificate does not match any allowed identity.")
}

func (id certIdentity) matches(c, issuer *x509.Certificate) bool {
	eq := func(want, have string) bool { return want == "" || strings.EqualFold(want, have) }
	dnsOK := id.dnsName == ""
	for _, n := range c.DNSNames {
		if strings.EqualFold(n, id.dnsName) {
			dnsOK = true
		}
	}
	issuerThumb := ""
	if issuer != nil {
		issuerThumb = certThumbprint(issuer)
	}
	return eq(id.thumbprint, certThumbprint(c)) &&
		eq(strings.TrimLeft(id.serial, "0"), strings.TrimLeft(fmt.Sprintf("%X", c.SerialNumber), "0")) &&
		eq(id.commonName, c.Subject.CommonName) &&
		(id.subject == "" || sameDN(id.subject, c.Subject.String())) &&
		dnsOK &&
		(id.issuerSubject == "" || sameDN(id.issuerSubject, c.Issuer.String())) &&
		(id.issuerThumbprint == "" || issuerThumb != "" && strings.EqualFold(id.issuerThumbprint, issuerThumb))
}

// certThumbprint is the certificate's SHA-1 thumbprint in upper-case hex, as
// APIM shows it.
func certThumbprint(c *x509.Certificate) string {
	sum := sha1.Sum(c.Raw)
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// sameDN compares distinguished names ignoring order, case and spacing
// (.NET and Go print the RDNs in opposite orders).
func sameDN(a, b string) bool {
	norm := func(s string) string {
		parts := strings.Split(s, ",")
		for i, p := range parts {
			k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
			parts[i] = strings.ToUpper(strings.TrimSpace(k)) + "=" + strings.ToLower(strings.TrimSpace(v))
		}
		sort.Strings(parts)
		return strings.Join(parts, ",")
	}
	return norm(a) == norm(b)
}

// IsPreflight reports whether r's method and headers make it a CORS
// preflight request.
func IsPreflight(method string, h http.Header) bool {
	return method == http.MethodOptions && h.Get("Origin") != "" && h.Get("Access-Control-Request-Method") != ""
}

// HandlesPreflight reports whether the pipeline's inbound section has a
// cors policy (at top level or inside choose), so the gateway should run it
// for a CORS preflight even when no OPTIONS operation matches and before
// requiring a subscription key, as APIM does.
func (p *Pipeline) HandlesPreflight() bool {
	return hasCORS(p.sections[secInbound])
}

func hasCORS(ss steps) bool {
	for _, n := range ss {
		switch s := n.step.(type) {
		case *corsPolicy:
			return true
		case *choose:
			for _, w := range s.whens {
				if hasCORS(w.body) {
					return true
				}
			}
			if hasCORS(s.otherwise) {
				return true
			}
		}
	}
	return false
}

// TrustRoots returns the system's root certificates plus the certificate
// authorities among the deployment's certificates (a leaf certificate, such
// as one the gateway presents to backends, is never a root).
func TrustRoots(d *expr.Deployment) *x509.CertPool {
	roots, err := x509.SystemCertPool()
	if err != nil {
		roots = x509.NewCertPool()
	}
	if d != nil {
		for _, c := range d.Certificates {
			if c.IsCA {
				roots.AddCert(c)
			}
		}
	}
	return roots
}
