package spf

import (
	"context"
	"maps"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	authdns "github.com/authmilter/authmilter/auth/dns"
	"github.com/authmilter/authmilter/auth/dns/dnstest"
	"github.com/miekg/dns"
)

// dnsServerDiffs lists the RFC 7208 suite cases whose expected result the
// in-process DNS server cannot reproduce, with the reason. The fake-resolver
// run (TestRFC7208Suite) passes them all.
var dnsServerDiffs = map[string]string{}

// TestRFC7208SuiteDNSServer runs the RFC 7208 suite once more through the
// production path: *dns.Resolver (with its cache) against dnstest serving
// each scenario's zone data over UDP/TCP on 127.0.0.1. A name with a
// TIMEOUT item is dropped (all its queries time out) unless a record that is
// served (not the SPF type) precedes it: dnstest drops whole names, not
// types, and the suite's TIMEOUT only times out the types not seen before.
func TestRFC7208SuiteDNSServer(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	run, passed := 0, 0
	for _, sc := range loadSuite(t, "testdata/rfc7208-tests.yml") {
		z := zoneFromSuite(t, sc.Zonedata)
		srv, err := dnstest.Start("")
		if err != nil {
			t.Fatal(err)
		}
		serveZone(t, srv, z)
		for _, name := range slices.Sorted(maps.Keys(sc.Tests)) {
			tc := sc.Tests[name]
			if why, ok := dnsServerDiffs[name]; ok {
				t.Logf("skip %s: %s", name, why)
				continue
			}
			run++
			ok := t.Run(name, func(t *testing.T) {
				r, err := authdns.New(authdns.Config{Servers: []string{srv.Addr}, Timeout: 100 * time.Millisecond, Attempts: 1})
				if err != nil {
					t.Fatal(err)
				}
				c := &Checker{Resolver: r, DefaultExplanation: "DEFAULT"}
				o := c.CheckMailFrom(context.Background(), net.ParseIP(tc.Host), tc.Helo, tc.Mailfrom)
				checkSuiteOutcome(t, sc.Description, name, tc, o, expectedResults(t, tc.Result))
			})
			if ok {
				passed++
			}
		}
		srv.Close()
	}
	t.Logf("RFC 7208 suite over dnstest: %d/%d passed, %d not reproducible", passed, run, len(dnsServerDiffs))
}

// serveZone loads the fake zone into the server as real records.
func serveZone(t *testing.T, srv *dnstest.Server, z *zone) {
	t.Helper()
	for name, items := range z.names {
		owner := dns.Fqdn(name)
		if _, ok := dns.IsDomainName(owner); !ok {
			continue
		}
		hdr := func(rrtype uint16) dns.RR_Header {
			return dns.RR_Header{Name: owner, Rrtype: rrtype, Class: dns.ClassINET, Ttl: 300}
		}
		served := false // a record dnstest serves precedes
		for _, it := range items {
			switch it.typ {
			case "TIMEOUT":
				if !served {
					srv.Drop(owner)
				}
			case "SPF":
				continue
			case "TXT":
				srv.AddRR(&dns.TXT{Hdr: hdr(dns.TypeTXT), Txt: txtStrings(it.val)})
			case "A":
				if ip := net.ParseIP(it.val).To4(); ip != nil {
					srv.AddRR(&dns.A{Hdr: hdr(dns.TypeA), A: ip})
				}
			case "AAAA":
				if ip := net.ParseIP(it.val); ip != nil && ip.To4() == nil {
					srv.AddRR(&dns.AAAA{Hdr: hdr(dns.TypeAAAA), AAAA: ip})
				}
			case "MX":
				srv.AddRR(&dns.MX{Hdr: hdr(dns.TypeMX), Preference: it.pref, Mx: dns.Fqdn(it.val)})
			case "PTR":
				srv.AddRR(&dns.PTR{Hdr: hdr(dns.TypePTR), Ptr: dns.Fqdn(it.val)})
			case "CNAME":
				srv.AddRR(&dns.CNAME{Hdr: hdr(dns.TypeCNAME), Target: dns.Fqdn(it.val)})
			}
			served = true
		}
	}
}

// txtStrings splits a TXT value into character-strings of at most 255
// octets, escaped for miekg/dns.
func txtStrings(v string) []string {
	out := []string{}
	for {
		n := min(len(v), 255)
		s := strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v[:n])
		out = append(out, s)
		v = v[n:]
		if v == "" {
			return out
		}
	}
}
