package main

import (
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"
)

// TestEndToEndAuthservIDFromMTA: with authserv_id unset, the header names
// the MTA's own host name, which Postfix (myhostname) and Sendmail
// (confDOMAIN_NAME) send as the j macro, not this host's short name; a
// forged field carrying that name is removed.
func TestEndToEndAuthservIDFromMTA(t *testing.T) {
	needMTA(t, "postfix", "/usr/sbin/postfix")
	t.Parallel()
	w := newE2EWorld(t)
	d := startDaemon(t, w.dns.Addr, "trusted_networks = []\n")
	for _, start := range []func(*testing.T, string) *mta{startPostfix, startSendmail} {
		m := start(t, d.Addr)
		t.Run(m.Name, func(t *testing.T) {
			mid := "<j." + m.Name + "@e2e.test>"
			msg := w.sign(t, message([]string{
				"Authentication-Results: " + e2eAuthservID + "; dmarc=pass header.from=bank.test",
				"From: alice@pass.test", "To: u@rcpt.test", "Subject: j", "Message-ID: " + mid,
			}, "J.\n"), dkim.CanonicalizationRelaxed)
			ar, got := deliverOne(t, dialSMTP(t, m, "127.0.0.1", "client.test"), m, "bounce@pass.test", msg, mid)
			if strings.Contains(ar, "bank.test") || !strings.Contains(ar, "header.from=pass.test") {
				t.Errorf("A-R %q: want ours, the forged one removed\n%s", ar, got)
			}
		})
	}
}
