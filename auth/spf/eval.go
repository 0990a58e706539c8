package spf

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/authmilter/authmilter/auth/dns"
)

// evaluation is the state of one check_host() call and its recursions.
type evaluation struct {
	ctx    context.Context
	c      *Checker
	ip     net.IP // 4 bytes for IPv4 (also IPv4-mapped IPv6), 16 for IPv6
	addr   netip.Addr
	sender string
	local  string
	sdom   string
	helo   string

	lookups int // DNS-querying terms, RFC 7208 §4.6.4
	voids   int // void lookups, RFC 7208 §4.6.4
	ptrName map[string]string
}

func newEvaluation(ctx context.Context, c *Checker, ip net.IP, sender, helo string) *evaluation {
	e := &evaluation{ctx: ctx, c: c, helo: helo}
	// IPv4-mapped IPv6 clients are IPv4 clients (RFC 7208 §5 and §7.3).
	if ip4 := ip.To4(); ip4 != nil {
		e.ip = ip4
	} else {
		e.ip = ip.To16()
	}
	e.addr, _ = netip.AddrFromSlice(e.ip)
	// RFC 7208 §4.3: a <sender> without local-part gets "postmaster".
	local, dom, ok := cutLast(sender, "@")
	if !ok {
		local, dom = "", sender
	}
	if local == "" {
		local = "postmaster"
	}
	e.local, e.sdom, e.sender = local, dom, local+"@"+dom
	return e
}

func cutLast(s, sep string) (before, after string, found bool) {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i], s[i+len(sep):], true
	}
	return s, "", false
}

func (e *evaluation) env(domain string) *macroEnv {
	return &macroEnv{
		sender: e.sender, local: e.local, senderDomain: e.sdom,
		domain: domain, ip: e.ip, helo: e.helo,
		receiver: e.c.receiver(), now: e.c.now().Unix(),
		ptr: func() string { return e.validatedName(domain) },
	}
}

// resultOf maps an evaluation error to temperror or permerror.
func resultOf(err error) Result {
	if errors.Is(err, ErrTemporary) || errors.Is(err, ErrTimeout) {
		return Temperror
	}
	return Permerror
}

// classify is the one classifier of this package for DNS errors (RFC 7208
// §4.4, §5, §2.6.6). It returns notFound for a name that does not resolve:
// NXDOMAIN, NODATA, and the one permanent failure of auth/dns (a name it
// cannot query), which is treated like the malformed names of §4.3 and §4.8
// so that a sender-chosen %{l} cannot turn a policy into an error. Any other
// error (timeout, SERVFAIL, REFUSED, any other error rcode, a bad answer,
// network, the time budget running out, an error that is not a DNS error)
// is returned wrapped in ErrTemporary or ErrTimeout: a temperror (§4.4).
func (e *evaluation) classify(err error, what string) (notFound bool, _ error) {
	if e.ctx.Err() != nil {
		return false, fmt.Errorf("%w: %s: %w", ErrTimeout, what, err)
	}
	if dns.IsNotFound(err) {
		return true, nil
	}
	var de *net.DNSError
	if errors.As(err, &de) && !de.IsTemporary && !de.IsTimeout {
		if e.c.Logger != nil {
			e.c.Logger.Debug("spf: permanent DNS failure taken as non-existent", "lookup", what, "err", err)
		}
		return true, nil
	}
	return false, fmt.Errorf("%w: %s: %w", ErrTemporary, what, err)
}

// void counts a lookup that found nothing (RFC 7208 §4.6.4).
func (e *evaluation) void() error {
	e.voids++
	if e.voids > e.c.maxVoid() {
		return ErrVoidLimit
	}
	return nil
}

// checkHost is check_host() for one domain: the top call or an include or
// redirect target. The explanation is set only for fail.
func (e *evaluation) checkHost(domain string, depth int) (res Result, reason, expl string, err error) {
	// The lookup limit bounds the depth already; this guards a Checker
	// configured with a huge MaxLookups.
	if depth > maxDepth {
		return Permerror, ErrLookupLimit.Error(), "", fmt.Errorf("%w: include and redirect nested deeper than %d", ErrLookupLimit, maxDepth)
	}
	// RFC 7208 §4.3: a malformed or single-label domain gives none.
	if !validDomain(domain) {
		return None, "not a valid domain name", "", nil
	}
	rec, res, reason, err := e.lookupRecord(domain)
	if rec == nil {
		return res, reason, "", err
	}
	env := e.env(domain)
	for i := range rec.mechs {
		m := &rec.mechs[i]
		if err := e.ctx.Err(); err != nil {
			return Temperror, "time budget exceeded", "", fmt.Errorf("%w: %w", ErrTimeout, err)
		}
		if m.queriesDNS() {
			if err := e.countLookup(); err != nil {
				return Permerror, err.Error(), "", err
			}
		}
		matched, why, err := e.match(m, env, depth)
		if err != nil {
			return resultOf(err), m.text + ": " + err.Error(), "", err
		}
		if matched {
			reason = m.text + " matched"
			if why != "" {
				reason += " (" + why + ")"
			}
			if m.qual == Fail {
				expl = e.explain(rec, env)
			}
			return m.qual, reason, expl, nil
		}
	}
	if rec.redirect != nil {
		return e.redirect(rec, env, depth)
	}
	// RFC 7208 §4.7: no match and no redirect gives neutral.
	return Neutral, "no mechanism matched", "", nil
}

func (e *evaluation) countLookup() error {
	e.lookups++
	if e.lookups > e.c.maxLookups() {
		return ErrLookupLimit
	}
	return nil
}

// lookupRecord finds and parses the SPF record of domain (RFC 7208 §4.4,
// §4.5). A nil record comes with the final result.
func (e *evaluation) lookupRecord(domain string) (*record, Result, string, error) {
	txts, err := e.c.Resolver.LookupTXT(e.ctx, fqdn(domain))
	if err != nil {
		notFound, err := e.classify(err, "TXT "+domain)
		if notFound {
			return nil, None, "no SPF record", nil
		}
		return nil, Temperror, err.Error(), err
	}
	var spf []string
	for _, t := range txts {
		if isSPFRecord(t) {
			spf = append(spf, t)
		}
	}
	switch len(spf) {
	case 0:
		return nil, None, "no SPF record", nil
	case 1:
	default:
		return nil, Permerror, ErrMultipleRecords.Error(), fmt.Errorf("%w at %s", ErrMultipleRecords, domain)
	}
	rec, err := e.c.parse(spf[0])
	if err != nil {
		return nil, Permerror, err.Error(), err
	}
	return rec, "", "", nil
}

// redirect evaluates the redirect= modifier (RFC 7208 §6.1).
func (e *evaluation) redirect(rec *record, env *macroEnv, depth int) (Result, string, string, error) {
	if err := e.countLookup(); err != nil {
		return Permerror, err.Error(), "", err
	}
	target := expandDomain(env, rec.redirect)
	res, reason, expl, err := e.checkHost(target, depth+1)
	if res == None {
		err = fmt.Errorf("%w: redirect=%s: %s", ErrNoRecord, target, reason)
		return Permerror, err.Error(), "", err
	}
	return res, "redirect=" + target + ": " + reason, expl, err
}

// explain returns the explanation of a fail (RFC 7208 §6.2): the expanded
// TXT record named by exp=, or the default explanation when there is no
// exp=, its lookup fails, or its text is not a valid explain-string.
func (e *evaluation) explain(rec *record, env *macroEnv) string {
	if rec.exp != nil {
		if s, ok := e.expText(expandDomain(env, rec.exp), env); ok {
			return s
		}
	}
	def := e.c.DefaultExplanation
	if def == "" {
		return ""
	}
	if ms, err := parseMacroString(def, true, true); err == nil {
		return env.expand(ms)
	}
	return def
}

func (e *evaluation) expText(name string, env *macroEnv) (string, bool) {
	if !validName(name) {
		return "", false
	}
	txts, err := e.c.Resolver.LookupTXT(e.ctx, fqdn(name))
	if err != nil || len(txts) != 1 {
		return "", false
	}
	ms, err := parseMacroString(txts[0], true, true)
	if err != nil {
		return "", false
	}
	return env.expand(ms), true
}

// expandDomain expands a domain-spec and truncates it from the left to 253
// characters, dropping whole labels (RFC 7208 §7.3).
func expandDomain(env *macroEnv, ms macroString) string {
	s := env.expand(ms)
	for len(strings.TrimSuffix(s, ".")) > 253 {
		i := strings.IndexByte(s, '.')
		if i < 0 {
			break
		}
		s = s[i+1:]
	}
	return s
}

// validName reports whether name can be queried: no empty label (except
// the root at the end), no label over 63 octets, at most 253 octets.
func validName(name string) bool {
	name = strings.TrimSuffix(name, ".")
	if name == "" || len(name) > 253 {
		return false
	}
	for _, l := range strings.Split(name, ".") {
		if l == "" || len(l) > 63 {
			return false
		}
	}
	return true
}

// validDomain is the check of RFC 7208 §4.3: a queryable, multi-label name.
func validDomain(name string) bool {
	return validName(name) && strings.Contains(strings.TrimSuffix(name, "."), ".")
}

func fqdn(name string) string {
	if strings.HasSuffix(name, ".") {
		return name
	}
	return name + "."
}
