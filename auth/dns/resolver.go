package dns

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/miekg/dns"
	"golang.org/x/net/idna"
	"golang.org/x/sync/singleflight"
)

// Answer is the result of Lookup. Only the field of the asked type is set.
// Its slices are the caller's; the net.IP values they hold are shared with
// the cache and must not be modified.
type Answer struct {
	// Name is the asked name, as given.
	Name string
	// Type is the asked type (dns.TypeTXT, ...).
	Type uint16
	// Canonical is the name the records were found at after following
	// CNAMEs, or Name's own when there were none: lower-case, no trailing
	// dot, A-labels, with miekg/dns presentation escapes (\032 ...).
	Canonical string
	// TXT holds one string per record, the record's strings joined
	// without separator, unescaped.
	TXT []string
	// IPs holds the addresses of A or AAAA records.
	IPs []net.IP
	// MX holds the MX records, by preference.
	MX []*net.MX
	// PTR holds the names of PTR records, with trailing dot.
	PTR []string
	// TLSA holds the TLSA records (RFC 6698), for DANE (RFC 7672).
	TLSA []TLSA
	// Authentic is the AD bit of the upstream answer: the upstream
	// resolver validated it with DNSSEC.
	Authentic bool
	// TTL is how long the answer stays valid: in the cache, the time left.
	TTL time.Duration
	// FromCache tells whether the answer came from the cache.
	FromCache bool
}

// TLSA is one TLSA record (RFC 6698 section 2.1): certificate usage,
// selector, matching type and the association data in hex.
type TLSA struct {
	Usage, Selector, MatchingType uint8
	Data                          string
}

// Resolver is a caching DNS stub resolver. It is safe for concurrent use.
type Resolver struct {
	cfg    Config
	log    *slog.Logger
	cache  *cache // nil: no cache
	flight singleflight.Group
	stats  counters
}

// New returns a Resolver for cfg (see Config for the defaults).
func New(cfg Config) (*Resolver, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	r := &Resolver{cfg: cfg, log: cfg.Logger}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if !cfg.NoCache {
		r.cache = newCache(cfg.CacheBytes, cfg.MaxAnswerBytes)
	}
	return r, nil
}

// cacheKey identifies a cached answer: the lower-cased name without
// trailing dot, and the type.
type cacheKey struct {
	name  string
	qtype uint16
}

// entry is a cached outcome: an answer, or a negative or failed one (cause
// set).
type entry struct {
	ans     Answer // Name and FromCache unset; TTL the original
	cause   error  // nil, or ErrNXDomain, ErrNoData, ErrServFail, ...
	server  string
	expires time.Time
	// cutShort: a timeout due to the deadline of the flight's context
	// (its first caller's), before the attempts were spent.
	cutShort bool
}

// Lookup returns the records of type qtype (dns.TypeTXT, TypeA, TypeAAAA,
// TypeMX, TypePTR, TypeTLSA; other types give ErrMalformed) at name, from the cache
// or upstream. Errors are *net.DNSError as described in the package
// documentation; with an error from the server (NXDOMAIN, NODATA, ...) the
// Answer still tells Name, Type, Canonical, Authentic, the TTL the outcome
// is cached for and FromCache.
func (r *Resolver) Lookup(ctx context.Context, name string, qtype uint16) (Answer, error) {
	e, fromCache, err := r.lookup(ctx, name, qtype)
	if e == nil {
		return Answer{Name: name, Type: qtype}, err
	}
	a := e.ans
	a.Name = name
	a.FromCache = fromCache
	if fromCache {
		a.TTL = e.expires.Sub(r.cfg.Now())
	}
	if err != nil {
		return Answer{Name: name, Type: qtype, Canonical: a.Canonical, Authentic: a.Authentic,
			TTL: a.TTL, FromCache: fromCache}, err
	}
	a.TXT = slices.Clone(a.TXT)
	a.IPs = slices.Clone(a.IPs)
	a.MX = slices.Clone(a.MX)
	a.PTR = slices.Clone(a.PTR)
	a.TLSA = slices.Clone(a.TLSA)
	return a, nil
}

// lookup returns the entry for (name, qtype), or the error it carries.
// Entries are read-only once made.
func (r *Resolver) lookup(ctx context.Context, name string, qtype uint16) (*entry, bool, error) {
	key, err := makeKey(name, qtype)
	if err != nil {
		return nil, false, err
	}
	if r.cache != nil {
		if e, ok := r.cache.get(key, r.cfg.Now()); ok {
			r.stats.hits.Add(1)
			return e, true, e.error(name)
		}
	}
	r.stats.misses.Add(1)
	if err := ctx.Err(); err != nil {
		return nil, false, ctxError(err, name)
	}

	flightKey := key.name + "/" + strconv.Itoa(int(qtype))
	for try := 0; ; try++ {
		leader := false
		ch := r.flight.DoChan(flightKey, func() (any, error) {
			leader = true
			return r.resolve(ctx, key), nil
		})
		select {
		case res := <-ch:
			e := res.Val.(*entry)
			if !leader {
				r.stats.coalesced.Add(1)
				if e.cutShort && try == 0 && ctx.Err() == nil {
					// The flight ended at its first caller's deadline,
					// not ours: fly again.
					continue
				}
			}
			return e, false, e.error(name)
		case <-ctx.Done():
			return nil, false, ctxError(ctx.Err(), name)
		}
	}
}

// cached reports whether (name, qtype) has a live cache entry, without
// counting a hit or refreshing its recency.
func (r *Resolver) cached(name string, qtype uint16) bool {
	if r.cache == nil {
		return false
	}
	key, err := makeKey(name, qtype)
	if err != nil {
		return true // the lookup fails at once
	}
	_, ok := r.cache.peek(key, r.cfg.Now())
	return ok
}

// resolve asks upstream and caches the outcome. It runs once per flight, on
// a context that the first caller's cancellation does not end (the other
// callers wait for it) but that keeps its deadline.
func (r *Resolver) resolve(ctx context.Context, key cacheKey) *entry {
	if r.cache != nil {
		// A caller that missed the cache just before the previous flight
		// for key filled it and ended starts a new flight: serve it.
		if e, ok := r.cache.peek(key, r.cfg.Now()); ok {
			return e
		}
	}
	ctx = context.WithoutCancel(ctx)
	if d, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, d)
		defer cancel()
	}
	e := r.fetch(ctx, key)
	e.cutShort = e.cause == ErrTimeout && ctx.Err() != nil
	ttl := r.ttlFor(e)
	now := r.cfg.Now()
	e.expires = now.Add(ttl)
	e.ans.TTL = ttl
	if r.cache != nil && ttl > 0 {
		r.cache.add(key, e, now)
	}
	r.log.Debug("dns lookup", slog.String("name", key.name), slog.String("type", dns.TypeToString[key.qtype]),
		slog.Any("cause", e.cause), slog.Duration("ttl", ttl), slog.String("server", e.server))
	return e
}

// ttlFor is how long e may be cached: clamped positive TTL, clamped
// negative TTL, TempFailTTL for SERVFAIL and REFUSED, 0 otherwise.
func (r *Resolver) ttlFor(e *entry) time.Duration {
	switch e.cause {
	case nil:
		return min(max(e.ans.TTL, r.cfg.MinTTL), r.cfg.MaxTTL)
	case ErrNXDomain, ErrNoData:
		if e.ans.TTL < 0 { // no SOA: RFC 2308 section 5, do not cache
			return 0
		}
		return min(max(e.ans.TTL, r.cfg.MinTTL), r.cfg.NegativeMaxTTL)
	case ErrServFail, ErrRefused:
		return r.cfg.TempFailTTL
	}
	return 0
}

func (e *entry) error(name string) error {
	if e.cause == nil {
		return nil
	}
	return newError(e.cause, name, e.server)
}

// ctxError is the error for a lookup whose context ended: temporary, and a
// timeout if the deadline passed. errors.Is finds both ErrTimeout and the
// context's error.
func ctxError(err error, name string) error {
	de := &net.DNSError{Err: err.Error(), Name: name, IsTemporary: true,
		UnwrapErr: errors.Join(ErrTimeout, err)}
	de.IsTimeout = errors.Is(err, context.DeadlineExceeded)
	return de
}

// makeKey validates name and makes its cache key: the name in the
// presentation format miekg/dns uses (RFC 1035 section 5.1 escapes),
// lower-cased, without trailing dot. It allocates only for names that need
// a change. U-labels become A-labels (RFC 5891 section 5; RFC 8616 asks
// this of DKIM and DMARC with internationalized domains).
func makeKey(name string, qtype uint16) (cacheKey, error) {
	switch qtype {
	case dns.TypeTXT, dns.TypeA, dns.TypeAAAA, dns.TypeMX, dns.TypePTR, dns.TypeTLSA:
	default:
		return cacheKey{}, newError(ErrMalformed, name, "")
	}
	n := strings.TrimSuffix(name, ".")
	nonASCII, err := checkName(n)
	if nonASCII {
		// A name that is not IDNA (not UTF-8, disallowed code points)
		// is asked with its raw octets, which RFC 2181 section 11 allows.
		if a, aerr := toALabels(n); aerr == nil {
			n = a
		}
		_, err = checkName(n)
	}
	if err != nil {
		return cacheKey{}, newError(ErrMalformed, name, "")
	}
	return cacheKey{lower(escapeName(n)), qtype}, nil
}

// checkName applies RFC 1035 section 2.3.4 to the octets of n: at most 253
// of them (255 on the wire), labels of 1 to 63. Any octet may appear in a
// label (RFC 2181 section 11): SPF macros expand to spaces and such. It
// reports whether n has octets beyond ASCII, with or without error (a
// U-label's A-label may fit where its octets do not).
func checkName(n string) (nonASCII bool, err error) {
	if n == "" || len(n) > 253 {
		return false, ErrMalformed
	}
	label := 0
	for i := 0; i < len(n); i++ {
		if c := n[i]; c == '.' {
			if label == 0 {
				err = ErrMalformed
			}
			label = 0
			continue
		} else if c >= 0x80 {
			nonASCII = true
		}
		label++
		if label > 63 {
			err = ErrMalformed
		}
	}
	if label == 0 {
		err = ErrMalformed
	}
	return nonASCII, err
}

// escapeName writes the labels of n in presentation format exactly as
// miekg/dns prints names it unpacks, so that names in answers compare
// equal: \X for the octets . ( ) ; @ " ' space and backslash inside a label,
// \DDD for other octets outside printable ASCII.
func escapeName(n string) string {
	i := 0
	for i < len(n) && !needsEscape(n[i]) {
		i++
	}
	if i == len(n) {
		return n
	}
	var b strings.Builder
	b.Grow(len(n) + 8)
	b.WriteString(n[:i])
	for ; i < len(n); i++ {
		switch c := n[i]; {
		case !needsEscape(c):
			b.WriteByte(c)
		case c < ' ' || c > '~':
			b.WriteByte('\\')
			b.WriteByte('0' + c/100)
			b.WriteByte('0' + c/10%10)
			b.WriteByte('0' + c%10)
		default:
			b.WriteByte('\\')
			b.WriteByte(c)
		}
	}
	return b.String()
}

// needsEscape reports whether octet c of a label (not a dot between labels)
// needs an escape.
func needsEscape(c byte) bool {
	switch c {
	case ' ', '\'', '@', ';', '(', ')', '"', '\\':
		return true
	}
	return c < ' ' || c > '~'
}

// toALabels converts the labels of n that are not ASCII to A-labels.
func toALabels(n string) (string, error) {
	if !utf8.ValidString(n) {
		return "", ErrMalformed
	}
	labels := strings.Split(n, ".")
	for i, l := range labels {
		for j := 0; j < len(l); j++ {
			if l[j] >= 0x80 {
				a, err := idna.Lookup.ToASCII(l)
				if err != nil {
					return "", err
				}
				labels[i] = a
				break
			}
		}
	}
	return strings.Join(labels, "."), nil
}

// lower is strings.ToLower for ASCII, allocation-free on lower-case input.
func lower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}

// Purge empties the cache (after a configuration reload, say).
func (r *Resolver) Purge() {
	if r.cache != nil {
		r.cache.purge()
	}
}

// Servers returns the upstream servers the resolver queries, as host:port.
func (r *Resolver) Servers() []string { return slices.Clone(r.cfg.Servers) }
