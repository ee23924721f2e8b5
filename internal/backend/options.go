package backend

import (
	"crypto/x509"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"
)

// Defaults applied by NewManager and Update to zero-valued Options fields.
const (
	DefaultMaxConnsPerHost     = 256
	DefaultMaxIdleConnsPerHost = 256
	DefaultIdleConnTimeout     = 50 * time.Second
	// DefaultConnectTimeout bounds one TCP (and TLS) connection attempt. It
	// is shorter than any sensible request timeout so that an unreachable
	// destination fails as "Unable to connect" rather than as a timeout.
	DefaultConnectTimeout = 10 * time.Second
	DefaultSNATPorts      = 1024
	DefaultSNATReclaim    = 4 * time.Minute
	// DefaultDNSRefresh is the longest a backend host name's addresses are
	// used before it is resolved again; its records' TTL, when shorter and
	// known (see resolver), applies instead.
	DefaultDNSRefresh = 30 * time.Second
)

// Protocols accepted in HostOptions.Protocol.
const (
	ProtocolHTTP1 = "http1"
	ProtocolH2    = "h2"
	ProtocolH2C   = "h2c"
)

// SNAT models Azure's source NAT port allocation for each destination IP:port.
type SNAT struct {
	// Ports is the port budget per destination IP:port (default 1024).
	Ports int
	// Reclaim is how long a closed connection's port stays held (default 4m).
	Reclaim time.Duration
	// Enforce makes a new connection beyond the budget fail at once with
	// BackendConnectionFailure, as Azure does.
	Enforce bool
}

// Options configures a Manager. Zero values take the documented defaults.
type Options struct {
	// MaxConnsPerHost bounds the connections to one destination IP:port;
	// requests beyond it wait in a FIFO queue (default 256).
	MaxConnsPerHost int
	// MaxIdleConnsPerHost bounds the idle connections kept per destination
	// (default 256).
	MaxIdleConnsPerHost int
	// IdleConnTimeout closes a connection idle this long (default 50s). Keep
	// it below the backend's own keep-alive timeout.
	IdleConnTimeout time.Duration
	// ConnectTimeout bounds one connection attempt (default 10s).
	ConnectTimeout time.Duration
	// DNSRefresh is the longest host names' addresses are used before they
	// are resolved again (default 30s); a shorter record TTL applies
	// instead.
	DNSRefresh time.Duration
	// SNAT is the port budget model.
	SNAT SNAT
	// RootCAs are the authorities backend certificates are verified
	// against; nil: the system's.
	RootCAs *x509.CertPool
	// Hosts holds per backend authority ("host:port", default port filled
	// in) settings; hosts not listed use the defaults.
	Hosts map[string]HostOptions
}

// HostOptions are the settings of one backend authority.
type HostOptions struct {
	// Addresses ("ip:port") override DNS for this host.
	Addresses []string
	// KeepAlive false opens a new connection per request (a naive gateway,
	// to reproduce port exhaustion); nil means true.
	KeepAlive *bool
	// Protocol is "http1" (default), "h2" (HTTP/2 over TLS, ALPN) or "h2c"
	// (HTTP/2 over cleartext with prior knowledge).
	Protocol string
	// TLSInsecureSkipVerify disables backend certificate verification.
	TLSInsecureSkipVerify bool
	// TLSSkipNameCheck verifies the backend's certificate chain but not
	// that the certificate names the host (validateCertificateName: false).
	TLSSkipNameCheck bool
	// MaxConnsPerHost, MaxIdleConnsPerHost and IdleConnTimeout override
	// the Options of the same names for this host when positive.
	MaxConnsPerHost     int
	MaxIdleConnsPerHost int
	IdleConnTimeout     time.Duration
}

func (h HostOptions) keepAlive() bool { return h.KeepAlive == nil || *h.KeepAlive }

func (h HostOptions) protocol() string {
	if h.Protocol == "" {
		return ProtocolHTTP1
	}
	return h.Protocol
}

// equalTransport reports whether two host settings need the same kind of
// connection, so that existing connections stay usable after a reload.
func (h HostOptions) equalTransport(o HostOptions) bool {
	return h.protocol() == o.protocol() && h.TLSInsecureSkipVerify == o.TLSInsecureSkipVerify && h.TLSSkipNameCheck == o.TLSSkipNameCheck
}

// Validate reports the first setting NewManager and Update would refuse,
// so that a configuration can be checked without starting a Manager.
func (o Options) Validate() error {
	_, err := o.withDefaults()
	return err
}

// withDefaults returns o with zero fields set to their defaults, or an
// error naming the first invalid field.
func (o Options) withDefaults() (Options, error) {
	if o.MaxConnsPerHost == 0 {
		o.MaxConnsPerHost = DefaultMaxConnsPerHost
	}
	if o.MaxIdleConnsPerHost == 0 {
		o.MaxIdleConnsPerHost = DefaultMaxIdleConnsPerHost
	}
	if o.IdleConnTimeout == 0 {
		o.IdleConnTimeout = DefaultIdleConnTimeout
	}
	if o.ConnectTimeout == 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.DNSRefresh == 0 {
		o.DNSRefresh = DefaultDNSRefresh
	}
	if o.SNAT.Ports == 0 {
		o.SNAT.Ports = DefaultSNATPorts
	}
	if o.SNAT.Reclaim == 0 {
		o.SNAT.Reclaim = DefaultSNATReclaim
	}
	switch {
	case o.MaxConnsPerHost < 0:
		return o, fmt.Errorf("outbound: maxConnsPerHost %d is negative", o.MaxConnsPerHost)
	case o.MaxIdleConnsPerHost < 0:
		return o, fmt.Errorf("outbound: maxIdleConnsPerHost %d is negative", o.MaxIdleConnsPerHost)
	case o.IdleConnTimeout < 0:
		return o, fmt.Errorf("outbound: idleConnTimeout %s is negative", o.IdleConnTimeout)
	case o.ConnectTimeout < 0:
		return o, fmt.Errorf("outbound: connectTimeout %s is negative", o.ConnectTimeout)
	case o.DNSRefresh < 0:
		return o, fmt.Errorf("outbound: dnsRefresh %s is negative", o.DNSRefresh)
	case o.SNAT.Ports < 0:
		return o, fmt.Errorf("outbound: snat.ports %d is negative", o.SNAT.Ports)
	case o.SNAT.Reclaim < 0:
		return o, fmt.Errorf("outbound: snat.reclaim %s is negative", o.SNAT.Reclaim)
	}
	if len(o.Hosts) > 0 {
		// Host names are case-insensitive; requests are looked up in
		// lower case.
		hosts := make(map[string]HostOptions, len(o.Hosts))
		for host, h := range o.Hosts {
			hosts[strings.ToLower(host)] = h
		}
		o.Hosts = hosts
	}
	for host, h := range o.Hosts {
		if _, _, err := net.SplitHostPort(host); err != nil {
			return o, fmt.Errorf("outbound: host %q: want host:port: %w", host, err)
		}
		switch h.protocol() {
		case ProtocolHTTP1:
		case ProtocolH2, ProtocolH2C:
			if !h.keepAlive() {
				return o, fmt.Errorf("outbound: host %q: keepAlive false (a new connection per request) is for http1; HTTP/2 sends many requests over one connection", host)
			}
		default:
			return o, fmt.Errorf("outbound: host %q: protocol %q: want http1, h2 or h2c", host, h.Protocol)
		}
		if h.MaxConnsPerHost < 0 || h.MaxIdleConnsPerHost < 0 || h.IdleConnTimeout < 0 {
			return o, fmt.Errorf("outbound: host %q: maxConnsPerHost, maxIdleConnsPerHost and idleConnTimeout must not be negative", host)
		}
		for _, a := range h.Addresses {
			if _, err := netip.ParseAddrPort(a); err != nil {
				return o, fmt.Errorf("outbound: host %q: address %q: want ip:port: %w", host, a, err)
			}
		}
	}
	return o, nil
}
