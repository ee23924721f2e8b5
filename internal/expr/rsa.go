package expr

import (
	"crypto"
	"crypto/rsa"
	"encoding/base64"
	"encoding/xml"
	"math/big"
	"strings"

	// hash implementations for crypto.Hash
	_ "crypto/md5"
	_ "crypto/sha1"
	_ "crypto/sha256"
	_ "crypto/sha512"
)

// RSAKey is System.Security.Cryptography.RSA as policy expressions use it
// to verify signatures: RSA.Create(), ImportParameters(new RSAParameters {
// Modulus = ..., Exponent = ... }) or FromXmlString("<RSAKeyValue>..."),
// then VerifyData/VerifyHash with a HashAlgorithmName and an
// RSASignaturePadding (Pkcs1 or Pss).
type RSAKey struct{ pub *rsa.PublicKey }

func rsaHash(v any) (crypto.Hash, error) {
	e, ok := v.(Enum)
	if !ok || e.Type != "HashAlgorithmName" {
		return 0, errArg("a HashAlgorithmName is required")
	}
	switch e.Name {
	case "SHA256":
		return crypto.SHA256, nil
	case "SHA384":
		return crypto.SHA384, nil
	case "SHA512":
		return crypto.SHA512, nil
	case "SHA1":
		return crypto.SHA1, nil
	case "MD5":
		return crypto.MD5, nil
	}
	return 0, &RuntimeError{Type: "CryptographicException", Msg: "'" + e.Name + "' is not a known hash algorithm."}
}

func (k *RSAKey) importParameters(v any) error {
	a, ok := v.(*Anon)
	if !ok {
		return errInvalidCast(v, "System.Security.Cryptography.RSAParameters")
	}
	var mod, exp []byte
	for i, n := range a.names {
		b, _ := a.vals[i].([]byte)
		switch n {
		case "Modulus":
			mod = b
		case "Exponent":
			exp = b
		}
	}
	return k.setKey(mod, exp)
}

func (k *RSAKey) setKey(mod, exp []byte) error {
	if len(mod) == 0 || len(exp) == 0 || len(exp) > 8 {
		return &RuntimeError{Type: "CryptographicException", Msg: "Bad Data."}
	}
	e := new(big.Int).SetBytes(exp)
	if !e.IsInt64() || e.Int64() < 3 {
		return &RuntimeError{Type: "CryptographicException", Msg: "Bad Data."}
	}
	k.pub = &rsa.PublicKey{N: new(big.Int).SetBytes(mod), E: int(e.Int64())}
	return nil
}

// fromXMLString reads <RSAKeyValue><Modulus>..</Modulus><Exponent>..</Exponent></RSAKeyValue>.
func (k *RSAKey) fromXMLString(s string) error {
	var v struct {
		Modulus  string `xml:"Modulus"`
		Exponent string `xml:"Exponent"`
	}
	if err := xml.Unmarshal([]byte(s), &v); err != nil {
		return &RuntimeError{Type: "CryptographicException", Msg: "Input string does not contain a valid encoding of the 'RSA' 'Modulus' parameter."}
	}
	mod, err1 := base64.StdEncoding.DecodeString(strings.TrimSpace(v.Modulus))
	exp, err2 := base64.StdEncoding.DecodeString(strings.TrimSpace(v.Exponent))
	if err1 != nil || err2 != nil {
		return &RuntimeError{Type: "CryptographicException", Msg: "Input string does not contain a valid encoding of the 'RSA' 'Modulus' parameter."}
	}
	return k.setKey(mod, exp)
}

func (k *RSAKey) verify(hashed bool, a []any) (any, error) {
	if len(a) != 4 {
		return nil, errArg("VerifyData/VerifyHash take the data, the signature, a HashAlgorithmName and an RSASignaturePadding")
	}
	if k.pub == nil {
		return nil, &RuntimeError{Type: "CryptographicException", Msg: "No public key has been imported."}
	}
	data, ok1 := a[0].([]byte)
	sig, ok2 := a[1].([]byte)
	if !ok1 || !ok2 {
		return nil, errArgNull("data")
	}
	h, err := rsaHash(a[2])
	if err != nil {
		return nil, err
	}
	pad, ok := a[3].(Enum)
	if !ok || pad.Type != "RSASignaturePadding" {
		return nil, errArg("an RSASignaturePadding is required")
	}
	digest := data
	if !hashed {
		w := h.New()
		w.Write(data)
		digest = w.Sum(nil)
	} else if len(digest) != h.Size() {
		return false, nil
	}
	if pad.Name == "Pss" {
		return rsa.VerifyPSS(k.pub, h, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto}) == nil, nil
	}
	return rsa.VerifyPKCS1v15(k.pub, h, digest, sig) == nil, nil
}

func rsaMethod(name string, k *RSAKey, a []any) (any, error, bool) {
	switch name {
	case "ImportParameters":
		if len(a) != 1 {
			return nil, errArg("ImportParameters takes an RSAParameters"), true
		}
		return nil, k.importParameters(a[0]), true
	case "FromXmlString":
		s, ok := argStr(a[0])
		if !ok {
			return nil, errArgNull("xmlString"), true
		}
		return nil, k.fromXMLString(s), true
	case "VerifyData", "VerifyHash":
		v, err := k.verify(name == "VerifyHash", a)
		return v, err, true
	case "Dispose", "Clear":
		return nil, nil, true
	}
	return nil, nil, false
}
