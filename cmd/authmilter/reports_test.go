package main

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"net/mail"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	gomilter "github.com/emersion/go-milter"

	"github.com/authmilter/authmilter/auth/dns/dnstest"
	"github.com/authmilter/authmilter/auth/report"
)

// milterSend sends one message through the daemon as an MTA would and
// returns the final action code.
func milterSend(t *testing.T, addr, ip, mailFrom, from string) byte {
	t.Helper()
	c := gomilter.NewClientWithOptions("tcp", addr, gomilter.ClientOptions{
		ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second,
		ActionMask: gomilter.OptAddHeader | gomilter.OptChangeHeader | gomilter.OptQuarantine,
	})
	defer c.Close()
	s, err := c.Session()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	steps := []func() (*gomilter.Action, error){
		func() (*gomilter.Action, error) { return s.Conn("client.test", gomilter.FamilyInet, 4321, ip) },
		func() (*gomilter.Action, error) { return s.Helo("client.test") },
		func() (*gomilter.Action, error) { return s.Mail("<"+mailFrom+">", nil) },
		func() (*gomilter.Action, error) { return s.Rcpt("<u@rcpt.test>", nil) },
		func() (*gomilter.Action, error) { return s.HeaderField("From", " "+from) },
		func() (*gomilter.Action, error) { return s.HeaderField("Subject", " hi") },
		func() (*gomilter.Action, error) { return s.HeaderEnd() },
		func() (*gomilter.Action, error) { return s.BodyChunk([]byte("hello\r\n")) },
	}
	for i, step := range steps {
		a, err := step()
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if a.Code != gomilter.ActContinue {
			t.Fatalf("step %d: action %c, want continue", i, a.Code)
		}
	}
	_, act, err := s.End()
	if err != nil {
		t.Fatal(err)
	}
	return byte(act.Code)
}

// reportsDNS: other.test and spoof.test ask for reports and reject;
// norua.test rejects without asking.
func reportsDNS(t *testing.T) *dnstest.Server {
	t.Helper()
	srv, _ := dnstest.StartResolver(t, `other.test. TXT "v=spf1 ip4:198.51.100.0/24 -all"
_dmarc.other.test. TXT "v=DMARC1; p=reject; rua=mailto:dmarc@other.test"
spoof.test. TXT "v=spf1 ip4:198.51.100.0/24 -all"
_dmarc.spoof.test. TXT "v=DMARC1; p=reject; rua=mailto:dmarc@spoof.test"
norua.test. TXT "v=spf1 ip4:198.51.100.0/24 -all"
_dmarc.norua.test. TXT "v=DMARC1; p=reject"`)
	return srv
}

func reportsSection(dir string) string {
	return fmt.Sprintf(`[reports]
enabled = true
store = "sqlite:%s/reports.db"
spool = "%s/reports.spool"
org_name = "Receiver Test"
email = "dmarc@receiver.test"
flush_interval = "1h"
send_interval = "0s"
`, dir, dir)
}

// xmlFeedback is the part of a report the tests count.
type xmlFeedback struct {
	Domain  string `xml:"policy_published>domain"`
	Records []struct {
		IP          string   `xml:"row>source_ip"`
		Count       int64    `xml:"row>count"`
		Disposition string   `xml:"row>policy_evaluated>disposition"`
		Reasons     []string `xml:"row>policy_evaluated>reason>type"`
		HeaderFrom  string   `xml:"identifiers>header_from"`
	} `xml:"record"`
}

// dryRun runs "reports send -dry-run" at now and returns, per policy
// domain, "ip/disposition[/reason...]" -> count over every report written; each
// report is linted, XSD-checked, and has its .eml.
func dryRun(t *testing.T, conf string, now time.Time) map[string]map[string]int64 {
	t.Helper()
	dir := t.TempDir()
	var out, errb bytes.Buffer
	if code := run([]string{"reports", "send", "-config", conf, "-dry-run", dir, "-now", now.Format(time.RFC3339)}, nil, &out, &errb); code != 0 {
		t.Fatalf("reports send: exit %d\n%s%s", code, out.String(), errb.String())
	}
	t.Logf("reports send:\n%s", out.String())
	files, _ := filepath.Glob(filepath.Join(dir, "*.xml.gz"))
	got := map[string]map[string]int64{}
	for _, f := range files {
		gz, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		x, err := gunzip(gz)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range report.Lint(x) {
			t.Errorf("%s: lint: %v", filepath.Base(f), e)
		}
		validateXSD(t, x)
		var fb xmlFeedback
		if err := xml.Unmarshal(x, &fb); err != nil {
			t.Fatal(err)
		}
		if got[fb.Domain] == nil {
			got[fb.Domain] = map[string]int64{}
		}
		for _, r := range fb.Records {
			k := r.IP + "/" + r.Disposition
			for _, x := range r.Reasons {
				k += "/" + x
			}
			got[fb.Domain][k] += r.Count
		}
		id := strings.TrimSuffix(filepath.Base(f)[strings.LastIndex(filepath.Base(f), "!")+1:], ".xml.gz")
		eml, err := os.ReadFile(filepath.Join(dir, id+".eml"))
		if err != nil {
			t.Fatalf("no .eml for %s: %v", f, err)
		}
		m, err := mail.ReadMessage(bytes.NewReader(eml))
		if err != nil {
			t.Fatalf("%s.eml: %v", id, err)
		}
		if subj := strings.Join(strings.Fields(m.Header.Get("Subject")), " "); subj != "Report Domain: "+fb.Domain+" Submitter: receiver.test Report-ID: "+id {
			t.Errorf("%s.eml Subject %q", id, subj)
		}
	}
	return got
}

// validateXSD checks b against the RFC 9990 schema with xmllint (Debian
// libxml2-utils); skipped without it unless AUTHMILTER_E2E=1.
func validateXSD(t *testing.T, b []byte) {
	t.Helper()
	bin, err := exec.LookPath("xmllint")
	if err != nil {
		if os.Getenv("AUTHMILTER_E2E") == "1" {
			t.Fatal("xmllint not installed (apt-get install libxml2-utils); required with AUTHMILTER_E2E=1")
		}
		t.Log("xmllint not installed; XSD validation skipped")
		return
	}
	f := filepath.Join(t.TempDir(), "report.xml")
	if err := os.WriteFile(f, b, 0o600); err != nil {
		t.Fatal(err)
	}
	xsd := "../../auth/report/testdata/dmarc-rfc9990/rfc9990-dmarc-2.0.xsd"
	if out, err := exec.Command(bin, "--noout", "--nonet", "--schema", xsd, f).CombinedOutput(); err != nil {
		t.Errorf("xmllint: %v\n%s", err, out)
	}
}

func sortedCounts(m map[string]int64) string {
	var s []string
	for k, v := range m {
		s = append(s, fmt.Sprintf("%s:%d", k, v))
	}
	sort.Strings(s)
	return strings.Join(s, " ")
}

// TestDaemonReportsFlushOnSIGTERM: messages through the daemon's milter
// with flush_interval far away; SIGTERM writes their counts to the store;
// "reports send -dry-run -now <tomorrow>" then writes a report per domain
// whose counts are the messages sent, by source and disposition. A domain
// whose mail was only rejected gets none (report_when = "accepted"), nor
// one whose record has no rua.
func TestDaemonReportsFlushOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon")
	}
	srv := reportsDNS(t)
	dir := t.TempDir()
	d := startDaemon(t, srv.Addr, reportsSection(dir))
	conf := d.cmd.Args[len(d.cmd.Args)-1]
	send := func(n int, ip, domain string, want byte) {
		for i := 0; i < n; i++ {
			if got := milterSend(t, d.Addr, ip, "a@"+domain, "a@"+domain); got != want {
				t.Fatalf("%s from %s: action %c, want %c", domain, ip, got, want)
			}
		}
	}
	send(3, "198.51.100.7", "other.test", byte(gomilter.ActAccept))
	send(2, "203.0.113.9", "other.test", byte(gomilter.ActReplyCode))
	send(2, "203.0.113.9", "spoof.test", byte(gomilter.ActReplyCode))
	send(1, "198.51.100.7", "norua.test", byte(gomilter.ActAccept))
	d.Stop(t)
	if !strings.Contains(d.log.String(), "reports: counts flushed") {
		t.Errorf("no flush line in the log:\n%s", d.log.String())
	}

	// Nothing is due before the period ended.
	if got := dryRun(t, conf, time.Now()); len(got) != 0 {
		t.Errorf("reports before the period ended: %v", got)
	}
	tomorrow := time.Now().Add(25 * time.Hour)
	for i := 0; i < 2; i++ { // the second run writes the same, still unsent, report
		got := dryRun(t, conf, tomorrow)
		if len(got) != 1 {
			t.Errorf("run %d: reports for %d domains, want other.test only: %v", i, len(got), got)
		}
		if s := sortedCounts(got["other.test"]); s != "198.51.100.7/pass:3 203.0.113.9/reject:2" {
			t.Errorf("run %d: other.test counts %s", i, s)
		}
	}
}

// TestReportsSendRefuses: send needs reports on, and a relay unless it
// is a dry run; neither opens the store.
func TestReportsSendRefuses(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"reports", "send"}, nil, &out, &errb); code != 1 || !strings.Contains(errb.String(), "reports.enabled is false") {
		t.Errorf("exit %d, stderr %q", code, errb.String())
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "c.toml")
	if err := os.WriteFile(conf, []byte(reportsSection(dir)+"smtp = \"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	errb.Reset()
	if code := run([]string{"reports", "send", "-config", conf}, nil, &out, &errb); code != 1 || !strings.Contains(errb.String(), "reports.smtp is empty") {
		t.Errorf("smtp empty: exit %d, stderr %q", code, errb.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "reports.db")); err == nil {
		t.Error("the store was created by a send that refused")
	}
	errb.Reset()
	if code := run([]string{"reports", "send", "-dry-run", t.TempDir(), "-now", "tomorrow"}, nil, &out, &errb); code != 2 || !strings.Contains(errb.String(), "RFC 3339") {
		t.Errorf("bad -now: exit %d, stderr %q", code, errb.String())
	}
	errb.Reset()
	if code := run([]string{"reports", "bogus"}, nil, &out, &errb); code != 2 || !strings.Contains(errb.String(), "usage") {
		t.Errorf("unknown command: exit %d, stderr %q", code, errb.String())
	}
}

// TestDaemonReportsSIGHUPAndMetrics: SIGHUP writes the pending counts
// before the reload (reports status, another process, sees them while the
// daemon runs), a changed [reports] key waits for a restart, and /metrics
// shows the events queued and the store's gauges.
func TestDaemonReportsSIGHUPAndMetrics(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon")
	}
	srv := reportsDNS(t)
	dir := t.TempDir()
	mport := freePort(t)
	d := startDaemon(t, srv.Addr, fmt.Sprintf("[metrics]\nlisten = \"127.0.0.1:%d\"\n", mport)+reportsSection(dir))
	conf := d.cmd.Args[len(d.cmd.Args)-1]
	for i := 0; i < 4; i++ {
		milterSend(t, d.Addr, "198.51.100.7", "a@other.test", "a@other.test")
	}
	status := func() string {
		var out, errb bytes.Buffer
		if code := run([]string{"reports", "status", "-config", conf}, nil, &out, &errb); code != 0 {
			t.Fatalf("reports status: exit %d: %s", code, errb.String())
		}
		return out.String()
	}
	if s := status(); !strings.Contains(s, "(0 messages not yet in a report)") {
		t.Fatalf("before SIGHUP, flush_interval 1h: %s", s)
	}
	b, _ := os.ReadFile(conf)
	os.WriteFile(conf, bytes.Replace(b, []byte(`org_name = "Receiver Test"`), []byte(`org_name = "Other"`), 1), 0o644)
	d.cmd.Process.Signal(syscall.SIGHUP)
	waitForLog(t, d, "configuration reloaded")
	if s := status(); !strings.Contains(s, "(4 messages not yet in a report)") {
		t.Errorf("after SIGHUP: %s", s)
	}
	if !strings.Contains(d.log.String(), "reports.org_name") {
		t.Errorf("no restart warning naming reports.org_name:\n%s", d.log.String())
	}
	m := scrape(t, mport)
	for name, want := range map[string]string{
		`authmilter_dmarc_report_events_total{result="queued"}`:             "4",
		`authmilter_dmarc_report_events_total{result="dropped_queue_full"}`: "0",
		`authmilter_dmarc_report_messages_total{result="stored"}`:           "4",
		`authmilter_dmarc_report_messages_total{result="spooled"}`:          "0",
		`authmilter_dmarc_reports`:                                          "0",
		`authmilter_dmarc_report_oldest_unsent_seconds`:                     "0",
	} {
		if got := metricValue(t, m, name); got != want {
			t.Errorf("%s = %q, want %s", name, got, want)
		}
	}
}

// TestDaemonReportsStoreDown: with the PostgreSQL store unreachable the
// daemon starts and mail flows; at SIGTERM the counts go to the spool; the
// next daemon (here with a reachable SQLite store) replays the spool, so
// the report counts every message.
func TestDaemonReportsStoreDown(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon")
	}
	srv := reportsDNS(t)
	dir := t.TempDir()
	down := strings.Replace(reportsSection(dir), "sqlite:"+dir+"/reports.db",
		fmt.Sprintf("postgres://authmilter@127.0.0.1:%d/reports?connect_timeout=2", freePort(t)), 1)
	d := startDaemon(t, srv.Addr, down)
	for i := 0; i < 3; i++ {
		if got := milterSend(t, d.Addr, "198.51.100.7", "a@other.test", "a@other.test"); got != byte(gomilter.ActAccept) {
			t.Fatalf("action %c with the store down", got)
		}
	}
	d.Stop(t)
	if !strings.Contains(d.log.String(), "store unavailable") || !strings.Contains(d.log.String(), "final flush failed") {
		t.Errorf("log lacks the store errors:\n%s", d.log.String())
	}
	if fi, err := os.Stat(filepath.Join(dir, "reports.spool")); err != nil || fi.Size() == 0 {
		t.Fatalf("spool: %v %v", fi, err)
	}

	d2 := startDaemon(t, srv.Addr, reportsSection(dir))
	waitForLog(t, d2, "report spool replayed")
	d2.Stop(t)
	got := dryRun(t, d2.cmd.Args[len(d2.cmd.Args)-1], time.Now().Add(25*time.Hour))
	if s := sortedCounts(got["other.test"]); s != "198.51.100.7/pass:3" {
		t.Errorf("other.test counts %s", s)
	}
}

// TestReportsCommands: status, list, show, show -xml and resend on a store
// filled directly, after send -dry-run built its report.
func TestReportsCommands(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "authmilter.toml")
	if err := os.WriteFile(conf, []byte(reportsSection(dir)), 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := openStore(context.Background(), "sqlite:"+dir+"/reports.db")
	if err != nil {
		t.Fatal(err)
	}
	day := time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC)
	b := report.NewBatch(24 * time.Hour)
	e := report.Event{Time: day, Policy: report.Policy{Domain: "example.com", P: "reject", SP: "reject", NP: "reject",
		ADKIM: "r", ASPF: "r", FO: "0", Discovery: "treewalk", RUA: []string{"mailto:d@example.com"}},
		SourceIP: netip.MustParseAddr("192.0.2.1"), HeaderFrom: "example.com", SPFAligned: true,
		SPF: report.SPFResult{Domain: "example.com", Result: "pass"}, Requested: "reject", Disposition: "pass"}
	for i := 0; i < 4; i++ {
		if err := b.Add(e); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.Record(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	st.Close()
	cmd := func(args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		if code := run(append([]string{"reports"}, args...), nil, &out, &errb); code != 0 {
			t.Fatalf("reports %v: exit %d: %s", args, code, errb.String())
		}
		return out.String()
	}
	if s := cmd("status", "-config", conf); !strings.Contains(s, "pending rows:     1 (4 messages") {
		t.Errorf("status: %s", s)
	}
	got := dryRun(t, conf, day.Add(25*time.Hour))
	if s := sortedCounts(got["example.com"]); s != "192.0.2.1/pass:4" {
		t.Errorf("counts %s", s)
	}
	l := cmd("list", "-config", conf)
	id, _, _ := strings.Cut(l, " ")
	if !strings.Contains(l, "example.com 2026-06-01T00:00Z 4 messages 1 rows mailto:d@example.com=pending") {
		t.Fatalf("list: %s", l)
	}
	if s := cmd("show", "-config", conf, id); !strings.Contains(s, "messages:      4") || !strings.Contains(s, "mailto:d@example.com pending") {
		t.Errorf("show: %s", s)
	}
	if s := cmd("show", "-config", conf, "-xml", id); !strings.Contains(s, "<report_id>"+id+"</report_id>") {
		t.Errorf("show -xml: %s", s)
	}
	if s := cmd("resend", "-config", conf, id); !strings.Contains(s, "pending again") {
		t.Errorf("resend: %s", s)
	}
	var out, errb bytes.Buffer
	if code := run([]string{"reports", "show", "-config", conf, "nosuch"}, nil, &out, &errb); code != 1 || !strings.Contains(errb.String(), "not found") {
		t.Errorf("show nosuch: exit %d %s", code, errb.String())
	}
}
