package spf_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/authmilter/authmilter/auth/dns"
	"github.com/authmilter/authmilter/auth/dns/dnstest"
	"github.com/authmilter/authmilter/auth/spf"
	mdns "github.com/miekg/dns"
)

// twoIncludesZone is a record with two includes, as large senders publish.
const twoIncludesZone = `
example.com.        TXT "v=spf1 include:_spf1.example.net include:_spf2.example.net -all"
_spf1.example.net.  TXT "v=spf1 ip4:198.51.100.0/24 ip6:2001:db8:1::/48 ~all"
_spf2.example.net.  TXT "v=spf1 ip4:192.0.2.0/24 a:relay.example.net ~all"
relay.example.net.  A   203.0.113.9
mail.example.com.   TXT "v=spf1 a mx -all"
mail.example.com.   A   192.0.2.25
mail.example.com.   MX  10 mx.example.com.
mx.example.com.     A   192.0.2.26
`

func newServer(tb testing.TB) (*dnstest.Server, *dns.Resolver) {
	tb.Helper()
	srv, err := dnstest.Start(twoIncludesZone)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(srv.Close)
	r, err := dns.New(dns.Config{Servers: []string{srv.Addr}, Timeout: 200 * time.Millisecond, Attempts: 1})
	if err != nil {
		tb.Fatal(err)
	}
	return srv, r
}

// TestWithDNSServer runs the evaluator on the real resolver against the
// in-process DNS server.
func TestWithDNSServer(t *testing.T) {
	srv, r := newServer(t)
	c := &spf.Checker{Resolver: r}
	ctx := context.Background()
	for _, tc := range []struct {
		ip, from string
		want     spf.Result
	}{
		{"192.0.2.7", "a@example.com", spf.Pass},
		{"203.0.113.9", "a@example.com", spf.Pass},
		{"2001:db8:1::25", "a@example.com", spf.Pass},
		{"::ffff:198.51.100.3", "a@example.com", spf.Pass},
		{"203.0.113.10", "a@example.com", spf.Fail},
		{"192.0.2.26", "", spf.Pass}, // postmaster@mail.example.com, by mx
		{"192.0.2.7", "a@nowhere.example.org", spf.None},
	} {
		o := c.CheckMailFrom(ctx, net.ParseIP(tc.ip), "mail.example.com", tc.from)
		if o.Result != tc.want {
			t.Errorf("%s %q: %s (%s), want %s", tc.ip, tc.from, o.Result, o.Reason, tc.want)
		}
	}

	// A SERVFAIL for an include target is a temperror (RFC 7208 §5.2).
	// A new resolver: the first one has the good answers cached.
	r, err := dns.New(dns.Config{Servers: []string{srv.Addr}, Timeout: 200 * time.Millisecond, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	c = &spf.Checker{Resolver: r}
	srv.ServFail("_spf2.example.net")
	o := c.CheckMailFrom(ctx, net.ParseIP("192.0.2.7"), "mail.example.com", "a@example.com")
	if o.Result != spf.Temperror || !errors.Is(o.Err, dns.ErrServFail) {
		t.Errorf("SERVFAIL: %s (%s) err %v, want temperror", o.Result, o.Reason, o.Err)
	}

	// So is a server that does not answer.
	srv.Drop("mail.example.com")
	o = c.CheckHelo(ctx, net.ParseIP("192.0.2.25"), "mail.example.com")
	if o.Result != spf.Temperror || !errors.Is(o.Err, spf.ErrTemporary) {
		t.Errorf("timeout: %s (%s) err %v, want temperror", o.Result, o.Reason, o.Err)
	}
}

// BenchmarkTwoIncludesWarm evaluates a record with two includes on a warm
// resolver cache (*dns.Resolver against dnstest).
func BenchmarkTwoIncludesWarm(b *testing.B) {
	srv, r := newServer(b)
	c := &spf.Checker{Resolver: r}
	ctx := context.Background()
	ip := net.ParseIP("203.0.113.9") // matched by the a: of the second include
	if o := c.CheckMailFrom(ctx, ip, "mail.example.com", "a@example.com"); o.Result != spf.Pass {
		b.Fatalf("warm-up: %s (%s)", o.Result, o.Reason)
	}
	before := srv.Queries("_spf2.example.net.", mdns.TypeTXT)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if o := c.CheckMailFrom(ctx, ip, "mail.example.com", "a@example.com"); o.Result != spf.Pass {
			b.Fatalf("%s (%s)", o.Result, o.Reason)
		}
	}
	b.StopTimer()
	if n := srv.Queries("_spf2.example.net.", mdns.TypeTXT); n != before {
		b.Fatalf("cache not warm: %d queries during the benchmark", n-before)
	}
}

func ExampleChecker_CheckMailFrom() {
	srv, err := dnstest.Start(`example.com. TXT "v=spf1 ip4:192.0.2.0/24 -all exp=why.example.com"
why.example.com. TXT "%{i} may not send mail for %{d}"`)
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	r, err := dns.New(dns.Config{Servers: []string{srv.Addr}})
	if err != nil {
		panic(err)
	}
	c := &spf.Checker{Resolver: r}
	o := c.CheckMailFrom(context.Background(), net.ParseIP("192.0.2.10"), "mail.example.com", "alice@example.com")
	fmt.Println(o.Identity, o.Domain, o.Result, "-", o.Reason)
	o = c.CheckMailFrom(context.Background(), net.ParseIP("203.0.113.5"), "mail.example.com", "alice@example.com")
	fmt.Println(o.Identity, o.Domain, o.Result, "-", o.Reason, "-", o.Explanation)
	// Output:
	// mailfrom example.com pass - ip4:192.0.2.0/24 matched
	// mailfrom example.com fail - -all matched - 203.0.113.5 may not send mail for example.com
}
