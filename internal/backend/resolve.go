package backend

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// minDNSRefresh is the shortest interval between two resolutions of a
// host, whatever its records' TTL (a TTL of 0 would otherwise mean a
// lookup per request).
const minDNSRefresh = time.Second

// resolver resolves backend host names. The addresses come from the
// system's resolver (hosts file, search list, as every other program on the
// machine sees them); the time to live comes from querying the name's A and
// AAAA records directly at the nameservers of /etc/resolv.conf, since Go's
// resolver does not report TTLs. When the direct query fails or disagrees
// with the system's answer, the TTL is unknown and the Manager's
// DNSRefresh applies.
type resolver struct {
	sys    *net.Resolver
	conf   func() (*dns.ClientConfig, error)
	client *dns.Client
}

func newResolver() *resolver {
	return &resolver{
		sys:    net.DefaultResolver,
		conf:   func() (*dns.ClientConfig, error) { return dns.ClientConfigFromFile("/etc/resolv.conf") },
		client: &dns.Client{},
	}
}

// ttlGrace is how long a lookup waits for the TTL query once the system's
// answer is in: the addresses never wait on a slow or unreachable
// nameserver, they only go without a TTL for that round.
const ttlGrace = 100 * time.Millisecond

// lookup returns host's addresses and their TTL (0: unknown).
func (r *resolver) lookup(ctx context.Context, host string) ([]netip.Addr, time.Duration, error) {
	type answer struct {
		addrs []netip.Addr
		ttl   time.Duration
	}
	qctx, cancel := context.WithCancel(ctx)
	defer cancel()
	direct := make(chan answer, 1)
	go func() {
		a, t := r.ttl(qctx, host)
		direct <- answer{a, t}
	}()
	addrs, err := r.sys.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, 0, err
	}
	var ttl time.Duration
	t := time.NewTimer(ttlGrace)
	defer t.Stop()
	select {
	case a := <-direct:
		if a.ttl > 0 && sameAddrs(addrs, a.addrs) {
			ttl = a.ttl // otherwise the hosts file or a search domain answered, not these records
		}
	case <-t.C:
	}
	return addrs, ttl, nil
}

// ttl queries host's A and AAAA records at the configured nameservers and
// returns the addresses and the smallest TTL of the answer (CNAMEs
// included), or 0 when the name is not answered directly.
func (r *resolver) ttl(ctx context.Context, host string) ([]netip.Addr, time.Duration) {
	conf, err := r.conf()
	if err != nil || len(conf.Servers) == 0 {
		return nil, 0
	}
	if !strings.HasSuffix(host, ".") && strings.Count(host, ".") < conf.Ndots {
		return nil, 0 // the search list is tried first: leave it to the system
	}
	timeout := time.Duration(max(conf.Timeout, 1)) * time.Second
	ctx, cancel := context.WithTimeout(ctx, min(timeout, 2*time.Second))
	defer cancel()
	var addrs []netip.Addr
	var least uint32
	found, answered := false, 0
	for _, qtype := range []uint16{dns.TypeA, dns.TypeAAAA} {
		msg := new(dns.Msg)
		msg.SetQuestion(dns.Fqdn(host), qtype)
		for _, s := range conf.Servers {
			in, _, err := r.client.ExchangeContext(ctx, msg, net.JoinHostPort(s, conf.Port))
			if err != nil || in.Rcode != dns.RcodeSuccess {
				continue
			}
			answered++
			for _, rr := range in.Answer {
				var ip net.IP
				switch v := rr.(type) {
				case *dns.A:
					ip = v.A
				case *dns.AAAA:
					ip = v.AAAA
				case *dns.CNAME:
				default:
					continue
				}
				if t := rr.Header().Ttl; !found || t < least {
					least, found = t, true
				}
				if a, ok := netip.AddrFromSlice(ip); ok {
					addrs = append(addrs, a.Unmap())
				}
			}
			break
		}
	}
	if answered < 2 || len(addrs) == 0 {
		return nil, 0
	}
	return addrs, max(time.Duration(least)*time.Second, minDNSRefresh)
}

func sameAddrs(a, b []netip.Addr) bool {
	key := func(s []netip.Addr) []netip.Addr {
		s = slices.Clone(s)
		for i := range s {
			s[i] = s[i].Unmap()
		}
		slices.SortFunc(s, func(x, y netip.Addr) int { return x.Compare(y) })
		return slices.Compact(s)
	}
	return slices.Equal(key(a), key(b))
}

// refreshAfter is how long a resolution of a name with the given TTL (0:
// unknown; never under minDNSRefresh otherwise) stays valid: the TTL, but
// never longer than refresh (the configured DNSRefresh).
func refreshAfter(ttl, refresh time.Duration) time.Duration {
	if ttl <= 0 {
		return refresh
	}
	return min(ttl, refresh)
}
