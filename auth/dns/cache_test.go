package dns_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/authmilter/authmilter/auth/dns"
)

const ttlZone = `
example.com.      SOA ns.example.com. hostmaster.example.com. 1 3600 600 86400 60
t60.example.com.  60 TXT "sixty"
t60.example.com.  30 TXT "thirty"
long.example.com. 86400 TXT "a day"
zero.example.com. 0 TXT "zero"
c.example.com.    20 CNAME t60.example.com.
other.test.       7200 SOA ns.other.test. hostmaster.other.test. 1 3600 600 86400 7200
`

// lookupTXT runs Lookup for TXT and fails the test on error.
func lookupTXT(t *testing.T, r *dns.Resolver, name string) dns.Answer {
	t.Helper()
	a, err := r.Lookup(context.Background(), name, mdns.TypeTXT)
	if err != nil {
		t.Fatalf("Lookup(%s): %v", name, err)
	}
	return a
}

func TestPositiveTTL(t *testing.T) {
	srv, r, clk := setup(t, ttlZone, nil)
	a := lookupTXT(t, r, "t60.example.com")
	if a.FromCache || a.TTL != 30*time.Second || len(a.TXT) != 2 {
		t.Fatalf("first lookup: %+v", a)
	}
	clk.Add(29 * time.Second)
	a = lookupTXT(t, r, "T60.Example.Com.")
	if !a.FromCache || a.TTL != time.Second || a.Name != "T60.Example.Com." {
		t.Errorf("within TTL: %+v", a)
	}
	clk.Add(time.Second)
	if a = lookupTXT(t, r, "t60.example.com"); a.FromCache {
		t.Errorf("at expiry: served from cache")
	}
	if n := srv.Queries("t60.example.com", mdns.TypeTXT); n != 2 {
		t.Errorf("upstream queries = %d, want 2", n)
	}

	// The chain's TTL counts: the CNAME has 20 s.
	if a = lookupTXT(t, r, "c.example.com"); a.TTL != 20*time.Second || a.Canonical != "t60.example.com" {
		t.Errorf("via CNAME: %+v", a)
	}
	// MaxTTL (default 1 h) caps a day.
	if a = lookupTXT(t, r, "long.example.com"); a.TTL != time.Hour {
		t.Errorf("long TTL: %+v", a)
	}
	// TTL 0: not cached.
	lookupTXT(t, r, "zero.example.com")
	if a = lookupTXT(t, r, "zero.example.com"); a.FromCache {
		t.Errorf("TTL 0 served from cache")
	}
}

func TestMinTTL(t *testing.T) {
	srv, r, clk := setup(t, ttlZone, func(c *dns.Config) { c.MinTTL = 10 * time.Second })
	lookupTXT(t, r, "zero.example.com")
	clk.Add(9 * time.Second)
	if a := lookupTXT(t, r, "zero.example.com"); !a.FromCache || a.TTL != time.Second {
		t.Errorf("MinTTL: %+v", a)
	}
	if n := srv.Queries("zero.example.com", mdns.TypeTXT); n != 1 {
		t.Errorf("upstream queries = %d, want 1", n)
	}
}

func TestNegativeCache(t *testing.T) {
	srv, r, clk := setup(t, ttlZone, nil)
	ctx := context.Background()
	check := func(name string, qtype uint16, want error, queries int) {
		t.Helper()
		_, err := r.Lookup(ctx, name, qtype)
		if !errors.Is(err, want) {
			t.Errorf("Lookup(%s): %v, want %v", name, err, want)
		}
		if n := srv.Queries(name, qtype); n != queries {
			t.Errorf("Lookup(%s): %d upstream queries, want %d", name, n, queries)
		}
	}
	// RFC 2308: min(SOA TTL 300 (default), SOA minimum 60) = 60 s.
	if a, err := r.Lookup(ctx, "nx2.example.com", mdns.TypeTXT); !dns.IsNXDomain(err) || a.TTL != time.Minute || a.FromCache {
		t.Errorf("first negative Answer: %+v, %v", a, err)
	}
	if a, err := r.Lookup(ctx, "nx2.example.com", mdns.TypeTXT); !dns.IsNXDomain(err) || a.TTL != time.Minute || !a.FromCache {
		t.Errorf("cached negative Answer: %+v, %v", a, err)
	}
	check("nx.example.com", mdns.TypeTXT, dns.ErrNXDomain, 1)
	check("t60.example.com", mdns.TypeMX, dns.ErrNoData, 1)
	clk.Add(59 * time.Second)
	check("nx.example.com", mdns.TypeTXT, dns.ErrNXDomain, 1)
	check("t60.example.com", mdns.TypeMX, dns.ErrNoData, 1)
	clk.Add(time.Second)
	check("nx.example.com", mdns.TypeTXT, dns.ErrNXDomain, 2)
	check("t60.example.com", mdns.TypeMX, dns.ErrNoData, 2)

	// A record added meanwhile shows after the negative TTL.
	if err := srv.Add(`nx.example.com. TXT "now"`); err != nil {
		t.Fatal(err)
	}
	check("nx.example.com", mdns.TypeTXT, dns.ErrNXDomain, 2)
	clk.Add(time.Minute)
	if a := lookupTXT(t, r, "nx.example.com"); a.TXT[0] != "now" {
		t.Errorf("after negative TTL: %+v", a)
	}

	// NegativeMaxTTL (15 m) caps min(SOA TTL 7200, minimum 7200).
	check("nx.other.test", mdns.TypeTXT, dns.ErrNXDomain, 1)
	clk.Add(15*time.Minute - time.Second)
	check("nx.other.test", mdns.TypeTXT, dns.ErrNXDomain, 1)
	clk.Add(time.Second)
	check("nx.other.test", mdns.TypeTXT, dns.ErrNXDomain, 2)
}

func TestTempFailNotCached(t *testing.T) {
	srv, r, _ := setup(t, ttlZone, nil)
	srv.ServFail("t60.example.com")
	for range 2 {
		if _, err := r.LookupTXT(context.Background(), "t60.example.com"); !errors.Is(err, dns.ErrServFail) {
			t.Fatalf("got %v, want SERVFAIL", err)
		}
	}
	if n := srv.Queries("t60.example.com", mdns.TypeTXT); n != 2 {
		t.Errorf("upstream queries = %d, want 2 (one per lookup, SERVFAIL not cached)", n)
	}
	srv.Clear("t60.example.com")
	if a := lookupTXT(t, r, "t60.example.com"); a.FromCache {
		t.Errorf("after SERVFAIL cleared: %+v", a)
	}
}

func TestTempFailTTL(t *testing.T) {
	srv, r, clk := setup(t, ttlZone, func(c *dns.Config) { c.TempFailTTL = 5 * time.Second })
	srv.ServFail("t60.example.com")
	for range 3 {
		if _, err := r.LookupTXT(context.Background(), "t60.example.com"); !errors.Is(err, dns.ErrServFail) {
			t.Fatalf("got %v, want SERVFAIL", err)
		}
	}
	clk.Add(5 * time.Second)
	srv.Clear("t60.example.com")
	lookupTXT(t, r, "t60.example.com")
	if n := srv.Queries("t60.example.com", mdns.TypeTXT); n != 2 {
		t.Errorf("upstream queries = %d, want 2", n)
	}
}

func TestCacheDisabledAndEviction(t *testing.T) {
	srv, r, _ := setup(t, ttlZone, func(c *dns.Config) { c.CacheSize = -1 })
	lookupTXT(t, r, "t60.example.com")
	if a := lookupTXT(t, r, "t60.example.com"); a.FromCache {
		t.Errorf("CacheSize -1: served from cache")
	}

	srv, r, _ = setup(t, ttlZone, func(c *dns.Config) { c.CacheSize = 2 })
	for _, n := range []string{"t60", "long", "t60", "c", "t60", "long"} {
		lookupTXT(t, r, n+".example.com")
	}
	if n := r.Stats().CacheEntries; n != 2 {
		t.Errorf("CacheEntries = %d, want 2", n)
	}
	// LRU of 2: long was evicted by c, t60 stayed.
	got := fmt.Sprint(srv.Queries("t60.example.com", mdns.TypeTXT), srv.Queries("long.example.com", mdns.TypeTXT))
	if got != "1 2" {
		t.Errorf("queries t60, long = %s, want 1 2", got)
	}
}

func TestCoalescing(t *testing.T) {
	srv, r, _ := setup(t, ttlZone, nil)
	srv.Delay("t60.example.com", 50*time.Millisecond) // keep the flight open
	const n = 1000
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			txt, err := r.LookupTXT(context.Background(), "t60.example.com")
			if err == nil && len(txt) != 2 {
				err = fmt.Errorf("got %q", txt)
			}
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if q := srv.Queries("t60.example.com", mdns.TypeTXT); q != 1 {
		t.Errorf("%d concurrent lookups sent %d upstream queries, want 1", n, q)
	}
	s := r.Stats()
	if s.Hits+s.Misses != n || s.Coalesced == 0 || s.UpstreamQueries != 1 {
		t.Errorf("stats: %+v", s)
	}
}

func TestPurge(t *testing.T) {
	srv, r, _ := setup(t, ttlZone, nil)
	lookupTXT(t, r, "t60.example.com")
	r.Purge()
	if a := lookupTXT(t, r, "t60.example.com"); a.FromCache || srv.Queries("t60.example.com", mdns.TypeTXT) != 2 {
		t.Errorf("after Purge: %+v", a)
	}
}
