package auth_test

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/authmilter/authmilter/auth"
	"github.com/authmilter/authmilter/auth/dns/dnstest"
	"github.com/authmilter/authmilter/auth/policy"
	"github.com/authmilter/authmilter/auth/tlsreq"
)

// TestTLSRecorded: the session's transport, the client certificate's state
// where it is known, REQUIRETLS and "TLS-Required: No" are written in our
// Authentication-Results (x-tls); unknown transport (a check command
// without TLS facts) writes nothing.
func TestTLSRecorded(t *testing.T) {
	_, r := dnstest.StartResolver(t, `example.org. TXT "v=spf1 ip4:192.0.2.1 -all"`)
	cfg := auth.DefaultConfig()
	cfg.AuthservID = "mx.test"
	ev, err := auth.New(cfg, r, nil)
	if err != nil {
		t.Fatal(err)
	}
	tls13 := auth.TLS{Version: "TLSv1.3", Cipher: "TLS_AES_256_GCM_SHA384", Bits: "256"}
	verified := tls13
	verified.Cert, verified.Subject, verified.Issuer = auth.CertVerified, "mail.example.org", "Test CA"
	failed := tls13
	failed.Cert, failed.CertDetail = auth.CertFailed, "FAIL"
	msg := "From: a@example.org\r\nSubject: x\r\n\r\nx\r\n"
	for _, tc := range []struct {
		name       string
		tls        *auth.TLS
		requireTLS bool
		msg        string
		want       string // the x-tls resinfo, unfolded; "" for none
	}{
		{"unknown", nil, false, msg, ""},
		{"plaintext", &auth.TLS{}, false, msg, "x-tls=none"},
		{"tls", &tls13, false, msg, "x-tls=pass smtp.version=TLSv1.3 smtp.cipher=TLS_AES_256_GCM_SHA384 smtp.bits=256"},
		{"verified certificate", &verified, false, msg,
			"x-tls=pass (client certificate mail.example.org issued by Test CA verified) smtp.version=TLSv1.3 smtp.cipher=TLS_AES_256_GCM_SHA384 smtp.bits=256"},
		{"failed certificate", &failed, false, msg,
			"x-tls=pass (client certificate not verified \\(FAIL\\)) smtp.version=TLSv1.3 smtp.cipher=TLS_AES_256_GCM_SHA384 smtp.bits=256"},
		{"REQUIRETLS and TLS-Required: No", &tls13, true, "TLS-Required:  no \r\n" + msg,
			"x-tls=pass smtp.version=TLSv1.3 smtp.cipher=TLS_AES_256_GCM_SHA384 smtp.bits=256 smtp.requiretls=yes header.tls-required=no"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := auth.Envelope{ClientIP: net.ParseIP("192.0.2.1"), Helo: "mail.example.org", MailFrom: "a@example.org", TLS: tc.tls, RequireTLS: tc.requireTLS}
			rep, err := ev.EvaluateReader(context.Background(), env, strings.NewReader(tc.msg))
			if err != nil {
				t.Fatal(err)
			}
			h := strings.ReplaceAll(rep.Header, "\r\n\t", " ")
			_, x, found := strings.Cut(h, "; x-tls=")
			if tc.want == "" {
				if found || strings.Contains(h, "x-tls") {
					t.Errorf("x-tls for unknown transport: %q", h)
				}
				return
			}
			if "x-tls="+x != tc.want {
				t.Errorf("got  %q\nwant %q", "x-tls="+x, tc.want)
			}
			if rep.TLSRequiredNo != strings.Contains(tc.msg, "TLS-Required") {
				t.Errorf("TLSRequiredNo = %v", rep.TLSRequiredNo)
			}
		})
	}
}

// TestTLSRequire: a [[tls.require]] rule acts (450 4.7.1 by default) only
// when SPF proves the host sends for the MAIL FROM domain; the null sender
// and TLS reports are exempt; a met rule changes nothing.
func TestTLSRequire(t *testing.T) {
	_, r := dnstest.StartResolver(t, `example.org. TXT "v=spf1 ip4:192.0.2.1 -all"
_dmarc.example.org. TXT "v=DMARC1; p=none"
mail.example.org. TXT "v=spf1 ip4:192.0.2.1 -all"`)
	cfg := auth.DefaultConfig()
	cfg.AuthservID = "mx.test"
	cfg.TLS.Require = []tlsreq.Rule{{Domain: "example.org"}}
	ev, err := auth.New(cfg, r, nil)
	if err != nil {
		t.Fatal(err)
	}
	msg := "From: a@example.org\r\nSubject: x\r\n\r\nx\r\n"
	for _, tc := range []struct {
		name, ip, from, msg string
		tls                 *auth.TLS
		action              policy.Action
		status              tlsreq.Status
		xtls                string
	}{
		{"plaintext from the domain's host", "192.0.2.1", "a@example.org", msg, &auth.TLS{}, policy.Tempfail, tlsreq.Enforced, "x-tls=fail"},
		{"TLS from the domain's host", "192.0.2.1", "a@example.org", msg, &auth.TLS{Version: "TLSv1.2"}, policy.Accept, tlsreq.Met, "x-tls=pass"},
		{"plaintext from another host", "198.51.100.7", "a@example.org", msg, &auth.TLS{}, policy.Accept, tlsreq.Recorded, "x-tls=fail (example.org requires TLS: no TLS)"},
		{"null sender", "192.0.2.1", "", msg, &auth.TLS{}, policy.Accept, tlsreq.Exempt, "x-tls=none"},
		{"TLS report", "192.0.2.1", "a@example.org", "TLS-Report-Domain: example.net\r\n" + msg, &auth.TLS{}, policy.Accept, tlsreq.Exempt, "x-tls=none"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := auth.Envelope{ClientIP: net.ParseIP(tc.ip), Helo: "mail.example.org", MailFrom: tc.from, TLS: tc.tls}
			rep, err := ev.EvaluateReader(context.Background(), env, strings.NewReader(tc.msg))
			if err != nil {
				t.Fatal(err)
			}
			d := rep.Decision
			if d.Action != tc.action || rep.TLSRequire.Status != tc.status {
				t.Errorf("action %q status %q (reason %q), want %q %q", d.Action, rep.TLSRequire.Status, d.Reason, tc.action, tc.status)
			}
			if tc.action == policy.Tempfail && (d.Code != "450" || d.Enhanced != "4.7.1" || d.Text != "TLS is required for mail from example.org") {
				t.Errorf("reply %s %s %s", d.Code, d.Enhanced, d.Text)
			}
			if h := strings.ReplaceAll(rep.Header, "\r\n\t", " "); !strings.Contains(h, tc.xtls) {
				t.Errorf("header %q lacks %q", h, tc.xtls)
			}
		})
	}
}
