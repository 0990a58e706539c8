package policy

import (
	"strings"
	"testing"
)

func TestRequireSigned(t *testing.T) {
	pass := []Author{{Domain: "mail.corp.example", Result: ResultPass, Policy: PolicyReject}}
	tests := []struct {
		name   string
		cfg    func(*Config)
		in     Input
		action Action
		reason string
	}{
		{"not listed", func(c *Config) {}, Input{Authors: pass}, Accept, "dmarc pass"},
		{"listed, signed", func(c *Config) { c.RequireSigned = []string{"corp.example"} },
			Input{Authors: pass, SignedBy: []string{"mail.corp.example"}}, Accept, "dmarc pass"},
		{"listed, signed by another author's domain", func(c *Config) { c.RequireSigned = []string{"corp.example"} },
			Input{Authors: pass, SignedBy: []string{"other.example"}}, Quarantine, "require_signed"},
		{"listed, unsigned: quarantine by default", func(c *Config) { c.RequireSigned = []string{"corp.example"} },
			Input{Authors: pass}, Quarantine, "require_signed"},
		{"listed, unsigned, reject", func(c *Config) {
			c.RequireSigned, c.RequireSignedAction = []string{"corp.example"}, Reject
		}, Input{Authors: pass}, Reject, "require_signed"},
		{"listed, unsigned, accept", func(c *Config) {
			c.RequireSigned, c.RequireSignedAction = []string{"corp.example"}, Accept
		}, Input{Authors: pass}, Accept, "require_signed"},
		{"listed, unsigned, dry run", func(c *Config) {
			c.RequireSigned, c.DryRun = []string{"corp.example"}, true
		}, Input{Authors: pass}, Accept, "dry run, would quarantine"},
		{"listed, DMARC fail decides as before", func(c *Config) { c.RequireSigned = []string{"corp.example"} },
			Input{Authors: []Author{{Domain: "corp.example", Result: ResultFail, Policy: PolicyNone}}}, Accept, "policy none"},
		{"listed, signature check temperror, reject: tempfail", func(c *Config) {
			c.RequireSigned, c.RequireSignedAction = []string{"corp.example"}, Reject
		}, Input{Authors: pass, SigTemperror: true}, Tempfail, "signature check temperror"},
		{"listed, signature check temperror: tempfail", func(c *Config) { c.RequireSigned = []string{"corp.example"} },
			Input{Authors: pass, SigTemperror: true}, Tempfail, "signature check temperror"},
		{"listed, signed despite another temperror", func(c *Config) { c.RequireSigned = []string{"corp.example"} },
			Input{Authors: pass, SignedBy: []string{"mail.corp.example"}, SigTemperror: true}, Accept, "dmarc pass"},
		{"listed, signature check temperror, accept", func(c *Config) {
			c.RequireSigned, c.RequireSignedAction = []string{"corp.example"}, Accept
		}, Input{Authors: pass, SigTemperror: true}, Accept, "require_signed"},
		{"other domain listed", func(c *Config) { c.RequireSigned = []string{"other.example"} },
			Input{Authors: pass}, Accept, "dmarc pass"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Default()
			tt.cfg(&cfg)
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			d := Decide(cfg, tt.in)
			if d.Action != tt.action || !strings.Contains(d.Reason, tt.reason) {
				t.Errorf("got %+v, want %s (%s)", d, tt.action, tt.reason)
			}
			if d.Action == Reject && (d.Code != "550" || d.Text != "Mail from mail.corp.example must be signed") {
				t.Errorf("reply %+v", d)
			}
			if d.Action == Tempfail && (d.Code != "451" || d.Text != "Signature check of mail from mail.corp.example failed temporarily, try again later") {
				t.Errorf("reply %+v", d)
			}
		})
	}
}

func TestRequireSignedValidate(t *testing.T) {
	for _, c := range []func(*Config){
		func(c *Config) { c.RequireSignedAction = Tempfail },
		func(c *Config) { c.RequireSigned = []string{"a b"} },
		func(c *Config) { c.RequireSignedText = "x {nope}" },
	} {
		cfg := Default()
		c(&cfg)
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "policy.require_signed") {
			t.Errorf("got %v", err)
		}
	}
}
