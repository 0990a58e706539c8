package smime

import (
	"crypto/x509"
	"encoding/asn1"
	"strings"
)

// oidEmailAddress is the legacy emailAddress attribute of a subject name
// (PKCS #9), which RFC 8550 §3 still lets a receiver match.
var oidEmailAddress = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}

// emails returns the addresses a certificate names: its subjectAltName
// rfc822Name entries, then emailAddress attributes of its subject.
func emails(c *x509.Certificate) []string {
	out := append([]string(nil), c.EmailAddresses...)
	for _, n := range c.Subject.Names {
		if s, ok := n.Value.(string); ok && n.Type.Equal(oidEmailAddress) {
			out = append(out, s)
		}
	}
	return out
}

// sameAddress compares two addresses, ignoring case (RFC 8550 §3 leaves the
// local part's case to the receiver; mail systems ignore it).
func sameAddress(a, b string) bool { return strings.EqualFold(strings.TrimSpace(a), b) }

// fromAddress returns the From address the certificate names, or "".
func fromAddress(es, from []string) string {
	for _, e := range es {
		for _, f := range from {
			if sameAddress(e, f) {
				return f
			}
		}
	}
	return ""
}

// identifier is the address reported for a signer: the From address the
// certificate names, or else the certificate's first address.
func identifier(c *x509.Certificate, from []string) string {
	es := emails(c)
	if f := fromAddress(es, from); f != "" {
		return f
	}
	if len(es) > 0 {
		return strings.ToLower(es[0])
	}
	return ""
}
