package policy

import (
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/authmilter/authmilter/auth/dns"
)

// Decision is the outcome for one message.
type Decision struct {
	Action   Action
	Code     string // SMTP reply code for reject and tempfail ("550")
	Enhanced string // enhanced status code ("5.7.1")
	Text     string // reply text, or the quarantine reason
	Reason   string // why, for the log line
	// Quarantine says how a quarantine is carried out: QuarantineMilter
	// or QuarantineHeader; "" for other actions.
	Quarantine QuarantineMode
	// DryRun is set in dry-run mode: Action is then always accept and
	// WouldBe (with Code, Enhanced, Text) is what would have happened.
	DryRun  bool
	WouldBe Action
	// Author is the Author Domain whose outcome decided (the first of
	// equals), "" when none did (a skip, an internal error, a From error).
	Author string
	// Override says which local policy changed what the domain's DMARC
	// outcome asked for (RFC 9989 §7.4), for the log and the reports.
	Override Override
}

// Author is the DMARC outcome of one Author Domain.
type Author struct {
	Domain string       // the Author Domain
	Result Result       // "" counts as none
	Policy DomainPolicy // after p/sp/np and t=y
}

// Input is what the decision depends on; plain values, filled in by the
// caller from the DMARC results and the connection.
type Input struct {
	// Authors holds the DMARC outcome of each Author Domain, in the order
	// of the From field: several when it names mailboxes in different
	// domains (RFC 9989 §5.3.1, §11.5). Each one is decided on its own, so
	// an allow-listed domain exempts only itself, and the strictest
	// decision wins. Empty means DMARC none.
	Authors   []Author
	FromError FromError

	// ARC is the evidence of the message's ARC chain (RFC 8617).
	ARC ARCInput

	HasListID     bool   // the message has a List-Id field (RFC 2919)
	ClientIP      net.IP // the SMTP client
	InternalError bool   // the evaluation failed
	// SignedBy lists the domains (A-labels, lower case) of the From
	// addresses named by the message's valid, trusted S/MIME or OpenPGP
	// signatures of its whole body (require_signed).
	SignedBy []string
	// SigTemperror: a signature of the whole body could not be checked
	// for a reason that may pass (a key lookup or revocation check that
	// failed); require_signed then waits (temperror_action) rather than
	// act on a signature it could not see.
	SigTemperror bool
	// Transport is a required-TLS shortfall to act on, or nil; its
	// decision counts like an Author Domain's (the strictest wins).
	Transport *Transport
}

// Decide returns the decision for a message. It is pure: the same Config
// and Input always give the same Decision. The order is: internal error,
// From errors, then each Author
// Domain: allow-listed, or its DMARC result, a reject for DMARC becoming a
// quarantine on local evidence (RFC 9989 §7.4); the strictest of those
// (reject, tempfail, quarantine, accept; the first of equals) is the
// decision. Dry run turns every action into accept.
func Decide(cfg Config, in Input) Decision {
	d := decide(cfg, in)
	if in.Transport != nil && !in.InternalError {
		if t := transportDecision(cfg, in.Transport); severity(t.Action) > severity(d.Action) {
			d = t
		}
	}
	if cfg.DryRun {
		d.DryRun = true
		if d.Action != Accept {
			d.WouldBe = d.Action
			d.Reason = "dry run, would " + string(d.Action) + ": " + d.Reason
			d.Action, d.Quarantine = Accept, ""
		}
	}
	return d
}

// Skipped is the decision for a message the caller did not evaluate (a
// client that skip_trusted or skip_authenticated exempts; the caller
// decides which, when the message starts): accept, for reason.
func Skipped(cfg Config, reason string) Decision {
	return Decision{Action: Accept, Reason: reason, DryRun: cfg.DryRun}
}

func decide(cfg Config, in Input) Decision {
	if in.InternalError {
		if cfg.InternalErrorAction == Accept {
			return Decision{Action: Accept, Reason: "internal error, accepted"}
		}
		return Decision{Action: Tempfail, Code: "451", Enhanced: "4.3.0",
			Text: "Temporary local problem, try again later", Reason: "internal error"}
	}
	switch in.FromError {
	case FromOK:
	case FromMissing:
		return fromDecision(cfg, cfg.FromMissingAction, in.FromError, "no From field")
	case FromMultiple:
		return fromDecision(cfg, cfg.FromMultipleAction, in.FromError, "several From fields")
	default:
		return fromDecision(cfg, cfg.FromMalformedAction, FromMalformed, "malformed From field")
	}
	if len(in.Authors) == 0 {
		return Decision{Action: Accept, Reason: "dmarc none"}
	}
	d := decideAuthor(cfg, in, in.Authors[0])
	d.Author = in.Authors[0].Domain
	for _, a := range in.Authors[1:] {
		if o := decideAuthor(cfg, in, a); severity(o.Action) > severity(d.Action) {
			d, d.Author = o, a.Domain
		}
	}
	if n := len(in.Authors); n > 1 {
		d.Reason = fmt.Sprintf("%s (strictest of %d author domains)", d.Reason, n)
	}
	return d
}

// severity orders actions for several Author Domains: a reject is final;
// a tempfail comes back later, when it may be a reject; a quarantine
// delivers.
func severity(a Action) int {
	switch a {
	case Reject:
		return 3
	case Tempfail:
		return 2
	case Quarantine:
		return 1
	}
	return 0
}

// decideAuthor decides for one Author Domain.
func decideAuthor(cfg Config, in Input, a Author) Decision {
	if allowed(cfg.AllowDomains, a.Domain) {
		return Decision{Action: Accept, Reason: "allow-listed domain " + a.Domain,
			Override: Override{Kind: OverrideAllowListed, Detail: a.Domain}}
	}
	var act Action
	var reason string
	switch a.Result {
	case ResultPass:
		if d, ok := requireSigned(cfg, in, a.Domain); ok {
			return d
		}
		return Decision{Action: Accept, Reason: "dmarc pass"}
	case ResultTemperror:
		if a.Policy == PolicyNone {
			// The policy is known and is none: pass or fail, the mail
			// would be accepted (RFC 9989 §5.4), so waiting gains nothing.
			return Decision{Action: Accept, Reason: "dmarc temperror, policy none"}
		}
		act, reason = cfg.TemperrorAction, "dmarc temperror"
	case ResultPermerror:
		act, reason = cfg.PermerrorAction, "dmarc permerror"
	case ResultFail:
		switch a.Policy {
		case PolicyReject:
			act, reason = cfg.RejectAction, "dmarc fail, policy reject"
		case PolicyQuarantine:
			act, reason = cfg.QuarantineAction, "dmarc fail, policy quarantine"
		default:
			// p=none MUST NOT change mail handling (RFC 9989 §5.4).
			return Decision{Action: Accept, Reason: "dmarc fail, policy none"}
		}
	default:
		return Decision{Action: Accept, Reason: "dmarc " + orNone(string(a.Result))}
	}
	var ov Override
	if a.Result == ResultFail {
		act, reason, ov = arcOverride(cfg, in.ARC, a.Domain, act, reason)
	}
	if act == Reject && ov.Kind == OverrideNone {
		// RFC 9989 §7.4, §8: not solely because of p=reject.
		switch {
		case in.HasListID && cfg.ListIDQuarantines:
			act, reason = Quarantine, reason+", quarantined: mailing list (List-Id)"
			ov = Override{Kind: OverrideMailingList, Detail: "List-Id"}
		case inNetworks(cfg.TrustedForwarders, in.ClientIP):
			act, reason = Quarantine, reason+", quarantined: trusted forwarder"
			ov = Override{Kind: OverrideTrustedForwarder, Detail: in.ClientIP.String()}
		}
	}
	if act == Reject && a.Result == ResultFail && in.ARC.TempSealer != "" {
		// RFC 8617 §5.2.1 makes a DNS failure a chain fail; a trusted
		// sealer's chain that failed only that way may pass later.
		act, reason = Tempfail, reason+", tempfail: chain of trusted ARC sealer "+in.ARC.TempSealer+" failed temporarily"
	}
	d := build(cfg, act, a.Domain, reason)
	if ov.Kind != OverrideNone {
		d.Override = ov
	}
	return d
}

// build fills in the reply for an action caused by DMARC.
func build(cfg Config, act Action, domain, reason string) Decision {
	switch act {
	case Reject:
		return replyDecision(Reject, cfg.RejectReply(), domain, reason)
	case Tempfail:
		return replyDecision(Tempfail, cfg.TempfailReply(), domain, reason)
	case Quarantine:
		if cfg.QuarantineMode == QuarantineAccept {
			return Decision{Action: Accept, Reason: reason + ", quarantine_mode accept",
				Override: Override{Kind: OverrideQuarantineAccept}}
		}
		return Decision{Action: Quarantine, Quarantine: cfg.QuarantineMode,
			Text: expand(cfg.QuarantineText, domain), Reason: reason}
	}
	return Decision{Action: Accept, Reason: reason}
}

// replyDecision is a reject or tempfail with reply r, its text naming domain.
func replyDecision(act Action, r Reply, domain, reason string) Decision {
	return Decision{Action: act, Code: r.Code, Enhanced: r.Enhanced, Text: expand(r.Text, domain), Reason: reason}
}

// fromDecision handles a broken From: its own text, and the malformed
// reply codes for a reject.
func fromDecision(cfg Config, action Action, e FromError, reason string) Decision {
	d := build(cfg, action, "", reason)
	r := cfg.MalformedReply(e)
	switch d.Action {
	case Reject:
		d.Code, d.Enhanced, d.Text = r.Code, r.Enhanced, r.Text
	case Tempfail, Quarantine:
		d.Text = r.Text
	}
	return d
}

// expand puts the domain into a reply text at "{domain}" or "%s".
func expand(text, domain string) string {
	domain = safe(domain)
	if domain == "" {
		domain = "the sender's domain"
	}
	text = strings.ReplaceAll(text, "{domain}", domain)
	return strings.ReplaceAll(text, "%s", domain)
}

// safe keeps only the printable ASCII of s (it ends up in an SMTP reply).
func safe(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; c > 0x20 && c < 0x7f {
			b.WriteByte(c)
		}
	}
	return b.String()
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// allowed reports whether domain equals or lies below an allow-listed one.
func allowed(list []string, domain string) bool {
	if strings.TrimSuffix(domain, ".") == "" {
		return false
	}
	for _, a := range list {
		a = strings.TrimSpace(a)
		if strings.TrimSuffix(a, ".") != "" && dns.IsSubdomainOrSame(domain, a) {
			return true
		}
	}
	return false
}

// inNetworks reports whether ip lies in one of the CIDRs (invalid entries,
// which Validate reports, are skipped).
func inNetworks(cidrs []string, ip net.IP) bool {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return false
	}
	a = a.Unmap()
	for _, s := range cidrs {
		if p, err := ParsePrefix(s); err == nil && p.Contains(a) {
			return true
		}
	}
	return false
}
