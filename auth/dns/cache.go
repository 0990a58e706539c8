package dns

import (
	"container/heap"
	"math/bits"
	"net"
	"sync"
	"time"
	"unsafe"
)

// cache holds entries within a budget of bytes, each counted at its size in
// memory (see entrySize). When an entry does not fit, the least recently
// used ones go first; an entry whose TTL has passed is dropped at the next
// use of the cache, whatever name that use is for. An entry larger than
// maxEntry is not cached at all: one sender with its own DNS cannot fill the
// cache with 64 KB answers, nor evict the rest with a few of them.
type cache struct {
	max, maxEntry int64

	mu      sync.Mutex
	bytes   int64
	items   map[cacheKey]*item
	head    item    // sentinel of the recency list: head.next is the most recent
	byTime  expHeap // by expiry, soonest first
	evicted uint64  // entries dropped for room
	expired uint64  // entries dropped at their expiry
	tooBig  uint64  // entries not cached for their size
}

// item is one cached entry and its place in the recency list and the
// expiry heap.
type item struct {
	key        cacheKey
	e          *entry
	size       int64
	prev, next *item
	index      int // in byTime
}

func newCache(max, maxEntry int64) *cache {
	c := &cache{max: max, maxEntry: maxEntry, items: make(map[cacheKey]*item)}
	c.head.prev, c.head.next = &c.head, &c.head
	return c
}

// get returns the live entry for key and marks it most recently used.
func (c *cache) get(key cacheKey, now time.Time) (*entry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expire(now)
	it, ok := c.items[key]
	if !ok {
		return nil, false
	}
	c.unlink(it)
	c.pushFront(it)
	return it.e, true
}

// peek is get without marking the entry used.
func (c *cache) peek(key cacheKey, now time.Time) (*entry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expire(now)
	it, ok := c.items[key]
	if !ok {
		return nil, false
	}
	return it.e, true
}

// add caches e under key until e.expires, replacing any entry there, unless
// e is larger than maxEntry. Least recently used entries make room.
func (c *cache) add(key cacheKey, e *entry, now time.Time) {
	size := entrySize(key, e)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expire(now)
	if old, ok := c.items[key]; ok {
		c.remove(old)
	}
	if size > c.maxEntry {
		c.tooBig++
		return
	}
	for c.bytes+size > c.max && c.head.prev != &c.head {
		c.remove(c.head.prev)
		c.evicted++
	}
	it := &item{key: key, e: e, size: size}
	c.items[key] = it
	c.bytes += size
	c.pushFront(it)
	heap.Push(&c.byTime, it)
}

// expire drops the entries whose expiry is not after now.
func (c *cache) expire(now time.Time) {
	for len(c.byTime) > 0 && !now.Before(c.byTime[0].e.expires) {
		c.remove(c.byTime[0])
		c.expired++
	}
}

// purge drops every entry.
func (c *cache) purge() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.items)
	c.byTime = nil
	c.bytes = 0
	c.head.prev, c.head.next = &c.head, &c.head
}

// cacheStats are the cache's figures for Stats.
type cacheStats struct {
	entries                 int
	bytes                   int64
	evicted, expired, large uint64
}

// stats drops expired entries and reports the figures.
func (c *cache) stats(now time.Time) cacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expire(now)
	return cacheStats{len(c.items), c.bytes, c.evicted, c.expired, c.tooBig}
}

func (c *cache) remove(it *item) {
	c.unlink(it)
	heap.Remove(&c.byTime, it.index)
	delete(c.items, it.key)
	c.bytes -= it.size
}

func (c *cache) unlink(it *item) {
	it.prev.next = it.next
	it.next.prev = it.prev
	it.prev, it.next = nil, nil
}

func (c *cache) pushFront(it *item) {
	it.prev, it.next = &c.head, c.head.next
	c.head.next.prev = it
	c.head.next = it
}

// expHeap orders items by expiry (container/heap).
type expHeap []*item

func (h expHeap) Len() int           { return len(h) }
func (h expHeap) Less(i, j int) bool { return h[i].e.expires.Before(h[j].e.expires) }
func (h expHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *expHeap) Push(x any) {
	it := x.(*item)
	it.index = len(*h)
	*h = append(*h, it)
}
func (h *expHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return it
}

// entryOverhead is the memory an entry takes besides its strings and
// slices: the entry and the item, and two slots (a Go map or slice that
// grows by doubling has up to twice the slots it holds) in the map, which
// holds the key and a pointer, and in the heap, which holds a pointer.
func entryOverhead() int64 {
	return allocSize(int64(unsafe.Sizeof(entry{}))) + allocSize(int64(unsafe.Sizeof(item{}))) +
		2*int64(unsafe.Sizeof(cacheKey{})+unsafe.Sizeof(&item{})) + 2*int64(unsafe.Sizeof(&item{}))
}

// Sizes of the values that an answer's slices hold.
const (
	stringHeader = int64(unsafe.Sizeof(""))
	sliceHeader  = int64(unsafe.Sizeof([]byte(nil)))
	mxSize       = int64(unsafe.Sizeof(net.MX{}))
	pointerSize  = int64(unsafe.Sizeof(&net.MX{}))
	tlsaSize     = int64(unsafe.Sizeof(TLSA{}))
)

// entrySize is the memory held by the entry for key: its bookkeeping, the
// name, and each string and slice of the answer, each rounded up to what
// the Go allocator gives for it (allocSize). Strings shared with the
// configuration (server) or among entries (error sentinels) are not
// counted.
func entrySize(key cacheKey, e *entry) int64 {
	n := entryOverhead() + allocSize(int64(len(key.name)))
	a := &e.ans
	if a.Canonical != key.name {
		n += allocSize(int64(len(a.Canonical)))
	}
	n += allocSize(int64(cap(a.TXT)) * stringHeader)
	for _, s := range a.TXT {
		n += allocSize(int64(len(s)))
	}
	n += allocSize(int64(cap(a.IPs)) * sliceHeader)
	for _, ip := range a.IPs {
		n += allocSize(int64(cap(ip)))
	}
	n += allocSize(int64(cap(a.MX)) * pointerSize)
	for _, mx := range a.MX {
		n += allocSize(mxSize) + allocSize(int64(len(mx.Host)))
	}
	n += allocSize(int64(cap(a.PTR)) * stringHeader)
	for _, s := range a.PTR {
		n += allocSize(int64(len(s)))
	}
	n += allocSize(int64(cap(a.TLSA)) * tlsaSize)
	for _, t := range a.TLSA {
		n += allocSize(int64(len(t.Data)))
	}
	return n
}

// allocSize bounds from above the memory the Go allocator gives to an
// object of n bytes: up to 128 bytes a size class at most the next multiple
// of 16, up to 32 KiB one at most the next multiple of 1/8 of the next
// power of two, and above whole 8 KiB pages.
func allocSize(n int64) int64 {
	switch {
	case n == 0:
		return 0
	case n <= 128:
		return (n + 15) &^ 15
	case n > 32<<10:
		return (n + 8<<10 - 1) &^ (8<<10 - 1)
	}
	step := int64(1) << (bits.Len64(uint64(n-1)) - 3) // 1/8 of the next power of two
	return (n + step - 1) &^ (step - 1)
}
