package expr

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"math/big"
	"testing"
)

// A policy verifying an RS256 signature in an expression, as real APIM
// policies do with System.Security.Cryptography.RSA.
func TestRSAVerifyInExpression(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("header.payload")
	sum := sha256.Sum256(data)
	pkcs1, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	pss, err := rsa.SignPSS(rand.Reader, key, crypto.SHA256, sum[:], nil)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.StdEncoding.EncodeToString
	mod := b64(key.N.Bytes())
	exp := b64(big.NewInt(int64(key.E)).Bytes())
	vars := Variables{"mod": mod, "exp": exp, "data": string(data), "sig": b64(pkcs1), "pss": b64(pss),
		"xml": "<RSAKeyValue><Modulus>" + mod + "</Modulus><Exponent>" + exp + "</Exponent></RSAKeyValue>",
		"bad": b64(append([]byte{pkcs1[0] ^ 1}, pkcs1[1:]...))}
	cases := []struct{ src, want string }{
		{`@{
			using (var rsa = RSA.Create()) {
				rsa.ImportParameters(new RSAParameters {
					Modulus = Convert.FromBase64String((string)context.Variables["mod"]),
					Exponent = Convert.FromBase64String((string)context.Variables["exp"]) });
				return rsa.VerifyData(Encoding.UTF8.GetBytes((string)context.Variables["data"]),
					Convert.FromBase64String((string)context.Variables["sig"]), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
			}
		}`, "True"},
		{`@{
			var rsa = RSA.Create();
			rsa.FromXmlString((string)context.Variables["xml"]);
			var hash = SHA256.Create().ComputeHash(Encoding.UTF8.GetBytes((string)context.Variables["data"]));
			return rsa.VerifyHash(hash, Convert.FromBase64String((string)context.Variables["pss"]), HashAlgorithmName.SHA256, RSASignaturePadding.Pss);
		}`, "True"},
		{`@{
			var rsa = RSA.Create();
			rsa.FromXmlString((string)context.Variables["xml"]);
			return rsa.VerifyData(Encoding.UTF8.GetBytes((string)context.Variables["data"]),
				Convert.FromBase64String((string)context.Variables["bad"]), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
		}`, "False"},
	}
	for i, tc := range cases {
		p, err := Compile(tc.src)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		got, err := p.EvalString(&Context{Variables: vars})
		if err != nil || got != tc.want {
			t.Errorf("case %d = %q, %v; want %q", i, got, err, tc.want)
		}
	}
}
