package tlsreq

import (
	"fmt"
	"strings"

	"github.com/authmilter/authmilter/auth/dns"
	"github.com/authmilter/authmilter/auth/policy"
)

// Session is the transport of the SMTP session, as the MTA reported it.
type Session struct {
	Version string // "TLSv1.3"; "" for plaintext
	// CertVerified: the client's certificate chain was verified by the
	// MTA; CertName and CertIssuer are then its subject's and issuer's
	// common names.
	CertVerified         bool
	CertName, CertIssuer string
}

// Input is what the outcome depends on.
type Input struct {
	MailFrom  string   // the reverse-path; "" for the null sender
	SPFPass   bool     // SPF of the MAIL FROM identity passed
	DMARCPass []string // author domains whose DMARC result is pass
	Authors   []string // every author domain
	Report    bool     // a TLS report (RFC 8460 §5.3: TLS-Report-Domain field)
	Session   Session  //
}

// Status is what became of a rule.
type Status string

// Statuses.
const (
	None     Status = ""         // no rule covers the message's domains
	Met      Status = "met"      // the session meets the rule
	Enforced Status = "enforced" // a shortfall from a proven host: the rule's action applies
	Recorded Status = "recorded" // a shortfall, the host not proven to be the domain's: logged only
	Exempt   Status = "exempt"   // null sender or TLS report
)

// Outcome is the result for one message.
type Outcome struct {
	Status Status
	Domain string // the rule's domain
	// Want is the requirement in words ("TLSv1.2", "a verified client
	// certificate"); Shortfall what the session lacked; Proof how the
	// host was proven to be the domain's ("spf", "cert"; for Recorded,
	// "dmarc" or "").
	Want, Shortfall, Proof string
	Action                 policy.Action // for Enforced
}

// Evaluate finds the rule covering the MAIL FROM domain, else the first
// author domain a rule covers, and checks the session against it.
func (c *Config) Evaluate(in Input) Outcome {
	if len(c.Require) == 0 {
		return Outcome{}
	}
	mfDomain := ""
	if i := strings.LastIndexByte(in.MailFrom, '@'); i >= 0 {
		mfDomain = strings.ToLower(in.MailFrom[i+1:])
	}
	r, byMailFrom := c.rule(mfDomain), true
	if r == nil {
		byMailFrom = false
		for _, a := range in.Authors {
			if r = c.rule(a); r != nil {
				break
			}
		}
	}
	if r == nil {
		return Outcome{}
	}
	o := Outcome{Domain: r.Domain, Want: want(r)}
	switch {
	case in.MailFrom == "":
		o.Status, o.Shortfall = Exempt, "null sender"
		return o
	case in.Report:
		o.Status, o.Shortfall = Exempt, "TLS report"
		return o
	}
	o.Shortfall = shortfall(r, in.Session)
	pinned := certPinned(r, in.Session)
	switch {
	case o.Shortfall == "":
		o.Status = Met
	case byMailFrom && in.SPFPass:
		o.Status, o.Proof, o.Action = Enforced, "spf", r.Action
	case pinned:
		o.Status, o.Proof, o.Action = Enforced, "cert", r.Action
	default:
		o.Status = Recorded
		for _, d := range in.DMARCPass {
			if dns.IsSubdomainOrSame(d, r.Domain) {
				o.Proof = "dmarc"
			}
		}
	}
	return o
}

// rule returns the rule covering domain (the domain itself or a
// subdomain; the longest rule domain wins), or nil.
func (c *Config) rule(domain string) *Rule {
	if domain == "" {
		return nil
	}
	var best *Rule
	for i := range c.Require {
		r := &c.Require[i]
		if dns.IsSubdomainOrSame(domain, r.Domain) && (best == nil || len(r.Domain) > len(best.Domain)) {
			best = r
		}
	}
	return best
}

// want is r's requirement in words: "TLS", "TLS >= TLSv1.2", "... and a
// verified client certificate".
func want(r *Rule) string {
	w := "TLS"
	if r.MinVersion != "" {
		w += " >= " + r.MinVersion
	}
	if r.Level == LevelVerifiedCert {
		w += " and a verified client certificate"
	}
	return w
}

// shortfall says what the session lacks against r, or "".
func shortfall(r *Rule, s Session) string {
	switch {
	case s.Version == "":
		return "no TLS"
	case r.MinVersion != "" && versions[s.Version] < versions[r.MinVersion]:
		return fmt.Sprintf("%s below %s", s.Version, r.MinVersion)
	case r.Level != LevelVerifiedCert:
		return ""
	case !s.CertVerified:
		return "no verified client certificate"
	case r.CertName != "" && !strings.EqualFold(s.CertName, r.CertName):
		return "client certificate name not pinned"
	case r.CertIssuer != "" && !strings.EqualFold(s.CertIssuer, r.CertIssuer):
		return "client certificate issuer not pinned"
	}
	return ""
}

// certPinned reports whether the session's verified certificate matches
// the rule's pins (a rule without pins proves nothing by a certificate).
func certPinned(r *Rule, s Session) bool {
	return s.CertVerified && (r.CertName != "" || r.CertIssuer != "") &&
		(r.CertName == "" || strings.EqualFold(s.CertName, r.CertName)) &&
		(r.CertIssuer == "" || strings.EqualFold(s.CertIssuer, r.CertIssuer))
}
