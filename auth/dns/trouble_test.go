package dns_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/authmilter/authmilter/auth/dns"
	"github.com/authmilter/authmilter/auth/dns/dnstest"
)

// troubles are the ways an upstream answer can be unusable. Each makes the
// lookup of "<name>.<transport>.example" go wrong on srv, given a zone from
// troubleZone.
var troubles = []struct {
	name  string
	set   func(srv *dnstest.Server, name string)
	cause error // besides dns.ErrTemporary; over UDP, WrongID times out
}{
	{"notimp", func(s *dnstest.Server, n string) { s.Rcode(n, mdns.RcodeNotImplemented) }, dns.ErrBadAnswer},
	{"formerr", func(s *dnstest.Server, n string) { s.Rcode(n, mdns.RcodeFormatError) }, dns.ErrBadAnswer},
	{"refused", func(s *dnstest.Server, n string) { s.Rcode(n, mdns.RcodeRefused) }, dns.ErrRefused},
	{"yxdomain", func(s *dnstest.Server, n string) { s.Rcode(n, mdns.RcodeYXDomain) }, dns.ErrBadAnswer},
	{"question", func(s *dnstest.Server, n string) { s.Fault(n, dnstest.WrongQuestion) }, dns.ErrBadAnswer},
	{"loop", func(*dnstest.Server, string) {}, dns.ErrBadAnswer},
	{"chain", func(*dnstest.Server, string) {}, dns.ErrBadAnswer},
	{"unparsable", func(s *dnstest.Server, n string) { s.Fault(n, dnstest.Unparsable) }, dns.ErrBadAnswer},
	{"wrongid", func(s *dnstest.Server, n string) { s.Fault(n, dnstest.WrongID) }, dns.ErrBadAnswer},
}

// troubleZone has, under suffix ("udp.example." ...), a TXT record for each
// trouble, a CNAME loop at loop and a chain of 12 CNAMEs from chain.
func troubleZone(suffix string) string {
	var z strings.Builder
	for _, tr := range troubles {
		if tr.name != "loop" && tr.name != "chain" {
			fmt.Fprintf(&z, "%s.%s TXT \"v=DMARC1; p=reject\"\n", tr.name, suffix)
		}
	}
	fmt.Fprintf(&z, "loop.%[1]s CNAME x.loop.%[1]s\nx.loop.%[1]s CNAME loop.%[1]s\n", suffix)
	fmt.Fprintf(&z, "chain.%[1]s CNAME c1.%[1]s\n", suffix)
	for i := 1; i < 12; i++ {
		fmt.Fprintf(&z, "c%d.%s CNAME c%d.%s\n", i, suffix, i+1, suffix)
	}
	fmt.Fprintf(&z, "c12.%s TXT \"v=DMARC1; p=reject\"\n", suffix)
	return z.String()
}

// TestTroubleIsTemporary: NOTIMP, FORMERR, REFUSED, another rcode, an answer
// for another question, a CNAME loop, a chain past the bound, an answer that
// does not parse and an answer with another ID are temporary failures, never
// "no record", over UDP and over TCP alike.
func TestTroubleIsTemporary(t *testing.T) {
	srv, r, _ := setup(t, troubleZone("udp.example.")+troubleZone("tcp.example."), func(c *dns.Config) {
		c.Timeout = 200 * time.Millisecond
		c.Attempts = 1
	})
	ctx := context.Background()
	for _, transport := range []string{"udp", "tcp"} {
		for _, tr := range troubles {
			name := tr.name + "." + transport + ".example"
			tr.set(srv, name)
			if transport == "tcp" {
				srv.Truncate(name) // the UDP answer sends us to TCP, where the trouble is
			}
			for _, qtype := range []uint16{mdns.TypeTXT, mdns.TypeA} {
				_, err := r.Lookup(ctx, name, qtype)
				want := tr.cause
				if tr.name == "wrongid" && transport == "udp" {
					want = dns.ErrTimeout // RFC 5452: ignored, we wait for ours
				}
				var de *net.DNSError
				if !errors.As(err, &de) || !de.IsTemporary || de.IsNotFound || !dns.IsTemporary(err) ||
					!errors.Is(err, dns.ErrTemporary) || !errors.Is(err, want) {
					t.Errorf("%s %s: got %v (%s), want temporary %v", name, mdns.TypeToString[qtype], err, classify(err), want)
				}
			}
			want := 1 // UDP
			if transport == "tcp" {
				want = 2 // UDP, truncated, then TCP
			}
			if n := srv.Queries(name, mdns.TypeTXT); n != want {
				t.Errorf("%s: %d queries, want %d", name, n, want)
			}
		}
	}
}
