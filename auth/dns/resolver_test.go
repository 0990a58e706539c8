package dns_test

import (
	"context"
	"errors"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/authmilter/authmilter/auth/dns"
	"github.com/authmilter/authmilter/auth/dns/dnstest"
)

const zone = `
example.com.          SOA ns.example.com. hostmaster.example.com. 1 3600 600 86400 60
example.com.          TXT "v=spf1 ip4:192.0.2.0/24" " -all"
example.com.          A   192.0.2.1
example.com.          AAAA 2001:db8::1
example.com.          MX  20 mx2.example.com.
example.com.          MX  10 mx1.example.com.
www.example.com.      CNAME example.com.
1.2.0.192.in-addr.arpa. PTR example.com.
`

// clock is a fake clock for cache expiry.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func setup(t *testing.T, z string, mod func(*dns.Config)) (*dnstest.Server, *dns.Resolver, *clock) {
	t.Helper()
	srv, err := dnstest.Start(z)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	cfg := dns.Config{Servers: []string{srv.Addr}, Timeout: time.Second, Attempts: 2, Now: clk.Now}
	if mod != nil {
		mod(&cfg)
	}
	r, err := dns.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return srv, r, clk
}

func TestLookupTypes(t *testing.T) {
	_, r, _ := setup(t, zone, nil)
	ctx := context.Background()

	txt, err := r.LookupTXT(ctx, "example.com")
	if err != nil || !slices.Equal(txt, []string{"v=spf1 ip4:192.0.2.0/24 -all"}) {
		t.Errorf("LookupTXT = %q, %v", txt, err)
	}
	ips, err := r.LookupIP(ctx, "ip", "Example.COM.")
	if err != nil || len(ips) != 2 || !ips[0].Equal(net.ParseIP("192.0.2.1")) || !ips[1].Equal(net.ParseIP("2001:db8::1")) {
		t.Errorf("LookupIP(ip) = %v, %v", ips, err)
	}
	ips, err = r.LookupIP(ctx, "ip6", "www.example.com")
	if err != nil || len(ips) != 1 || !ips[0].Equal(net.ParseIP("2001:db8::1")) {
		t.Errorf("LookupIP(ip6, via CNAME) = %v, %v", ips, err)
	}
	if ips, err = r.LookupIP(ctx, "ip", "example.com"); err != nil || len(ips) != 2 {
		t.Errorf("LookupIP(ip) = %v, %v", ips, err)
	}
	mx, err := r.LookupMX(ctx, "example.com")
	if err != nil || len(mx) != 2 || mx[0].Host != "mx1.example.com." || mx[0].Pref != 10 || mx[1].Pref != 20 {
		t.Errorf("LookupMX = %v, %v", mx, err)
	}
	names, err := r.LookupAddr(ctx, "192.0.2.1")
	if err != nil || !slices.Equal(names, []string{"example.com."}) {
		t.Errorf("LookupAddr = %v, %v", names, err)
	}
}

func TestNotFound(t *testing.T) {
	_, r, _ := setup(t, zone, nil)
	ctx := context.Background()
	_, err := r.LookupTXT(ctx, "nx.example.com")
	var de *net.DNSError
	if !errors.As(err, &de) || !de.IsNotFound || de.IsTemporary || !dns.IsNXDomain(err) || !errors.Is(err, dns.ErrNXDomain) {
		t.Errorf("NXDOMAIN: %#v", err)
	}
	if _, ok := err.(*net.DNSError); !ok {
		t.Errorf("NXDOMAIN: %T is not an unwrapped *net.DNSError", err)
	}
	_, err = r.LookupMX(ctx, "1.2.0.192.in-addr.arpa")
	if !dns.IsNotFound(err) || dns.IsNXDomain(err) || !errors.Is(err, dns.ErrNoData) {
		t.Errorf("NODATA: %#v", err)
	}
}
