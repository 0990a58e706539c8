package auth_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/authmilter/authmilter/auth"
	"github.com/authmilter/authmilter/auth/dns"
	"github.com/authmilter/authmilter/auth/dns/dnstest"
)

// limitResolver serves TXT records from a map; names under "block." wait
// for the context to end. Every other lookup is NXDOMAIN.
type limitResolver struct {
	dnstest.NXResolver
	txt map[string][]string
}

func (r limitResolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	if strings.HasPrefix(name, "block.") || strings.Contains(name, ".block.") {
		<-ctx.Done()
		return nil, dns.NewError(dns.ErrTimeout, name)
	}
	if v, ok := r.txt[name]; ok {
		return v, nil
	}
	return nil, dns.NewError(dns.ErrNXDomain, name)
}

var limitDNS = limitResolver{txt: map[string][]string{
	"sender.test":         {"v=spf1 ip4:192.0.2.25 -all"},
	"_dmarc.sender.test":  {"v=DMARC1; p=reject"},
	"incs.test":           {"v=spf1 include:a.incs.test include:b.incs.test include:c.incs.test ip4:192.0.2.25 -all"},
	"a.incs.test":         {"v=spf1 -all"},
	"b.incs.test":         {"v=spf1 -all"},
	"c.incs.test":         {"v=spf1 -all"},
	"_dmarc.incs.test":    {"v=DMARC1; p=reject"},
	"sender.block.test":   {"v=spf1 ip4:192.0.2.25 -all"},
	"s._domainkey.x.test": {"v=DKIM1; p="},
	"s._domainkey.y.test": {"v=DKIM1; p="},
	"s._domainkey.z.test": {"v=DKIM1; p="},
	"_dmarc.x.test":       {"v=DMARC1; p=none"},
	"_dmarc.block.test":   {"v=DMARC1; p=reject"},
}}

// TestLimitsEnforced: each resource limit is configurable, and a message
// over it gets a defined result: header limits end in dmarc temperror
// (tempfail: fail closed, never an unchecked accept), the signature limit
// reports the rest as policy, the SPF lookup limit is permerror, and the
// evaluation timeout ends the wait.
func TestLimitsEnforced(t *testing.T) {
	from := "From: <a@sender.test>\r\n"
	sig := func(d string) string {
		return "DKIM-Signature: v=1; a=rsa-sha256; d=" + d + "; s=s; h=from; bh=AAAA; b=AAAA\r\n"
	}
	cases := []struct {
		name     string
		set      func(*auth.Config)
		mailFrom string
		msg      string
		problem  string // substring of Report.Problem ("" for none)
		dmarc    string
		action   string
		check    func(t *testing.T, r *auth.Report)
	}{
		{"max_headers at the limit", func(c *auth.Config) { c.Limits.MaxHeaders = 10 }, "a@sender.test",
			from + strings.Repeat("X: y\r\n", 9) + "\r\nbody\r\n", "", "pass", "accept", nil},
		{"max_headers over", func(c *auth.Config) { c.Limits.MaxHeaders = 10 }, "a@sender.test",
			from + strings.Repeat("X: y\r\n", 10) + "\r\nbody\r\n", "more than 10 header fields", "temperror", "tempfail", nil},
		{"max_headers over, the From after the cut", func(c *auth.Config) { c.Limits.MaxHeaders = 10 }, "a@sender.test",
			strings.Repeat("X: y\r\n", 11) + from + "\r\nbody\r\n", "more than 10 header fields", "temperror", "tempfail",
			func(t *testing.T, r *auth.Report) {
				if r.FromError != "" || r.Decision.Code != "451" {
					t.Errorf("from error %q, decision %+v: a From past the limit was never read, not missing", r.FromError, r.Decision)
				}
			}},
		{"max_header_bytes over", func(c *auth.Config) { c.Limits.MaxHeaderBytes = 1024 }, "a@sender.test",
			from + "X: " + strings.Repeat("y", 1100) + "\r\n\r\nbody\r\n", "header block larger than 1024 bytes", "temperror", "tempfail", nil},
		{"max_field_lines at the limit", func(c *auth.Config) { c.Limits.MaxFieldLines = 10 }, "a@sender.test",
			from + "X: a" + strings.Repeat("\r\n b", 9) + "\r\n\r\nbody\r\n", "", "pass", "accept", nil},
		{"max_field_lines over", func(c *auth.Config) { c.Limits.MaxFieldLines = 10 }, "a@sender.test",
			from + "X: a" + strings.Repeat("\r\n b", 10) + "\r\n\r\nbody\r\n", "more than 10 lines", "temperror", "tempfail", nil},
		{"max_signatures", func(c *auth.Config) { c.DKIM.MaxSignatures = 1 }, "a@sender.test",
			sig("x.test") + sig("y.test") + sig("z.test") + from + "\r\nbody\r\n", "", "pass", "accept",
			func(t *testing.T, r *auth.Report) {
				if len(r.DKIM) != 3 || r.DKIM[1].Result != "policy" || r.DKIM[2].Result != "policy" {
					t.Errorf("dkim %+v", r.DKIM)
				}
				if !strings.Contains(r.Header, "2 more signatures not verified") || strings.Count(r.Header, "dkim=") != 2 {
					t.Errorf("A-R %q", r.Header)
				}
			}},
		{"spf max_lookups", func(c *auth.Config) { c.SPF.MaxLookups = 2 }, "a@incs.test",
			"From: <a@incs.test>\r\n\r\nbody\r\n", "", "fail", "reject",
			func(t *testing.T, r *auth.Report) {
				if r.SPF.Result != "permerror" {
					t.Errorf("spf %+v", r.SPF)
				}
			}},
		{"max_from_domains: the p=reject domain listed last", func(c *auth.Config) { c.DMARC.MaxFromDomains = 2 }, "a@sender.test",
			"From: <a@x.test>, <b@y.test>, <ceo@sender.test>\r\n\r\nbody\r\n", "more than dmarc.max_from_domains (2)", "permerror", "reject",
			func(t *testing.T, r *auth.Report) {
				if r.FromError != "malformed" || r.Decision.Code != "550" {
					t.Errorf("from error %q, decision %+v", r.FromError, r.Decision)
				}
			}},
		{"evaluation_timeout", func(c *auth.Config) { c.Limits.EvaluationTimeout = 300 * time.Millisecond }, "a@sender.block.test",
			"From: <a@block.test>\r\n\r\nbody\r\n", "", "temperror", "tempfail",
			func(t *testing.T, r *auth.Report) {
				if r.Elapsed > 5*time.Second {
					t.Errorf("took %s with a 300 ms evaluation timeout", r.Elapsed)
				}
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := auth.DefaultConfig()
			cfg.AuthservID = "mx.limits.test"
			c.set(&cfg)
			ev, err := auth.New(cfg, limitDNS, nil)
			if err != nil {
				t.Fatal(err)
			}
			env := auth.Envelope{ClientIP: net.ParseIP("192.0.2.25"), Helo: "h.test", MailFrom: c.mailFrom}
			r, err := ev.EvaluateReader(context.Background(), env, strings.NewReader(c.msg))
			if err != nil {
				t.Fatal(err)
			}
			if c.problem == "" && r.Problem != "" || !strings.Contains(r.Problem, c.problem) {
				t.Errorf("problem %q, want %q", r.Problem, c.problem)
			}
			if string(r.DMARC.Result) != c.dmarc || string(r.Decision.Action) != c.action {
				t.Errorf("dmarc %s (%s), action %s; want %s, %s", r.DMARC.Result, r.DMARC.Reason, r.Decision.Action, c.dmarc, c.action)
			}
			if c.check != nil {
				c.check(t, r)
			}
		})
	}
}

// TestLimitsValidated: a limit set too low is a startup error naming its key.
func TestLimitsValidated(t *testing.T) {
	for key, set := range map[string]func(*auth.Config){
		"limits.max_header_bytes":   func(c *auth.Config) { c.Limits.MaxHeaderBytes = 10 },
		"limits.max_headers":        func(c *auth.Config) { c.Limits.MaxHeaders = 1 },
		"limits.max_field_lines":    func(c *auth.Config) { c.Limits.MaxFieldLines = 0 },
		"limits.evaluation_timeout": func(c *auth.Config) { c.Limits.EvaluationTimeout = 0 },
		"dkim.max_signatures":       func(c *auth.Config) { c.DKIM.MaxSignatures = 0 },
		"spf.max_lookups":           func(c *auth.Config) { c.SPF.MaxLookups = 0 },
		"dmarc.max_from_domains":    func(c *auth.Config) { c.DMARC.MaxFromDomains = 0 },
	} {
		cfg := auth.DefaultConfig()
		cfg.AuthservID = "mx.limits.test"
		set(&cfg)
		if err := cfg.Validate(); err == nil || !strings.HasPrefix(err.Error(), key+":") {
			t.Errorf("%s: Validate() = %v", key, err)
		}
	}
}
