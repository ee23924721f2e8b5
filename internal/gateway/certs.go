package gateway

import (
	"crypto/x509"
	"encoding/pem"
	"log/slog"
	"os"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/apimgw/apimgw/internal/backend"
	"github.com/apimgw/apimgw/internal/config"
	"github.com/apimgw/apimgw/internal/policy"
)

// loadCertificates reads the configured client certificates (PEM or
// PKCS#12 files), reporting each one that cannot be read at its position.
// An expired certificate is loaded with a warning on log (nil: none): the
// backend decides whether it still accepts it, and one expired certificate
// must not stop every API from loading.
func loadCertificates(cfg *config.Config, errorf func(config.Pos, string, ...any), log *slog.Logger) *policy.Certificates {
	ids := make([]string, 0, len(cfg.Certificates))
	for id, c := range cfg.Certificates {
		if c != nil {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	var certs []*backend.ClientCert
	for _, id := range ids {
		c := cfg.Certificates[id]
		var cc *backend.ClientCert
		var err error
		if c.PFX != "" {
			var data []byte
			if data, err = os.ReadFile(cfg.Path(c.PFX)); err == nil {
				cc, err = backend.ParseClientCertPFX(id, data, c.Password)
			}
		} else {
			cc, err = backend.LoadClientCertPEM(id, cfg.Path(c.Cert), cfg.Path(c.Key))
		}
		if err != nil {
			errorf(c.Pos, "certificate %q: %v", id, err)
			continue
		}
		if time.Now().After(cc.NotAfter) && log != nil {
			log.Warn("client certificate has expired", "certificate", id, "subject", cc.Subject,
				"thumbprint", cc.Thumbprint, "notAfter", cc.NotAfter.UTC().Format(time.RFC3339))
		}
		certs = append(certs, cc)
	}
	return policy.NewCertificates(certs)
}

// loadCACertificates reads the caCertificates PEM files.
func loadCACertificates(cfg *config.Config, errorf func(config.Pos, string, ...any)) []*x509.Certificate {
	var out []*x509.Certificate
	for _, ca := range cfg.CACertificates {
		if ca == nil || ca.Path == "" {
			continue
		}
		data, err := os.ReadFile(cfg.Path(ca.Path))
		if err != nil {
			errorf(ca.Pos, "caCertificates: %v", err)
			continue
		}
		n := 0
		for block, rest := pem.Decode(data); block != nil; block, rest = pem.Decode(rest) {
			if block.Type != "CERTIFICATE" {
				continue
			}
			c, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				errorf(ca.Pos, "caCertificates: %s: %v", ca.Path, err)
				continue
			}
			if !c.IsCA {
				errorf(ca.Pos, "caCertificates: %s: %q is not a certificate authority (basic constraints CA:false)", ca.Path, c.Subject.String())
				continue
			}
			out = append(out, c)
			n++
		}
		if n == 0 {
			errorf(ca.Pos, "caCertificates: %s holds no PEM certificate", ca.Path)
		}
	}
	return out
}

// rootsWith are the authorities backend certificates are verified
// against: the system's plus cas (nil, the system's alone, when there are
// none).
func rootsWith(cas []*x509.Certificate) *x509.CertPool {
	if len(cas) == 0 {
		return nil
	}
	roots, err := x509.SystemCertPool()
	if err != nil {
		roots = x509.NewCertPool()
	}
	for _, c := range cas {
		roots.AddCert(c)
	}
	return roots
}

// deploymentCertificates is context.Deployment.Certificates: the client
// certificates' leaves and the CA certificates, by thumbprint.
func deploymentCertificates(certs *policy.Certificates, cas []*x509.Certificate) map[string]*x509.Certificate {
	out := map[string]*x509.Certificate{}
	if certs != nil {
		for tp, c := range certs.ByThumbprint {
			out[tp] = c.Leaf()
		}
	}
	for _, c := range cas {
		out[backend.Thumbprint(c)] = c
	}
	return out
}

// backendCertificate is the client certificate a backend's credentials
// name, or nil.
func backendCertificate(b *config.Backend, certs *policy.Certificates) *backend.ClientCert {
	for _, id := range b.Credentials.CertificateIDs {
		if c := certs.FindByID(id); c != nil {
			return c
		}
	}
	for _, tp := range b.Credentials.Certificate {
		if c := certs.FindByThumbprint(tp); c != nil {
			return c
		}
	}
	return nil
}

// certCollector exports when each configured client certificate expires,
// so that an alert can fire before a backend starts refusing it.
type certCollector struct {
	g    *Gateway
	desc *prometheus.Desc
}

func newCertCollector(g *Gateway) *certCollector {
	return &certCollector{g: g, desc: prometheus.NewDesc("apimgw_client_certificate_expiry_timestamp_seconds",
		"When a configured client certificate (certificates in gateway.yaml) expires, as a Unix time.",
		[]string{"certificate", "thumbprint"}, nil)}
}

// Describe implements prometheus.Collector.
func (c *certCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector.
func (c *certCollector) Collect(ch chan<- prometheus.Metric) {
	p := c.g.plan.Load()
	if p == nil || p.certs == nil {
		return
	}
	for id, cc := range p.certs.ByID {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(cc.NotAfter.Unix()), id, cc.Thumbprint)
	}
}

// backendProxy is the HTTP proxy a backend's calls go through, or nil.
// The configuration has checked its URL.
func backendProxy(b *config.Backend) *backend.Proxy {
	if b.Proxy == nil {
		return nil
	}
	px, err := backend.NewProxy(b.Proxy.URL, b.Proxy.Username, b.Proxy.Password)
	if err != nil {
		return nil
	}
	return px
}
