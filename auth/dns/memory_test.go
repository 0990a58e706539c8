package dns_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/authmilter/authmilter/auth/dns"
	"github.com/authmilter/authmilter/auth/dns/dnstest"
)

// liveHeap is the heap in use after a full collection.
func liveHeap() int64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// TestCacheMemory is the attack of a sender with its own DNS: 60 KB TXT
// answers for ever new names. With the default cache (64 MiB, answers up to
// 16 KiB) none is kept; with answers up to 128 KiB allowed, the cache fills
// to its budget and no further, and the live heap it holds stays within
// it. go test -run TestCacheMemory -v ./auth/dns/ prints the figures.
func TestCacheMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("fills a 64 MiB cache")
	}
	var z strings.Builder
	z.WriteString("*.big.example. 3600 TXT")
	for range 235 { // 235 strings of 255 octets: 59,925 octets
		z.WriteString(` "` + strings.Repeat("x", 255) + `"`)
	}
	srv, err := dnstest.Start(z.String())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	fill := func(maxAnswer int64, lookups int) (dns.Stats, int64) {
		t.Helper()
		before := liveHeap()
		r, err := dns.New(dns.Config{Servers: []string{srv.Addr}, Timeout: 5 * time.Second, Attempts: 1,
			Now: clk.Now, MaxAnswerBytes: maxAnswer})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		for i := range lookups {
			txt, err := r.LookupTXT(ctx, fmt.Sprintf("n%d.big.example", i))
			if err != nil || len(txt) != 1 || len(txt[0]) != 235*255 {
				t.Fatalf("lookup %d: %d records, %v", i, len(txt), err)
			}
		}
		grown := liveHeap() - before
		s := r.Stats()
		runtime.KeepAlive(r)
		return s, grown
	}

	s, grown := fill(0, 200)
	t.Logf("default cache, 200 answers of 60 KB: %d cached, %d refused, live heap +%.1f MiB",
		s.CacheEntries, s.CacheTooBig, float64(grown)/(1<<20))
	if s.CacheEntries != 0 || s.CacheTooBig != 200 || grown > 4<<20 {
		t.Errorf("60 KB answers cached by default: %+v, heap +%d", s, grown)
	}

	s, grown = fill(128<<10, 1500)
	t.Logf("cache_max_answer_bytes 128 KiB, 1500 answers of 60 KB: %d cached (%.1f MiB counted), %d evicted, live heap +%.1f MiB",
		s.CacheEntries, float64(s.CacheBytes)/(1<<20), s.CacheEvicted, float64(grown)/(1<<20))
	if s.CacheBytes > dns.DefaultCacheBytes || s.CacheEvicted == 0 {
		t.Errorf("cache past its budget: %+v", s)
	}
	if grown > dns.DefaultCacheBytes+4<<20 {
		t.Errorf("live heap grew %d bytes for a cache of %d", grown, dns.DefaultCacheBytes)
	}
}
