package policy

import "strings"

// OverrideKind names the local policy that changed what an Author
// Domain's DMARC outcome asked for (RFC 9989 §7.4); the report layer maps
// it to an RFC 9990 §3.1.1.9 reason.
type OverrideKind string

// Overrides.
const (
	OverrideNone OverrideKind = ""
	// OverrideMailingList: a reject became a quarantine for a List-Id
	// field (list_id_quarantines).
	OverrideMailingList OverrideKind = "mailing_list"
	// OverrideTrustedForwarder: a reject became a quarantine for a client
	// in trusted_forwarders (Detail: its address).
	OverrideTrustedForwarder OverrideKind = "trusted_forwarder"
	// OverrideARC: a trusted ARC sealer vouched for the author domain
	// (arc_override_action; Detail: the sealer's domain).
	OverrideARC OverrideKind = "arc_trusted_sealer"
	// OverrideAllowListed: the author domain is in allow_domains (Detail).
	OverrideAllowListed OverrideKind = "allow_listed"
	// OverrideQuarantineAccept: a quarantine was not applied
	// (quarantine_mode accept).
	OverrideQuarantineAccept OverrideKind = "quarantine_accept"
)

// Override is the local policy that changed a decision, and its detail.
type Override struct {
	Kind   OverrideKind
	Detail string
}

// ARCInput is the ARC evidence (RFC 8617) the decision may use; the
// caller has verified the chain and knows which sealers it trusts.
type ARCInput struct {
	// Sealer is the d= of the newest ARC-Seal of a chain that passed,
	// when that sealer is trusted; "" otherwise.
	Sealer string
	// PassFor are the author domains for which that sealer's
	// ARC-Authentication-Results recorded a DMARC pass, or an aligned SPF
	// or DKIM pass.
	PassFor []string
	// TempSealer is the d= of the newest ARC-Seal of a chain that failed
	// only because of temporary DNS errors, when that sealer is trusted.
	TempSealer string
}

// vouches reports whether a trusted sealer's passing chain recorded a pass
// for domain.
func (a ARCInput) vouches(domain string) bool {
	if a.Sealer == "" {
		return false
	}
	domain = strings.TrimSuffix(domain, ".")
	for _, d := range a.PassFor {
		if strings.EqualFold(strings.TrimSuffix(d, "."), domain) {
			return true
		}
	}
	return false
}

// arcOverride applies arc_override_action to a DMARC fail's action act
// when a trusted sealer vouches for domain: a reject, or a quarantine
// when the override is accept, becomes the override. The DMARC result
// itself stays fail; only the action changes.
func arcOverride(cfg Config, in ARCInput, domain string, act Action, reason string) (Action, string, Override) {
	to := cfg.ARCOverrideAction
	if !in.vouches(domain) || severity(to) >= severity(act) {
		return act, reason, Override{}
	}
	verb := map[Action]string{Accept: "accepted", Quarantine: "quarantined"}[to]
	return to, reason + ", " + verb + ": trusted ARC sealer " + in.Sealer,
		Override{Kind: OverrideARC, Detail: in.Sealer}
}
