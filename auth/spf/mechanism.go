package spf

import (
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/authmilter/authmilter/auth/dns"
)

// match evaluates one mechanism (RFC 7208 §5). why is a detail for the
// reason of a match.
func (e *evaluation) match(m *mechanism, env *macroEnv, depth int) (bool, string, error) {
	switch m.kind {
	case mechAll:
		return true, "", nil
	case mechIP4, mechIP6:
		return m.prefix.Contains(e.addr), "", nil
	case mechInclude:
		return e.include(m, env, depth)
	}
	target := env.domain
	if m.domain != nil {
		target = expandDomain(env, m.domain)
	}
	if !validName(target) {
		// A target that cannot be queried does not exist (RFC 7208
		// §4.3 by analogy; the suite accepts this reading).
		return false, "", nil
	}
	switch m.kind {
	case mechA:
		ips, err := e.lookupIP(target, e.network())
		if err != nil {
			return false, "", err
		}
		return e.cidrMatch(ips, m), "", nil
	case mechMX:
		return e.mx(m, target)
	case mechPTR:
		return e.ptr(target)
	case mechExists:
		// RFC 7208 §5.7: always an A query, whatever the client.
		ips, err := e.lookupIP(target, "ip4")
		return len(ips) > 0, "", err
	}
	return false, "", fmt.Errorf("%w: unknown mechanism", ErrSyntax)
}

func (e *evaluation) network() string {
	if e.addr.Is4() {
		return "ip4"
	}
	return "ip6"
}

// lookupIP looks up addresses; "not found" is a void lookup and no error.
func (e *evaluation) lookupIP(name, network string) ([]net.IP, error) {
	ips, err := e.c.Resolver.LookupIP(e.ctx, network, fqdn(name))
	if err != nil {
		if notFound, err := e.classify(err, "address of "+name); !notFound {
			return nil, err
		}
		return nil, e.void()
	}
	if len(ips) == 0 {
		return nil, e.void()
	}
	return ips, nil
}

func (e *evaluation) cidrMatch(ips []net.IP, m *mechanism) bool {
	bits := m.cidr4
	if !e.addr.Is4() {
		bits = m.cidr6
	}
	for _, ip := range ips {
		a, ok := netip.AddrFromSlice(ip)
		if !ok {
			continue
		}
		a = a.Unmap()
		if a.Is4() != e.addr.Is4() {
			continue
		}
		if p, err := a.Prefix(bits); err == nil && p.Contains(e.addr) {
			return true
		}
	}
	return false
}

// include evaluates include (RFC 7208 §5.2).
func (e *evaluation) include(m *mechanism, env *macroEnv, depth int) (bool, string, error) {
	target := expandDomain(env, m.domain)
	res, reason, _, err := e.checkHost(target, depth+1)
	switch res {
	case Pass:
		return true, reason, nil
	case Fail, Softfail, Neutral:
		return false, "", nil
	case Temperror:
		return false, "", err
	case None:
		return false, "", fmt.Errorf("%w: %s: %s", ErrNoRecord, target, reason)
	}
	if err == nil {
		err = fmt.Errorf("%w: include:%s", ErrSyntax, target)
	}
	return false, "", err
}

// mx evaluates mx (RFC 7208 §5.4).
func (e *evaluation) mx(m *mechanism, target string) (bool, string, error) {
	mxs, err := e.c.Resolver.LookupMX(e.ctx, fqdn(target))
	if err != nil {
		if notFound, err := e.classify(err, "MX "+target); !notFound {
			return false, "", err
		}
		return false, "", e.void()
	}
	if len(mxs) == 0 {
		return false, "", e.void()
	}
	if len(mxs) > maxMXNames {
		return false, "", fmt.Errorf("%w: %d at %s", ErrMXLimit, len(mxs), target)
	}
	for _, mx := range mxs {
		host := strings.TrimSuffix(mx.Host, ".")
		if host == "" {
			continue // null MX, RFC 7505
		}
		ips, err := e.c.Resolver.LookupIP(e.ctx, e.network(), fqdn(host))
		if err != nil {
			if notFound, err := e.classify(err, "address of MX "+host); !notFound {
				return false, "", err
			}
			continue
		}
		if e.cidrMatch(ips, m) {
			return true, host, nil
		}
	}
	return false, "", nil
}

// ptr evaluates ptr (RFC 7208 §5.5): a validated name of the client equal to
// or under target matches. DNS errors make it not match.
func (e *evaluation) ptr(target string) (bool, string, error) {
	names, err := e.validatedNames()
	if err != nil {
		return false, "", err
	}
	for _, n := range names {
		if dns.IsSubdomainOrSame(n, target) {
			return true, n, nil
		}
	}
	return false, "", nil
}

// validatedNames returns the PTR names of the client whose addresses
// include the client (RFC 7208 §5.5), at most 10 names examined.
func (e *evaluation) validatedNames() ([]string, error) {
	names, err := e.c.Resolver.LookupAddr(e.ctx, e.addr.String())
	if err != nil {
		if dns.IsNotFound(err) {
			return nil, e.void()
		}
		return nil, nil
	}
	if len(names) > maxPTRNames {
		names = names[:maxPTRNames]
	}
	var valid []string
	for _, n := range names {
		n = strings.TrimSuffix(n, ".")
		ips, err := e.c.Resolver.LookupIP(e.ctx, e.network(), fqdn(n))
		if err != nil {
			continue
		}
		for _, ip := range ips {
			if a, ok := netip.AddrFromSlice(ip); ok && a.Unmap() == e.addr {
				valid = append(valid, n)
				break
			}
		}
	}
	return valid, nil
}

// validatedName is the %{p} macro (RFC 7208 §7.3): a validated name equal
// to or under domain if there is one, else any validated name, else
// "unknown". It is cached per domain.
func (e *evaluation) validatedName(domain string) string {
	if n, ok := e.ptrName[domain]; ok {
		return n
	}
	names, _ := e.validatedNames()
	name := "unknown"
	for _, n := range names {
		if dns.IsSubdomainOrSame(n, domain) {
			name = n
			break
		}
	}
	if name == "unknown" && len(names) > 0 {
		name = names[0]
	}
	if e.ptrName == nil {
		e.ptrName = map[string]string{}
	}
	e.ptrName[domain] = name
	return name
}
