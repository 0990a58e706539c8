package dns

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// TestCacheInvariants runs random adds, gets and clock steps and checks
// after each that the cache's count of bytes is the sum of its entries and
// within budget, that the map, the recency list and the expiry heap hold
// the same entries, and that none of them has expired.
func TestCacheInvariants(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := newCache(64<<10, 8<<10)
	for op := range 20000 {
		key := cacheKey{fmt.Sprintf("n%d.example", rng.IntN(200)), 16}
		switch r := rng.IntN(10); {
		case r < 5:
			e := &entry{expires: now.Add(time.Duration(1+rng.IntN(120)) * time.Second)}
			e.ans.TXT = []string{strings.Repeat("x", rng.IntN(10000))}
			c.add(key, e, now)
		case r < 8:
			if e, ok := c.get(key, now); ok && !now.Before(e.expires) {
				t.Fatalf("op %d: get returned an expired entry", op)
			}
		case r < 9:
			now = now.Add(time.Duration(rng.IntN(10)) * time.Second)
			c.stats(now)
		default:
			if rng.IntN(100) == 0 {
				c.purge()
			}
		}
		checkCache(t, c, now, op)
	}
	if c.evicted == 0 || c.expired == 0 || c.tooBig == 0 {
		t.Errorf("not every path taken: evicted %d, expired %d, too big %d", c.evicted, c.expired, c.tooBig)
	}
}

func checkCache(t *testing.T, c *cache, now time.Time, op int) {
	t.Helper()
	var sum int64
	n := 0
	for it := c.head.next; it != &c.head; it = it.next {
		n++
		sum += it.size
		if c.items[it.key] != it || c.byTime[it.index] != it {
			t.Fatalf("op %d: %v not in the map or the heap at its index", op, it.key)
		}
		if it.size != entrySize(it.key, it.e) || it.size > c.maxEntry {
			t.Fatalf("op %d: %v counted %d", op, it.key, it.size)
		}
		if !now.Before(it.e.expires) { // each clock step is followed by a use
			t.Fatalf("op %d: %v expired and kept", op, it.key)
		}
	}
	if n != len(c.items) || n != len(c.byTime) || sum != c.bytes || c.bytes > c.max {
		t.Fatalf("op %d: list %d, map %d, heap %d, bytes %d (sum %d, max %d)",
			op, n, len(c.items), len(c.byTime), c.bytes, sum, c.max)
	}
	for i, it := range c.byTime {
		if it.index != i || i > 0 && it.e.expires.Before(c.byTime[(i-1)/2].e.expires) {
			t.Fatalf("op %d: heap out of order at %d", op, i)
		}
	}
}
