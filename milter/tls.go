package milter

import (
	"strings"

	gomilter "github.com/emersion/go-milter"

	"github.com/authmilter/authmilter/auth"
	"github.com/authmilter/authmilter/auth/tlsreq"
)

// tlsMacros are the macros the session's transport is read from, requested
// at HELO (Postfix and Sendmail send them at the EHLO after STARTTLS, none
// before) and at MAIL (a client may send MAIL without a new EHLO). Our
// symbol list replaces Postfix's milter_helo_macros and
// milter_mail_macros, so every one we read is listed. Postfix sends only
// those with a value, {cert_subject} and {cert_issuer} (common names) only
// for a chain it verified; Sendmail sends {verify} and the certificate's
// names even for a certificate it did not verify, xtext-encoded.
var tlsMacros = []string{"{tls_version}", "{cipher}", "{cipher_bits}", "{cert_subject}", "{cert_issuer}",
	"{verify}", "{cn_subject}", "{cn_issuer}", "{cert_md5}"}

// tlsFromMacros reads the transport from one stage's macros. ok is false
// when the stage carried none of them (nothing to learn).
func tlsFromMacros(mac map[string]string) (t auth.TLS, ok bool) {
	t.Version = mac["{tls_version}"]
	if t.Version == "" {
		return auth.TLS{}, false
	}
	t.Cipher, t.Bits = mac["{cipher}"], mac["{cipher_bits}"]
	verify, sendmail := mac["{verify}"]
	switch {
	case !sendmail:
		// Postfix: certificate macros only for a verified chain.
		if s := mac["{cert_subject}"]; s != "" {
			t.Cert, t.Subject, t.Issuer = auth.CertVerified, s, mac["{cert_issuer}"]
		}
	case verify == "OK" || verify == "TRUSTED":
		t.Cert = auth.CertVerified
		t.Subject = cnOf(mac["{cn_subject}"], mac["{cert_subject}"])
		t.Issuer = cnOf(mac["{cn_issuer}"], mac["{cert_issuer}"])
		t.MD5 = truncate(mac["{cert_md5}"], 64)
	case verify == "NO" || verify == "NOT" || verify == "NONE" || verify == "":
		t.Cert = auth.CertNone
	default:
		// FAIL, TEMP, PROTOCOL, ...: Sendmail fills the names of an
		// unverified certificate too; they are not kept.
		t.Cert, t.CertDetail = auth.CertFailed, truncate(verify, 20)
	}
	return t, true
}

// cnOf is a Sendmail certificate name: {cn_subject} ({cn_issuer}), else
// the CN of the slash-form DN {cert_subject}; both xtext (RFC 3461 §4).
func cnOf(cn, dn string) string {
	if cn == "" {
		for _, part := range strings.Split(dn, "/") {
			if v, ok := strings.CutPrefix(part, "CN="); ok {
				cn = v
			}
		}
	}
	return xtextDecode(cn)
}

// xtextDecode decodes "+XX" hex escapes (RFC 3461 §4); a malformed
// escape stays as it is.
func xtextDecode(s string) string {
	if !strings.Contains(s, "+") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '+' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'A' && c <= 'F' || c >= 'a' && c <= 'f' }

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

// tlsMacrosAt takes the transport from a HELO or MAIL stage's macros. At
// HELO, a stage without them is a plaintext session (the EHLO before
// STARTTLS, or no STARTTLS at all).
func (s *session) tlsMacrosAt(m *gomilter.Modifier, helo bool) {
	if m == nil {
		return
	}
	if t, ok := tlsFromMacros(m.Macros); ok || helo {
		s.facts.tls = t
	}
}

// hasRequireTLS reports whether MAIL FROM's ESMTP parameters hold
// REQUIRETLS (RFC 8689 §4; keywords are case-insensitive, RFC 5321 §4.1.2).
func hasRequireTLS(args []string) bool {
	for _, a := range args {
		if strings.EqualFold(a, "REQUIRETLS") {
			return true
		}
	}
	return false
}

// tlsAttrs appends the transport to a message's log line.
func tlsAttrs(attrs []any, r *auth.Report) []any {
	t := r.Envelope.TLS
	if t == nil {
		return attrs
	}
	if !t.Encrypted() {
		attrs = append(attrs, "tls", "none")
	} else {
		attrs = append(attrs, "tls", t.Version, "tls_cipher", t.Cipher, "tls_bits", t.Bits)
		switch t.Cert {
		case auth.CertVerified:
			attrs = append(attrs, "client_cert", "verified", "client_cert_subject", t.Subject, "client_cert_issuer", t.Issuer)
			if t.MD5 != "" {
				attrs = append(attrs, "client_cert_md5", t.MD5)
			}
		case auth.CertNone:
			attrs = append(attrs, "client_cert", "none")
		case auth.CertFailed:
			attrs = append(attrs, "client_cert", "failed:"+t.CertDetail)
		}
	}
	if r.Envelope.RequireTLS {
		attrs = append(attrs, "requiretls", true)
	}
	if r.TLSRequiredNo {
		attrs = append(attrs, "tls_required", "no")
	}
	if o := r.TLSRequire; o.Status != tlsreq.None {
		attrs = append(attrs, "tls_require", string(o.Status)+":"+o.Domain, "tls_require_shortfall", o.Shortfall)
	}
	return attrs
}
