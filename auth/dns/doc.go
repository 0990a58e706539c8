// Package dns is authmilter's DNS resolver: a miekg/dns client with an LRU
// cache (hashicorp/golang-lru/v2), negative caching per RFC 2308 and
// coalescing of identical concurrent misses. Every DNS lookup that SPF
// (RFC 7208), DKIM (RFC 6376) and DMARC (RFC 9989) make goes through it.
//
// Its LookupTXT, LookupIP, LookupIPAddr, LookupMX and LookupAddr methods have
// the signatures of *net.Resolver and return unwrapped *net.DNSError values
// whose IsNotFound, IsTimeout and IsTemporary flags are exact; the cause
// (ErrNXDomain, ErrNoData, ErrServFail, ...) is reachable with errors.Is.
package dns
