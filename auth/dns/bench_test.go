package dns_test

import (
	"context"
	"strconv"
	"testing"

	mdns "github.com/miekg/dns"

	"github.com/authmilter/authmilter/auth/dns"
	"github.com/authmilter/authmilter/auth/dns/dnstest"
)

func benchResolver(b *testing.B, zone string, mod func(*dns.Config)) (*dnstest.Server, *dns.Resolver) {
	b.Helper()
	srv, err := dnstest.Start(zone)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(srv.Close)
	cfg := dns.Config{Servers: []string{srv.Addr}}
	if mod != nil {
		mod(&cfg)
	}
	r, err := dns.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	return srv, r
}

// BenchmarkLookupTXTHit is the cache-hit path every SPF, DKIM and DMARC
// lookup takes once warm.
func BenchmarkLookupTXTHit(b *testing.B) {
	_, r := benchResolver(b, `example.com. 3600 TXT "v=spf1 ip4:192.0.2.0/24 -all"`, nil)
	ctx := context.Background()
	if _, err := r.LookupTXT(ctx, "example.com"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.LookupTXT(ctx, "example.com"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLookupTXTHitParallel is the hit path from all cores at once.
func BenchmarkLookupTXTHitParallel(b *testing.B) {
	_, r := benchResolver(b, `example.com. 3600 TXT "v=spf1 ip4:192.0.2.0/24 -all"`, nil)
	ctx := context.Background()
	if _, err := r.LookupTXT(ctx, "example.com"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := r.LookupTXT(ctx, "example.com"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkLookupNXHit is a cached negative answer (an error per call).
func BenchmarkLookupNXHit(b *testing.B) {
	_, r := benchResolver(b, "", nil)
	ctx := context.Background()
	r.LookupTXT(ctx, "_dmarc.nx.example")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.LookupTXT(ctx, "_dmarc.nx.example"); !dns.IsNXDomain(err) {
			b.Fatal(err)
		}
	}
}

// BenchmarkLookupTXTMiss is a full upstream exchange over UDP with dnstest
// on 127.0.0.1 (the cache is disabled).
func BenchmarkLookupTXTMiss(b *testing.B) {
	_, r := benchResolver(b, `example.com. 3600 TXT "v=spf1 ip4:192.0.2.0/24 -all"`, func(c *dns.Config) { c.NoCache = true })
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.LookupTXT(ctx, "example.com"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLookupTXTMissDistinct misses the cache with a new name each time,
// so caching and eviction costs are included.
func BenchmarkLookupTXTMissDistinct(b *testing.B) {
	// Room for about 1000 of these answers (~300 bytes each with the
	// bookkeeping).
	srv, r := benchResolver(b, "", func(c *dns.Config) { c.CacheBytes = 300_000 })
	ctx := context.Background()
	for i := range 1000 {
		srv.Add("n" + strconv.Itoa(i) + `.example.com. TXT "v=spf1 -all"`)
	}
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		// 1000 names, room for ~1000, TTL 300: the loop cycles over 2000
		// names (half of them NXDOMAIN) so that each lookup misses.
		name := "n" + strconv.Itoa(i%2000) + ".example.com"
		i++
		if _, err := r.Lookup(ctx, name, mdns.TypeTXT); err != nil && !dns.IsNotFound(err) {
			b.Fatal(err)
		}
	}
}
