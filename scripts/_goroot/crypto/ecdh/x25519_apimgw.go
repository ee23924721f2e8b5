// Added to Go's crypto/ecdh by apimgw's scripts/build (go build -overlay);
// the go command ignores this directory (its name begins with "_").

package ecdh

import (
	"crypto/internal/fips140/edwards25519"
	"crypto/internal/fips140/edwards25519/field"
)

// x25519ScalarBaseMult sets dst to X25519(scalar, 9), the public key of
// the private key scalar (RFC 7748), as x25519ScalarMult(dst, scalar, 9)
// does, in about half the time: 9 is the Montgomery u-coordinate of
// edwards25519's base point B, so the public key is the u-coordinate of
// [clamp(scalar)]B, which edwards25519's fixed-base tables compute (what
// Ed25519 key generation uses), mapped to the Montgomery curve by
// u = (1 + y) / (1 - y) (RFC 7748, section 4.1). B has prime order l, so
// the scalar reduced mod l gives the same point; it is never 0 mod l (a
// clamped scalar is a multiple of 8 below 2^255 < 8l), so the point is
// never the identity and 1 - y never 0. Constant time throughout, as the
// ladder is: ScalarBaseMult, the scalar's reduction and field inversion
// do not branch on secrets. OpenSSL and BoringSSL compute X25519 public
// keys the same way.
func x25519ScalarBaseMult(dst, scalar []byte) {
	s, err := edwards25519.NewScalar().SetBytesWithClamping(scalar)
	if err != nil {
		panic("crypto/ecdh: internal error: X25519 scalar length")
	}
	p := new(edwards25519.Point).ScalarBaseMult(s)
	enc := p.Bytes() // y, and x's sign in the top bit, which SetBytes ignores
	var y, num, den field.Element
	if _, err := y.SetBytes(enc); err != nil {
		panic("crypto/ecdh: internal error: edwards25519 encoding")
	}
	var one field.Element
	one.One()
	num.Add(&one, &y)
	den.Subtract(&one, &y)
	den.Invert(&den)
	num.Multiply(&num, &den)
	copy(dst, num.Bytes())
}
