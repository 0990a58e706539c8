package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/authmilter/authmilter/auth/dns/dnstest"
)

// TestEndToEndAuthorDomainsAndTemperror runs, through a real Postfix and a
// real Sendmail, a From with mailboxes in several domains (every domain
// counts; an allow-listed one exempts only itself) and a SERVFAIL on the
// author domain's own SPF record (a DMARC temperror: 451, not 550).
func TestEndToEndAuthorDomainsAndTemperror(t *testing.T) {
	needMTA(t, "postfix", "/usr/sbin/postfix")
	t.Parallel()
	srv, err := dnstest.Start(`
allowed.test.              A   192.0.2.40
_dmarc.allowed.test.       TXT "v=DMARC1; p=reject"
bank.test.                 A   192.0.2.41
_dmarc.bank.test.          TXT "v=DMARC1; p=reject"
news.test.                 A   192.0.2.42
_dmarc.news.test.          TXT "v=DMARC1; p=quarantine"
list.test.                 TXT "v=spf1 ip4:127.0.0.0/8 -all"
list.test.                 A   192.0.2.43
_dmarc.list.test.          TXT "v=DMARC1; p=reject"
spfbroken.test.            TXT "v=spf1 ip4:127.0.0.0/8 -all"
_dmarc.spfbroken.test.     TXT "v=DMARC1; p=reject"
client.test.               A   127.0.0.1
client.test.               TXT "v=spf1 ip4:127.0.0.0/8 -all"
`)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	srv.ServFail("spfbroken.test.")
	d := startDaemon(t, srv.Addr, `
authserv_id = "`+e2eAuthservID+`"
trusted_networks = []
[policy]
quarantine_mode = "header"
allow_domains = ["allowed.test"]
`)
	for _, start := range []func(*testing.T, string) *mta{startPostfix, startSendmail} {
		m := start(t, d.Addr)
		t.Run(m.Name, func(t *testing.T) {
			id := func(s string) string { return fmt.Sprintf("<%s.%s.%d@e2e.test>", s, m.Name, time.Now().UnixNano()) }
			for _, from := range []string{
				"x@allowed.test, CEO <ceo@bank.test>",
				"Friends: x@allowed.test, ceo@bank.test;",
			} {
				msg := message([]string{"From: " + from, "To: u@rcpt.test", "Subject: pay", "Message-ID: " + id("bank")}, "Pay.\n")
				r := dialSMTP(t, m, "127.0.0.1", "client.test").Send(t, "x@list.test", "u@rcpt.test", msg)
				if !strings.HasPrefix(r, "550 5.7.1") || !strings.Contains(r, "bank.test") {
					t.Errorf("From: %s: reply %q, want 550 5.7.1 naming bank.test", from, r)
				}
			}

			// Delivered (quarantined by header): one dmarc= per domain.
			mid := id("two")
			msg := message([]string{"From: a@list.test, news@news.test", "To: u@rcpt.test", "Subject: n", "Message-ID: " + mid}, "N.\n")
			ar, got := deliverOne(t, dialSMTP(t, m, "127.0.0.1", "client.test"), m, "a@list.test", msg, mid)
			mustContain(t, "A-R", ar, "dmarc=pass (spf aligned) header.from=list.test",
				"dmarc=fail (no aligned identifier) header.from=news.test policy.dmarc=quarantine")
			if len(headerFields(got, "X-Authmilter-Quarantine")) != 1 {
				t.Errorf("no X-Authmilter-Quarantine header:\n%s", got)
			}

			msg = message([]string{"From: alice@spfbroken.test", "To: u@rcpt.test", "Subject: t", "Message-ID: " + id("spf")}, "T.\n")
			r := dialSMTP(t, m, "127.0.0.1", "client.test").Send(t, "alice@spfbroken.test", "u@rcpt.test", msg)
			if !strings.HasPrefix(r, "451 4.7.1") {
				t.Errorf("SERVFAIL on the author domain's SPF: reply %q, want 451 4.7.1", r)
			}
		})
	}
}
