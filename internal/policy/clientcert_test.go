package policy

import (
	"context"
	"strings"
	"testing"

	"github.com/apimgw/apimgw/internal/backend"
	"github.com/apimgw/apimgw/internal/expr"
	"github.com/apimgw/apimgw/internal/policy/policyxml"
	"github.com/apimgw/apimgw/internal/testcerts"
)

func TestAuthenticationCertificateCompile(t *testing.T) {
	ca := testcerts.NewCA(t, "test CA")
	alice, err := backend.NewClientCert("alice", ca.Client(t, "alice"))
	if err != nil {
		t.Fatal(err)
	}
	certs := NewCertificates([]*backend.ClientCert{alice})
	compile := func(policy string) (Step, string) {
		c := &Compiler{Certificates: certs}
		doc, err := policyxml.Parse("t.xml", []byte(policy))
		if err != nil {
			t.Fatal(err)
		}
		b := &builder{c: c, file: "t.xml", section: SectionInbound}
		step := compileAuthCertificate(b, doc.Roots[0], "t.xml")
		var msgs []string
		for _, e := range c.Errors() {
			msgs = append(msgs, e.Error())
		}
		return step, strings.Join(msgs, "\n")
	}
	for _, tc := range []struct{ policy, want string }{
		{`<authentication-certificate certificate-id="bob"/>`, `t.xml:1:45: no certificate in the configuration (certificates) has id "bob"`},
		{`<authentication-certificate thumbprint="00"/>`, `no certificate in the configuration (certificates) has thumbprint "00"`},
		{`<authentication-certificate thumbprint="x" body="y"/>`, "needs exactly one of thumbprint, certificate-id or body"},
		{`<authentication-certificate certificate-id="alice" password="p"/>`, "password is for a certificate given in body"},
	} {
		if _, got := compile(tc.policy); !strings.Contains(got, tc.want) {
			t.Errorf("%s: errors %q, want %q", tc.policy, got, tc.want)
		}
	}

	// Constant references resolve once; thumbprints compare like Azure's
	// (any case, spaces ignored).
	for _, p := range []string{
		`<authentication-certificate certificate-id="alice"/>`,
		`<authentication-certificate thumbprint="` + strings.ToLower(alice.Thumbprint[:4]) + " " + alice.Thumbprint[4:] + `"/>`,
		`<authentication-certificate thumbprint="@(&quot;` + alice.Thumbprint + `&quot;)"/>`,
	} {
		step, errs := compile(p)
		if errs != "" {
			t.Fatalf("%s: %s", p, errs)
		}
		st := NewState(context.Background(), &Env{Services: Services{Certificates: certs}})
		if err := step.Run(st); err != nil || st.ClientCert != alice {
			t.Errorf("%s: cert %v, err %v", p, st.ClientCert, err)
		}
	}

	// An expression naming no certificate fails the request.
	step, _ := compile(`<authentication-certificate certificate-id="@((string)context.Variables[&quot;id&quot;])"/>`)
	st := NewState(context.Background(), &Env{Services: Services{Certificates: certs}})
	st.X.Variables = expr.Variables{"id": "nobody"}
	err = step.Run(st)
	if pe, ok := err.(*Error); !ok || pe.Reason != ReasonCertificateNotFound || pe.Message != "Certificate with id 'nobody' could not be found." {
		t.Errorf("unknown id at run time: %v", err)
	}
}
