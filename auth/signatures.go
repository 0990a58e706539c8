package auth

import (
	"context"
	"crypto/x509"
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/net/idna"

	"github.com/authmilter/authmilter/auth/authres"
	"github.com/authmilter/authmilter/auth/bodysig"
	"github.com/authmilter/authmilter/auth/mime"
	"github.com/authmilter/authmilter/auth/openpgp"
	"github.com/authmilter/authmilter/auth/smime"
)

// SMIMEConfig is the [smime] table: S/MIME signatures (RFC 8551) verified
// and reported as smime= (RFC 7281).
type SMIMEConfig struct {
	// Enabled verifies S/MIME signatures.
	Enabled bool `toml:"enabled"`
	// CAFile is a PEM file of the CAs trusted for email (an
	// organisation's CA, an email-trust bundle). Empty: no signature is
	// trusted, so a valid one is reported as policy. The system's TLS
	// roots are not used: they are not email roots.
	CAFile string `toml:"ca_file"`
	// MaxSignatureBytes bounds a detached signature part, the only part
	// of a clear-signed message that is buffered; a larger one is a
	// permerror. MaxOpaqueBytes bounds an application/pkcs7-mime
	// signed-data part (buffered whole); a larger one is neutral.
	MaxSignatureBytes int `toml:"max_signature_bytes"`
	MaxOpaqueBytes    int `toml:"max_opaque_bytes"`
	// MaxCertificates bounds the certificates one signature may carry.
	MaxCertificates int `toml:"max_certificates"`
	// MinRSABits is the smallest signer RSA key accepted (a smaller one
	// is policy).
	MinRSABits int `toml:"min_rsa_bits"`
	// Revocation checks a trusted signer certificate: "off", "crl" (its
	// HTTP CRL distribution points; see smime.CRLs) or "ocsp" (its OCSP
	// responder, see smime.OCSP; its CRLs when it names none). Revoked is
	// fail; a check that cannot be made within RevocationTimeout is a
	// temperror.
	Revocation        string        `toml:"revocation"`
	RevocationTimeout time.Duration `toml:"revocation_timeout"`

	roots *x509.CertPool
}

// OpenPGPConfig is the [openpgp] table: PGP/MIME (RFC 3156) and inline
// clear-signed (RFC 9580 §7) signatures, reported as x-openpgp=.
type OpenPGPConfig struct {
	// Enabled verifies OpenPGP signatures.
	Enabled bool `toml:"enabled"`
	// Keyring lists files of public keys (armored or binary) the admin
	// trusts. A signature by a key not in them is neutral, unless WKD
	// finds it.
	Keyring []string `toml:"keyring"`
	// WKD looks up the key of a signature that the keyring lacks in the
	// From domain's Web Key Directory (HTTPS; see openpgp.WKD). A valid
	// signature by such a key passes (the domain publishes it); a lookup
	// that fails or takes longer than WKDTimeout is a temperror.
	WKD        bool          `toml:"wkd"`
	WKDTimeout time.Duration `toml:"wkd_timeout"`
	// MaxSignatureBytes bounds a PGP/MIME signature part or an inline
	// signature block.
	MaxSignatureBytes int `toml:"max_signature_bytes"`
	// MinRSABits is the smallest RSA key accepted (a smaller one is
	// policy).
	MinRSABits int `toml:"min_rsa_bits"`

	keys openpgp.Keyring
}

func defaultSMIME() SMIMEConfig {
	return SMIMEConfig{Enabled: true, MaxSignatureBytes: 64 << 10, MaxOpaqueBytes: 1 << 20, MaxCertificates: 16, MinRSABits: 2048,
		Revocation: "off", RevocationTimeout: 5 * time.Second}
}

func defaultOpenPGP() OpenPGPConfig {
	return OpenPGPConfig{Enabled: true, MaxSignatureBytes: 64 << 10, MinRSABits: 2048, WKDTimeout: 5 * time.Second}
}

// validateSignatures checks [smime] and [openpgp] and reads their files.
func (c *Config) validateSignatures() error {
	s, p := &c.SMIME, &c.OpenPGP
	switch {
	case s.MaxSignatureBytes < 1024 || s.MaxSignatureBytes > 16<<20:
		return fmt.Errorf("smime.max_signature_bytes: must be from 1024 to 16777216, got %d", s.MaxSignatureBytes)
	case s.MaxOpaqueBytes < 1024 || s.MaxOpaqueBytes > 64<<20:
		return fmt.Errorf("smime.max_opaque_bytes: must be from 1024 to 67108864, got %d", s.MaxOpaqueBytes)
	case s.MaxCertificates < 1 || s.MaxCertificates > 100:
		return fmt.Errorf("smime.max_certificates: must be from 1 to 100, got %d", s.MaxCertificates)
	case s.MinRSABits < 1024:
		return fmt.Errorf("smime.min_rsa_bits: must be at least 1024, got %d", s.MinRSABits)
	case p.MaxSignatureBytes < 1024 || p.MaxSignatureBytes > 16<<20:
		return fmt.Errorf("openpgp.max_signature_bytes: must be from 1024 to 16777216, got %d", p.MaxSignatureBytes)
	case p.MinRSABits < 1024:
		return fmt.Errorf("openpgp.min_rsa_bits: must be at least 1024, got %d", p.MinRSABits)
	case s.Revocation != "off" && s.Revocation != "crl" && s.Revocation != "ocsp":
		return fmt.Errorf(`smime.revocation: must be "off", "crl" or "ocsp", got %q`, s.Revocation)
	case s.RevocationTimeout <= 0 || s.RevocationTimeout > time.Minute:
		return fmt.Errorf("smime.revocation_timeout: must be from 1ns to 1m, got %s", s.RevocationTimeout)
	case p.WKDTimeout <= 0 || p.WKDTimeout > time.Minute:
		return fmt.Errorf("openpgp.wkd_timeout: must be from 1ns to 1m, got %s", p.WKDTimeout)
	case len(c.Policy.RequireSigned) > 0 && !s.Enabled && !p.Enabled:
		return fmt.Errorf("policy.require_signed: needs smime.enabled or openpgp.enabled")
	}
	s.roots, p.keys = nil, nil
	if s.Enabled && s.CAFile != "" {
		pem, err := os.ReadFile(s.CAFile)
		if err != nil {
			return fmt.Errorf("smime.ca_file: %w", err)
		}
		s.roots = x509.NewCertPool()
		if !s.roots.AppendCertsFromPEM(pem) {
			return fmt.Errorf("smime.ca_file: %s holds no PEM certificate", s.CAFile)
		}
	}
	if p.Enabled {
		for _, name := range p.Keyring {
			f, err := os.Open(name)
			if err != nil {
				return fmt.Errorf("openpgp.keyring: %w", err)
			}
			k, err := openpgp.ReadKeyring(f)
			f.Close()
			if err != nil {
				return fmt.Errorf("openpgp.keyring: %s: %w", name, err)
			}
			p.keys = append(p.keys, k...)
		}
	}
	return nil
}

// signatureChecker builds the checker of S/MIME and OpenPGP signatures,
// or nil when both are off.
func (c *Config) signatureChecker() *bodysig.Checker {
	if !c.SMIME.Enabled && !c.OpenPGP.Enabled {
		return nil
	}
	o := bodysig.Options{
		MaxSignatureBytes:        c.SMIME.MaxSignatureBytes,
		MaxOpaqueBytes:           c.SMIME.MaxOpaqueBytes,
		MaxOpenPGPSignatureBytes: c.OpenPGP.MaxSignatureBytes,
	}
	if c.SMIME.Enabled {
		var rev smime.RevocationChecker
		switch c.SMIME.Revocation {
		case "crl":
			rev = smime.NewCRLs(smime.CRLOptions{Timeout: c.SMIME.RevocationTimeout})
		case "ocsp":
			rev = smime.NewOCSP(smime.OCSPOptions{Timeout: c.SMIME.RevocationTimeout,
				Fallback: smime.NewCRLs(smime.CRLOptions{Timeout: c.SMIME.RevocationTimeout})})
		}
		o.SMIME = smime.New(smime.Options{Roots: c.SMIME.roots, MaxCertificates: c.SMIME.MaxCertificates,
			MinRSABits: c.SMIME.MinRSABits, Revocation: rev})
	}
	if c.OpenPGP.Enabled {
		var keys openpgp.KeySource
		if len(c.OpenPGP.keys) > 0 {
			keys = c.OpenPGP.keys
		}
		var byAddress openpgp.AddressKeySource
		if c.OpenPGP.WKD {
			byAddress = openpgp.NewWKD(openpgp.WKDOptions{Timeout: c.OpenPGP.WKDTimeout})
		}
		o.OpenPGP = openpgp.New(openpgp.Options{Keys: keys, ByAddress: byAddress, MinRSABits: c.OpenPGP.MinRSABits})
	}
	return bodysig.New(o)
}

// noteMIME keeps the first Content-Type and Content-Transfer-Encoding of
// the message header (n is the field name as DKIM reads it).
func (m *Message) noteMIME(n, value string) {
	switch {
	case !m.haveCT && strings.EqualFold(n, "Content-Type"):
		m.ctype, m.haveCT = value, true
	case !m.haveCTE && strings.EqualFold(n, "Content-Transfer-Encoding"):
		m.cte, m.haveCTE = value, true
	}
}

// finishSignatures ends the body check: the results, and the domains
// (A-labels) of the From addresses that a pass for the whole body names
// (part TEXT: a signed part inside a multipart leaves the rest of the
// message unsigned), which require_signed needs, and whether a signature
// of the whole body ended in temperror.
func (m *Message) finishSignatures(ctx context.Context, r *Report) (signedBy []string, temperror bool) {
	r.Signatures = m.sig.CloseContext(ctx)
	for _, s := range r.Signatures {
		if s.Result == mime.StatusTemperror && s.Part == "TEXT" {
			temperror = true
		}
		i := strings.LastIndexByte(s.Identifier, '@')
		if s.Result != mime.StatusPass || s.Part != "TEXT" || i < 0 {
			continue
		}
		if d, err := idna.Lookup.ToASCII(s.Identifier[i+1:]); err == nil {
			signedBy = append(signedBy, strings.ToLower(d))
		}
	}
	return signedBy, temperror
}

// signatureHeaders formats the signature results as Authentication-Results
// values with our authserv-id, one field per method: SpamAssassin drops a
// whole field holding a method it does not know (x-openpgp), so these
// never share the SPF/DKIM/DMARC field, nor each other's.
func signatureHeaders(id string, rs []mime.Result) []string {
	var out []string
	for _, method := range []mime.Method{mime.MethodSMIME, mime.MethodOpenPGP} {
		var list []authres.SignatureResult
		for _, r := range rs {
			if r.Method == method {
				list = append(list, authres.SignatureResult{Method: string(r.Method), Result: string(r.Result),
					Part: r.Part, Identifier: r.Identifier, Issuer: r.Issuer, Serial: r.Serial,
					Fingerprint: r.Fingerprint, Reason: r.Reason})
			}
		}
		if len(list) > 0 {
			out = append(out, authres.FormatSignatures(id, list))
		}
	}
	return out
}
