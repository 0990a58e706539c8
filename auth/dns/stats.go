package dns

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// LatencyBounds are the upper bounds of Stats.LatencyBuckets.
var LatencyBounds = [...]time.Duration{
	time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond, 25 * time.Millisecond,
	50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond,
	500 * time.Millisecond, time.Second, 2500 * time.Millisecond, 5 * time.Second,
}

// Stats are the resolver's counters since New.
type Stats struct {
	// CacheEntries is the number of cached answers (expired ones are
	// dropped before counting).
	CacheEntries int
	// CacheBytes is their memory, as counted against Config.CacheBytes.
	CacheBytes int64
	// CacheEvicted counts answers dropped before their expiry to make room;
	// CacheExpired those dropped at their expiry; CacheTooBig answers not
	// cached for being larger than Config.MaxAnswerBytes.
	CacheEvicted, CacheExpired, CacheTooBig uint64
	// Hits are lookups answered from the cache (negative answers too).
	Hits uint64
	// Misses are lookups not answered from the cache, Coalesced included.
	Misses uint64
	// Coalesced are misses that waited for an identical lookup in flight
	// instead of querying upstream.
	Coalesced uint64
	// UpstreamQueries are exchanges with upstream servers (a UDP query
	// and its TCP retry count once).
	UpstreamQueries uint64
	// Rcodes counts upstream exchanges by outcome: the rcode name of the
	// answer ("NOERROR", "NXDOMAIN", "SERVFAIL", ...), or "timeout",
	// "network" and "malformed" when there was no usable answer.
	Rcodes map[string]uint64
	// LatencySum is the total time of the upstream exchanges.
	LatencySum time.Duration
	// LatencyBuckets[i] counts exchanges that took at most
	// LatencyBounds[i] (cumulative, as Prometheus histograms); the last
	// element counts all of them (+Inf).
	LatencyBuckets [len(LatencyBounds) + 1]uint64
}

// counters are the atomics behind Stats.
type counters struct {
	hits, misses, coalesced, upstream atomic.Uint64
	rcodes                            [16]atomic.Uint64
	timeout, network, malformed       atomic.Uint64
	latency                           atomic.Int64
	buckets                           [len(LatencyBounds) + 1]atomic.Uint64
}

// observe records one upstream exchange.
func (c *counters) observe(d time.Duration, resp *dns.Msg, err error) {
	c.upstream.Add(1)
	c.latency.Add(int64(d))
	i := 0
	for i < len(LatencyBounds) && d > LatencyBounds[i] {
		i++
	}
	c.buckets[i].Add(1)
	switch {
	case err == nil:
		if resp.Rcode >= 0 && resp.Rcode < len(c.rcodes) {
			c.rcodes[resp.Rcode].Add(1)
		} else {
			c.malformed.Add(1)
		}
	case errors.Is(err, ErrTimeout):
		c.timeout.Add(1)
	case errors.Is(err, ErrNetwork):
		c.network.Add(1)
	default:
		c.malformed.Add(1)
	}
}

// Stats returns a copy of the counters.
func (r *Resolver) Stats() Stats {
	c := &r.stats
	s := Stats{
		Hits:            c.hits.Load(),
		Misses:          c.misses.Load(),
		Coalesced:       c.coalesced.Load(),
		UpstreamQueries: c.upstream.Load(),
		LatencySum:      time.Duration(c.latency.Load()),
		Rcodes:          make(map[string]uint64),
	}
	if r.cache != nil {
		cs := r.cache.stats(r.cfg.Now())
		s.CacheEntries, s.CacheBytes = cs.entries, cs.bytes
		s.CacheEvicted, s.CacheExpired, s.CacheTooBig = cs.evicted, cs.expired, cs.large
	}
	for i := range c.rcodes {
		if n := c.rcodes[i].Load(); n > 0 {
			name, ok := dns.RcodeToString[i]
			if !ok {
				name = "RCODE" + string(rune('0'+i/10)) + string(rune('0'+i%10))
			}
			s.Rcodes[name] += n
		}
	}
	for name, v := range map[string]*atomic.Uint64{"timeout": &c.timeout, "network": &c.network, "malformed": &c.malformed} {
		if n := v.Load(); n > 0 {
			s.Rcodes[name] = n
		}
	}
	var sum uint64
	for i := range c.buckets {
		sum += c.buckets[i].Load()
		s.LatencyBuckets[i] = sum
	}
	return s
}
