package dns_test

import (
	"context"
	"testing"

	mdns "github.com/miekg/dns"

	"github.com/authmilter/authmilter/auth/dns"
)

// TestLookupTLSA: Lookup returns TLSA records (RFC 6698) with the AD bit of
// the answer, from upstream and from the cache, and NODATA as not found.
func TestLookupTLSA(t *testing.T) {
	srv, r, _ := setup(t, zone+`
_25._tcp.mx1.example.com. TLSA 3 1 1 0123456789ABCDEF
_25._tcp.mx1.example.com. TLSA 2 0 2 FEDCBA
`, nil)
	srv.AD("_25._tcp.mx1.example.com")
	ctx := context.Background()
	for i, fromCache := range []bool{false, true} {
		a, err := r.Lookup(ctx, "_25._tcp.mx1.example.com", mdns.TypeTLSA)
		if err != nil {
			t.Fatalf("lookup %d: %v", i, err)
		}
		want := []dns.TLSA{{Usage: 3, Selector: 1, MatchingType: 1, Data: "0123456789abcdef"},
			{Usage: 2, Selector: 0, MatchingType: 2, Data: "fedcba"}}
		if len(a.TLSA) != 2 || a.TLSA[0] != want[0] || a.TLSA[1] != want[1] {
			t.Errorf("lookup %d: TLSA = %+v, want %+v", i, a.TLSA, want)
		}
		if !a.Authentic || a.FromCache != fromCache {
			t.Errorf("lookup %d: Authentic %v FromCache %v", i, a.Authentic, a.FromCache)
		}
	}
	a, err := r.Lookup(ctx, "_25._tcp.mx2.example.com", mdns.TypeTLSA)
	if !dns.IsNotFound(err) || a.Authentic {
		t.Errorf("no TLSA: %+v, %v", a, err)
	}
}
