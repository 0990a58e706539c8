package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/authmilter/authmilter/auth/dns/dnstest"
)

// ipv6Zone: v6.test allows only ::1 by SPF and publishes p=reject, so its
// unsigned mail passes DMARC only when the milter knows the IPv6 client;
// spoof6.test allows nobody on loopback.
const ipv6Zone = `
v6.test.              TXT "v=spf1 ip6:::1 -all"
v6.test.              A   192.0.2.60
_dmarc.v6.test.       TXT "v=DMARC1; p=reject"
spoof6.test.          TXT "v=spf1 ip4:192.0.2.1 -all"
spoof6.test.          A   192.0.2.1
_dmarc.spoof6.test.   TXT "v=DMARC1; p=reject"
localhost6.           AAAA ::1
`

// TestEndToEndIPv6Client: a client on ::1 through real Sendmail (which
// sends the connect address as "IPv6:::1") and real Postfix. With ::1 not
// trusted, an SPF-aligned message of a p=reject domain is accepted with
// spf=pass; with ::1 in trusted_networks, a message that would fail DMARC is
// not evaluated (accepted, no header of ours).
func TestEndToEndIPv6Client(t *testing.T) {
	needMTA(t, "postfix", "/usr/sbin/postfix")
	t.Parallel()
	dns, err := dnstest.Start(ipv6Zone)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dns.Close)
	evaluated := startDaemon(t, dns.Addr, "authserv_id = \""+e2eAuthservID+"\"\ntrusted_networks = [\"127.0.0.2/32\"]\n")
	trusted := startDaemon(t, dns.Addr, "authserv_id = \""+e2eAuthservID+"\"\ntrusted_networks = [\"127.0.0.2/32\", \"::1/128\"]\n")
	for _, start := range []func(*testing.T, string, mtaOptions) *mta{startSendmailWith, startPostfixWith} {
		ev := start(t, evaluated.Addr, mtaOptions{IPv6: true})
		tr := start(t, trusted.Addr, mtaOptions{IPv6: true})
		id := func(s string) string { return fmt.Sprintf("<%s.%s.%d@e2e.test>", s, ev.Name, time.Now().UnixNano()) }
		t.Run(ev.Name, func(t *testing.T) {
			t.Run("SPF pass over IPv6 for a p=reject domain", func(t *testing.T) {
				mid := id("v6pass")
				msg := message([]string{"From: a@v6.test", "To: u@rcpt.test", "Subject: v6", "Message-ID: " + mid}, "Over IPv6.\n")
				ar, _ := deliverOne(t, dialSMTP(t, ev, "::1", "localhost6"), ev, "bounce@v6.test", msg, mid)
				mustContain(t, "A-R", ar, "spf=pass", "smtp.mailfrom=bounce@v6.test", "dmarc=pass", "header.from=v6.test")
				if !strings.Contains(evaluated.log.String(), "client=::1") {
					t.Errorf("no log line with client=::1:\n%s", evaluated.log.String())
				}
			})
			t.Run("spoof over IPv6 rejected", func(t *testing.T) {
				msg := message([]string{"From: ceo@spoof6.test", "To: u@rcpt.test", "Subject: pay", "Message-ID: " + id("v6spoof")}, "Pay.\n")
				r := dialSMTP(t, ev, "::1", "localhost6").Send(t, "ceo@spoof6.test", "u@rcpt.test", msg)
				if !strings.HasPrefix(r, "550 5.7.1") {
					t.Fatalf("reply %q, want 550 5.7.1", r)
				}
			})
			t.Run("trusted_networks IPv6 entry honoured", func(t *testing.T) {
				mid := id("v6trusted")
				msg := message([]string{"From: ceo@spoof6.test", "To: u@rcpt.test", "Subject: t", "Message-ID: " + mid}, "Trusted.\n")
				if r := dialSMTP(t, tr, "::1", "localhost6").Send(t, "ceo@spoof6.test", "u@rcpt.test", msg); !strings.HasPrefix(r, "250") {
					t.Fatalf("reply %q, want 250 (trusted client not evaluated)", r)
				}
				if got := ours(tr.Delivered(t, mid)); len(got) != 0 {
					t.Fatalf("trusted client evaluated: A-R %q", got)
				}
			})
		})
	}
}
