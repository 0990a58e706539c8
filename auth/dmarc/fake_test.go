package dmarc

import (
	"context"
	"net"
	"strings"
	"sync"

	"github.com/authmilter/authmilter/auth/dns"
)

// fakeResolver serves TXT from a map (name without trailing dot); names
// not in the map are NXDOMAIN unless another name ends with ".name" (then
// NODATA, like a real zone). errs maps a name to the cause of its failure.
// ip lists the names whose A query succeeds; every other existing name is
// NODATA and every unknown one NXDOMAIN.
type fakeResolver struct {
	txt     map[string][]string
	errs    map[string]error
	ipErrs  map[string]error
	exists  map[string]bool
	mu      sync.Mutex
	queries map[string]int
}

func (f *fakeResolver) count(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.queries == nil {
		f.queries = map[string]int{}
	}
	f.queries[name]++
}

func (f *fakeResolver) total() int {
	n := 0
	for _, c := range f.queries {
		n += c
	}
	return n
}

func (f *fakeResolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	name = strings.TrimSuffix(name, ".")
	f.count("TXT " + name)
	if cause, ok := f.errs[name]; ok {
		return nil, dns.NewError(cause, name)
	}
	if v, ok := f.txt[name]; ok {
		return v, nil
	}
	for n := range f.txt {
		if strings.HasSuffix(n, "."+name) {
			return nil, dns.NewError(dns.ErrNoData, name)
		}
	}
	return nil, dns.NewError(dns.ErrNXDomain, name)
}

func (f *fakeResolver) LookupIP(ctx context.Context, network, host string) ([]net.IP, error) {
	host = strings.TrimSuffix(host, ".")
	f.count("A " + host)
	if cause, ok := f.ipErrs[host]; ok {
		return nil, dns.NewError(cause, host)
	}
	if f.exists[host] {
		return []net.IP{net.IPv4(192, 0, 2, 1)}, nil
	}
	return nil, dns.NewError(dns.ErrNXDomain, host)
}
