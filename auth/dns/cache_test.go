package dns_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
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

func TestCacheOff(t *testing.T) {
	srv, r, _ := setup(t, ttlZone, func(c *dns.Config) { c.NoCache = true })
	lookupTXT(t, r, "t60.example.com")
	if a := lookupTXT(t, r, "t60.example.com"); a.FromCache || srv.Queries("t60.example.com", mdns.TypeTXT) != 2 {
		t.Errorf("NoCache: served from cache")
	}
	if s := r.Stats(); s.CacheEntries != 0 || s.CacheBytes != 0 {
		t.Errorf("NoCache: stats %+v", s)
	}
}

// sizedZone has n names s0.example.com ... each with one TXT record of
// size(i) octets, TTL 300.
func sizedZone(n int, size func(i int) int) string {
	var z strings.Builder
	for i := range n {
		fmt.Fprintf(&z, "s%d.example.com. 300 TXT", i)
		for left := size(i); left > 0; left -= 255 {
			fmt.Fprintf(&z, " \"%s\"", strings.Repeat("x", min(left, 255)))
		}
		z.WriteByte('\n')
	}
	return z.String()
}

// entryBytes is what one answer of the sized zone costs in the cache.
func entryBytes(t *testing.T, zone, name string) int64 {
	t.Helper()
	_, r, _ := setup(t, zone, nil)
	lookupTXT(t, r, name)
	return r.Stats().CacheBytes
}

func TestCacheLRUByBytes(t *testing.T) {
	z := sizedZone(4, func(int) int { return 100 })
	one := entryBytes(t, z, "s0.example.com")
	srv, r, _ := setup(t, z, func(c *dns.Config) { c.CacheBytes = 2*one + one/2; c.MaxAnswerBytes = one })
	for _, n := range []int{0, 1, 0, 2, 0, 1} {
		lookupTXT(t, r, fmt.Sprintf("s%d.example.com", n))
	}
	s := r.Stats()
	if s.CacheEntries != 2 || s.CacheBytes != 2*one || s.CacheEvicted != 2 {
		t.Errorf("stats: %+v, want 2 entries of %d bytes, 2 evicted", s, one)
	}
	// Room for 2: s1 was evicted by s2, then s2 by s1; s0 stayed.
	got := fmt.Sprint(srv.Queries("s0.example.com", mdns.TypeTXT), srv.Queries("s1.example.com", mdns.TypeTXT))
	if got != "1 2" {
		t.Errorf("queries s0, s1 = %s, want 1 2", got)
	}
}

// TestCacheWithinBudget: answers of all sizes, over and over, never take
// the cache past its budget, and the largest it may keep are kept.
func TestCacheWithinBudget(t *testing.T) {
	const budget, maxAnswer = 64 << 10, 8 << 10
	size := func(i int) int { return 1 + (i*977)%12000 }
	srv, r, _ := setup(t, sizedZone(60, size), func(c *dns.Config) { c.CacheBytes = budget; c.MaxAnswerBytes = maxAnswer })
	for round := range 3 {
		for i := range 60 {
			lookupTXT(t, r, fmt.Sprintf("s%d.example.com", (i*7+round)%60))
			if s := r.Stats(); s.CacheBytes > budget {
				t.Fatalf("cache at %d bytes, budget %d", s.CacheBytes, budget)
			}
		}
	}
	s := r.Stats()
	if s.CacheEvicted == 0 || s.CacheTooBig == 0 || s.CacheBytes < budget-maxAnswer {
		t.Errorf("stats: %+v", s)
	}
	// An answer over MaxAnswerBytes is asked each time.
	big := 0
	for i := range 60 {
		if size(i) > maxAnswer {
			big = i
			break
		}
	}
	name := fmt.Sprintf("s%d.example.com", big)
	if n := srv.Queries(name, mdns.TypeTXT); n < 3 {
		t.Errorf("%s (%d octets): %d queries, want one per lookup", name, size(big), n)
	}
}

func TestCacheTooBig(t *testing.T) {
	z := sizedZone(2, func(i int) int { return 1000 + 9000*i }) // 1,000 and 10,000 octets
	srv, r, _ := setup(t, z, func(c *dns.Config) { c.MaxAnswerBytes = 4096 })
	for range 2 {
		lookupTXT(t, r, "s0.example.com")
		if a := lookupTXT(t, r, "s1.example.com"); a.FromCache || len(a.TXT[0]) != 10000 {
			t.Errorf("oversized answer: FromCache %v, %d octets", a.FromCache, len(a.TXT[0]))
		}
	}
	got := fmt.Sprint(srv.Queries("s0.example.com", mdns.TypeTXT), srv.Queries("s1.example.com", mdns.TypeTXT))
	if got != "1 4" { // s1: UDP truncated, then TCP, twice
		t.Errorf("queries s0, s1 = %s, want 1 4", got)
	}
	if s := r.Stats(); s.CacheEntries != 1 || s.CacheTooBig != 2 {
		t.Errorf("stats: %+v", s)
	}
}

// TestCacheExpiry: entries past their TTL leave the cache without being
// looked up again: at the next lookup of another name, or when Stats is read.
func TestCacheExpiry(t *testing.T) {
	_, r, clk := setup(t, ttlZone, nil)
	lookupTXT(t, r, "t60.example.com")                  // 30 s
	lookupTXT(t, r, "long.example.com")                 // 1 h
	r.LookupTXT(context.Background(), "nx.example.com") // NXDOMAIN, 60 s
	full := r.Stats()
	if full.CacheEntries != 3 {
		t.Fatalf("stats: %+v", full)
	}
	clk.Add(30 * time.Second)
	if s := r.Stats(); s.CacheEntries != 2 || s.CacheExpired != 1 || s.CacheBytes >= full.CacheBytes {
		t.Errorf("after 30 s: %+v", s)
	}
	clk.Add(30 * time.Second)
	lookupTXT(t, r, "long.example.com") // a hit on another name drops nx
	if s := r.Stats(); s.CacheEntries != 1 || s.CacheExpired != 2 {
		t.Errorf("after 60 s: %+v", s)
	}
	clk.Add(time.Hour)
	if s := r.Stats(); s.CacheEntries != 0 || s.CacheBytes != 0 || s.CacheExpired != 3 || s.CacheEvicted != 0 {
		t.Errorf("after 1 h: %+v", s)
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
