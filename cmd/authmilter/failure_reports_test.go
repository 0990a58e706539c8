package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	gomilter "github.com/emersion/go-milter"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/authmilter/authmilter/auth"
	"github.com/authmilter/authmilter/auth/dmarc"
	"github.com/authmilter/authmilter/auth/dns"
	"github.com/authmilter/authmilter/auth/dns/dnstest"
	"github.com/authmilter/authmilter/milter"
)

// recordingMailer is a fake failure.Mailer.
type recordingMailer struct {
	mu   sync.Mutex
	msgs []recordedMail
}

type recordedMail struct {
	from string
	to   []string
	msg  []byte
}

func (m *recordingMailer) Send(_ context.Context, from string, to []string, msg []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.msgs = append(m.msgs, recordedMail{from, to, msg})
	return nil
}

func (m *recordingMailer) sent() []recordedMail {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]recordedMail(nil), m.msgs...)
}

// failureZone: every domain publishes SPF for 198.51.100.0/24; the DMARC
// records differ in ruf, fo and psd.
const failureZone = `
fo0.test. TXT "v=spf1 ip4:198.51.100.0/24 -all"
_dmarc.fo0.test. TXT "v=DMARC1; p=reject; ruf=mailto:ruf@fo0.test"
fo1.test. TXT "v=spf1 ip4:198.51.100.0/24 -all"
_dmarc.fo1.test. TXT "v=DMARC1; p=none; ruf=mailto:ruf@fo1.test; fo=1"
psdy.test. TXT "v=spf1 ip4:198.51.100.0/24 -all"
_dmarc.psdy.test. TXT "v=DMARC1; p=none; psd=y; ruf=mailto:ruf@psdy.test; fo=1"
unv.test. TXT "v=spf1 ip4:198.51.100.0/24 -all"
_dmarc.unv.test. TXT "v=DMARC1; p=none; ruf=mailto:ruf@elsewhere.test; fo=1"
other.test. TXT "v=spf1 ip4:198.51.100.0/24 -all"
spffail.test. TXT "v=spf1 -all"
_dmarc.spffail.test. TXT "v=DMARC1; p=quarantine; ruf=mailto:ruf@spffail.test"
`

// startFailureDaemon runs the daemon's milter side in process, with
// failure reports on, a fake Mailer and a fake Verifier that refuses
// elsewhere.test.
func startFailureDaemon(t *testing.T, ratePerHour int) (addr string, m *recordingMailer, rep *reporter) {
	t.Helper()
	_, res := dnstest.StartResolver(t, failureZone)
	dir := t.TempDir()
	cfg := defaultConfig()
	cfg.AuthservID, cfg.HostName = "mx.rcpt.test", "mx.rcpt.test"
	cfg.Reports.Enabled, cfg.Reports.OrgName, cfg.Reports.Email = true, "Receiver", "dmarc@rcpt.test"
	cfg.Reports.Store, cfg.Reports.Spool = "sqlite:"+filepath.Join(dir, "reports.db"), filepath.Join(dir, "spool")
	cfg.Reports.FailureEnabled, cfg.Reports.FailureRatePerHour = true, ratePerHour
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	workers := milter.NewWorkers()
	t.Cleanup(workers.Stop)
	_, ev, err := build(cfg, log, res, workers.Go)
	if err != nil {
		t.Fatal(err)
	}
	rep, err = newReporter(cfg.Reports, log)
	if err != nil {
		t.Fatal(err)
	}
	m = &recordingMailer{}
	verify := func(_ context.Context, policyDomain, uri string) (bool, error) {
		return !strings.Contains(uri, "elsewhere.test"), nil
	}
	if rep.fail, err = newFailureReporter(cfg.Reports, cfg.HostName, m, verify, res.LookupTXT, log); err != nil {
		t.Fatal(err)
	}
	srv, err := milter.NewServer(cfg.Milter, ev, workers.Go, log, reportingObserver{newMetrics(res), rep})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() {
		srv.Shutdown(context.Background())
		rep.stop(log, 5*time.Second)
	})
	return ln.Addr().String(), m, rep
}

// sendMilter sends one message through the milter as an MTA would.
func sendMilter(t *testing.T, addr, clientIP, mailFrom string, header [][2]string) {
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
	if _, err := s.Conn("client.test", gomilter.FamilyInet, 4321, clientIP); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Helo("client.test"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Mail("<"+mailFrom+">", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Rcpt("<victim.user@rcpt.test>", nil); err != nil {
		t.Fatal(err)
	}
	for _, f := range header {
		if _, err := s.HeaderField(f[0], f[1]); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.HeaderEnd(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.BodyChunk([]byte("secret body text\r\n")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.End(); err != nil {
		t.Fatal(err)
	}
}

func fromHeader(domain string) [][2]string {
	return [][2]string{
		{"From", " Secret Person <secret.person@" + domain + ">"},
		{"To", " Victim User <victim.user@rcpt.test>"},
		{"Subject", " mail for secret.person@" + domain},
		{"Message-ID", " <m1@" + domain + ">"},
	}
}

// TestFailureReportsDaemon: through the milter, with a fake Mailer and
// Verifier: fo=0 reports only a DMARC failure, fo=1 any mechanism without
// an aligned pass, psd=y and unverified destinations never, the rate limit
// holds per destination, and nothing of the original local-parts or body
// is in a report.
func TestFailureReportsDaemon(t *testing.T) {
	addr, m, rep := startFailureDaemon(t, 2)
	stats := func() string {
		s := rep.fail.s.Stats()
		return strings.Join([]string{"sent", itoa(s.Sent), "unverified", itoa(s.Unverified), "rate", itoa(s.RateLimited),
			"merged", itoa(s.Merged), "notreq", itoa(s.NotRequested)}, " ")
	}
	steps := []struct {
		name, ip, mailFrom, domain string
		want                       string // stats after the step
	}{
		{"fo=0, SPF aligned pass: none", "198.51.100.7", "secret.sender@fo0.test", "fo0.test",
			"sent 0 unverified 0 rate 0 merged 0 notreq 1"},
		{"fo=0, nothing aligned: report", "198.51.100.7", "secret.sender@other.test", "fo0.test",
			"sent 1 unverified 0 rate 0 merged 0 notreq 1"},
		{"fo=1, SPF aligned but no DKIM: report", "198.51.100.7", "secret.sender@fo1.test", "fo1.test",
			"sent 2 unverified 0 rate 0 merged 0 notreq 1"},
		{"psd=y: never", "198.51.100.7", "secret.sender@other.test", "psdy.test",
			"sent 2 unverified 0 rate 0 merged 0 notreq 2"},
		{"unverified destination: never", "198.51.100.7", "secret.sender@other.test", "unv.test",
			"sent 2 unverified 1 rate 0 merged 0 notreq 2"},
		{"fo=0 again from the same IP: merged", "198.51.100.7", "secret.sender@other.test", "fo0.test",
			"sent 2 unverified 1 rate 0 merged 1 notreq 2"},
		{"fo=0 from another IP: the second in the hour", "198.51.100.8", "secret.sender@other.test", "fo0.test",
			"sent 3 unverified 1 rate 0 merged 1 notreq 2"},
		{"fo=0 from a third IP: over the rate", "198.51.100.9", "secret.sender@other.test", "fo0.test",
			"sent 3 unverified 1 rate 1 merged 1 notreq 2"},
		{"aligned SPF fail: report with SPF-DNS", "198.51.100.7", "secret.sender@spffail.test", "spffail.test",
			"sent 4 unverified 1 rate 1 merged 1 notreq 2"},
	}
	for _, st := range steps {
		sendMilter(t, addr, st.ip, st.mailFrom, fromHeader(st.domain))
		deadline := time.Now().Add(10 * time.Second)
		for stats() != st.want {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %s, want %s", st.name, stats(), st.want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	// The metrics say the same.
	reg := prometheus.NewRegistry()
	reg.MustRegister(failureCollector{rep.fail})
	mfs, err := reg.Gather()
	if err != nil || len(mfs) != 1 || mfs[0].GetName() != "authmilter_dmarc_failure_reports_total" {
		t.Fatalf("gather: %v %v", mfs, err)
	}
	got := map[string]float64{}
	for _, m := range mfs[0].GetMetric() {
		got[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
	}
	for k, want := range map[string]float64{"queued": 9, "sent": 4, "suppressed_unverified": 1, "suppressed_rate": 1,
		"merged": 1, "not_requested": 2, "dropped_queue_full": 0} {
		if got[k] != want {
			t.Errorf("metric result=%q: %v, want %v", k, got[k], want)
		}
	}

	sent := m.sent()
	wantTo := []string{"ruf@fo0.test", "ruf@fo1.test", "ruf@fo0.test", "ruf@spffail.test"}
	for i, x := range sent {
		if len(x.to) != 1 || x.to[0] != wantTo[i] || x.from != "dmarc@rcpt.test" {
			t.Errorf("report %d: %s → %v, want → %s", i, x.from, x.to, wantTo[i])
		}
		for _, secret := range []string{"secret.person", "secret.sender", "victim.user", "Secret Person", "Victim User", "secret body"} {
			if bytes.Contains(x.msg, []byte(secret)) {
				t.Errorf("report %d contains %q:\n%s", i, secret, x.msg)
			}
		}
		checkAFRF(t, x.msg)
	}
	fb := checkAFRF(t, sent[0].msg)
	if fb.Get("Identity-Alignment") != "dkim, spf" || fb.Get("Reported-Domain") != "fo0.test" || fb.Get("Source-IP") != "198.51.100.7" ||
		fb.Get("Delivery-Result") != "reject" || !strings.HasSuffix(fb.Get("Original-Mail-From"), "@other.test>") {
		t.Errorf("fo=0 report fields: %v", fb)
	}
	if fb.Get("Source-Port") != "4321" {
		t.Errorf("Source-Port %q, want the client's 4321", fb.Get("Source-Port"))
	}
	if fb.Get("SPF-DNS") != "" {
		t.Errorf("SPF-DNS %q, but SPF was not for an aligned domain", fb.Get("SPF-DNS"))
	}
	if fb := checkAFRF(t, sent[1].msg); fb.Get("Identity-Alignment") != "dkim" || fb.Get("Delivery-Result") != "delivered" {
		t.Errorf("fo=1 report fields: %v", fb)
	}
	if fb := checkAFRF(t, sent[3].msg); fb.Get("SPF-DNS") != `txt : spffail.test : "v=spf1 -all"` || fb.Get("Delivery-Result") != "spam" {
		t.Errorf("SPF-DNS %q, Delivery-Result %q", fb.Get("SPF-DNS"), fb.Get("Delivery-Result"))
	}
}

// checkAFRF parses a report as a reader would and returns its feedback
// fields.
func checkAFRF(t *testing.T, b []byte) mail.Header {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/report" || params["report-type"] != "feedback-report" {
		t.Fatalf("Content-Type %q", msg.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	var types []string
	var fb mail.Header
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(p)
		types = append(types, p.Header.Get("Content-Type"))
		if p.Header.Get("Content-Type") == "message/feedback-report" {
			m, err := mail.ReadMessage(bytes.NewReader(append(body, "\r\n"...)))
			if err != nil {
				t.Fatal(err)
			}
			fb = m.Header
		}
	}
	if len(types) != 3 || fb.Get("Feedback-Type") != "auth-failure" || fb.Get("Auth-Failure") != "dmarc" {
		t.Fatalf("parts %q, feedback %v", types, fb)
	}
	return fb
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

// TestFailureReportsHotPath: a message without a ruf record allocates
// nothing on the failure-report path; hasRUF finds the tag however it is
// written.
func TestFailureReportsHotPath(t *testing.T) {
	f := &failureReporter{}
	r := &auth.Report{PerAuthor: []dmarc.Result{{Result: "fail", RecordDomain: "example.com", Record: "v=DMARC1; p=reject; rua=mailto:a@example.com"}}}
	if n := testing.AllocsPerRun(200, func() { f.messageDone(r, "reject") }); n != 0 {
		t.Errorf("%.1f allocations per message without ruf, want 0", n)
	}
	for rec, want := range map[string]bool{
		"v=DMARC1; p=none; ruf=mailto:a@b":   true,
		"v=DMARC1;RUF = mailto:a@b":          true,
		"v=DMARC1; p=none; rua=mailto:ruf@b": false,
		"v=DMARC1; p=none; xruf=1":           false,
		"v=DMARC1; p=none; ruf":              false,
	} {
		if hasRUF(rec) != want {
			t.Errorf("hasRUF(%q) = %v", rec, !want)
		}
	}
}

// TestFailureReportsConfig: the failure_* keys are validated, failure
// reports need reports.enabled, and the header is kept only when they are
// on.
func TestFailureReportsConfig(t *testing.T) {
	for _, c := range []struct {
		mod  func(*ReportsConfig)
		want string
	}{
		{func(r *ReportsConfig) { r.FailureRatePerHour = 0 }, "reports.failure_rate_per_hour:"},
		{func(r *ReportsConfig) { r.FailureMerge = -time.Second }, "reports.failure_merge:"},
		{func(r *ReportsConfig) { r.FailureQueueLen = 0 }, "reports.failure_queue_len:"},
		{func(r *ReportsConfig) { r.FailureHeaderBytes = 100 }, "reports.failure_header_bytes:"},
		{func(r *ReportsConfig) { r.FailureEnabled = true }, "reports.failure_enabled: needs reports.enabled"},
	} {
		r := defaultReports()
		c.mod(&r)
		if err := r.validate(); err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("error %v, want %s", err, c.want)
		}
	}
	r := defaultReports()
	if r.keepHeaderBytes() != 0 {
		t.Error("header kept with failure reports off")
	}
	r.Enabled, r.FailureEnabled = true, true
	if r.keepHeaderBytes() != 16<<10 {
		t.Errorf("keepHeaderBytes %d", r.keepHeaderBytes())
	}
	cfg := defaultConfig()
	cfg.Reports = r
	cfg.Reports.SMTP = ""
	if err := (&reporter{}).startFailure(cfg, nil, slog.New(slog.DiscardHandler), nil); err == nil || !strings.Contains(err.Error(), "reports.smtp") {
		t.Errorf("startFailure without a relay: %v", err)
	}
}

// failTXT answers TXT queries from a map; a name mapped to nil is a
// temporary failure, a missing one NXDOMAIN.
type failTXT map[string][]string

func (r failTXT) LookupTXT(_ context.Context, name string) ([]string, error) {
	txt, ok := r[name]
	switch {
	case !ok:
		return nil, dns.ErrNXDomain
	case txt == nil:
		return nil, dns.ErrTemporary
	}
	return txt, nil
}

// TestFailureVerifier: the failure Sender's Verifier is send.Verify, and a
// destination counts only when the owner's record names it.
func TestFailureVerifier(t *testing.T) {
	v := verifier(failTXT{
		"example.com._report._dmarc.reports.test":  {"v=DMARC1;"},
		"example.com._report._dmarc.override.test": {"v=DMARC1; rua=mailto:other@override.test"},
		"example.com._report._dmarc.flaky.test":    nil,
	})
	for _, c := range []struct {
		uri     string
		ok, err bool
	}{
		{"mailto:ruf@example.com", true, false},   // same organization: no query
		{"mailto:ruf@reports.test", true, false},  // verified
		{"mailto:ruf@nowhere.test", false, false}, // no record: never sent
		{"mailto:ruf@override.test", false, false},
		{"mailto:ruf@flaky.test", false, true}, // temporary: try later
		{"https://reports.test/x", false, false},
	} {
		ok, err := v(context.Background(), "example.com", c.uri)
		if ok != c.ok || (err != nil) != c.err {
			t.Errorf("%s: ok %v err %v, want ok %v err %v", c.uri, ok, err, c.ok, c.err)
		}
	}
}

// TestFailureReportsNotForOwnReports: our own report mail (envelope
// sender reports.from, as ownReport knows it) that fails DMARC for a
// domain with ruf gets no failure report: a report about a report would
// itself be checked on its way out and could be reported again, a loop
// that only the rate limit would end. Aggregate counts skip it likewise.
func TestFailureReportsNotForOwnReports(t *testing.T) {
	addr, m, rep := startFailureDaemon(t, 100)
	sendMilter(t, addr, "198.51.100.7", "dmarc@rcpt.test", fromHeader("fo0.test")) // ours: nothing
	sendMilter(t, addr, "198.51.100.8", "secret.sender@other.test", fromHeader("fo0.test"))
	deadline := time.Now().Add(10 * time.Second)
	for rep.fail.s.Stats().Sent == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if s := rep.fail.s.Stats(); s.Queued != 1 || s.Sent != 1 {
		t.Errorf("queued %d, sent %d; want 1 and 1 (our own report mail not offered)", s.Queued, s.Sent)
	}
	if q := rep.agg.Stats().Queued; q != 1 {
		t.Errorf("aggregate counts: %d messages queued, want 1 (our own report mail not counted)", q)
	}
	if sent := m.sent(); len(sent) == 1 {
		if fb := checkAFRF(t, sent[0].msg); fb.Get("Source-IP") != "198.51.100.8" {
			t.Errorf("the report is about %s, want 198.51.100.8", fb.Get("Source-IP"))
		}
	}
}
