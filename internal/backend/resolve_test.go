package backend

import (
	"context"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// dnsServer is a real DNS server on loopback UDP. It answers A queries for
// the names it holds, with their TTL, and NXDOMAIN for the others.
type dnsServer struct {
	addr    string
	mu      sync.Mutex
	answers map[string][]string // FQDN → IPv4 addresses
	ttl     uint32
	queries atomic.Int64
}

func newDNSServer(t *testing.T) *dnsServer {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &dnsServer{addr: pc.LocalAddr().String(), answers: map[string][]string{}}
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(d.serve), NotifyStartedFunc: func() { close(started) }}
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown() })
	return d
}

func (d *dnsServer) set(name string, ttl uint32, ips ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.answers[dns.Fqdn(name)] = ips
	d.ttl = ttl
}

func (d *dnsServer) serve(w dns.ResponseWriter, q *dns.Msg) {
	d.queries.Add(1)
	m := new(dns.Msg)
	m.SetReply(q)
	qn := q.Question[0]
	d.mu.Lock()
	ips, ok := d.answers[strings.ToLower(qn.Name)]
	ttl := d.ttl
	d.mu.Unlock()
	if !ok {
		m.Rcode = dns.RcodeNameError
	}
	for _, ip := range ips {
		if qn.Qtype == dns.TypeA {
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: qn.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: ttl}, A: net.ParseIP(ip).To4()})
		}
	}
	_ = w.WriteMsg(m)
}

// resolver returns a resolver whose system lookups and TTL queries both go
// to d.
func (d *dnsServer) resolver() *resolver {
	host, port, _ := net.SplitHostPort(d.addr)
	return &resolver{
		sys: &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var dl net.Dialer
			return dl.DialContext(ctx, "udp", d.addr)
		}},
		conf: func() (*dns.ClientConfig, error) {
			return &dns.ClientConfig{Servers: []string{host}, Port: port, Ndots: 1, Timeout: 1}, nil
		},
		client: &dns.Client{},
	}
}

func TestResolverTTL(t *testing.T) {
	d := newDNSServer(t)
	d.set("svc.backend.test", 7, "127.0.0.2", "127.0.0.3")
	r := d.resolver()
	ctx := context.Background()
	addrs, ttl, err := r.lookup(ctx, "svc.backend.test")
	if err != nil || len(addrs) != 2 || ttl != 7*time.Second {
		t.Fatalf("lookup: %v ttl %v err %v; want 2 addresses, 7s", addrs, ttl, err)
	}
	d.set("svc.backend.test", 0, "127.0.0.2")
	if _, ttl, _ := r.lookup(ctx, "svc.backend.test"); ttl != minDNSRefresh {
		t.Errorf("TTL 0 gave %v, want the floor %v", ttl, minDNSRefresh)
	}
	// A name the hosts file answers has no TTL: DNSRefresh applies.
	if addrs, ttl, err := r.lookup(ctx, "localhost"); err != nil || len(addrs) == 0 || ttl != 0 {
		t.Errorf("localhost: %v ttl %v err %v; want addresses and no TTL", addrs, ttl, err)
	}
	if _, _, err := r.lookup(ctx, "missing.backend.test"); err == nil {
		t.Error("a name that does not exist resolved")
	}
	for _, tc := range []struct{ ttl, refresh, want time.Duration }{
		{0, 30 * time.Second, 30 * time.Second},
		{5 * time.Second, 30 * time.Second, 5 * time.Second},
		{300 * time.Second, 30 * time.Second, 30 * time.Second},
	} {
		if got := refreshAfter(tc.ttl, tc.refresh); got != tc.want {
			t.Errorf("refreshAfter(%v, %v) = %v, want %v", tc.ttl, tc.refresh, got, tc.want)
		}
	}
}

// A host is resolved again when its records' TTL passes, even when
// DNSRefresh is much longer: new addresses get the traffic.
func TestDNSRecordTTLHonoured(t *testing.T) {
	b2, b3, port := newBackendPair(t, okHandler)
	d := newDNSServer(t)
	d.set("ttl.backend.test", 1, "127.0.0.2")
	m, _ := newTestManager(t, Options{DNSRefresh: time.Hour})
	m.lookup = d.resolver().lookup
	url := "http://ttl.backend.test:" + port + "/"
	ctx := context.Background()
	if _, _, err := get(ctx, m, url); err != nil {
		t.Fatal(err)
	}
	d.set("ttl.backend.test", 1, "127.0.0.3")
	deadline := time.Now().Add(10 * time.Second)
	for b3.accepted.Load() == 0 && time.Now().Before(deadline) {
		if _, _, err := get(ctx, m, url); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if b2.accepted.Load() != 1 || b3.accepted.Load() != 1 {
		t.Fatalf("accepted: .2 %d, .3 %d; want 1 and 1 (the new address after the 1 s TTL)", b2.accepted.Load(), b3.accepted.Load())
	}
}

// A nameserver that does not answer the TTL query does not hold the
// addresses up: they come without a TTL, after a short grace.
func TestResolverTTLQueryDoesNotDelay(t *testing.T) {
	d := newDNSServer(t)
	d.set("svc.backend.test", 60, "127.0.0.2")
	hole, err := net.ListenPacket("udp", "127.0.0.1:0") // reads nothing, answers nothing
	if err != nil {
		t.Fatal(err)
	}
	defer hole.Close()
	r := d.resolver()
	_, holePort, _ := net.SplitHostPort(hole.LocalAddr().String())
	r.conf = func() (*dns.ClientConfig, error) {
		return &dns.ClientConfig{Servers: []string{"127.0.0.1"}, Port: holePort, Ndots: 1, Timeout: 2}, nil
	}
	start := time.Now()
	addrs, ttl, err := r.lookup(context.Background(), "svc.backend.test")
	// The direct query would wait 2 s for its answer.
	if err != nil || len(addrs) != 1 || ttl != 0 || time.Since(start) >= 1900*time.Millisecond {
		t.Fatalf("got %v ttl %v err %v after %v; want the address, no TTL, well before the query's 2 s timeout", addrs, ttl, err, time.Since(start))
	}
}
