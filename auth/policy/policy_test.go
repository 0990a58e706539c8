package policy

import (
	"net"
	"reflect"
	"strings"
	"testing"
)

// one is the DMARC outcome of a message with one Author Domain.
func one(result Result, policy DomainPolicy, domain string) []Author {
	return []Author{{Domain: domain, Result: result, Policy: policy}}
}

func TestDecide(t *testing.T) {
	ip := net.ParseIP("192.0.2.10")
	fwd := net.ParseIP("198.51.100.7")
	with := func(mod func(*Config)) Config {
		c := Default()
		c.TrustedForwarders = []string{"198.51.100.0/24", "2001:db8::1"}
		c.AllowDomains = []string{"partner.example"}
		if mod != nil {
			mod(&c)
		}
		return c
	}
	fail := func(policy DomainPolicy) Input {
		return Input{Authors: one("fail", policy, "example.com"), ClientIP: ip}
	}
	tests := []struct {
		name string
		cfg  Config
		in   Input
		want Decision
	}{
		{"pass", with(nil), Input{Authors: one("pass", "reject", "")}, Decision{Action: Accept, Reason: "dmarc pass"}},
		{"none", with(nil), Input{Authors: one("none", "", "")}, Decision{Action: Accept, Reason: "dmarc none"}},
		{"empty result", with(nil), Input{}, Decision{Action: Accept, Reason: "dmarc none"}},
		{"fail p=none", with(nil), fail("none"), Decision{Action: Accept, Reason: "dmarc fail, policy none"}},
		{"fail reject", with(nil), fail("reject"), Decision{Action: Reject, Code: "550", Enhanced: "5.7.1",
			Text: "DMARC policy of example.com rejects this message", Reason: "dmarc fail, policy reject"}},
		{"fail reject %s text", with(func(c *Config) { c.RejectText = "Rejected by DMARC (%s)" }), fail("reject"),
			Decision{Action: Reject, Code: "550", Enhanced: "5.7.1", Text: "Rejected by DMARC (example.com)", Reason: "dmarc fail, policy reject"}},
		{"fail reject, List-Id", with(nil), func() Input { in := fail("reject"); in.HasListID = true; return in }(),
			Decision{Action: Quarantine, Quarantine: "milter", Text: "DMARC policy of example.com quarantines this message",
				Reason: "dmarc fail, policy reject, quarantined: mailing list (List-Id)", Override: Override{Kind: OverrideMailingList, Detail: "List-Id"}}},
		{"fail reject, List-Id rule off", with(func(c *Config) { c.ListIDQuarantines = false }),
			func() Input { in := fail("reject"); in.HasListID = true; return in }(),
			Decision{Action: Reject, Code: "550", Enhanced: "5.7.1", Text: "DMARC policy of example.com rejects this message",
				Reason: "dmarc fail, policy reject"}},
		{"fail reject, trusted forwarder", with(nil), func() Input { in := fail("reject"); in.ClientIP = fwd; return in }(),
			Decision{Action: Quarantine, Quarantine: "milter", Text: "DMARC policy of example.com quarantines this message",
				Reason: "dmarc fail, policy reject, quarantined: trusted forwarder", Override: Override{Kind: OverrideTrustedForwarder, Detail: fwd.String()}}},
		{"fail reject, trusted forwarder v6", with(nil),
			func() Input { in := fail("reject"); in.ClientIP = net.ParseIP("2001:db8::1"); return in }(),
			Decision{Action: Quarantine, Quarantine: "milter", Text: "DMARC policy of example.com quarantines this message",
				Reason: "dmarc fail, policy reject, quarantined: trusted forwarder", Override: Override{Kind: OverrideTrustedForwarder, Detail: "2001:db8::1"}}},
		{"fail reject, v4-mapped forwarder", with(nil),
			func() Input { in := fail("reject"); in.ClientIP = net.ParseIP("::ffff:198.51.100.9"); return in }(),
			Decision{Action: Quarantine, Quarantine: "milter", Text: "DMARC policy of example.com quarantines this message",
				Reason: "dmarc fail, policy reject, quarantined: trusted forwarder", Override: Override{Kind: OverrideTrustedForwarder, Detail: "198.51.100.9"}}},
		{"fail reject, never reject", with(func(c *Config) { c.RejectAction = "quarantine" }), fail("reject"),
			Decision{Action: Quarantine, Quarantine: "milter", Text: "DMARC policy of example.com quarantines this message",
				Reason: "dmarc fail, policy reject"}},
		{"fail quarantine", with(nil), fail("quarantine"),
			Decision{Action: Quarantine, Quarantine: "milter", Text: "DMARC policy of example.com quarantines this message",
				Reason: "dmarc fail, policy quarantine"}},
		{"fail quarantine, header mode", with(func(c *Config) { c.QuarantineMode = "header" }), fail("quarantine"),
			Decision{Action: Quarantine, Quarantine: "header", Text: "DMARC policy of example.com quarantines this message",
				Reason: "dmarc fail, policy quarantine"}},
		{"fail quarantine, accept mode", with(func(c *Config) { c.QuarantineMode = "accept" }), fail("quarantine"),
			Decision{Action: Accept, Reason: "dmarc fail, policy quarantine, quarantine_mode accept", Override: Override{Kind: OverrideQuarantineAccept}}},
		{"fail quarantine, action accept", with(func(c *Config) { c.QuarantineAction = "accept" }), fail("quarantine"),
			Decision{Action: Accept, Reason: "dmarc fail, policy quarantine"}},
		{"temperror", with(nil), Input{Authors: one("temperror", "", "example.com")},
			Decision{Action: Tempfail, Code: "451", Enhanced: "4.7.1",
				Text: "DMARC check of example.com failed temporarily, try again later", Reason: "dmarc temperror"}},
		{"temperror fail open", with(func(c *Config) { c.TemperrorAction = "accept" }), Input{Authors: one("temperror", "", "")},
			Decision{Action: Accept, Reason: "dmarc temperror"}},
		{"permerror", with(nil), Input{Authors: one("permerror", "", "")}, Decision{Action: Accept, Reason: "dmarc permerror"}},
		{"permerror quarantine", with(func(c *Config) { c.PermerrorAction = "quarantine" }),
			Input{Authors: one("permerror", "", "example.com")},
			Decision{Action: Quarantine, Quarantine: "milter", Text: "DMARC policy of example.com quarantines this message", Reason: "dmarc permerror"}},
		{"from missing", with(nil), Input{FromError: "missing"},
			Decision{Action: Reject, Code: "550", Enhanced: "5.6.0", Text: "Message has no From header field", Reason: "no From field"}},
		{"from multiple", with(nil), Input{FromError: "multiple"},
			Decision{Action: Reject, Code: "550", Enhanced: "5.6.0", Text: "Message has more than one From header field", Reason: "several From fields"}},
		{"from malformed", with(nil), Input{FromError: "malformed"},
			Decision{Action: Reject, Code: "550", Enhanced: "5.6.0", Text: "Message has a malformed From header field", Reason: "malformed From field"}},
		{"from unknown error is malformed", with(nil), Input{FromError: "weird"},
			Decision{Action: Reject, Code: "550", Enhanced: "5.6.0", Text: "Message has a malformed From header field", Reason: "malformed From field"}},
		{"from missing accepted", with(func(c *Config) { c.FromMissingAction = "accept" }), Input{FromError: "missing"},
			Decision{Action: Accept, Reason: "no From field"}},
		{"from multiple quarantined", with(func(c *Config) { c.FromMultipleAction = "quarantine" }), Input{FromError: "multiple"},
			Decision{Action: Quarantine, Quarantine: "milter", Text: "Message has more than one From header field", Reason: "several From fields"}},
		{"from malformed tempfail", with(func(c *Config) { c.FromMalformedAction = "tempfail" }), Input{FromError: "malformed"},
			Decision{Action: Tempfail, Code: "451", Enhanced: "4.7.1", Text: "Message has a malformed From header field", Reason: "malformed From field"}},
		{"allow-listed domain", with(nil), Input{Authors: one("fail", "reject", "News.Partner.Example.")},
			Decision{Action: Accept, Reason: "allow-listed domain News.Partner.Example.", Override: Override{Kind: OverrideAllowListed, Detail: "News.Partner.Example."}}},
		{"allow list is not a suffix match", with(nil), Input{Authors: one("fail", "reject", "evilpartner.example")},
			Decision{Action: Reject, Code: "550", Enhanced: "5.7.1", Text: "DMARC policy of evilpartner.example rejects this message", Reason: "dmarc fail, policy reject"}},
		// Several Author Domains: each decided on its own, the strictest wins.
		{"allow-listed author beside a reject", with(nil), Input{ClientIP: ip, Authors: []Author{
			{Domain: "partner.example", Result: "fail", Policy: "reject"},
			{Domain: "bank.example", Result: "fail", Policy: "reject"}}},
			Decision{Action: Reject, Code: "550", Enhanced: "5.7.1", Text: "DMARC policy of bank.example rejects this message",
				Reason: "dmarc fail, policy reject (strictest of 2 author domains)"}},
		{"allow-listed author beside a pass", with(nil), Input{Authors: []Author{
			{Domain: "partner.example", Result: "fail", Policy: "reject"},
			{Domain: "bank.example", Result: "pass", Policy: "reject"}}},
			Decision{Action: Accept, Reason: "allow-listed domain partner.example (strictest of 2 author domains)", Override: Override{Kind: OverrideAllowListed, Detail: "partner.example"}}},
		{"temperror beats quarantine", with(nil), Input{Authors: []Author{
			{Domain: "q.example", Result: "fail", Policy: "quarantine"},
			{Domain: "t.example", Result: "temperror", Policy: "reject"},
			{Domain: "p.example", Result: "pass", Policy: "reject"}}},
			Decision{Action: Tempfail, Code: "451", Enhanced: "4.7.1", Text: "DMARC check of t.example failed temporarily, try again later",
				Reason: "dmarc temperror (strictest of 3 author domains)"}},
		{"reject beats temperror", with(nil), Input{Authors: []Author{
			{Domain: "t.example", Result: "temperror"},
			{Domain: "r.example", Result: "fail", Policy: "reject"}}},
			Decision{Action: Reject, Code: "550", Enhanced: "5.7.1", Text: "DMARC policy of r.example rejects this message",
				Reason: "dmarc fail, policy reject (strictest of 2 author domains)"}},
		{"first of two rejects", with(nil), Input{Authors: []Author{
			{Domain: "a.example", Result: "fail", Policy: "reject"},
			{Domain: "b.example", Result: "fail", Policy: "reject"}}},
			Decision{Action: Reject, Code: "550", Enhanced: "5.7.1", Text: "DMARC policy of a.example rejects this message",
				Reason: "dmarc fail, policy reject (strictest of 2 author domains)"}},
		{"several authors, List-Id", with(nil), Input{HasListID: true, Authors: []Author{
			{Domain: "a.example", Result: "pass", Policy: "reject"},
			{Domain: "b.example", Result: "fail", Policy: "reject"}}},
			Decision{Action: Quarantine, Quarantine: "milter", Text: "DMARC policy of b.example quarantines this message",
				Reason: "dmarc fail, policy reject, quarantined: mailing list (List-Id) (strictest of 2 author domains)", Override: Override{Kind: OverrideMailingList, Detail: "List-Id"}}},
		{"several authors, all allow-listed", with(func(c *Config) { c.AllowDomains = []string{"a.example", "b.example"} }),
			Input{Authors: []Author{{Domain: "a.example", Result: "fail", Policy: "reject"}, {Domain: "b.example", Result: "temperror"}}},
			Decision{Action: Accept, Reason: "allow-listed domain a.example (strictest of 2 author domains)", Override: Override{Kind: OverrideAllowListed, Detail: "a.example"}}},
		{"several authors, dry run", with(func(c *Config) { c.DryRun = true }), Input{Authors: []Author{
			{Domain: "partner.example", Result: "fail", Policy: "reject"},
			{Domain: "bank.example", Result: "fail", Policy: "quarantine"}}},
			Decision{Action: Accept, Text: "DMARC policy of bank.example quarantines this message", DryRun: true, WouldBe: Quarantine,
				Reason: "dry run, would quarantine: dmarc fail, policy quarantine (strictest of 2 author domains)"}},
		// A temperror under a known policy none: pass or fail would accept.
		{"temperror, policy none", with(nil), Input{Authors: one("temperror", "none", "example.com")},
			Decision{Action: Accept, Reason: "dmarc temperror, policy none"}},
		{"temperror, policy quarantine", with(nil), Input{Authors: one("temperror", "quarantine", "example.com")},
			Decision{Action: Tempfail, Code: "451", Enhanced: "4.7.1",
				Text: "DMARC check of example.com failed temporarily, try again later", Reason: "dmarc temperror"}},
		{"internal error", with(nil), Input{InternalError: true, Authors: one("pass", "", "")},
			Decision{Action: Tempfail, Code: "451", Enhanced: "4.3.0", Text: "Temporary local problem, try again later", Reason: "internal error"}},
		{"internal error accept", with(func(c *Config) { c.InternalErrorAction = "accept" }), Input{InternalError: true},
			Decision{Action: Accept, Reason: "internal error, accepted"}},
		{"dry run reject", with(func(c *Config) { c.DryRun = true }), fail("reject"),
			Decision{Action: Accept, Code: "550", Enhanced: "5.7.1", Text: "DMARC policy of example.com rejects this message",
				Reason: "dry run, would reject: dmarc fail, policy reject", DryRun: true, WouldBe: Reject}},
		{"dry run quarantine", with(func(c *Config) { c.DryRun = true }), fail("quarantine"),
			Decision{Action: Accept, Text: "DMARC policy of example.com quarantines this message",
				Reason: "dry run, would quarantine: dmarc fail, policy quarantine", DryRun: true, WouldBe: Quarantine}},
		{"dry run from error", with(func(c *Config) { c.DryRun = true }), Input{FromError: "missing", Authors: one("temperror", "", "")},
			Decision{Action: Accept, Code: "550", Enhanced: "5.6.0", Text: "Message has no From header field",
				Reason: "dry run, would reject: no From field", DryRun: true, WouldBe: Reject}},
		{"dry run pass", with(func(c *Config) { c.DryRun = true }), Input{Authors: one("pass", "", "")},
			Decision{Action: Accept, Reason: "dmarc pass", DryRun: true}},
		{"domain sanitised", with(nil), Input{Authors: one("fail", "reject", "a.example\r\n250 ok")},
			Decision{Action: Reject, Code: "550", Enhanced: "5.7.1", Text: "DMARC policy of a.example250ok rejects this message",
				Reason: "dmarc fail, policy reject"}},
		{"no domain", with(nil), Input{Authors: one("fail", "reject", "")},
			Decision{Action: Reject, Code: "550", Enhanced: "5.7.1", Text: "DMARC policy of the sender's domain rejects this message",
				Reason: "dmarc fail, policy reject"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.cfg.Validate(); err != nil {
				t.Fatalf("config invalid: %v", err)
			}
			got := Decide(tt.cfg, tt.in)
			// Author is checked on its own (TestDecideAuthor).
			got.Author = ""
			if got != tt.want {
				t.Errorf("Decide =\n %+v\nwant\n %+v", got, tt.want)
			}
		})
	}
}

// TestDecideAuthor: the decision names the author domain whose outcome
// decided (the first of equals), so that what is reported for the message
// is that domain's result; none when no author domain decided.
func TestDecideAuthor(t *testing.T) {
	cfg := Default()
	cfg.AllowDomains = []string{"partner.example"}
	for _, c := range []struct {
		name string
		in   Input
		want string
	}{
		{"allow-listed beside a reject", Input{Authors: []Author{
			{Domain: "partner.example", Result: "fail", Policy: "reject"},
			{Domain: "bank.example", Result: "fail", Policy: "reject"}}}, "bank.example"},
		{"reject beats temperror", Input{Authors: []Author{
			{Domain: "t.example", Result: "temperror"},
			{Domain: "r.example", Result: "fail", Policy: "reject"}}}, "r.example"},
		{"first of equals", Input{Authors: []Author{
			{Domain: "a.example", Result: "pass"},
			{Domain: "b.example", Result: "pass"}}}, "a.example"},
		{"one author", Input{Authors: []Author{{Domain: "a.example", Result: "fail", Policy: "quarantine"}}}, "a.example"},
		{"From error", Input{FromError: "multiple", Authors: []Author{{Domain: "a.example"}}}, ""},
		{"internal error", Input{InternalError: true}, ""},
	} {
		if got := Decide(cfg, c.in).Author; got != c.want {
			t.Errorf("%s: Author = %q, want %q", c.name, got, c.want)
		}
	}
}

func TestDefaultValid(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		mod  func(*Config)
		want string
	}{
		{func(c *Config) { c.RejectCode = "450" }, "policy.reject_code:"},
		{func(c *Config) { c.RejectEnhanced = "4.7.1" }, "policy.reject_enhanced:"},
		{func(c *Config) { c.RejectText = "a\r\nb" }, "policy.reject_text:"},
		{func(c *Config) { c.TempfailCode = "550" }, "policy.tempfail_code:"},
		{func(c *Config) { c.TempfailEnhanced = "x" }, "policy.tempfail_enhanced:"},
		{func(c *Config) { c.MalformedCode = "55" }, "policy.malformed_code:"},
		{func(c *Config) { c.MalformedEnhanced = "5.6" }, "policy.malformed_enhanced:"},
		{func(c *Config) { c.QuarantineMode = "hold" }, "policy.quarantine_mode:"},
		{func(c *Config) { c.QuarantineText = "x\n" }, "policy.quarantine_text:"},
		{func(c *Config) { c.FromMissingText = "x\n" }, "policy.from_missing_text:"},
		{func(c *Config) { c.RejectAction = "discard" }, "policy.reject_action:"},
		{func(c *Config) { c.QuarantineAction = "" }, "policy.quarantine_action:"},
		{func(c *Config) { c.TemperrorAction = "Accept" }, "policy.temperror_action:"},
		{func(c *Config) { c.PermerrorAction = "x" }, "policy.permerror_action:"},
		{func(c *Config) { c.FromMissingAction = "x" }, "policy.from_missing_action:"},
		{func(c *Config) { c.FromMultipleAction = "x" }, "policy.from_multiple_action:"},
		{func(c *Config) { c.FromMalformedAction = "x" }, "policy.from_malformed_action:"},
		{func(c *Config) { c.InternalErrorAction = "reject" }, "policy.internal_error_action:"},
		{func(c *Config) { c.TrustedForwarders = []string{"10.0.0.0/33"} }, "policy.trusted_forwarders:"},
		{func(c *Config) { c.AllowDomains = []string{"a@b"} }, "policy.allow_domains:"},
	}
	for _, tt := range tests {
		c := Default()
		tt.mod(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Validate() = %v, want %q", err, tt.want)
		}
	}
	c := Default()
	c.RejectCode, c.QuarantineMode = "4", "x"
	if err := c.Validate(); err == nil || strings.Count(err.Error(), "\n") != 1 {
		t.Errorf("want two joined errors, got %v", err)
	}
}

// TestTOMLTags checks that every Config field has a snake_case toml tag.
func TestTOMLTags(t *testing.T) {
	typ := reflect.TypeFor[Config]()
	seen := map[string]bool{}
	for i := range typ.NumField() {
		f := typ.Field(i)
		tag := f.Tag.Get("toml")
		if tag == "" || tag != strings.ToLower(tag) || strings.ContainsAny(tag, " -,") || seen[tag] {
			t.Errorf("field %s: bad toml tag %q", f.Name, tag)
		}
		seen[tag] = true
	}
}

// TestSkipped: a message the caller skipped (trusted, authenticated) is
// accepted for the caller's reason; dry run marks it.
func TestSkipped(t *testing.T) {
	if got, want := Skipped(Default(), "trusted client"), (Decision{Action: Accept, Reason: "trusted client"}); !reflect.DeepEqual(got, want) {
		t.Errorf("Skipped = %+v, want %+v", got, want)
	}
	c := Default()
	c.DryRun = true
	if got, want := Skipped(c, "authenticated client"), (Decision{Action: Accept, Reason: "authenticated client", DryRun: true}); !reflect.DeepEqual(got, want) {
		t.Errorf("Skipped, dry run = %+v, want %+v", got, want)
	}
}
