package policy

import "strings"

// requireSigned applies require_signed to an Author Domain whose DMARC
// result is pass: when the domain is listed and the message carries no
// valid, trusted signature by an address of that very domain (another
// author's does not count), the decision is require_signed_action (ok
// true). A signature result is reported, never acted on, unless the
// domain is listed: a missing or broken signature says nothing about
// spoofing on its own (DMARC covers that).
func requireSigned(cfg Config, in Input, domain string) (Decision, bool) {
	if !allowed(cfg.RequireSigned, domain) {
		return Decision{}, false
	}
	for _, d := range in.SignedBy {
		if strings.EqualFold(strings.TrimSuffix(d, "."), strings.TrimSuffix(domain, ".")) {
			return Decision{}, false
		}
	}
	reason := "dmarc pass, no valid signature (require_signed)"
	if in.SigTemperror && cfg.RequireSignedAction != Accept {
		// A temporary failure never ends in a reject or a quarantine. The
		// tempfail reply's code, with a text that does not blame DMARC.
		d := build(cfg, cfg.TemperrorAction, domain, "dmarc pass, signature check temperror (require_signed)")
		if d.Action == Tempfail {
			d.Text = expand("Signature check of mail from {domain} failed temporarily, try again later", domain)
		}
		return d, true
	}
	text := expand(cfg.RequireSignedText, domain)
	switch cfg.RequireSignedAction {
	case Reject:
		return Decision{Action: Reject, Code: cfg.RejectCode, Enhanced: cfg.RejectEnhanced, Text: text, Reason: reason}, true
	case Quarantine:
		if cfg.QuarantineMode == QuarantineAccept {
			return Decision{Action: Accept, Reason: reason + ", quarantine_mode accept"}, true
		}
		return Decision{Action: Quarantine, Quarantine: cfg.QuarantineMode, Text: text, Reason: reason}, true
	}
	return Decision{Action: Accept, Reason: reason + ", accepted"}, true
}
