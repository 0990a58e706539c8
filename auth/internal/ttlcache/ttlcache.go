// Package ttlcache is the bounded cache of answers fetched over HTTP that
// the revocation checks (CRL, OCSP) and the Web Key Directory share: each
// entry is kept until its own expiry, and a full cache makes room by
// dropping expired entries first, then any.
package ttlcache

import (
	"sync"
	"time"
)

// Cache holds at most a fixed number of values by key. It is safe for
// concurrent use.
type Cache[V any] struct {
	max int
	mu  sync.Mutex
	m   map[string]entry[V]
}

type entry[V any] struct {
	v       V
	expires time.Time
}

// New returns a Cache of at most n entries (at least 1).
func New[V any](n int) *Cache[V] {
	return &Cache[V]{max: max(n, 1), m: make(map[string]entry[V])}
}

// Get returns the value at k unless it has expired by now.
func (c *Cache[V]) Get(k string, now time.Time) (V, bool) {
	c.mu.Lock()
	e, ok := c.m[k]
	c.mu.Unlock()
	if !ok || !now.Before(e.expires) {
		var zero V
		return zero, false
	}
	return e.v, true
}

// Put keeps v at k until expires. When the cache is full and k is new, it
// first drops the entries expired by now, then any until there is room.
func (c *Cache[V]) Put(k string, v V, expires, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[k]; !ok && len(c.m) >= c.max {
		for k2, e := range c.m {
			if !now.Before(e.expires) {
				delete(c.m, k2)
			}
		}
		for k2 := range c.m {
			if len(c.m) < c.max {
				break
			}
			delete(c.m, k2)
		}
	}
	c.m[k] = entry[V]{v: v, expires: expires}
}

// Len returns the number of entries, expired ones included.
func (c *Cache[V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
