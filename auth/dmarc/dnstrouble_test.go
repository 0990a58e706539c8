package dmarc

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/authmilter/authmilter/auth/dns/dnstest"
)

// TestDNSTroubleIsTemperror: with the real resolver, every way the answer
// for _dmarc.<author> can be unusable ends the walk in temperror, never in
// none (which would let a spoofed From of a p=reject domain through), over
// UDP and over TCP.
func TestDNSTroubleIsTemperror(t *testing.T) {
	troubles := map[string]func(*dnstest.Server, string){
		"notimp":     func(s *dnstest.Server, n string) { s.Rcode(n, mdns.RcodeNotImplemented) },
		"formerr":    func(s *dnstest.Server, n string) { s.Rcode(n, mdns.RcodeFormatError) },
		"refused":    func(s *dnstest.Server, n string) { s.Rcode(n, mdns.RcodeRefused) },
		"question":   func(s *dnstest.Server, n string) { s.Fault(n, dnstest.WrongQuestion) },
		"unparsable": func(s *dnstest.Server, n string) { s.Fault(n, dnstest.Unparsable) },
		"wrongid":    func(s *dnstest.Server, n string) { s.Fault(n, dnstest.WrongID) },
		"loop":       func(*dnstest.Server, string) {},
		"chain":      func(*dnstest.Server, string) {},
	}
	var z strings.Builder
	for _, tr := range []string{"udp", "tcp"} {
		for name := range troubles {
			if name != "loop" && name != "chain" {
				fmt.Fprintf(&z, "_dmarc.%s.%s.example. TXT \"v=DMARC1; p=reject\"\n", name, tr)
			}
		}
		fmt.Fprintf(&z, "_dmarc.loop.%[1]s.example. CNAME x._dmarc.loop.%[1]s.example.\n", tr)
		fmt.Fprintf(&z, "x._dmarc.loop.%[1]s.example. CNAME _dmarc.loop.%[1]s.example.\n", tr)
		fmt.Fprintf(&z, "_dmarc.chain.%[1]s.example. CNAME c1.chain.%[1]s.example.\n", tr)
		for i := 1; i < 12; i++ {
			fmt.Fprintf(&z, "c%d.chain.%[2]s.example. CNAME c%d.chain.%[2]s.example.\n", i, tr, i+1)
		}
		fmt.Fprintf(&z, "c12.chain.%s.example. TXT \"v=DMARC1; p=reject\"\n", tr)
	}
	srv, r := dnstest.StartResolver(t, z.String())
	e := &Evaluator{Resolver: r}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, tr := range []string{"udp", "tcp"} {
		for name, set := range troubles {
			author := name + "." + tr + ".example"
			set(srv, "_dmarc."+author)
			if tr == "tcp" {
				srv.Truncate("_dmarc." + author)
			}
			got := e.Evaluate(ctx, author, SPFInput{"fail", author}, nil)
			if got.Result != "temperror" {
				t.Errorf("%s: got %s (%s), want temperror", author, got.Result, got.Reason)
			}
		}
	}
}

// TestExistenceTroubleIsTemperror: when sp and np differ, a subdomain's
// existence decides between them (§4.10.1); a failed existence lookup is a
// temperror, never read as "exists" (which would pick a weaker sp).
func TestExistenceTroubleIsTemperror(t *testing.T) {
	srv, r := dnstest.StartResolver(t, `
_dmarc.example.org.   TXT "v=DMARC1; p=reject; sp=none; np=reject"
gone.example.org.     A   192.0.2.1
`)
	srv.Rcode("ghost.example.org", mdns.RcodeServerFailure)
	e := &Evaluator{Resolver: r}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, c := range []struct{ author, result, policy string }{
		{"ghost.example.org", "temperror", ""},    // SERVFAIL on its A query
		{"gone.example.org", "fail", "none"},      // exists: sp
		{"nowhere.example.org", "fail", "reject"}, // NXDOMAIN: np
	} {
		got := e.Evaluate(ctx, c.author, SPFInput{"fail", c.author}, nil)
		if string(got.Result) != c.result || got.Policy != c.policy {
			t.Errorf("%s: got %s policy %q (%s), want %s policy %q", c.author, got.Result, got.Policy, got.Reason, c.result, c.policy)
		}
	}
}
