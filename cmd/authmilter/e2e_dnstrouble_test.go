package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/authmilter/authmilter/auth/dns/dnstest"
)

// TestEndToEndDNSTrouble: a spoofed From of a p=reject domain whose
// _dmarc answer is unusable (NOTIMP, FORMERR over TCP, an answer for
// another question, a CNAME loop) is tempfailed through real Postfix and
// Sendmail, never accepted as if the domain had no DMARC record.
func TestEndToEndDNSTrouble(t *testing.T) {
	needMTA(t, "postfix", "/usr/sbin/postfix")
	t.Parallel()
	var z strings.Builder
	troubles := []string{"notimp", "formerr", "question", "loop"}
	for _, d := range troubles {
		fmt.Fprintf(&z, "%[1]s.test. TXT \"v=spf1 ip4:192.0.2.1 -all\"\n%[1]s.test. A 192.0.2.1\n", d)
		if d != "loop" {
			fmt.Fprintf(&z, "_dmarc.%s.test. TXT \"v=DMARC1; p=reject\"\n", d)
		}
	}
	z.WriteString("_dmarc.loop.test. CNAME x._dmarc.loop.test.\nx._dmarc.loop.test. CNAME _dmarc.loop.test.\n")
	z.WriteString("client.test. A 127.0.0.1\nclient.test. TXT \"v=spf1 ip4:127.0.0.0/8 -all\"\n")
	srv, err := dnstest.Start(z.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	srv.Rcode("_dmarc.notimp.test", mdns.RcodeNotImplemented)
	srv.Rcode("_dmarc.formerr.test", mdns.RcodeFormatError)
	srv.Truncate("_dmarc.formerr.test") // FORMERR comes over TCP
	srv.Fault("_dmarc.question.test", dnstest.WrongQuestion)

	d := startDaemon(t, srv.Addr, e2eConfig)
	for _, start := range []func(*testing.T, string) *mta{startPostfix, startSendmail} {
		m := start(t, d.Addr)
		t.Run(m.Name, func(t *testing.T) {
			for _, dom := range troubles {
				mid := fmt.Sprintf("<%s.%s.%d@e2e.test>", dom, m.Name, time.Now().UnixNano())
				msg := message([]string{"From: ceo@" + dom + ".test", "To: u@rcpt.test", "Subject: pay", "Message-ID: " + mid}, "Pay now.\n")
				s := dialSMTP(t, m, "127.0.0.1", "client.test")
				if r := s.Send(t, "ceo@"+dom+".test", "u@rcpt.test", msg); !strings.HasPrefix(r, "451") {
					t.Errorf("%s: reply %q, want 451", dom, r)
				}
			}
		})
	}
}
