package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestCheckMessageTLS: the TLS flags give check message the facts the
// milter reads from the MTA's macros; -json, the text report and the
// Authentication-Results say the same, and a tls.require rule decides as
// in the daemon.
func TestCheckMessageTLS(t *testing.T) {
	w := newE2EWorld(t)
	msg := message([]string{"From: Alice <alice@pass.test>", "To: u@rcpt.test", "Subject: x", "TLS-Required: No"}, "Hi.\n")
	cfg := t.TempDir() + "/c.toml"
	writeFile(cfg, "authserv_id = \"check.test\"\ntrusted_networks = []\n[[tls.require]]\ndomain = \"pass.test\"\nlevel = \"verified-cert\"\ncert_name = \"mail.pass.test\"\n")
	args := []string{"-ip", "127.0.0.1", "-helo", "client.test", "-mail-from", "bounce@pass.test", "-dns", w.dns.Addr, "-dns-timeout", "1s", "-config", cfg}
	type js struct {
		Action                string `json:"action"`
		SMTPCode              string `json:"smtp_code"`
		AuthenticationResults string `json:"authentication_results"`
		TLS                   *struct {
			Version     string `json:"version"`
			Cipher      string `json:"cipher"`
			Bits        string `json:"bits"`
			ClientCert  string `json:"client_cert"`
			CertSubject string `json:"client_cert_subject"`
			RequireTLS  bool   `json:"requiretls"`
			TLSReqNo    bool   `json:"tls_required_no"`
			Require     *struct{ Status, Domain, Shortfall, Proof, Action string }
		} `json:"tls"`
	}
	runJSON := func(extra ...string) js {
		t.Helper()
		out, errs, code := runCheckMessage(t, msg, append(append(append([]string{}, args...), extra...), "-json")...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		var j js
		if err := json.Unmarshal([]byte(out), &j); err != nil {
			t.Fatalf("%v:\n%s", err, out)
		}
		return j
	}
	j := runJSON("-tls", "TLSv1.3", "-tls-cipher", "TLS_AES_256_GCM_SHA384", "-tls-bits", "256", "-tls-cert", "verified",
		"-tls-cert-subject", "mail.pass.test", "-tls-cert-issuer", "Test CA", "-requiretls")
	if j.TLS == nil || j.TLS.Version != "TLSv1.3" || j.TLS.Bits != "256" || j.TLS.ClientCert != "verified" || j.TLS.CertSubject != "mail.pass.test" ||
		!j.TLS.RequireTLS || !j.TLS.TLSReqNo || j.TLS.Require == nil || j.TLS.Require.Status != "met" || j.Action != "accept" {
		t.Errorf("verified: %+v %+v", j, j.TLS)
	}
	ar := strings.ReplaceAll(j.AuthenticationResults, "\n\t", " ")
	if !strings.Contains(ar, "x-tls=pass (client certificate mail.pass.test issued by Test CA verified) smtp.version=TLSv1.3 smtp.cipher=TLS_AES_256_GCM_SHA384 smtp.bits=256 smtp.requiretls=yes header.tls-required=no") {
		t.Errorf("A-R %s", ar)
	}
	j = runJSON("-tls", "none")
	if j.TLS == nil || j.TLS.Version != "none" || j.TLS.Require == nil || j.TLS.Require.Status != "enforced" || j.TLS.Require.Proof != "spf" ||
		j.Action != "tempfail" || j.SMTPCode != "450" || !strings.Contains(j.AuthenticationResults, "x-tls=fail") {
		t.Errorf("plaintext: %+v %+v", j, j.TLS)
	}
	// Transport unknown: no x-tls, and the rule is not judged.
	j = runJSON()
	if strings.Contains(j.AuthenticationResults, "x-tls") || j.TLS == nil || j.TLS.Version != "unknown" || j.TLS.Require != nil || j.Action != "accept" {
		t.Errorf("unknown: %+v %+v", j, j.TLS)
	}
	out, _, _ := runCheckMessage(t, msg, append(append([]string{}, args...), "-tls", "TLSv1.2", "-tls-cert", "none")...)
	if !strings.Contains(out, "tls:   TLSv1.2 client certificate none\n") || !strings.Contains(out, "tls.require pass.test: enforced (TLS and a verified client certificate; no verified client certificate)") {
		t.Errorf("text report:\n%s", out)
	}
	for _, bad := range [][]string{{"-tls-cipher", "x"}, {"-tls", "none", "-tls-bits", "1"}, {"-tls", "TLSv1.3", "-tls-cert", "maybe"},
		{"-tls", "TLSv1.3", "-tls-cert-subject", "x"}} {
		if _, errs, code := runCheckMessage(t, msg, append(append([]string{}, args...), bad...)...); code != 2 || errs == "" {
			t.Errorf("%v: exit %d %q", bad, code, errs)
		}
	}
}

// TestTLSConfigErrorsNameTheKey: [tls] errors name the key, the rule's
// index included.
func TestTLSConfigErrorsNameTheKey(t *testing.T) {
	for _, c := range []struct{ file, key string }{
		{"[[tls.require]]\ndomain = \"a.example\"\nlevel = \"cert\"\n", "tls.require.level"},
		{"[[tls.require]]\ndomain = \"a.example\"\n[[tls.require]]\ndomain = \"a.example\"\n", "tls.require[1].domain"},
		{"[[tls.require]]\ndomain = \"a.example\"\naction = \"drop\"\n", "tls.require"},
		{"[[tls.require]]\ndomain = \"a.example\"\nmin_version = \"1.3\"\n", "tls.require[0].min_version"},
		{"[tls]\ntempfail_code = \"550\"\n", "tls.tempfail_code"},
	} {
		wantConfigError(t, c.file, c.key)
	}
	path := t.TempDir() + "/c.toml"
	writeFile(path, "[[tls.require]]\ndomain = \"Partner.Example\"\nlevel = \"verified-cert\"\ncert_name = \"mail.partner.example\"\nmin_version = \"TLSv1.2\"\naction = \"reject\"\n")
	cfg, err := loadConfig(path)
	if err != nil || len(cfg.TLS.Require) != 1 || cfg.TLS.Require[0].Domain != "partner.example" || cfg.TLS.Require[0].Action != "reject" {
		t.Errorf("%v %+v", err, cfg.TLS.Require)
	}
}
