package main

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authmilter/authmilter/auth/dns/dnstest"
)

// failureE2EZone adds to sendZone two domains whose records ask for
// failure reports at rcpt.test (the test Postfix's mailbox domain):
// fail.test's destination agrees (RFC 9990 §4), unver.test's has no
// agreement record and so must get nothing.
const failureE2EZone = `
fail.test.                          TXT "v=spf1 ip4:127.0.0.1 -all"
_dmarc.fail.test.                   TXT "v=DMARC1; p=reject; ruf=mailto:ruf@rcpt.test"
fail.test._report._dmarc.rcpt.test. TXT "v=DMARC1"
unver.test.                         TXT "v=spf1 ip4:127.0.0.1 -all"
_dmarc.unver.test.                  TXT "v=DMARC1; p=reject; ruf=mailto:ruf-unver@rcpt.test"
`

// The original's local-parts: none may appear in a report.
var failureSecrets = []string{"zqenvsender", "zqauthor", "zqrecipient", "Zq Author", "Zq Recipient"}

// TestEndToEndFailureReport: the daemon with failure reports on and the
// private Postfix as its relay. A message from 127.0.0.2 that fails DMARC
// for fail.test (p=reject, ruf at a verified destination) is rejected and
// its failure report goes through the same Postfix (and so through the
// daemon, where its DKIM signature passes) to the local mailbox. The
// delivered report is an RFC 6591 AFRF: multipart/report with a
// message/feedback-report part (Feedback-Type auth-failure, Auth-Failure
// dmarc, Identity-Alignment, Reported-Domain, Source-IP) and a
// text/rfc822-headers part; no local-part of the original's envelope
// sender, From or To survives anywhere in it, raw or decoded. The same
// failure for unver.test, whose destination did not agree, sends nothing.
func TestEndToEndFailureReport(t *testing.T) {
	needMTA(t, "postfix", "/usr/sbin/postfix")
	t.Parallel()
	zone, keyFile := sendZone(t)
	srv, err := dnstest.Start(zone + failureE2EZone)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	// Postfix first, pointed at the milter port the daemon will take: the
	// daemon needs Postfix's address as its relay.
	port, metricsPort := freePort(t), freePort(t)
	m := startPostfix(t, fmt.Sprintf("127.0.0.1:%d", port))
	conf := sendConfig(t.TempDir(), m.Addr, keyFile, "failure_enabled = true\n") +
		fmt.Sprintf("[metrics]\nlisten = \"127.0.0.1:%d\"\n", metricsPort)
	d := startDaemonAt(t, port, srv.Addr, conf)

	// unver.test first: the Sender takes its queue in order, so once
	// fail.test's report is delivered, unver.test's was decided.
	for _, domain := range []string{"unver.test", "fail.test"} {
		h := []string{
			"From: Zq Author <zqauthor.x@" + domain + ">",
			"To: Zq Recipient <zqrecipient.y@rcpt.test>",
			"Subject: note for zqauthor.x@" + domain,
			fmt.Sprintf("Message-ID: <f%d@%s>", time.Now().UnixNano(), domain),
		}
		r := dialSMTP(t, m, "127.0.0.2", "client.test").Send(t, "zqenvsender.z@"+domain, "zqrecipient.y@rcpt.test", message(h, "Secret body.\n"))
		if !strings.HasPrefix(r, "550") {
			t.Fatalf("%s: reply %q, want 550 (SPF fail, no DKIM: DMARC fail, p=reject)", domain, r)
		}
	}

	raw := m.Delivered(t, "Feedback-Type: auth-failure")
	fb, parts := parseAFRF(t, []byte(raw))
	for k, want := range map[string]string{
		"Feedback-Type": "auth-failure", "Auth-Failure": "dmarc", "Reported-Domain": "fail.test",
		"Source-IP": "127.0.0.2", "Identity-Alignment": "dkim, spf", "Delivery-Result": "reject",
	} {
		if got := fb.Get(k); got != want {
			t.Errorf("feedback %s: %q, want %q", k, got, want)
		}
	}
	if o := fb.Get("Original-Mail-From"); !strings.HasPrefix(o, "<redacted-") || !strings.HasSuffix(o, "@fail.test>") {
		t.Errorf("Original-Mail-From %q, want a redacted local-part at fail.test", o)
	}
	if h := parts["text/rfc822-headers"]; !strings.Contains(h, "@fail.test>") || !strings.Contains(h, "Subject:") {
		t.Errorf("text/rfc822-headers part lacks the original's (redacted) From or its Subject:\n%s", h)
	}
	msg, _ := mail.ReadMessage(strings.NewReader(raw))
	if to, err := mail.ParseAddress(msg.Header.Get("To")); err != nil || to.Address != "ruf@rcpt.test" {
		t.Errorf("report To %q, want ruf@rcpt.test", msg.Header.Get("To"))
	}
	if !strings.Contains(raw, "dkim=pass") || !strings.Contains(raw, "header.d=receiver.test") {
		t.Errorf("delivered report lacks dkim=pass for receiver.test:\n%s", tail(raw, 2000))
	}
	everything := raw
	for _, p := range parts {
		everything += "\n" + p
	}
	for _, s := range failureSecrets {
		if strings.Contains(strings.ToLower(everything), strings.ToLower(s)) {
			t.Errorf("delivered report contains the original's %q:\n%s", s, raw)
		}
	}

	// Nothing for unver.test: no other report arrives, and the metric
	// counts the suppression.
	time.Sleep(time.Second)
	if n := countFailureReports(t, m); n != 1 {
		t.Errorf("%d failure reports delivered, want 1 (fail.test only)", n)
	}
	ex := scrape(t, metricsPort)
	if v := metricValue(t, ex, `authmilter_dmarc_failure_reports_total{result="suppressed_unverified"}`); v != "1" {
		t.Errorf("suppressed_unverified = %q, want 1", v)
	}
	if v := metricValue(t, ex, `authmilter_dmarc_failure_reports_total{result="sent"}`); v != "1" {
		t.Errorf("sent = %q, want 1", v)
	}
	d.Stop(t)
}

// parseAFRF parses a delivered failure report as a reader would: the
// feedback fields and each part's body by Content-Type, transfer
// encodings decoded.
func parseAFRF(t *testing.T, raw []byte) (mail.Header, map[string]string) {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/report" || params["report-type"] != "feedback-report" {
		t.Fatalf("Content-Type %q", msg.Header.Get("Content-Type"))
	}
	parts := map[string]string{}
	var fb mail.Header
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		var body []byte
		switch strings.ToLower(p.Header.Get("Content-Transfer-Encoding")) {
		case "base64":
			b, _ := io.ReadAll(p)
			if body, err = decodeBase64(b); err != nil {
				t.Fatal(err)
			}
		case "quoted-printable":
			body, err = io.ReadAll(quotedprintable.NewReader(p))
		default:
			body, err = io.ReadAll(p)
		}
		if err != nil {
			t.Fatal(err)
		}
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		parts[ct] = string(body)
		if ct == "message/feedback-report" {
			m, err := mail.ReadMessage(bytes.NewReader(append(body, "\r\n"...)))
			if err != nil {
				t.Fatal(err)
			}
			fb = m.Header
		}
	}
	for _, ct := range []string{"text/plain", "message/feedback-report", "text/rfc822-headers"} {
		if _, ok := parts[ct]; !ok {
			t.Errorf("no %s part; parts %v", ct, keys(parts))
		}
	}
	if fb == nil {
		t.Fatal("no feedback fields")
	}
	return fb, parts
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// countFailureReports counts the failure reports in m's mailbox.
func countFailureReports(t *testing.T, m *mta) int {
	t.Helper()
	n := 0
	filepath.Walk(m.mailDir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return nil
		}
		if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, []byte("Feedback-Type: auth-failure")) {
			n++
		}
		return nil
	})
	return n
}
