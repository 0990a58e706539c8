package auth

import (
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/authmilter/authmilter/auth/policy"
	"github.com/authmilter/authmilter/auth/tlsreq"
)

// Config is the evaluation part of authmilter's configuration. Its TOML keys
// are documented, with their defaults, in contrib/authmilter.toml.
type Config struct {
	// AuthservID names this host in Authentication-Results (RFC 8601 §2.5)
	// and finds forged fields. Empty: per message, the MTA's own host name
	// (Envelope.MTAHost) when it is fully qualified, else HostName.
	AuthservID string `toml:"authserv_id"`
	// HostName is this host's fully qualified name: the authserv-id when
	// neither AuthservID nor the MTA gives one, and the receiving host of
	// SPF's %{r} macro. Not read from the file; the caller sets it, and
	// Validate falls back to os.Hostname.
	HostName string `toml:"-"`
	// TrustedNetworks are client networks that are not evaluated at all
	// (local submission, the MTA itself) while policy.skip_trusted is on.
	// Default: loopback only.
	TrustedNetworks []string `toml:"trusted_networks"`

	SPF    SPFConfig     `toml:"spf"`
	DKIM   DKIMConfig    `toml:"dkim"`
	DMARC  DMARCConfig   `toml:"dmarc"`
	ARC    ARCConfig     `toml:"arc"`
	Policy policy.Config `toml:"policy"`
	Limits Limits        `toml:"limits"`
	// SMIME and OpenPGP verify body signatures (signatures.go).
	SMIME   SMIMEConfig   `toml:"smime"`
	OpenPGP OpenPGPConfig `toml:"openpgp"`
	// TLS holds the required-TLS rules ([tls], [[tls.require]]).
	TLS tlsreq.Config `toml:"tls"`

	// KeepHeaderBytes, when positive, keeps up to this many bytes of each
	// message's header fields (whole fields, as received) in
	// Report.RawHeader, for DMARC failure reports. Not read from the
	// file; the caller sets it.
	KeepHeaderBytes int `toml:"-"`

	trusted []netip.Prefix
}

// SPFConfig tunes the SPF evaluation (RFC 7208).
type SPFConfig struct {
	// Timeout bounds one check_host() evaluation; past it the result is temperror.
	Timeout time.Duration `toml:"timeout"`
	// MaxLookups is the limit of DNS-querying terms (RFC 7208 §4.6.4: 10).
	MaxLookups int `toml:"max_lookups"`
	// MaxVoidLookups is the limit of lookups answering no records (§4.6.4: 2).
	MaxVoidLookups int `toml:"max_void_lookups"`
}

// DKIMConfig tunes DKIM verification.
type DKIMConfig struct {
	// MaxSignatures is the number of signatures verified per message; the
	// rest are reported as policy.
	MaxSignatures int `toml:"max_signatures"`
	// MinRSABits is the smallest RSA key accepted (RFC 8301: 1024).
	MinRSABits int `toml:"min_rsa_bits"`
	// SignConfig is outbound signing (signconfig.go): [[dkim.sign]] and
	// the dkim.sign_* keys.
	SignConfig
}

// DMARCConfig tunes DMARC evaluation (RFC 9989).
type DMARCConfig struct {
	// LegacyPct says how the removed pct= tag is read: "t" (pct=0 means t=y,
	// any other value 100%) or "ignore".
	LegacyPct string `toml:"legacy_pct"`
	// MaxFromDomains is the most author domains a From may name (RFC 9989
	// §11.5): up to it each is evaluated; past it the From is treated as
	// malformed (policy.from_malformed_action).
	MaxFromDomains int `toml:"max_from_domains"`
}

// Limits bound the work and memory one message may cost.
type Limits struct {
	// MaxHeaderBytes bounds the header block kept for DKIM and parsing.
	MaxHeaderBytes int `toml:"max_header_bytes"`
	// MaxHeaders bounds the number of header fields.
	MaxHeaders int `toml:"max_headers"`
	// MaxFieldLines bounds the lines of one folded header field. Header
	// parsers (ours for DKIM, go-msgauth's) join continuation lines one at
	// a time, so a field of many short folds costs time quadratic in its
	// length: 100,000 folds took 30 s and 20 GB of copying before this
	// limit.
	MaxFieldLines int `toml:"max_field_lines"`
	// EvaluationTimeout bounds the wait at end of message for results that
	// are still outstanding (SPF, DKIM keys, DMARC lookups).
	EvaluationTimeout time.Duration `toml:"evaluation_timeout"`
}

// DefaultConfig returns the configuration used when no file sets a key.
func DefaultConfig() Config {
	return Config{
		TrustedNetworks: []string{"127.0.0.0/8", "::1/128"},
		SPF:             SPFConfig{Timeout: 20 * time.Second, MaxLookups: 10, MaxVoidLookups: 2},
		DKIM:            DKIMConfig{MaxSignatures: 10, MinRSABits: 1024, SignConfig: defaultSignConfig()},
		DMARC:           DMARCConfig{LegacyPct: "t", MaxFromDomains: 5},
		Policy:          policy.Default(),
		TLS:             tlsreq.Default(),
		Limits:          Limits{MaxHeaderBytes: 1 << 20, MaxHeaders: 1000, MaxFieldLines: 1000, EvaluationTimeout: 20 * time.Second},
		SMIME:           defaultSMIME(),
		OpenPGP:         defaultOpenPGP(),
	}
}

// Validate checks every value and fills derived fields; errors name the key.
func (c *Config) Validate() error {
	if c.HostName == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "localhost"
		}
		c.HostName = h
	}
	if c.AuthservID != "" && strings.ContainsAny(c.AuthservID, " \t\r\n;()\"") {
		return fmt.Errorf("authserv_id: %q is not a valid authserv-id (RFC 8601 §2.2)", c.AuthservID)
	}
	if c.AuthservID == "" && !validHostName(c.HostName) {
		return fmt.Errorf("host name %q is not a valid authserv-id; set authserv_id", c.HostName)
	}
	c.trusted = c.trusted[:0]
	for _, s := range c.TrustedNetworks {
		p, err := policy.ParsePrefix(s)
		if err != nil {
			return fmt.Errorf("trusted_networks: %w", err)
		}
		c.trusted = append(c.trusted, p)
	}
	if err := c.ARC.validate(); err != nil {
		return err
	}
	switch {
	case c.SPF.Timeout <= 0:
		return fmt.Errorf("spf.timeout: must be positive, got %s", c.SPF.Timeout)
	case c.SPF.MaxLookups < 1:
		return fmt.Errorf("spf.max_lookups: must be at least 1, got %d", c.SPF.MaxLookups)
	case c.SPF.MaxVoidLookups < 0:
		return fmt.Errorf("spf.max_void_lookups: must not be negative, got %d", c.SPF.MaxVoidLookups)
	case c.DKIM.MaxSignatures < 1:
		return fmt.Errorf("dkim.max_signatures: must be at least 1, got %d", c.DKIM.MaxSignatures)
	case c.DKIM.MinRSABits < 1024:
		return fmt.Errorf("dkim.min_rsa_bits: RFC 8301 requires at least 1024, got %d", c.DKIM.MinRSABits)
	case c.DMARC.LegacyPct != "t" && c.DMARC.LegacyPct != "ignore":
		return fmt.Errorf("dmarc.legacy_pct: must be \"t\" or \"ignore\", got %q", c.DMARC.LegacyPct)
	case c.DMARC.MaxFromDomains < 1:
		return fmt.Errorf("dmarc.max_from_domains: must be at least 1, got %d", c.DMARC.MaxFromDomains)
	case c.Limits.MaxHeaderBytes < 1024:
		return fmt.Errorf("limits.max_header_bytes: must be at least 1024, got %d", c.Limits.MaxHeaderBytes)
	case c.Limits.MaxHeaders < 10:
		return fmt.Errorf("limits.max_headers: must be at least 10, got %d", c.Limits.MaxHeaders)
	case c.Limits.MaxFieldLines < 10:
		return fmt.Errorf("limits.max_field_lines: must be at least 10, got %d", c.Limits.MaxFieldLines)
	case c.Limits.EvaluationTimeout <= 0:
		return fmt.Errorf("limits.evaluation_timeout: must be positive, got %s", c.Limits.EvaluationTimeout)
	}
	if err := c.TLS.Validate(); err != nil {
		return err
	}
	if err := c.DKIM.SignConfig.validate(); err != nil {
		return err
	}
	if err := c.Policy.Validate(); err != nil {
		return err
	}
	return c.validateSignatures()
}

// validHostName reports whether s can serve as an authserv-id: a host name
// of letters, digits, '-', '_' and dots (RFC 8601 §2.5 uses the host's
// name), at most 253 characters.
func validHostName(s string) bool {
	if s == "" || len(s) > 253 || s[0] == '.' || s[len(s)-1] == '.' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// Qualified reports whether name is a fully qualified host name (it has a
// dot), usable as a default authserv-id.
func Qualified(name string) bool {
	name = strings.TrimSuffix(name, ".")
	return validHostName(name) && strings.Contains(name, ".")
}

// authservID is the authserv-id of a message: authserv_id when set, else
// the MTA's own name when it is fully qualified, else the host name.
func (c *Config) authservID(mtaHost string) string {
	switch {
	case c.AuthservID != "":
		return c.AuthservID
	case Qualified(mtaHost):
		return strings.TrimSuffix(mtaHost, ".")
	}
	return c.HostName
}

// inPrefixes reports whether ip is in one of ps (IPv4-mapped IPv6 counts as IPv4).
func inPrefixes(ps []netip.Prefix, ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, p := range ps {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
