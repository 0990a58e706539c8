package tlspolicy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	mdns "github.com/miekg/dns"
	"golang.org/x/sync/singleflight"

	"github.com/authmilter/authmilter/auth/dns"
	"github.com/authmilter/authmilter/auth/mtasts"
)

// Resolver is what the service needs of auth/dns's Resolver: TXT for
// _mta-sts, and Lookup with the AD bit for MX and TLSA.
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
	Lookup(ctx context.Context, name string, qtype uint16) (dns.Answer, error)
}

// Observer counts answers and fetches (metrics); nil counts nothing.
type Observer interface {
	// Answered counts an answer by its kind (Decision.Kind).
	Answered(kind string)
	// Fetched counts a policy fetch: "ok", or the TLS-RPT failure type.
	Fetched(result string)
}

// Config is the service's configuration.
type Config struct {
	// Vocabulary is what the asking Postfix understands.
	Vocabulary Vocabulary
	// DANE: look for DNSSEC-validated TLSA records first (RFC 8461
	// section 2: DANE takes precedence). Off leaves DANE to Postfix's
	// smtp_tls_security_level alone, and the service may answer "secure"
	// for a DANE domain.
	DANE bool
	// TempOnFailure answers TEMP (Postfix defers the mail) when a domain
	// publishes an _mta-sts record but no policy could be had and none is
	// cached. False answers NOTFOUND, as RFC 8461 section 5.1 says: no
	// usable policy, deliver as without MTA-STS.
	TempOnFailure bool
	// RefreshInterval: a cached policy is fetched again after this long,
	// or after half its max_age if that is shorter, so that it never
	// expires while the domain serves it. Default 24h.
	RefreshInterval time.Duration
	// RetryInterval: after a failed fetch, the domain's policy is not
	// fetched again before this long. Default 5m.
	RetryInterval time.Duration
	// LookupTimeout bounds one answer (DNS and a fetch); Postfix waits 100
	// s. Default 15s.
	LookupTimeout time.Duration
	// Now is the clock; nil: time.Now.
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	if c.RefreshInterval <= 0 {
		c.RefreshInterval = 24 * time.Hour
	}
	if c.RetryInterval <= 0 {
		c.RetryInterval = 5 * time.Minute
	}
	if c.LookupTimeout <= 0 {
		c.LookupTimeout = 15 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Service decides TLS policies. It is safe for concurrent use.
type Service struct {
	cfg   Config
	res   Resolver
	fetch *mtasts.Fetcher
	store *Store
	log   *slog.Logger
	obs   Observer

	flight singleflight.Group
	mu     sync.Mutex
	retry  map[string]time.Time // domain → no fetch before
	conns  map[net.Conn]struct{}
	closed bool
}

// New returns a Service. log and obs may be nil.
func New(cfg Config, res Resolver, fetch *mtasts.Fetcher, store *Store, log *slog.Logger, obs Observer) *Service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{cfg: cfg.withDefaults(), res: res, fetch: fetch, store: store, log: log, obs: obs,
		retry: map[string]time.Time{}, conns: map[net.Conn]struct{}{}}
}

// Decision is an answer and how it was reached.
type Decision struct {
	Key    string // as asked
	Domain string // the domain looked at, "" if the key is not one
	Answer Answer
	// Kind names the outcome for metrics and the log: dane-only, dane,
	// sts-enforce, sts-testing, sts-none, none, ignored, failure.
	Kind string
	// Why lists the steps, in order.
	Why []string
}

func (d *Decision) note(format string, args ...any) {
	d.Why = append(d.Why, fmt.Sprintf(format, args...))
}

// Lookup decides the answer for a socketmap key.
func (s *Service) Lookup(ctx context.Context, key string) Decision {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.LookupTimeout)
	defer cancel()
	d := Decision{Key: key, Answer: Answer{Kind: NotFound}}
	domain, why := domainOf(key)
	if domain == "" {
		d.Kind = "ignored"
		d.note("%s: NOTFOUND", why)
		return s.done(d)
	}
	d.Domain = domain
	if s.cfg.DANE {
		level, err := s.dane(ctx, domain, &d)
		if err == nil && level != "" {
			d.Answer = Answer{Kind: OK, Level: level}
			d.Kind = level
			return s.done(d)
		}
	}
	s.sts(ctx, domain, &d)
	return s.done(d)
}

func (s *Service) done(d Decision) Decision {
	if s.obs != nil {
		s.obs.Answered(d.Kind)
	}
	return d
}

// maxMX bounds the MX hosts whose TLSA records are looked up.
const maxMX = 10

// dane returns "dane-only" when the MX RRset is DNSSEC-validated and
// every MX host has a validated, usable TLSA RRset; "dane" when only some
// have (Postfix's dane level then authenticates those and keeps
// opportunistic TLS for the rest, RFC 7672 section 2.2); "" without
// usable TLSA records.
func (s *Service) dane(ctx context.Context, domain string, d *Decision) (string, error) {
	mx, err := s.res.Lookup(ctx, domain, mdns.TypeMX)
	var hosts []string
	switch {
	case err == nil:
		for _, m := range mx.MX {
			hosts = append(hosts, strings.ToLower(strings.TrimSuffix(m.Host, ".")))
		}
		if len(hosts) == 1 && hosts[0] == "" {
			d.note("DANE: null MX (RFC 7505)")
			return "", nil
		}
	case dns.IsNotFound(err) && !dns.IsNXDomain(err):
		hosts = []string{domain} // the implicit MX (RFC 5321 section 5.1)
	case dns.IsNotFound(err):
		d.note("DANE: %s does not exist", domain)
		return "", nil
	default:
		d.note("DANE: MX lookup failed (%v); going on without DANE", err)
		return "", err
	}
	if len(hosts) > maxMX {
		hosts = hosts[:maxMX]
	}
	secure := 0
	for _, h := range hosts {
		t, err := s.res.Lookup(ctx, "_25._tcp."+h, mdns.TypeTLSA)
		switch {
		case err == nil && t.Authentic && usableTLSA(t.TLSA):
			secure++
		case err != nil && !dns.IsNotFound(err):
			d.note("DANE: TLSA lookup for %s failed (%v); going on without DANE", h, err)
			return "", err
		}
	}
	switch {
	case secure == 0:
		d.note("DANE: no DNSSEC-validated usable TLSA records for the MX hosts (%s)", strings.Join(hosts, ", "))
		return "", nil
	case mx.Authentic && secure == len(hosts):
		d.note("DANE: MX validated and every MX host has validated TLSA records (RFC 7672): dane-only, taking precedence over MTA-STS (RFC 8461 section 2)")
		return "dane-only", nil
	}
	d.note("DANE: %d of %d MX hosts have validated TLSA records, MX validated %v: dane (Postfix checks per host)", secure, len(hosts), mx.Authentic)
	return "dane", nil
}

// usableTLSA: a record Postfix and RFC 7672 section 3.1 use for SMTP:
// usage DANE-TA(2) or DANE-EE(3), selector 0 or 1, matching type 0-2.
func usableTLSA(rrs []dns.TLSA) bool {
	for _, r := range rrs {
		if (r.Usage == 2 || r.Usage == 3) && r.Selector <= 1 && r.MatchingType <= 2 {
			return true
		}
	}
	return false
}

// sts decides from MTA-STS (RFC 8461 section 5.1).
func (s *Service) sts(ctx context.Context, domain string, d *Decision) {
	now := s.cfg.Now()
	cached, ok := s.store.Get(domain)
	valid := ok && now.Before(cached.Expires)
	if valid {
		d.note("MTA-STS: cached policy id %s, mode %s, fetched %s, expires %s", cached.ID, cached.Policy.Mode,
			cached.Fetched.UTC().Format(time.RFC3339), cached.Expires.UTC().Format(time.RFC3339))
	}
	rec, err := mtasts.LookupRecord(ctx, s.res, domain)
	switch {
	case err == nil && valid && rec.ID == cached.ID:
		d.note("MTA-STS: record id %s unchanged", rec.ID)
		s.apply(domain, cached.Policy, "", d)
	case err == nil:
		if valid {
			d.note("MTA-STS: record id %s differs from the cached %s: fetching", rec.ID, cached.ID)
		} else {
			d.note("MTA-STS: record id %s: fetching %s", rec.ID, mtasts.PolicyURL(domain))
		}
		e, ferr := s.refresh(ctx, domain, rec.ID)
		switch {
		case ferr == nil:
			d.note("MTA-STS: fetched, mode %s, max_age %d", e.Policy.Mode, e.Policy.MaxAge)
			s.apply(domain, e.Policy, "", d)
		case valid:
			d.note("MTA-STS: fetch failed (%v): the cached policy stays in force (RFC 8461 section 5.1)", ferr)
			s.apply(domain, cached.Policy, mtasts.FailureType(ferr), d)
		default:
			d.note("MTA-STS: fetch failed (%v) and no policy is cached", ferr)
			s.failure(d)
		}
	case valid:
		d.note("MTA-STS: record lookup: %v; the cached policy stays in force until it expires (RFC 8461 section 5.1)", err)
		s.apply(domain, cached.Policy, "", d)
	case errors.Is(err, mtasts.ErrNoRecord):
		d.note("MTA-STS: %v: no policy", err)
		d.Kind = "none"
	default:
		d.note("MTA-STS: %v, and no policy is cached", err)
		s.failure(d)
	}
}

// failure answers when a domain's policy could not be had.
func (s *Service) failure(d *Decision) {
	d.Kind = "failure"
	if s.cfg.TempOnFailure {
		d.Answer = Answer{Kind: Temp, Reason: "MTA-STS policy unavailable"}
		d.note("tls_policy.on_failure = \"temp\": TEMP (Postfix defers the mail)")
		return
	}
	d.note("delivering as without MTA-STS (RFC 8461 section 5.1): NOTFOUND")
}

// apply makes the answer for a policy.
func (s *Service) apply(domain string, p mtasts.Policy, failure string, d *Decision) {
	switch p.Mode {
	case mtasts.ModeEnforce:
		d.Kind = "sts-enforce"
		d.Answer = Answer{Kind: OK, Level: "secure", Match: matchPatterns(p.MX), Servername: "hostname",
			STS: &STSInfo{Domain: domain, Policy: p, Failure: failure}}
		d.note("MTA-STS enforce: verified TLS to an MX matching %s", strings.Join(p.MX, ", "))
	case mtasts.ModeTesting:
		d.Kind = "sts-testing"
		d.note("MTA-STS testing: no enforcement (RFC 8461 section 5): NOTFOUND")
	default:
		d.Kind = "sts-none"
		d.note("MTA-STS mode none: NOTFOUND")
	}
}

// refresh fetches domain's policy once at a time per domain, unless a
// fetch failed less than RetryInterval ago, and stores it.
func (s *Service) refresh(ctx context.Context, domain, id string) (Entry, error) {
	v, err, _ := s.flight.Do(domain, func() (any, error) {
		s.mu.Lock()
		next := s.retry[domain]
		s.mu.Unlock()
		now := s.cfg.Now()
		if now.Before(next) {
			return Entry{}, fmt.Errorf("%w: a fetch failed recently; next try after %s", mtasts.ErrFetch, next.UTC().Format(time.RFC3339))
		}
		p, _, err := s.fetch.Fetch(ctx, domain)
		if err != nil {
			s.mu.Lock()
			s.retry[domain] = now.Add(s.cfg.RetryInterval)
			s.mu.Unlock()
			s.fetched(mtasts.FailureType(err))
			s.log.Info("tls policy fetch failed", "domain", domain, "err", err)
			return Entry{}, err
		}
		s.fetched("ok")
		s.mu.Lock()
		delete(s.retry, domain)
		s.mu.Unlock()
		e := Entry{Domain: domain, ID: id, Policy: p, Fetched: now, Expires: now.Add(time.Duration(p.MaxAge) * time.Second)}
		if err := s.store.Put(e); err != nil {
			s.log.Warn("tls policy cache not saved", "err", err)
		}
		s.log.Info("tls policy fetched", "domain", domain, "id", id, "mode", string(p.Mode), "max_age", p.MaxAge)
		return e, nil
	})
	return v.(Entry), err
}

func (s *Service) fetched(result string) {
	if s.obs != nil {
		s.obs.Fetched(result)
	}
}

// Refresh fetches again the cached policies that are due (see
// Config.RefreshInterval) and drops expired ones. A failed refresh keeps
// the cached policy.
func (s *Service) Refresh(ctx context.Context) {
	now := s.cfg.Now()
	if err := s.store.Prune(now); err != nil {
		s.log.Warn("tls policy cache not saved", "err", err)
	}
	for _, e := range s.store.All() {
		every := min(s.cfg.RefreshInterval, time.Duration(e.Policy.MaxAge)*time.Second/2)
		if now.Before(e.Fetched.Add(every)) {
			continue
		}
		lctx, cancel := context.WithTimeout(ctx, s.cfg.LookupTimeout)
		rec, err := mtasts.LookupRecord(lctx, s.res, e.Domain)
		if err == nil {
			_, err = s.refresh(lctx, e.Domain, rec.ID)
		}
		cancel()
		if err != nil {
			s.log.Debug("tls policy refresh", "domain", e.Domain, "err", err)
		}
	}
}

// Run calls Refresh every interval until ctx ends.
func (s *Service) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		s.Refresh(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// domainOf returns the domain a socketmap key names, or "" and why the
// key is answered NOTFOUND at once.
func domainOf(key string) (domain, why string) {
	k := strings.ToLower(strings.TrimSpace(key))
	switch {
	case strings.HasPrefix(k, "."):
		// Postfix's parent-domain walk after NOTFOUND: MTA-STS and DANE
		// policies are not inherited (RFC 8461 section 3.1).
		return "", "parent-domain key"
	case strings.HasPrefix(k, "["):
		return "", "literal next hop (no MX lookup, no MTA-STS)"
	}
	if host, port, ok := strings.Cut(k, ":"); ok {
		if _, err := strconv.Atoi(port); err != nil {
			return "", "not a domain"
		}
		k = host // next hop "domain:port": the MX of domain, at another port
	}
	k = strings.TrimSuffix(k, ".")
	if net.ParseIP(k) != nil || !strings.Contains(k, ".") || len(k) > 253 {
		return "", "not a domain"
	}
	for _, l := range strings.Split(k, ".") {
		if l == "" || len(l) > 63 {
			return "", "not a domain"
		}
		for i := 0; i < len(l); i++ {
			if c := l[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return "", "not a domain"
			}
		}
	}
	return k, ""
}
