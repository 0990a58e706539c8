package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/authmilter/authmilter/auth/dns/dnstest"
)

// TestEndToEndReports: mail through a real Postfix to the daemon with
// reports on (SQLite in a temporary directory), then SIGTERM, then
// "reports send -dry-run -now <tomorrow>": the report's counts equal the
// messages sent, per source and disposition (a List-Id quarantine reported
// as such); a domain whose mail was only rejected gets no report.
func TestEndToEndReports(t *testing.T) {
	needMTA(t, "postfix", "/usr/sbin/postfix")
	t.Parallel()
	srv, err := dnstest.Start(`
pass.test.           TXT "v=spf1 ip4:127.0.0.1 -all"
_dmarc.pass.test.    TXT "v=DMARC1; p=reject; rua=mailto:dmarc@pass.test"
spoof.test.          TXT "v=spf1 ip4:127.0.0.1 -all"
_dmarc.spoof.test.   TXT "v=DMARC1; p=reject; rua=mailto:dmarc@spoof.test"
client.test.         A   127.0.0.1
`)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	d := startDaemon(t, srv.Addr, `
authserv_id = "`+e2eAuthservID+`"
trusted_networks = []
[policy]
quarantine_mode = "header"
`+reportsSection(dir))
	conf := d.cmd.Args[len(d.cmd.Args)-1]
	m := startPostfix(t, d.Addr)

	n := 0
	send := func(from, domain, want string, extra ...string) {
		t.Helper()
		n++
		h := append([]string{"From: a@" + domain, "To: u@rcpt.test", "Subject: r",
			fmt.Sprintf("Message-ID: <r%d.%d@e2e.test>", n, time.Now().UnixNano())}, extra...)
		r := dialSMTP(t, m, from, "client.test").Send(t, "a@"+domain, "u@rcpt.test", message(h, "R.\n"))
		if !strings.HasPrefix(r, want) {
			t.Fatalf("%s from %s: reply %q, want %s", domain, from, r, want)
		}
	}
	for i := 0; i < 3; i++ {
		send("127.0.0.1", "pass.test", "250")
	}
	for i := 0; i < 2; i++ {
		send("127.0.0.2", "pass.test", "550")
	}
	send("127.0.0.2", "pass.test", "250", "List-Id: <l.lists.test>")
	for i := 0; i < 2; i++ {
		send("127.0.0.2", "spoof.test", "550")
	}
	d.Stop(t)

	got := dryRun(t, conf, time.Now().Add(25*time.Hour))
	if len(got) != 1 {
		t.Errorf("reports for %d domains, want pass.test only: %v", len(got), got)
	}
	if s := sortedCounts(got["pass.test"]); s != "127.0.0.1/pass:3 127.0.0.2/quarantine/mailing_list:1 127.0.0.2/reject:2" {
		t.Errorf("pass.test counts %s", s)
	}
}
