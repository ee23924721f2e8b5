package gateway

import (
	"os"
	"slices"
	"time"

	"github.com/apimgw/apimgw/internal/backend"
	"github.com/apimgw/apimgw/internal/config"
	"github.com/apimgw/apimgw/internal/policy"
)

// loadCertificates reads the configured client certificates (PEM or
// PKCS#12 files), reporting each one that cannot be used at its position.
func loadCertificates(cfg *config.Config, errorf func(config.Pos, string, ...any)) *policy.Certificates {
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
		if time.Now().After(cc.NotAfter) {
			errorf(c.Pos, "certificate %q (%s, thumbprint %s) expired on %s", id, cc.Subject, cc.Thumbprint, cc.NotAfter.UTC().Format(time.RFC3339))
			continue
		}
		certs = append(certs, cc)
	}
	return policy.NewCertificates(certs)
}

// backendCertificate is the client certificate a backend's credentials
// name, or nil.
func backendCertificate(b *config.Backend, certs *policy.Certificates) *backend.ClientCert {
	if certs == nil {
		return nil
	}
	for _, id := range b.Credentials.CertificateIDs {
		if c := certs.ByID[id]; c != nil {
			return c
		}
	}
	for _, tp := range b.Credentials.Certificate {
		if c := certs.ByThumbprint[backend.NormalizeThumbprint(tp)]; c != nil {
			return c
		}
	}
	return nil
}
