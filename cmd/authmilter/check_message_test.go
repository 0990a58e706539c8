package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"
)

func runCheckMessage(t *testing.T, msg []byte, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(append([]string{"check", "message"}, args...), bytes.NewReader(msg), &out, &errb)
	return out.String(), errb.String(), code
}

// TestCheckMessageJSON pins the public -json fields of "check message".
func TestCheckMessageJSON(t *testing.T) {
	w := newE2EWorld(t)
	msg := w.sign(t, message([]string{"From: Alice <alice@pass.test>", "To: u@rcpt.test", "Subject: x"}, "Hi.\n"), dkim.CanonicalizationRelaxed)
	cfg := t.TempDir() + "/c.toml"
	writeFile(cfg, "authserv_id = \"check.test\"\ntrusted_networks = []\n")
	out, errs, code := runCheckMessage(t, msg, "-ip", "127.0.0.1", "-helo", "client.test", "-mail-from", "bounce@pass.test",
		"-dns", w.dns.Addr, "-dns-timeout", "1s", "-config", cfg, "-json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	str := func(path ...string) string {
		var v any = got
		for _, p := range path {
			m, ok := v.(map[string]any)
			if !ok {
				return "<missing>"
			}
			v = m[p]
		}
		s, _ := v.(string)
		return s
	}
	for _, c := range []struct{ path, want string }{
		{"spf.result", "pass"},
		{"dmarc.result", "pass"},
		{"dmarc.policy", "reject"},
		{"dmarc.domain", "pass.test"},
		{"dmarc.organizational_domain", "pass.test"},
		{"dmarc.record_domain", "pass.test"},
		{"action", "accept"},
		{"smtp_code", "250"},
	} {
		if g := str(strings.Split(c.path, ".")...); g != c.want {
			t.Errorf("%s = %q, want %q", c.path, g, c.want)
		}
	}
	dk, _ := got["dkim"].([]any)
	if len(dk) != 1 || dk[0].(map[string]any)["result"] != "pass" || dk[0].(map[string]any)["domain"] != "pass.test" {
		t.Errorf("dkim = %v", got["dkim"])
	}
	if ar := str("authentication_results"); !strings.HasPrefix(ar, "Authentication-Results: check.test;") || !strings.Contains(ar, "dmarc=pass") {
		t.Errorf("authentication_results = %q", ar)
	}
}

func TestCheckMessageRejectAndTempfail(t *testing.T) {
	w := newE2EWorld(t)
	cfg := t.TempDir() + "/c.toml"
	writeFile(cfg, "trusted_networks = []\n")
	for _, c := range []struct{ from, action, code string }{
		{"ceo@reject.test", "reject", "550"},
		{"x@broken.test", "tempfail", "451"},
	} {
		msg := message([]string{"From: " + c.from, "Subject: x"}, "x\n")
		out, errs, code := runCheckMessage(t, msg, "-ip", "127.0.0.1", "-helo", "client.test", "-mail-from", c.from, "-dns", w.dns.Addr, "-config", cfg, "-json")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		var got struct {
			Action   string `json:"action"`
			SMTPCode string `json:"smtp_code"`
		}
		json.Unmarshal([]byte(out), &got)
		if got.Action != c.action || got.SMTPCode != c.code {
			t.Errorf("%s: action %q code %q, want %s %s", c.from, got.Action, got.SMTPCode, c.action, c.code)
		}
	}
	// The human-readable form names the decision too.
	out, _, _ := runCheckMessage(t, message([]string{"From: ceo@reject.test"}, "x\n"), "-ip", "127.0.0.1", "-helo", "client.test", "-mail-from", "ceo@reject.test", "-dns", w.dns.Addr, "-config", cfg)
	if !strings.Contains(out, "action: reject (550 5.7.1") {
		t.Errorf("text output:\n%s", out)
	}
	// Loopback is a trusted network by default: not evaluated, as in the daemon.
	out, _, _ = runCheckMessage(t, message([]string{"From: ceo@reject.test"}, "x\n"), "-ip", "127.0.0.1", "-helo", "client.test", "-mail-from", "ceo@reject.test", "-dns", w.dns.Addr)
	if !strings.Contains(out, "not evaluated: trusted network") {
		t.Errorf("text output for a trusted client:\n%s", out)
	}
}

func TestCheckMessageUsage(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"-ip", "nope", "-helo", "h"},
		{"-ip", "192.0.2.1"},
		{"-ip", "192.0.2.1", "-helo", "h", "-dns", "bad host"},
		{"-ip", "192.0.2.1", "-helo", "h", "extra"},
	} {
		if _, _, code := runCheckMessage(t, nil, args...); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
}

// TestCheckMessageDryRun: in a dry run the top-level action and reply are
// what was done (accept, 250); what would have been done is under dry_run.
func TestCheckMessageDryRun(t *testing.T) {
	w := newE2EWorld(t)
	cfg := t.TempDir() + "/c.toml"
	writeFile(cfg, "trusted_networks = []\n[policy]\ndry_run = true\n")
	msg := message([]string{"From: ceo@reject.test", "Subject: x"}, "x\n")
	args := []string{"-ip", "127.0.0.1", "-helo", "client.test", "-mail-from", "ceo@reject.test", "-dns", w.dns.Addr, "-config", cfg}
	out, errs, code := runCheckMessage(t, msg, append(args, "-json")...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var got struct {
		Action   string `json:"action"`
		SMTPCode string `json:"smtp_code"`
		SMTPText string `json:"smtp_text"`
		DryRun   struct {
			Action   string `json:"action"`
			SMTPCode string `json:"smtp_code"`
		} `json:"dry_run"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if got.Action != "accept" || got.SMTPCode != "250" || got.SMTPText != "" || got.DryRun.Action != "reject" || got.DryRun.SMTPCode != "550" {
		t.Errorf("dry run: %+v\n%s", got, out)
	}
	out, _, _ = runCheckMessage(t, msg, args...)
	if !strings.Contains(out, "action: accept;") || !strings.Contains(out, "dry run, would have been: reject (550 5.7.1") {
		t.Errorf("text output:\n%s", out)
	}
}

// TestCheckMessageSeveralAuthors: with mailboxes in two domains, "dmarc"
// keeps its fields (the result of the domain that decided) and "per_domain" has
// each domain's; the allow-listed domain exempts only itself.
func TestCheckMessageSeveralAuthors(t *testing.T) {
	w := newE2EWorld(t)
	cfg := t.TempDir() + "/c.toml"
	writeFile(cfg, "trusted_networks = []\n[policy]\nallow_domains = [\"reject.test\"]\n")
	msg := message([]string{"From: x@quarantine.test, CEO <ceo@reject.test>", "Subject: x"}, "x\n")
	out, errs, code := runCheckMessage(t, msg, "-ip", "127.0.0.1", "-helo", "client.test", "-mail-from", "x@other.test",
		"-dns", w.dns.Addr, "-config", cfg, "-json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var got struct {
		Action string `json:"action"`
		DMARC  struct {
			Result    string   `json:"result"`
			Policy    string   `json:"policy"`
			Domain    string   `json:"domain"`
			Authors   []string `json:"author_domains"`
			PerDomain []struct {
				Domain, Result, Policy, Reason string
			} `json:"per_domain"`
		} `json:"dmarc"`
		AR string `json:"authentication_results"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if got.Action != "quarantine" {
		t.Errorf("action = %q, want quarantine (quarantine.test's policy; reject.test is allow-listed)", got.Action)
	}
	// "dmarc" is the result of the domain that decided: quarantine.test.
	if got.DMARC.Result != "fail" || got.DMARC.Policy != "quarantine" || got.DMARC.Domain != "quarantine.test" ||
		strings.Join(got.DMARC.Authors, " ") != "quarantine.test reject.test" {
		t.Errorf("dmarc = %+v", got.DMARC)
	}
	if p := got.DMARC.PerDomain; len(p) != 2 || p[0].Domain != "quarantine.test" || p[0].Policy != "quarantine" ||
		p[1].Domain != "reject.test" || p[1].Result != "fail" || p[1].Reason == "" {
		t.Errorf("per_domain = %+v", p)
	}
	if strings.Count(got.AR, "dmarc=fail") != 2 || !strings.Contains(got.AR, "header.from=quarantine.test") {
		t.Errorf("authentication_results = %q", got.AR)
	}
	out, _, _ = runCheckMessage(t, msg, "-ip", "127.0.0.1", "-helo", "client.test", "-mail-from", "x@other.test",
		"-dns", w.dns.Addr, "-config", cfg)
	if !strings.Contains(out, "quarantine.test: fail (policy=quarantine") || !strings.Contains(out, "reject.test: fail (policy=reject") {
		t.Errorf("text output:\n%s", out)
	}
}
