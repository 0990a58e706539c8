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
	QuarantineMode string `toml:"quarantine_mode"` // "milter"
	QuarantineText string `toml:"quarantine_text"` // reason given to the milter quarantine

	// What a DMARC result leads to. Actions are "accept", "reject",
	// "quarantine" and "tempfail".
	RejectAction     string `toml:"reject_action"`     // fail under policy reject: "reject"
	QuarantineAction string `toml:"quarantine_action"` // fail under policy quarantine: "quarantine"
	TemperrorAction  string `toml:"temperror_action"`  // temperror (not under policy none): "tempfail" (or "accept": fail open)
	PermerrorAction  string `toml:"permerror_action"`  // permerror: "accept" (DMARC does not apply)

	// Local evidence (RFC 9989 §7.4: do not reject solely because of
	// p=reject): a reject becomes a quarantine when the message has a
	// List-Id field (ListIDQuarantines) or comes from a trusted forwarder.
	// To never reject on DMARC alone, set reject_action = "quarantine".
	ListIDQuarantines bool     `toml:"list_id_quarantines"` // true
	TrustedForwarders []string `toml:"trusted_forwarders"`  // CIDRs or addresses; none

	// Skip lists: such messages are accepted without a DMARC action. The
	// caller applies them (it does not evaluate such a message at all) and
	// gives Skipped its reason.
	SkipTrusted       bool     `toml:"skip_trusted"`       // true: clients in the trusted networks
	SkipAuthenticated bool     `toml:"skip_authenticated"` // true: SASL-authenticated clients
	AllowDomains      []string `toml:"allow_domains"`      // Author Domains (and their subdomains), each exempting only itself; none

	// A broken From is outside DMARC (RFC 9989 §4.2, §4.4) and broken
	// RFC 5322 (§3.6: exactly one From). Default: reject with 550 5.6.0
	// (a message format problem, not an authorization failure).
	FromMissingAction   string `toml:"from_missing_action"`   // "reject"
	FromMultipleAction  string `toml:"from_multiple_action"`  // "reject"
	FromMalformedAction string `toml:"from_malformed_action"` // "reject"
	MalformedCode       string `toml:"malformed_code"`        // "550"
	MalformedEnhanced   string `toml:"malformed_enhanced"`    // "5.6.0"
	FromMissingText     string `toml:"from_missing_text"`     // "Message has no From header field"
	FromMultipleText    string `toml:"from_multiple_text"`    // "Message has more than one From header field"
	FromMalformedText   string `toml:"from_malformed_text"`   // "Message has a malformed From header field"

	// InternalErrorAction applies when the evaluation itself failed (a
	// bug, a deadline): "tempfail" (451 4.3.0) or "accept".
	InternalErrorAction string `toml:"internal_error_action"` // "tempfail"
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
		QuarantineMode:      "milter",
		QuarantineText:      "DMARC policy of {domain} quarantines this message",
		RejectAction:        string(Reject),
		QuarantineAction:    string(Quarantine),
		TemperrorAction:     string(Tempfail),
		PermerrorAction:     string(Accept),
		ListIDQuarantines:   true,
		SkipTrusted:         true,
		SkipAuthenticated:   true,
		FromMissingAction:   string(Reject),
		FromMultipleAction:  string(Reject),
		FromMalformedAction: string(Reject),
		MalformedCode:       "550",
		MalformedEnhanced:   "5.6.0",
		FromMissingText:     "Message has no From header field",
		FromMultipleText:    "Message has more than one From header field",
		FromMalformedText:   "Message has a malformed From header field",
		InternalErrorAction: string(Tempfail),
	}
}

var (
	reCode     = regexp.MustCompile(`^[245][0-9][0-9]$`)
	reEnhanced = regexp.MustCompile(`^[245]\.[0-9]{1,3}\.[0-9]{1,3}$`)
)

// Validate checks every key and returns all problems, each naming its key
// ("policy.reject_code: ...").
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf("policy.%s: "+format, append([]any{key}, a...)...))
	}
	reply := func(prefix, class, code, enh, text string) {
		if !reCode.MatchString(code) || code[:1] != class {
			bad(prefix+"_code", "%q is not a %sxx reply code", code, class)
		}
		if !reEnhanced.MatchString(enh) || enh[:1] != class {
			bad(prefix+"_enhanced", "%q is not a %s.x.y enhanced status code", enh, class)
		}
		if text != "" && strings.ContainsAny(text, "\r\n") {
			bad(prefix+"_text", "must be one line")
		}
		if p := unknownPlaceholder(text, true); p != "" {
			bad(prefix+"_text", "unknown placeholder %s (only {domain} is replaced)", p)
		}
	}
	reply("reject", "5", c.RejectCode, c.RejectEnhanced, c.RejectText)
	reply("tempfail", "4", c.TempfailCode, c.TempfailEnhanced, c.TempfailText)
	reply("malformed", "5", c.MalformedCode, c.MalformedEnhanced, "")
	for key, text := range map[string]string{
		"quarantine_text": c.QuarantineText, "from_missing_text": c.FromMissingText,
		"from_multiple_text": c.FromMultipleText, "from_malformed_text": c.FromMalformedText,
	} {
		if strings.ContainsAny(text, "\r\n") {
			bad(key, "must be one line")
		}
		if p := unknownPlaceholder(text, key == "quarantine_text"); p != "" {
			bad(key, "placeholder %s is not replaced in this text", p)
		}
	}
	switch c.QuarantineMode {
	case "milter", "header", "accept":
	default:
		bad("quarantine_mode", "%q is not one of milter, header, accept", c.QuarantineMode)
	}
	actions := []struct{ key, v string }{
		{"reject_action", c.RejectAction}, {"quarantine_action", c.QuarantineAction},
		{"temperror_action", c.TemperrorAction}, {"permerror_action", c.PermerrorAction},
		{"from_missing_action", c.FromMissingAction}, {"from_multiple_action", c.FromMultipleAction},
		{"from_malformed_action", c.FromMalformedAction},
	}
	for _, a := range actions {
		if !Action(a.v).valid() {
			bad(a.key, "%q is not one of accept, reject, quarantine, tempfail", a.v)
		}
	}
	if c.InternalErrorAction != string(Tempfail) && c.InternalErrorAction != string(Accept) {
		bad("internal_error_action", "%q is not one of tempfail, accept", c.InternalErrorAction)
	}
	for _, s := range c.TrustedForwarders {
		if _, err := ParsePrefix(s); err != nil {
			bad("trusted_forwarders", "%v", err)
		}
	}
	for _, d := range c.AllowDomains {
		if d == "" || strings.ContainsAny(d, " \t@/") {
			bad("allow_domains", "%q is not a domain", d)
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
