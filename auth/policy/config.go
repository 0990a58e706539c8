package policy

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
)

// Config is the [policy] section of the configuration file. Every key has
// its default in Default; a file needs to name only what it changes.
type Config struct {
	// DryRun: decide as usual, but accept every message; Decision.WouldBe
	// holds what would have happened (for logs and headers).
	DryRun bool `toml:"dry_run"`

	// Reply to a message rejected because of its DMARC policy (RFC 9989
	// §7.2, App. B.3). "{domain}" or "%s" in the text becomes the Author
	// Domain; the text should contain "DMARC".
	RejectCode     string `toml:"reject_code"`     // "550"
	RejectEnhanced string `toml:"reject_enhanced"` // "5.7.1"
	RejectText     string `toml:"reject_text"`     // "DMARC policy of {domain} rejects this message"

	// Reply for a tempfail (a DMARC temperror, by default): 451 4.7.1, as
	// OpenDMARC answers.
	TempfailCode     string `toml:"tempfail_code"`     // "451"
	TempfailEnhanced string `toml:"tempfail_enhanced"` // "4.7.1"
	TempfailText     string `toml:"tempfail_text"`     // "DMARC check of {domain} failed temporarily, try again later"

	// QuarantineMode says how a quarantine is carried out: "milter" (the
	// MTA's quarantine, e.g. Postfix's hold queue), "header" (deliver with
	// an added header for the mail store to file as spam) or "accept"
	// (deliver unchanged).
	QuarantineMode QuarantineMode `toml:"quarantine_mode"` // "milter"
	QuarantineText string         `toml:"quarantine_text"` // reason given to the milter quarantine

	// What a DMARC result leads to. Actions are "accept", "reject",
	// "quarantine" and "tempfail".
	RejectAction     Action `toml:"reject_action"`     // fail under policy reject: "reject"
	QuarantineAction Action `toml:"quarantine_action"` // fail under policy quarantine: "quarantine"
	TemperrorAction  Action `toml:"temperror_action"`  // temperror (not under policy none): "tempfail" (or "accept": fail open)
	PermerrorAction  Action `toml:"permerror_action"`  // permerror: "accept" (DMARC does not apply)

	// Local evidence (RFC 9989 §7.4: do not reject solely because of
	// p=reject): a reject becomes a quarantine when the message has a
	// List-Id field (ListIDQuarantines) or comes from a trusted forwarder.
	// To never reject on DMARC alone, set reject_action = "quarantine".
	ListIDQuarantines bool     `toml:"list_id_quarantines"` // true
	TrustedForwarders []string `toml:"trusted_forwarders"`  // CIDRs or addresses; none
	// ARCOverrideAction replaces a DMARC reject (or, when "accept", a
	// quarantine) when a trusted ARC sealer vouches for the author domain
	// (Input.ARC): "quarantine" or "accept".
	ARCOverrideAction Action `toml:"arc_override_action"` // "quarantine"

	// Skip lists: such messages are accepted without a DMARC action. The
	// caller applies them (it does not evaluate such a message at all) and
	// gives Skipped its reason.
	SkipTrusted       bool     `toml:"skip_trusted"`       // true: clients in the trusted networks
	SkipAuthenticated bool     `toml:"skip_authenticated"` // true: SASL-authenticated clients
	AllowDomains      []string `toml:"allow_domains"`      // Author Domains (and their subdomains), each exempting only itself; none

	// A broken From is outside DMARC (RFC 9989 §4.2, §4.4) and broken
	// RFC 5322 (§3.6: exactly one From). Default: reject with 550 5.6.0
	// (a message format problem, not an authorization failure).
	FromMissingAction   Action `toml:"from_missing_action"`   // "reject"
	FromMultipleAction  Action `toml:"from_multiple_action"`  // "reject"
	FromMalformedAction Action `toml:"from_malformed_action"` // "reject"
	MalformedCode       string `toml:"malformed_code"`        // "550"
	MalformedEnhanced   string `toml:"malformed_enhanced"`    // "5.6.0"
	FromMissingText     string `toml:"from_missing_text"`     // "Message has no From header field"
	FromMultipleText    string `toml:"from_multiple_text"`    // "Message has more than one From header field"
	FromMalformedText   string `toml:"from_malformed_text"`   // "Message has a malformed From header field"

	// InternalErrorAction applies when the evaluation itself failed (a
	// bug, a deadline): "tempfail" (451 4.3.0) or "accept".
	InternalErrorAction Action `toml:"internal_error_action"` // "tempfail"

	// RequireSigned lists Author Domains (and their subdomains) whose
	// authenticated mail (DMARC pass) must carry a valid, trusted S/MIME
	// or OpenPGP signature of its whole body naming a From address of
	// that domain; without one,
	// RequireSignedAction applies: "quarantine" (the default), "accept"
	// (report only) or "reject" (RequireSignedText as the reply, with
	// reject_code and reject_enhanced). None by default.
	RequireSigned       []string `toml:"require_signed"`
	RequireSignedAction Action   `toml:"require_signed_action"` // "quarantine"
	RequireSignedText   string   `toml:"require_signed_text"`   // "Mail from {domain} must be signed"
}

// Default returns the configuration used when the file sets nothing.
func Default() Config {
	return Config{
		RejectCode:          "550",
		RejectEnhanced:      "5.7.1",
		RejectText:          "DMARC policy of {domain} rejects this message",
		TempfailCode:        "451",
		TempfailEnhanced:    "4.7.1",
		TempfailText:        "DMARC check of {domain} failed temporarily, try again later",
		QuarantineMode:      QuarantineMilter,
		QuarantineText:      "DMARC policy of {domain} quarantines this message",
		RejectAction:        Reject,
		QuarantineAction:    Quarantine,
		TemperrorAction:     Tempfail,
		PermerrorAction:     Accept,
		ListIDQuarantines:   true,
		ARCOverrideAction:   Quarantine,
		SkipTrusted:         true,
		SkipAuthenticated:   true,
		FromMissingAction:   Reject,
		FromMultipleAction:  Reject,
		FromMalformedAction: Reject,
		MalformedCode:       "550",
		MalformedEnhanced:   "5.6.0",
		FromMissingText:     "Message has no From header field",
		FromMultipleText:    "Message has more than one From header field",
		FromMalformedText:   "Message has a malformed From header field",
		InternalErrorAction: Tempfail,
		RequireSignedAction: Quarantine,
		RequireSignedText:   "Mail from {domain} must be signed",
	}
}

var (
	reCode     = regexp.MustCompile(`^[245][0-9][0-9]$`)
	reEnhanced = regexp.MustCompile(`^[245]\.[0-9]{1,3}\.[0-9]{1,3}$`)
)

// RejectReply is the reply to a message rejected for DMARC
// (reject_code, reject_enhanced, reject_text).
func (c Config) RejectReply() Reply {
	return Reply{Code: c.RejectCode, Enhanced: c.RejectEnhanced, Text: c.RejectText}
}

// TempfailReply is the reply to a message tempfailed for DMARC
// (tempfail_code, tempfail_enhanced, tempfail_text).
func (c Config) TempfailReply() Reply {
	return Reply{Code: c.TempfailCode, Enhanced: c.TempfailEnhanced, Text: c.TempfailText}
}

// MalformedReply is the reply to a message rejected for its From field
// (malformed_code, malformed_enhanced, and the text of that From error).
func (c Config) MalformedReply(e FromError) Reply {
	text := c.FromMalformedText
	switch e {
	case FromMissing:
		text = c.FromMissingText
	case FromMultiple:
		text = c.FromMultipleText
	}
	return Reply{Code: c.MalformedCode, Enhanced: c.MalformedEnhanced, Text: text}
}

// Validate checks every key and returns all problems, each naming its key
// ("policy.reject_code: ..."). A decoded file has had its actions and
// quarantine mode checked already (UnmarshalText); Validate checks them
// again for a Config built in Go.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, problem string) {
		if problem != "" {
			errs = append(errs, fmt.Errorf("policy.%s: %s", key, problem))
		}
	}
	reply := func(prefix, class string, r Reply, withDomain bool) {
		code, enh, text := r.check(class, withDomain)
		bad(prefix+"_code", code)
		bad(prefix+"_enhanced", enh)
		bad(prefix+"_text", text)
	}
	reply("reject", "5", c.RejectReply(), true)
	reply("tempfail", "4", c.TempfailReply(), true)
	reply("malformed", "5", Reply{Code: c.MalformedCode, Enhanced: c.MalformedEnhanced}, false)
	bad("quarantine_text", checkText(c.QuarantineText, true))
	bad("from_missing_text", checkText(c.FromMissingText, false))
	bad("from_multiple_text", checkText(c.FromMultipleText, false))
	bad("from_malformed_text", checkText(c.FromMalformedText, false))
	if c.ARCOverrideAction != Accept && c.ARCOverrideAction != Quarantine {
		bad("arc_override_action", fmt.Sprintf("%q is not one of accept, quarantine", c.ARCOverrideAction))
	}
	if !c.QuarantineMode.valid() {
		bad("quarantine_mode", fmt.Sprintf("%q is not one of milter, header, accept", c.QuarantineMode))
	}
	actions := []struct {
		key string
		v   Action
	}{
		{"reject_action", c.RejectAction}, {"quarantine_action", c.QuarantineAction},
		{"temperror_action", c.TemperrorAction}, {"permerror_action", c.PermerrorAction},
		{"from_missing_action", c.FromMissingAction}, {"from_multiple_action", c.FromMultipleAction},
		{"from_malformed_action", c.FromMalformedAction},
	}
	for _, a := range actions {
		if !a.v.valid() {
			bad(a.key, fmt.Sprintf("%q is not one of accept, reject, quarantine, tempfail", a.v))
		}
	}
	if c.InternalErrorAction != Tempfail && c.InternalErrorAction != Accept {
		bad("internal_error_action", fmt.Sprintf("%q is not one of tempfail, accept", c.InternalErrorAction))
	}
	for _, s := range c.TrustedForwarders {
		if _, err := ParsePrefix(s); err != nil {
			bad("trusted_forwarders", err.Error())
		}
	}
	bad("require_signed_text", checkText(c.RequireSignedText, true))
	if a := c.RequireSignedAction; a != Accept && a != Quarantine && a != Reject {
		bad("require_signed_action", fmt.Sprintf("%q is not one of accept, quarantine, reject", a))
	}
	for _, d := range c.RequireSigned {
		if d == "" || strings.ContainsAny(d, " \t@/") {
			bad("require_signed", fmt.Sprintf("%q is not a domain", d))
		}
	}
	for _, d := range c.AllowDomains {
		if d == "" || strings.ContainsAny(d, " \t@/") {
			bad("allow_domains", fmt.Sprintf("%q is not a domain", d))
		}
	}
	return errors.Join(errs...)
}

// unknownPlaceholder returns the first "{word}" in text that expand does
// not replace ({domain}, where withDomain), or "".
func unknownPlaceholder(text string, withDomain bool) string {
	for rest := text; ; {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			return ""
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return ""
		}
		p := rest[i : i+j+1]
		if p != "{domain}" || !withDomain {
			return p
		}
		rest = rest[i+j+1:]
	}
}

// ParsePrefix reads one entry of a configured list of networks
// (trusted_networks, policy.trusted_forwarders): a CIDR ("192.0.2.0/24",
// "2001:db8::/32"; host bits are cleared) or a bare address, which is a /32
// or /128 (an IPv4-mapped IPv6 address counts as IPv4). Surrounding spaces
// are ignored. The error says what is wrong with s, without a key.
func ParsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not a CIDR or an IP address", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a CIDR or an IP address", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}
