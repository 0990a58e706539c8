package tlsreq

import (
	"errors"
	"fmt"
	"strings"

	"github.com/authmilter/authmilter/auth/policy"
)

// Level is what a rule requires of the session.
type Level string

// Levels.
const (
	// LevelTLS requires an encrypted session.
	LevelTLS Level = "tls"
	// LevelVerifiedCert also requires a client certificate whose chain
	// the MTA verified against its trusted CAs.
	LevelVerifiedCert Level = "verified-cert"
)

// UnmarshalText accepts only the two levels.
func (l *Level) UnmarshalText(b []byte) error {
	switch v := Level(b); v {
	case LevelTLS, LevelVerifiedCert:
		*l = v
		return nil
	}
	return fmt.Errorf("%q is not one of tls, verified-cert", b)
}

// Rule is one [[tls.require]] entry.
type Rule struct {
	// Domain is the sending domain (and its subdomains) the rule covers.
	Domain string `toml:"domain"`
	// Level: "tls" (default) or "verified-cert".
	Level Level `toml:"level"`
	// CertName and CertIssuer pin the verified client certificate's
	// subject and issuer common names (case-insensitive); "" pins nothing.
	// A pin implies level verified-cert.
	CertName   string `toml:"cert_name"`
	CertIssuer string `toml:"cert_issuer"`
	// MinVersion is the lowest TLS version accepted ("TLSv1.2"); "" any.
	MinVersion string `toml:"min_version"`
	// Action on an enforced shortfall: "tempfail" (default; 4xx so the
	// sender can fix TLS and retry without losing mail), "reject",
	// "quarantine", or "accept" (record only).
	Action policy.Action `toml:"action"`
}

// Config is the [tls] section's required-TLS part.
type Config struct {
	Require []Rule `toml:"require"`
	// Replies to an enforced shortfall; {domain} in Text becomes the
	// rule's domain.
	TempfailCode     string `toml:"tempfail_code"`     // "450"
	TempfailEnhanced string `toml:"tempfail_enhanced"` // "4.7.1"
	RejectCode       string `toml:"reject_code"`       // "550"
	RejectEnhanced   string `toml:"reject_enhanced"`   // "5.7.1"
	Text             string `toml:"text"`              // "TLS is required for mail from {domain}"
}

// Default is the configuration with no file: no rules.
func Default() Config {
	return Config{TempfailCode: "450", TempfailEnhanced: "4.7.1", RejectCode: "550", RejectEnhanced: "5.7.1",
		Text: "TLS is required for mail from {domain}"}
}

// versions ranks the TLS versions MTAs report ({tls_version}).
var versions = map[string]int{"TLSv1": 1, "TLSv1.0": 1, "TLSv1.1": 2, "TLSv1.2": 3, "TLSv1.3": 4}

// Validate checks every rule and reply; errors name the key
// ("tls.require[0].level: ...").
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, problem string) {
		if problem != "" {
			errs = append(errs, fmt.Errorf("tls.%s: %s", key, problem))
		}
	}
	code, enh, text := policy.CheckReply(policy.Reply{Code: c.TempfailCode, Enhanced: c.TempfailEnhanced, Text: c.Text}, "4")
	bad("tempfail_code", code)
	bad("tempfail_enhanced", enh)
	bad("text", text)
	code, enh, _ = policy.CheckReply(policy.Reply{Code: c.RejectCode, Enhanced: c.RejectEnhanced}, "5")
	bad("reject_code", code)
	bad("reject_enhanced", enh)
	seen := map[string]bool{}
	for i := range c.Require {
		r := &c.Require[i]
		k := fmt.Sprintf("require[%d].", i)
		r.Domain = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(r.Domain), "."))
		switch {
		case r.Domain == "" || strings.ContainsAny(r.Domain, " \t@/"):
			bad(k+"domain", fmt.Sprintf("%q is not a domain", r.Domain))
		case seen[r.Domain]:
			bad(k+"domain", fmt.Sprintf("%q has another rule", r.Domain))
		}
		seen[r.Domain] = true
		if r.Level == "" {
			r.Level = LevelTLS
		}
		if r.Level != LevelTLS && r.Level != LevelVerifiedCert {
			bad(k+"level", fmt.Sprintf("%q is not one of tls, verified-cert", r.Level))
		}
		if (r.CertName != "" || r.CertIssuer != "") && r.Level != LevelVerifiedCert {
			bad(k+"level", "cert_name and cert_issuer need level \"verified-cert\"")
		}
		if _, ok := versions[r.MinVersion]; r.MinVersion != "" && !ok {
			bad(k+"min_version", fmt.Sprintf("%q is not one of TLSv1, TLSv1.1, TLSv1.2, TLSv1.3", r.MinVersion))
		}
		if r.Action == "" {
			r.Action = policy.Tempfail
		}
		if err := r.Action.UnmarshalText([]byte(r.Action)); err != nil {
			bad(k+"action", err.Error())
		}
	}
	return errors.Join(errs...)
}
