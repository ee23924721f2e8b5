package policy

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/apimgw/apimgw/internal/expr"
	"github.com/apimgw/apimgw/internal/policy/policyxml"
)

func init() {
	register("get-authorization-context", nil, compileGetAuthorizationContext)
}

// getAuthorizationContext is APIM's credential-manager lookup. Without
// Azure's credential manager, apimgw gets the token from the same local
// source as authentication-managed-identity (gateway.yaml managedIdentity:),
// asking for the resource "authorization:<provider-id>/<authorization-id>";
// the variable holds an Authorization with AccessToken and, for a JWT, its
// Claims.
type getAuthorizationContext struct {
	provider, authorization *expr.Value
	variable                string
	identity                *expr.Value
	ignoreError             bool
}

func compileGetAuthorizationContext(b *builder, el *policyxml.Element, path string) Step {
	attrs := b.attrs(el, "provider-id", "authorization-id", "context-variable-name", "identity-type", "identity", "ignore-error")
	b.children(el)
	if !b.require(el, attrs, "provider-id", "authorization-id", "context-variable-name") {
		return nil
	}
	g := &getAuthorizationContext{
		provider:      b.value(attrs["provider-id"]),
		authorization: b.value(attrs["authorization-id"]),
		variable:      attrs["context-variable-name"].Value,
		ignoreError:   b.constBool(attrs["ignore-error"], false),
	}
	if a, ok := attrs["identity-type"]; ok {
		switch a.Value {
		case "managed":
		case "jwt":
			if _, has := attrs["identity"]; !has {
				b.errorf(el.Pos, `identity-type="jwt" needs the identity attribute`)
			}
		default:
			b.errorf(a.ValuePos, "identity-type must be managed or jwt, got %q", a.Value)
		}
	}
	if a, ok := attrs["identity"]; ok {
		g.identity = b.value(a)
	}
	return g
}

func (g *getAuthorizationContext) Run(st *State) error {
	if g.provider == nil || g.authorization == nil {
		return nil
	}
	provider, err := g.provider.String(&st.X)
	if err != nil {
		return err
	}
	auth, err := g.authorization.String(&st.X)
	if err != nil {
		return err
	}
	identity := ""
	if g.identity != nil {
		if identity, err = g.identity.String(&st.X); err != nil {
			return err
		}
	}
	fail := func(msg string, cause error) error {
		if g.ignoreError {
			st.X.Variables[g.variable] = nil
			return nil
		}
		return &Error{Reason: "AuthorizationContextFailure", Message: msg, Err: cause}
	}
	if st.Env.Services.Token == nil {
		return fail("get-authorization-context needs a token source: add a managedIdentity: section to gateway.yaml", nil)
	}
	token, err := st.Env.Services.Token(st.Ctx, "authorization:"+provider+"/"+auth, identity)
	if err != nil {
		return fail(fmt.Sprintf("could not get the token of authorization %s/%s: %v", provider, auth, err), err)
	}
	st.X.Variables[g.variable] = &expr.Authorization{AccessToken: token, Claims: jwtClaims(token)}
	return nil
}

// jwtClaims decodes the claims of a JWT without verifying it (the token
// comes from the gateway's own credential source); nil for other tokens.
func jwtClaims(token string) map[string]any {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return nil
	}
	var claims map[string]any
	if json.Unmarshal(payload, &claims) != nil {
		return nil
	}
	return claims
}
