package auth

import (
	"cmp"
	"context"
	"crypto/rsa"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/authmilter/authmilter/auth/dkim"
)

// SignEntry is one [[dkim.sign]] entry: mail whose From domain is Domain
// (or, with Subdomains, one below it) is signed with d=Domain, s=Selector
// and the key in the file Key. Several entries for one domain make several
// signatures on each message (RSA and Ed25519, RFC 8463 §1; or an old and
// a new selector while keys are rotated).
type SignEntry struct {
	Domain     string `toml:"domain"`
	Selector   string `toml:"selector"`
	Key        string `toml:"key"` // PEM file: RSA PKCS#1/PKCS#8 or Ed25519 PKCS#8
	Subdomains bool   `toml:"subdomains"`
	// Canonicalization overrides dkim.sign_canonicalization for this entry.
	Canonicalization string `toml:"canonicalization"`
}

// SignConfig is the signing part of [dkim]: who is signed and how.
type SignConfig struct {
	Sign []SignEntry `toml:"sign"`
	// Which clients are signing clients; their messages are signed (when
	// their From domain has an entry) and not evaluated.
	SignAuthenticated bool     `toml:"sign_authenticated"` // SASL login ({auth_authen})
	SignTrusted       bool     `toml:"sign_trusted"`       // client in trusted_networks
	SignDaemons       []string `toml:"sign_daemons"`       // the MTA listener's {daemon_name}
	// SignCanonicalization is c= (header/body): relaxed or simple each.
	SignCanonicalization string `toml:"sign_canonicalization"`
	// SignExpire, when not 0, adds x= this long after t= (RFC 6376 §3.5).
	SignExpire time.Duration `toml:"sign_expire"`
	// The header list (dkim.HeaderList).
	SignOversign          []string `toml:"sign_oversign"`
	SignOversignIfPresent []string `toml:"sign_oversign_if_present"`
	SignHeaders           []string `toml:"sign_headers"`
	// SignKeyCheck is what a key whose DNS record is missing or differs
	// causes at start and reload: "warn" (a log line) or "refuse".
	SignKeyCheck string `toml:"sign_key_check"`
}

func defaultSignConfig() SignConfig {
	hl := dkim.DefaultHeaderList()
	return SignConfig{Sign: []SignEntry{}, SignAuthenticated: true, SignTrusted: true, SignDaemons: []string{},
		SignCanonicalization: "relaxed/relaxed", SignOversign: hl.Oversign,
		SignOversignIfPresent: hl.OversignIfPresent, SignHeaders: hl.Plain, SignKeyCheck: "warn"}
}

// headerList is the configured header list.
func (c SignConfig) headerList() dkim.HeaderList {
	return dkim.HeaderList{Oversign: c.SignOversign, OversignIfPresent: c.SignOversignIfPresent, Plain: c.SignHeaders}
}

// parseCanon reads "relaxed/relaxed", "simple/relaxed", ...: the header
// and the body canonicalization (RFC 6376 §3.4).
func parseCanon(s string) (simpleHeader, simpleBody bool, err error) {
	h, b, ok := strings.Cut(s, "/")
	if !ok || (h != "simple" && h != "relaxed") || (b != "simple" && b != "relaxed") {
		return false, false, fmt.Errorf("%q: header/body, each relaxed or simple, such as \"relaxed/relaxed\"", s)
	}
	return h == "simple", b == "simple", nil
}

// validate checks the signing keys without reading the key files; errors
// name the key.
func (c SignConfig) validate() error {
	if _, _, err := parseCanon(c.SignCanonicalization); err != nil {
		return fmt.Errorf("dkim.sign_canonicalization: %w", err)
	}
	if c.SignExpire < 0 || (c.SignExpire > 0 && c.SignExpire < time.Second) {
		return fmt.Errorf("dkim.sign_expire: 0 (no x=) or at least 1s, got %s", c.SignExpire)
	}
	if err := c.headerList().Check(); err != nil {
		return fmt.Errorf("dkim.sign_oversign, sign_oversign_if_present, sign_headers: %w", err)
	}
	if c.SignKeyCheck != "warn" && c.SignKeyCheck != "refuse" {
		return fmt.Errorf("dkim.sign_key_check: \"warn\" or \"refuse\", got %q", c.SignKeyCheck)
	}
	for _, d := range c.SignDaemons {
		if d == "" {
			return fmt.Errorf("dkim.sign_daemons: an empty name")
		}
	}
	seen := map[string]bool{}
	for i, e := range c.Sign {
		key := fmt.Sprintf("dkim.sign[%d]", i)
		switch {
		case e.Domain == "" || e.Selector == "" || e.Key == "":
			return fmt.Errorf("%s: domain, selector and key are required", key)
		case e.Canonicalization != "":
			if _, _, err := parseCanon(e.Canonicalization); err != nil {
				return fmt.Errorf("%s.canonicalization: %w", key, err)
			}
		}
		id := signDomain(e.Domain) + "/" + strings.ToLower(e.Selector)
		if seen[id] {
			return fmt.Errorf("%s: selector %s of %s is configured twice", key, e.Selector, e.Domain)
		}
		seen[id] = true
	}
	return nil
}

// signDomain is the form domains are compared in: lower case, no final dot.
func signDomain(d string) string { return strings.ToLower(strings.TrimSuffix(d, ".")) }

// signKey is a loaded [[dkim.sign]] entry.
type signKey struct {
	key                      dkim.SignKey
	file                     string
	subdomains               bool
	simpleHeader, simpleBody bool
}

// signTable is the loaded signing configuration, built with the Evaluator.
type signTable struct {
	byDomain map[string][]signKey
	daemons  []string
	opts     dkim.SignOptions // header list, expiry; Keys and canonicalization per message
	cfg      SignConfig
}

// minGoodRSABits: smaller RSA keys are signed with, with a warning (RFC
// 8301 §3.2 asks signers for at least 2048 bits).
const minGoodRSABits = 2048

// loadSignTable reads every key file; an unreadable or unusable key is an
// error naming the entry and the file. nil when nothing is configured.
func loadSignTable(c SignConfig, log *slog.Logger) (*signTable, error) {
	if len(c.Sign) == 0 {
		return nil, nil
	}
	t := &signTable{byDomain: map[string][]signKey{}, daemons: c.SignDaemons, cfg: c,
		opts: dkim.SignOptions{Expire: c.SignExpire, Headers: c.headerList()}}
	for i, e := range c.Sign {
		name := fmt.Sprintf("dkim.sign[%d] (%s._domainkey.%s)", i, e.Selector, e.Domain)
		k, err := dkim.LoadSigningKey(e.Key)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		sk := signKey{key: dkim.SignKey{Domain: signDomain(e.Domain), Selector: e.Selector, Key: k},
			file: e.Key, subdomains: e.Subdomains}
		// The signer's own checks (d= and s= syntax, key type) now, not at
		// the first message.
		if _, err := dkim.NewSigner(dkim.SignOptions{Keys: []dkim.SignKey{sk.key}, Headers: t.opts.Headers}); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if rk, ok := k.(*rsa.PrivateKey); ok && rk.N.BitLen() < minGoodRSABits {
			log.Warn("DKIM signing key is weak: use at least 2048 bits (RFC 8301 §3.2)",
				"key", name, "file", e.Key, "bits", rk.N.BitLen())
		}
		sk.simpleHeader, sk.simpleBody, _ = parseCanon(cmp.Or(e.Canonicalization, c.SignCanonicalization))
		t.byDomain[sk.key.Domain] = append(t.byDomain[sk.key.Domain], sk)
	}
	return t, nil
}

// keysFor returns the entries that sign for author domain d: its own, or
// else those of its closest parent that allows subdomains.
func (t *signTable) keysFor(d string) []signKey {
	d = signDomain(d)
	if ks := t.byDomain[d]; len(ks) > 0 {
		return ks
	}
	for i := strings.IndexByte(d, '.'); i >= 0; i = strings.IndexByte(d, '.') {
		d = d[i+1:]
		var ks []signKey
		for _, k := range t.byDomain[d] {
			if k.subdomains {
				ks = append(ks, k)
			}
		}
		if len(ks) > 0 {
			return ks
		}
	}
	return nil
}

// SignsClient reports whether a message of this envelope is a signing
// client's (dkim.sign_authenticated, sign_trusted, sign_daemons) while
// signing keys are configured: such a message is signed, not evaluated.
func (e *Evaluator) SignsClient(env Envelope) bool {
	t := e.sign
	if t == nil {
		return false
	}
	switch {
	case env.AuthUser != "" && t.cfg.SignAuthenticated:
		return true
	case env.ClientIP != nil && t.cfg.SignTrusted && e.TrustedClient(env.ClientIP):
		return true
	case env.DaemonName != "" && slices.Contains(t.daemons, env.DaemonName):
		return true
	}
	return false
}

// KeyCheck is the outcome of comparing one signing key with its DNS record.
type KeyCheck struct {
	Selector, Domain, File string
	Err                    error // nil: the record publishes the key; else wraps dkim.ErrKeyCheck
}

// CheckSignKeys compares every signing key with its DNS record
// (dkim.CheckPublished), concurrently, within ctx: one KeyCheck per key,
// by domain.
func (e *Evaluator) CheckSignKeys(ctx context.Context) []KeyCheck {
	if e.sign == nil {
		return nil
	}
	var all []signKey
	for _, d := range slices.Sorted(maps.Keys(e.sign.byDomain)) {
		all = append(all, e.sign.byDomain[d]...)
	}
	errs := make([]error, len(all))
	done := make(chan struct{})
	for i, k := range all {
		go func() {
			defer func() { done <- struct{}{} }()
			errs[i] = dkim.CheckPublished(ctx, e.res, k.key)
		}()
	}
	for range all {
		<-done
	}
	out := make([]KeyCheck, len(all))
	for i, err := range errs {
		out[i] = KeyCheck{Selector: all[i].key.Selector, Domain: all[i].key.Domain, File: all[i].file, Err: err}
	}
	return out
}
