package dns

import (
	"context"
	"net"
	"slices"
	"sync"

	"github.com/miekg/dns"
)

// LookupTXT returns the TXT records at name, one string per record with
// the record's strings joined without separator, like
// (*net.Resolver).LookupTXT.
func (r *Resolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	e, _, err := r.lookup(ctx, name, dns.TypeTXT)
	if err != nil {
		return nil, err
	}
	return slices.Clone(e.ans.TXT), nil
}

// LookupMX returns the MX records at name sorted by preference, like
// (*net.Resolver).LookupMX.
func (r *Resolver) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	e, _, err := r.lookup(ctx, name, dns.TypeMX)
	if err != nil {
		return nil, err
	}
	mx := make([]*net.MX, len(e.ans.MX))
	for i, m := range e.ans.MX {
		c := *m
		mx[i] = &c
	}
	return mx, nil
}

// LookupAddr returns the names (with trailing dot) of the PTR records for
// the IP address addr, like (*net.Resolver).LookupAddr.
func (r *Resolver) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	arpa, err := dns.ReverseAddr(addr)
	if err != nil {
		return nil, newError(ErrMalformed, addr, "")
	}
	e, _, err := r.lookup(ctx, arpa, dns.TypePTR)
	if err != nil {
		if de, ok := err.(*net.DNSError); ok {
			de.Name = addr
		}
		return nil, err
	}
	return slices.Clone(e.ans.PTR), nil
}

// LookupIP returns the addresses of host for network "ip" (A and AAAA),
// "ip4" (A) or "ip6" (AAAA), like (*net.Resolver).LookupIP. For "ip", one
// type's addresses are returned even if the other type's lookup failed;
// with none, a temporary failure wins over NODATA, NXDOMAIN over both.
func (r *Resolver) LookupIP(ctx context.Context, network, host string) ([]net.IP, error) {
	if ip := net.ParseIP(host); ip != nil {
		return []net.IP{ip}, nil
	}
	switch network {
	case "ip4":
		return r.lookupIPs(ctx, host, dns.TypeA)
	case "ip6":
		return r.lookupIPs(ctx, host, dns.TypeAAAA)
	case "ip":
	default:
		return nil, &net.DNSError{Err: "unsupported network " + network, Name: host, UnwrapErr: ErrMalformed}
	}
	var (
		v4, v6     []net.IP
		err4, err6 error
	)
	if r.cached(host, dns.TypeA) && r.cached(host, dns.TypeAAAA) {
		v4, err4 = r.lookupIPs(ctx, host, dns.TypeA)
		v6, err6 = r.lookupIPs(ctx, host, dns.TypeAAAA)
	} else { // both upstream at once
		var wg sync.WaitGroup
		wg.Go(func() { v6, err6 = r.lookupIPs(ctx, host, dns.TypeAAAA) })
		v4, err4 = r.lookupIPs(ctx, host, dns.TypeA)
		wg.Wait()
	}
	if err4 == nil || err6 == nil {
		ips := append(v4, v6...)
		if len(ips) > 0 || err4 == nil && err6 == nil {
			return ips, nil
		}
	}
	switch {
	case IsNXDomain(err4):
		return nil, err4
	case IsNXDomain(err6):
		return nil, err6
	case IsTemporary(err4):
		return nil, err4
	case IsTemporary(err6):
		return nil, err6
	case err4 != nil:
		return nil, err4
	}
	return nil, err6
}

func (r *Resolver) lookupIPs(ctx context.Context, host string, qtype uint16) ([]net.IP, error) {
	e, _, err := r.lookup(ctx, host, qtype)
	if err != nil {
		return nil, err
	}
	return slices.Clone(e.ans.IPs), nil
}
