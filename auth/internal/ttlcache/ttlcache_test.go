package ttlcache

import (
	"testing"
	"time"
)

func TestCache(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := New[int](2)
	c.Put("a", 1, now.Add(time.Minute), now)
	if v, ok := c.Get("a", now); !ok || v != 1 {
		t.Fatalf("a: %d %v", v, ok)
	}
	if _, ok := c.Get("a", now.Add(time.Minute)); ok {
		t.Error("a found at its expiry")
	}
	if _, ok := c.Get("b", now); ok {
		t.Error("b found, never put")
	}
	// Full: the expired entry goes first, the live one stays.
	c.Put("b", 2, now.Add(time.Hour), now)
	later := now.Add(2 * time.Minute)
	c.Put("c", 3, later.Add(time.Hour), later)
	if _, ok := c.Get("b", later); !ok || c.Len() != 2 {
		t.Errorf("b dropped (or %d entries) while a had expired", c.Len())
	}
	// Full of live entries: one goes, the bound holds.
	c.Put("d", 4, later.Add(time.Hour), later)
	if v, ok := c.Get("d", later); !ok || v != 4 || c.Len() != 2 {
		t.Errorf("d: %d %v, %d entries", v, ok, c.Len())
	}
	// Replacing a key does not evict.
	c.Put("d", 5, later.Add(time.Hour), later)
	if v, _ := c.Get("d", later); v != 5 || c.Len() != 2 {
		t.Errorf("d: %d, %d entries", v, c.Len())
	}
}
