package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"encoding/xml"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/authmilter/authmilter/auth/dkim"
	"github.com/authmilter/authmilter/auth/dns/dnstest"
	"github.com/authmilter/authmilter/auth/report"
)

// sendZone: pass.test and spoof.test ask for reports at rcpt.test (the
// test Postfix's mailbox domain), which agrees (RFC 9990 §4);
// receiver.test is our reporting domain: SPF for 127.0.0.1, a DKIM key
// for the reports, and a record with rua, so that a report about our own
// report mail would be built if it were counted.
func sendZone(t *testing.T) (zone string, keyFile string) {
	t.Helper()
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyFile = filepath.Join(t.TempDir(), "report.key")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	rec, err := dkim.KeyRecord(key)
	if err != nil {
		t.Fatal(err)
	}
	return `
pass.test.                          TXT "v=spf1 ip4:127.0.0.1 -all"
_dmarc.pass.test.                   TXT "v=DMARC1; p=reject; rua=mailto:dmarc@rcpt.test"
pass.test._report._dmarc.rcpt.test. TXT "v=DMARC1"
spoof.test.                         TXT "v=spf1 ip4:127.0.0.1 -all"
_dmarc.spoof.test.                  TXT "v=DMARC1; p=reject; rua=mailto:dmarc@rcpt.test"
spoof.test._report._dmarc.rcpt.test. TXT "v=DMARC1"
receiver.test.                      TXT "v=spf1 ip4:127.0.0.1 -all"
_dmarc.receiver.test.               TXT "v=DMARC1; p=none; rua=mailto:dmarc@rcpt.test"
receiver.test._report._dmarc.rcpt.test. TXT "v=DMARC1"
rep._domainkey.receiver.test.       TXT "` + rec + `"
client.test.                        A   127.0.0.1
`, keyFile
}

// sendMix sends through m: 3 passing messages from 127.0.0.1, 2 rejected
// and 1 quarantined (List-Id) from 127.0.0.2 for pass.test, 2 rejected
// for spoof.test (which so gets no report: report_when = "accepted").
func sendMix(t *testing.T, m *mta, tag string) {
	t.Helper()
	n := 0
	send := func(from, domain, want string, extra ...string) {
		t.Helper()
		n++
		h := append([]string{"From: a@" + domain, "To: u@rcpt.test", "Subject: r",
			fmt.Sprintf("Message-ID: <%s%d.%d@e2e.test>", tag, n, time.Now().UnixNano())}, extra...)
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
}

// sendConfig is the [reports] of these tests: dmarc@receiver.test, the
// relay, DKIM with the test key; extra is appended inside [reports].
func sendConfig(dir, relay, keyFile, extra string) string {
	return fmt.Sprintf(`authserv_id = %q
trusted_networks = []
[policy]
quarantine_mode = "header"
[reports]
enabled = true
store = "sqlite:%s/reports.db"
spool = "%s/reports.spool"
org_name = "Receiver Test"
email = "dmarc@receiver.test"
flush_interval = "1h"
send_interval = "0s"
smtp = %q
dkim_key = %q
dkim_selector = "rep"
%s`, e2eAuthservID, dir, dir, relay, keyFile, extra)
}

// reportsCLI runs the built binary's "reports" command (another process,
// as a systemd timer would) and returns its output.
func reportsCLI(t *testing.T, conf string, args ...string) string {
	t.Helper()
	cmd := exec.Command(daemonBinary(t), append([]string{"reports"}, append(args[:1:1], append([]string{"-config", conf}, args[1:]...)...)...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("authmilter reports %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// writeConf writes a configuration file for the CLI: body plus the
// daemon's DNS server.
func writeConf(t *testing.T, body, dnsAddr string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "cli.toml")
	if err := os.WriteFile(p, []byte(body+fmt.Sprintf("\n[dns]\nservers = [%q]\ntimeout = \"1s\"\nattempts = 2\n", dnsAddr)), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// deliveredReport is a report mail as it landed in the mailbox.
type deliveredReport struct {
	raw      string
	subject  string
	filename string
	xml      []byte
	fb       xmlFeedback
}

// deliveredReports parses every report mail in m's mailbox: the gzip
// attachment is unpacked, linted, XSD-validated (xmllint) and decoded.
func deliveredReports(t *testing.T, m *mta) []deliveredReport {
	t.Helper()
	var out []deliveredReport
	filepath.Walk(m.mailDir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return nil
		}
		raw, err := os.ReadFile(p)
		if err != nil || !bytes.Contains(raw, []byte("Report Domain:")) {
			return nil
		}
		msg, err := mail.ReadMessage(bytes.NewReader(raw))
		if err != nil {
			t.Errorf("%s: %v", p, err)
			return nil
		}
		r := deliveredReport{raw: string(raw), subject: strings.Join(strings.Fields(msg.Header.Get("Subject")), " ")}
		_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
		if err != nil {
			t.Errorf("%s: Content-Type: %v", p, err)
			return nil
		}
		mr := multipart.NewReader(msg.Body, params["boundary"])
		for {
			part, err := mr.NextPart()
			if err != nil {
				break
			}
			if !strings.HasPrefix(part.Header.Get("Content-Type"), "application/gzip") {
				continue
			}
			r.filename = part.FileName()
			b, _ := io.ReadAll(part) // base64: multipart decodes only quoted-printable
			gz, err := decodeBase64(b)
			if err != nil {
				t.Fatalf("%s: attachment: %v", p, err)
			}
			if r.xml, err = gunzip(gz); err != nil {
				t.Fatalf("%s: gunzip: %v", p, err)
			}
		}
		if r.xml == nil {
			t.Errorf("%s: no application/gzip part", p)
			return nil
		}
		for _, e := range report.Lint(r.xml) {
			t.Errorf("%s: lint: %v", r.filename, e)
		}
		validateXSD(t, r.xml)
		if err := xml.Unmarshal(r.xml, &r.fb); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
		return nil
	})
	return out
}

// counts sums reports' rows per policy domain as
// "ip/disposition[/reason]" -> count.
func counts(rs []deliveredReport) map[string]map[string]int64 {
	got := map[string]map[string]int64{}
	for _, r := range rs {
		if got[r.fb.Domain] == nil {
			got[r.fb.Domain] = map[string]int64{}
		}
		for _, x := range r.fb.Records {
			k := x.IP + "/" + x.Disposition
			for _, y := range x.Reasons {
				k += "/" + y
			}
			got[r.fb.Domain][k] += x.Count
		}
	}
	return got
}

// waitReports waits until m's mailbox holds n report mails.
func waitReports(t *testing.T, m *mta, n int) []deliveredReport {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		rs := deliveredReports(t, m)
		if len(rs) >= n || time.Now().After(deadline) {
			if len(rs) != n {
				logb, _ := os.ReadFile(m.logf)
				t.Fatalf("%d report mails delivered, want %d; MTA log:\n%s", len(rs), n, tail(string(logb), 3000))
			}
			return rs
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestEndToEndReportsSend: mail through a real Postfix to the daemon with
// reports on; SIGHUP writes the counts; "authmilter reports send -now
// <tomorrow>" (another process) builds the report and sends it through
// the same Postfix (and so through the daemon) to a local mailbox. The
// delivered report validates against the RFC 9990 XSD, its counts are the
// messages sent per source and disposition, its Report-ID is the same in
// Subject, filename and XML, and its DKIM signature passed in the daemon's
// Authentication-Results. A second send sends nothing, and our own report
// mail was not counted: no report about receiver.test follows.
func TestEndToEndReportsSend(t *testing.T) {
	needMTA(t, "postfix", "/usr/sbin/postfix")
	t.Parallel()
	zone, keyFile := sendZone(t)
	srv, err := dnstest.Start(zone)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	d := startDaemon(t, srv.Addr, sendConfig(dir, "", keyFile, ""))
	m := startPostfix(t, d.Addr)
	sendMix(t, m, "s")
	flushReports(t, d)

	conf := writeConf(t, sendConfig(dir, m.Addr, keyFile, ""), srv.Addr)
	tomorrow := time.Now().Add(25 * time.Hour).Format(time.RFC3339)
	out := reportsCLI(t, conf, "send", "-now", tomorrow)
	t.Logf("reports send:\n%s", out)
	if !strings.Contains(out, "deliveries: sent 1,") {
		t.Errorf("reports send output:\n%s", out)
	}
	rs := waitReports(t, m, 1)
	r := rs[0]
	if r.fb.Domain != "pass.test" {
		t.Fatalf("report for %q, want pass.test", r.fb.Domain)
	}
	if s := sortedCounts(counts(rs)["pass.test"]); s != "127.0.0.1/pass:3 127.0.0.2/quarantine/mailing_list:1 127.0.0.2/reject:2" {
		t.Errorf("pass.test counts %s", s)
	}
	var id string
	if _, err := fmt.Sscanf(r.subject[strings.Index(r.subject, "Report-ID: "):], "Report-ID: %s", &id); err != nil || id == "" {
		t.Fatalf("Subject %q", r.subject)
	}
	if !strings.HasSuffix(r.filename, "!"+id+".xml.gz") || !bytes.Contains(r.xml, []byte("<report_id>"+id+"</report_id>")) {
		t.Errorf("Report-ID %s: filename %q, XML report_id differ", id, r.filename)
	}
	if !strings.Contains(r.raw, "dkim=pass") || !strings.Contains(r.raw, "header.d=receiver.test") || !strings.Contains(r.raw, "\nTo: dmarc@rcpt.test") {
		t.Errorf("delivered report lacks dkim=pass for receiver.test or its To:\n%s", tail(r.raw, 2000))
	}

	if out := reportsCLI(t, conf, "send", "-now", tomorrow); !strings.Contains(out, "deliveries: sent 0,") {
		t.Errorf("second send:\n%s", out)
	}
	// The report mail went through the daemon: were it counted,
	// receiver.test (p=none, rua, SPF and DKIM pass) would get a report.
	flushReports(t, d)
	d.Stop(t)
	if got := dryRun(t, conf, time.Now().Add(49*time.Hour)); len(got) != 0 {
		t.Errorf("reports after our own report mail: %v", got)
	}
	if status := reportsCLI(t, conf, "status"); !strings.Contains(strings.Join(strings.Fields(status), " "), "deliveries sent: 1") {
		t.Errorf("status:\n%s", status)
	}
}

// flushReports sends SIGHUP (the pending counts are written before the
// reload) and waits for the reload's log line.
func flushReports(t *testing.T, d *daemon) {
	t.Helper()
	before := strings.Count(d.log.String(), "configuration reloaded")
	d.cmd.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(d.log.String(), "configuration reloaded") == before {
		if time.Now().After(deadline) {
			t.Fatalf("no reload after SIGHUP:\n%s", tail(d.log.String(), 2000))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// decodeBase64 decodes a base64 body with line breaks.
func decodeBase64(b []byte) ([]byte, error) {
	return base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(b)), ""))
}
