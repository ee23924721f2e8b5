package backend

import (
	"context"
	"crypto"
	"crypto/sha1" //nolint:gosec // a certificate thumbprint is SHA-1 by definition (as Azure shows it)
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"software.sslmate.com/src/go-pkcs12"
)

// ClientCert is a TLS client certificate the gateway presents to backends:
// APIM's certificate entity, used by authentication-certificate and by a
// backend's credentials. Connections made with different client
// certificates are never shared: each certificate has its own pools, while
// the port ledger of a destination counts them all.
type ClientCert struct {
	// ID is the certificate's id in the configuration ("" when it came
	// from a policy's body attribute).
	ID string
	// Thumbprint is the upper-case hexadecimal SHA-1 of the leaf
	// certificate, as Azure shows it.
	Thumbprint string
	// Subject and NotAfter describe the leaf certificate.
	Subject  string
	NotAfter time.Time

	cert tls.Certificate
}

// NewClientCert wraps a certificate chain and its private key. The first
// certificate of the chain is the leaf; the key must match it.
func NewClientCert(id string, c tls.Certificate) (*ClientCert, error) {
	if len(c.Certificate) == 0 {
		return nil, errors.New("no certificate")
	}
	if c.PrivateKey == nil {
		return nil, errors.New("no private key")
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("parse certificate: %w", err)
	}
	pub, ok := c.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, errors.New("the private key cannot sign")
	}
	type equaler interface{ Equal(crypto.PublicKey) bool }
	if eq, ok := pub.Public().(equaler); !ok || !eq.Equal(leaf.PublicKey) {
		return nil, errors.New("the private key does not match the certificate")
	}
	c.Leaf = leaf
	return &ClientCert{
		ID:         id,
		Thumbprint: Thumbprint(leaf),
		Subject:    leaf.Subject.String(),
		NotAfter:   leaf.NotAfter,
		cert:       c,
	}, nil
}

// Thumbprint is a certificate's thumbprint as Azure shows it: the
// upper-case hexadecimal SHA-1 of its DER encoding.
func Thumbprint(c *x509.Certificate) string {
	sum := sha1.Sum(c.Raw) //nolint:gosec // see import
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// LoadClientCertPEM reads a PEM certificate chain and its PEM private key.
func LoadClientCertPEM(id, certFile, keyFile string) (*ClientCert, error) {
	c, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	return NewClientCert(id, c)
}

// ParseClientCertPFX decodes a PKCS#12 (.pfx) file holding a private key,
// its certificate and optionally the chain, as APIM's certificate entity
// and authentication-certificate's body attribute take it.
func ParseClientCertPFX(id string, data []byte, password string) (*ClientCert, error) {
	key, leaf, chain, err := pkcs12.DecodeChain(data, password)
	switch {
	case errors.Is(err, pkcs12.ErrIncorrectPassword):
		return nil, errors.New("PKCS#12 (.pfx): wrong password")
	case err != nil:
		// The decoder's own message is an ASN.1 dump; keep its first words.
		msg, _, _ := strings.Cut(err.Error(), ": asn1:")
		return nil, fmt.Errorf("not a valid PKCS#12 (.pfx) file: %s", msg)
	}
	c := tls.Certificate{PrivateKey: key, Certificate: [][]byte{leaf.Raw}}
	for _, ca := range chain {
		c.Certificate = append(c.Certificate, ca.Raw)
	}
	return NewClientCert(id, c)
}

// NormalizeThumbprint returns a thumbprint as ClientCert.Thumbprint spells
// it: upper case, without the spaces or colons some tools put in.
func NormalizeThumbprint(s string) string {
	s = strings.NewReplacer(" ", "", ":", "", "\u200e", "").Replace(strings.TrimSpace(s))
	return strings.ToUpper(s)
}

type clientCertKey struct{}

// WithClientCert returns a context whose requests present c to the backend
// in their TLS handshake (authentication-certificate). It has no effect on
// http:// backends.
func WithClientCert(ctx context.Context, c *ClientCert) context.Context {
	return context.WithValue(ctx, clientCertKey{}, c)
}

// ClientCertOf returns the certificate WithClientCert put in ctx, or nil.
func ClientCertOf(ctx context.Context) *ClientCert {
	c, _ := ctx.Value(clientCertKey{}).(*ClientCert)
	return c
}

// Leaf is the certificate itself (without the key).
func (c *ClientCert) Leaf() *x509.Certificate { return c.cert.Leaf }

func (c *ClientCert) thumbprint() string {
	if c == nil {
		return ""
	}
	return c.Thumbprint
}
