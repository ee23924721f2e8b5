package expr

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"testing"
	"time"
)

// context.Request.Certificate.Subject and .Issuer read as .NET writes them
// (X509Certificate2.Subject), so that a policy written for APIM that
// compares them with a string matches here too.
func TestCertificateNamesAsDotNet(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	subject := pkix.Name{
		CommonName: "alice", Organization: []string{"Contoso, Ltd"}, OrganizationalUnit: []string{"Eng"},
		Locality: []string{"Redmond"}, Province: []string{"Washington"}, Country: []string{"US"},
		ExtraNames: []pkix.AttributeTypeAndValue{{Type: asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}, Value: "alice@contoso.com"}},
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: subject, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	const want = `E=alice@contoso.com, CN=alice, OU=Eng, O="Contoso, Ltd", L=Redmond, S=Washington, C=US`
	for _, src := range []string{
		`@(context.Request.Certificate.Subject)`,
		`@(context.Request.Certificate.SubjectName)`,
		`@(context.Request.Certificate.Issuer)`, // self-signed
	} {
		p, err := Compile(src)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		ctx := testContext()
		ctx.Request.Certificate = cert
		got, err := p.EvalString(ctx)
		if err != nil || got != want {
			t.Errorf("%s = %q, %v; want %q", src, got, err, want)
		}
	}
	p, _ := Compile(`@(context.Request.Certificate.Subject == "E=alice@contoso.com, CN=alice, OU=Eng, O=\"Contoso, Ltd\", L=Redmond, S=Washington, C=US")`)
	ctx := testContext()
	ctx.Request.Certificate = cert
	if got, err := p.EvalString(ctx); got != "True" {
		t.Errorf("comparison with the .NET string: %q %v", got, err)
	}
}
