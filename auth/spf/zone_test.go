package spf

import (
	"context"
	"fmt"
	"net"
	"strings"

	"github.com/authmilter/authmilter/auth/dns"
)

// zone is a fake Resolver built from the zonedata of the openspf suite,
// following the rules of the upstream harness (testdata/SOURCE.md): SPF
// records are served as TXT when a name has no TXT item, TIMEOUT items are
// timeouts, unknown names are NXDOMAIN, CNAMEs are followed with loop
// detection, names compare case-insensitively.
type zone struct {
	names   map[string][]zoneItem
	queries int
}

type zoneItem struct {
	typ  string // "TXT", "SPF", "A", "AAAA", "MX", "PTR", "CNAME", "TIMEOUT"
	val  string // TXT/SPF text (strings joined), address, name
	pref uint16
}

func newZone() *zone { return &zone{names: map[string][]zoneItem{}} }

// add appends records for a name; finish applies the SPF-to-TXT rule.
func (z *zone) add(name string, it zoneItem) {
	k := zoneKey(name)
	z.names[k] = append(z.names[k], it)
}

func (z *zone) finish() {
	for k, items := range z.names {
		hasTXT := false
		for _, it := range items {
			hasTXT = hasTXT || it.typ == "TXT" || it.typ == "TXTNONE"
		}
		var out []zoneItem
		for _, it := range items {
			if it.typ != "TXTNONE" {
				out = append(out, it)
			}
		}
		if !hasTXT {
			for _, it := range items {
				if it.typ == "SPF" {
					out = append(out, zoneItem{typ: "TXT", val: it.val})
				}
			}
		}
		z.names[k] = out
	}
}

func zoneKey(name string) string {
	var labels []string
	for _, l := range strings.Split(strings.ToLower(name), ".") {
		if l != "" {
			labels = append(labels, l)
		}
	}
	return strings.Join(labels, ".")
}

func (z *zone) query(name, typ string) ([]zoneItem, error) {
	z.queries++
	key := zoneKey(name)
	for _, l := range strings.Split(key, ".") {
		if len(l) > 63 {
			return nil, dns.NewError(dns.ErrTimeout, name)
		}
	}
	seen := map[string]bool{}
	for {
		items, ok := z.names[key]
		if !ok {
			return nil, dns.NewError(dns.ErrNXDomain, name)
		}
		seen[key] = true
		var got []zoneItem
		cname := ""
		for _, it := range items {
			if it.typ == "TIMEOUT" {
				if len(got) == 0 {
					return nil, dns.NewError(dns.ErrTimeout, name)
				}
				break
			}
			if it.typ == typ {
				got = append(got, it)
			} else if it.typ == "CNAME" {
				cname = zoneKey(it.val)
			}
		}
		if len(got) > 0 {
			return got, nil
		}
		if cname == "" {
			return nil, dns.NewError(dns.ErrNoData, name)
		}
		if seen[cname] {
			return nil, dns.NewError(dns.ErrServFail, name)
		}
		key = cname
	}
}

func (z *zone) LookupTXT(ctx context.Context, name string) ([]string, error) {
	items, err := z.query(name, "TXT")
	var out []string
	for _, it := range items {
		out = append(out, it.val)
	}
	return out, err
}

func (z *zone) LookupIP(ctx context.Context, network, host string) ([]net.IP, error) {
	var types []string
	switch network {
	case "ip4":
		types = []string{"A"}
	case "ip6":
		types = []string{"AAAA"}
	default:
		types = []string{"A", "AAAA"}
	}
	var out []net.IP
	var err error
	for _, t := range types {
		items, qerr := z.query(host, t)
		if qerr != nil {
			err = qerr
		}
		for _, it := range items {
			if ip := net.ParseIP(it.val); ip != nil {
				out = append(out, ip)
			}
		}
	}
	if len(out) > 0 {
		return out, nil
	}
	if err == nil {
		err = dns.NewError(dns.ErrNoData, host)
	}
	return nil, err
}

func (z *zone) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	items, err := z.query(name, "MX")
	var out []*net.MX
	for _, it := range items {
		out = append(out, &net.MX{Host: it.val + ".", Pref: it.pref})
	}
	return out, err
}

func (z *zone) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	rev, err := reverseName(addr)
	if err != nil {
		return nil, err
	}
	items, err := z.query(rev, "PTR")
	var out []string
	for _, it := range items {
		out = append(out, strings.TrimSuffix(it.val, ".")+".")
	}
	return out, err
}

func reverseName(addr string) (string, error) {
	ip := net.ParseIP(addr)
	if ip == nil {
		return "", fmt.Errorf("bad address %q", addr)
	}
	if ip4 := ip.To4(); ip4 != nil {
		return fmt.Sprintf("%d.%d.%d.%d.in-addr.arpa.", ip4[3], ip4[2], ip4[1], ip4[0]), nil
	}
	const hex = "0123456789abcdef"
	var b strings.Builder
	for i := len(ip) - 1; i >= 0; i-- {
		b.WriteByte(hex[ip[i]&0xf])
		b.WriteByte('.')
		b.WriteByte(hex[ip[i]>>4])
		b.WriteByte('.')
	}
	b.WriteString("ip6.arpa.")
	return b.String(), nil
}
