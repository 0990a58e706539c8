// Package dns is authmilter's DNS resolver: a miekg/dns stub resolver with
// an LRU cache bounded by bytes, negative caching per RFC 2308 and
// coalescing of identical concurrent misses (x/sync/singleflight). Every DNS
// lookup that SPF (RFC 7208), DKIM (RFC 6376) and DMARC (RFC 9989) make goes
// through it.
//
// Its LookupTXT, LookupIP, LookupMX and LookupAddr methods have
// the signatures of *net.Resolver and return unwrapped *net.DNSError values
// whose IsNotFound, IsTimeout and IsTemporary flags are exact; the cause
// (ErrNXDomain, ErrNoData, ErrServFail, ...) is reachable with errors.Is.
// Consumers declare the narrow interface they need, e.g.
//
//	type Resolver interface {
//		LookupTXT(ctx context.Context, name string) ([]string, error)
//	}
//
// and test with a fake returning NewError(ErrServFail, name), or with the
// in-process server of package dnstest.
//
// Lookup gives the detail behind an answer: the AD bit of the upstream
// answer (Authentic), the canonical name after CNAMEs, the TTL left and
// whether the cache answered. It also asks for TLSA records (RFC 6698),
// which DANE (RFC 7672) needs with their AD bit. Stats counts hits, misses, coalesced lookups,
// upstream exchanges by rcode and their latency.
//
// Upstream, queries go over UDP with EDNS0 (1232 bytes) and over TCP when the
// answer is truncated (RFC 7766), without EDNS0 to a server that answers it
// FORMERR (RFC 6891 section 7), with a timeout per attempt and attempts
// spread round-robin over the servers. Answers must match the query's ID
// and question (RFC 5452 section 9.1); CNAME chains are followed (RFC 1034
// section 3.6.2), at most 8 links.
//
// DNS trouble is never "no record": an rcode other than NOERROR and
// NXDOMAIN (SERVFAIL, REFUSED, FORMERR, NOTIMP, ...), an answer for another
// question, a CNAME loop or a chain past 8 links, an answer that does not
// parse or a TCP answer with another ID are temporary failures, over UDP
// and TCP alike (ErrBadAnswer, ErrServFail, ErrRefused; errors.Is finds
// ErrTemporary in each); a UDP datagram with another ID is ignored and the
// answer awaited. The one permanent failure is a name that cannot be
// asked: longer than 253 octets, with an empty label or one over 63 octets
// fails with ErrMalformed without a query. Otherwise any octet may be in a
// label (RFC 2181 section 11; SPF macros expand to spaces and such): the
// query carries it as is. U-labels are asked as A-labels (RFC 5891).
//
// The cache is keyed by (lower-cased name, type) and bounded by bytes:
// each answer counts at its size in memory with its bookkeeping, the least
// recently used make room, expired ones are dropped at the next lookup of
// any name, and an answer over MaxAnswerBytes is not cached. Positive
// answers live for the smallest TTL of the RRset and the CNAMEs leading to
// it, clamped to [MinTTL, MaxTTL]; NXDOMAIN and NODATA for min(SOA TTL, SOA
// minimum) clamped to [MinTTL, NegativeMaxTTL], and not at all without an
// SOA (RFC 2308 section 5); SERVFAIL and REFUSED for TempFailTTL (default
// 0); timeouts, network errors and bad answers never. A lookup whose
// context ends returns a temporary error at once; the upstream query it
// started goes on for the other callers waiting on it, within its deadline
// and the configured timeout.
package dns
