package tlsreq

import (
	"strings"
	"testing"

	"github.com/authmilter/authmilter/auth/policy"
)

func testConfig(t *testing.T, rules ...Rule) *Config {
	t.Helper()
	c := Default()
	c.Require = rules
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return &c
}

var (
	tls13    = Session{Version: "TLSv1.3"}
	tls12    = Session{Version: "TLSv1.2"}
	certOK   = Session{Version: "TLSv1.3", CertVerified: true, CertName: "mail.example.org", CertIssuer: "Test CA"}
	certBad  = Session{Version: "TLSv1.3", CertVerified: true, CertName: "rogue.example.net", CertIssuer: "Test CA"}
	fromOrg  = "alice@example.org"
	fromSub  = "bob@lists.example.org"
	fromElse = "carol@example.net"
)

func TestEvaluate(t *testing.T) {
	basic := Rule{Domain: "Example.ORG."}
	strict := Rule{Domain: "example.org", Level: LevelVerifiedCert, CertName: "mail.example.org", MinVersion: "TLSv1.3", Action: policy.Reject}
	for _, tc := range []struct {
		name   string
		rules  []Rule
		in     Input
		status Status
		proof  string
		short  string
		action policy.Action
	}{
		{"no rules", nil, Input{MailFrom: fromOrg, SPFPass: true}, None, "", "", ""},
		{"other domain", []Rule{basic}, Input{MailFrom: fromElse, SPFPass: true}, None, "", "", ""},
		{"met", []Rule{basic}, Input{MailFrom: fromOrg, SPFPass: true, Session: tls12}, Met, "", "", ""},
		{"subdomain covered", []Rule{basic}, Input{MailFrom: fromSub, SPFPass: true}, Enforced, "spf", "no TLS", policy.Tempfail},
		{"plaintext, spf pass", []Rule{basic}, Input{MailFrom: fromOrg, SPFPass: true}, Enforced, "spf", "no TLS", policy.Tempfail},
		{"plaintext, spf not pass", []Rule{basic}, Input{MailFrom: fromOrg}, Recorded, "", "no TLS", ""},
		{"plaintext, dmarc pass only", []Rule{basic},
			Input{MailFrom: fromElse, SPFPass: true, Authors: []string{"example.org"}, DMARCPass: []string{"example.org"}},
			Recorded, "dmarc", "no TLS", ""},
		{"null sender exempt", []Rule{basic}, Input{Authors: []string{"example.org"}, DMARCPass: []string{"example.org"}}, Exempt, "", "null sender", ""},
		{"TLS report exempt", []Rule{basic}, Input{MailFrom: fromOrg, SPFPass: true, Report: true}, Exempt, "", "TLS report", ""},
		{"version below minimum", []Rule{strict}, Input{MailFrom: fromOrg, SPFPass: true, Session: Session{Version: "TLSv1.2", CertVerified: true, CertName: "mail.example.org"}},
			Enforced, "spf", "TLSv1.2 below TLSv1.3", policy.Reject},
		{"version below minimum, proven by pinned certificate", []Rule{strict},
			Input{MailFrom: fromOrg, Session: Session{Version: "TLSv1.2", CertVerified: true, CertName: "MAIL.example.org"}},
			Enforced, "cert", "TLSv1.2 below TLSv1.3", policy.Reject},
		{"unknown version is below", []Rule{strict}, Input{MailFrom: fromOrg, SPFPass: true, Session: Session{Version: "SSLv3"}},
			Enforced, "spf", "SSLv3 below TLSv1.3", policy.Reject},
		{"no certificate", []Rule{strict}, Input{MailFrom: fromOrg, SPFPass: true, Session: tls13},
			Enforced, "spf", "no verified client certificate", policy.Reject},
		{"certificate not pinned", []Rule{strict}, Input{MailFrom: fromOrg, SPFPass: true, Session: certBad},
			Enforced, "spf", "client certificate name not pinned", policy.Reject},
		{"certificate not pinned, spf not pass", []Rule{strict}, Input{MailFrom: fromOrg, Session: certBad},
			Recorded, "", "client certificate name not pinned", ""},
		{"pinned certificate met", []Rule{strict}, Input{MailFrom: fromOrg, Session: certOK}, Met, "", "", ""},
		{"issuer pin", []Rule{{Domain: "example.org", Level: LevelVerifiedCert, CertIssuer: "Other CA"}},
			Input{MailFrom: fromOrg, SPFPass: true, Session: certOK}, Enforced, "spf", "client certificate issuer not pinned", policy.Tempfail},
		{"longest rule wins", []Rule{basic, {Domain: "lists.example.org", Action: policy.Accept}},
			Input{MailFrom: fromSub, SPFPass: true}, Enforced, "spf", "no TLS", policy.Accept},
		{"quarantine", []Rule{{Domain: "example.org", Action: policy.Quarantine}},
			Input{MailFrom: fromOrg, SPFPass: true}, Enforced, "spf", "no TLS", policy.Quarantine},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testConfig(t, tc.rules...)
			o := c.Evaluate(tc.in)
			if o.Status != tc.status || o.Proof != tc.proof || o.Shortfall != tc.short || o.Action != tc.action {
				t.Errorf("got %+v; want status %q proof %q shortfall %q action %q", o, tc.status, tc.proof, tc.short, tc.action)
			}
			if tc.status != None && o.Domain == "" {
				t.Errorf("no domain in %+v", o)
			}
		})
	}
}

func TestWant(t *testing.T) {
	c := testConfig(t, Rule{Domain: "example.org", Level: LevelVerifiedCert, MinVersion: "TLSv1.2"})
	if got := c.Evaluate(Input{MailFrom: fromOrg}).Want; got != "TLS >= TLSv1.2 and a verified client certificate" {
		t.Errorf("want %q", got)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Config)
		key  string
	}{
		{"empty domain", func(c *Config) { c.Require = []Rule{{}} }, "tls.require[0].domain"},
		{"address as domain", func(c *Config) { c.Require = []Rule{{Domain: "a@example.org"}} }, "tls.require[0].domain"},
		{"duplicate", func(c *Config) { c.Require = []Rule{{Domain: "example.org"}, {Domain: "EXAMPLE.org"}} }, "tls.require[1].domain"},
		{"level", func(c *Config) { c.Require = []Rule{{Domain: "example.org", Level: "cert"}} }, "tls.require[0].level"},
		{"pin without level", func(c *Config) { c.Require = []Rule{{Domain: "example.org", CertName: "x"}} }, "tls.require[0].level"},
		{"min_version", func(c *Config) { c.Require = []Rule{{Domain: "example.org", MinVersion: "1.2"}} }, "tls.require[0].min_version"},
		{"action", func(c *Config) { c.Require = []Rule{{Domain: "example.org", Action: "drop"}} }, "tls.require[0].action"},
		{"tempfail code", func(c *Config) { c.TempfailCode = "550" }, "tls.tempfail_code"},
		{"reject enhanced", func(c *Config) { c.RejectEnhanced = "4.7.1" }, "tls.reject_enhanced"},
		{"text", func(c *Config) { c.Text = "{user}" }, "tls.text"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			tc.edit(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.key+":") {
				t.Errorf("error %v does not name %s", err, tc.key)
			}
		})
	}
	c := Default()
	c.Require = []Rule{{Domain: "example.org"}}
	if err := c.Validate(); err != nil || c.Require[0].Level != LevelTLS || c.Require[0].Action != policy.Tempfail {
		t.Errorf("defaults: %v %+v", err, c.Require[0])
	}
}

func TestLevelUnmarshal(t *testing.T) {
	var l Level
	if err := l.UnmarshalText([]byte("verified-cert")); err != nil || l != LevelVerifiedCert {
		t.Errorf("%v %q", err, l)
	}
	if err := l.UnmarshalText([]byte("cert")); err == nil {
		t.Error("cert accepted")
	}
}
