package authres

import "strings"

// TLSResult is the SMTP session's transport security, in the form
// authentication_milter writes ("x-tls=pass smtp.version=TLSv1.3
// smtp.cipher=... smtp.bits=256"); no registered method covers TLS
// (RFC 8601 §2.7.6 allows "x-" methods).
type TLSResult struct {
	Result  string // pass (encrypted), none (plaintext), fail (a required-TLS rule not met)
	Version string // smtp.version
	Cipher  string // smtp.cipher
	Bits    string // smtp.bits
	// Comment: the client certificate's state, a requirement not met.
	Comment string
	// RequireTLS: the MAIL FROM carried REQUIRETLS (RFC 8689 §4),
	// written smtp.requiretls=yes.
	RequireTLS bool
	// TLSRequiredNo: the message has "TLS-Required: No" (RFC 8689 §5),
	// written header.tls-required=no.
	TLSRequiredNo bool
}

// maxTLSComment bounds the x-tls comment: it names a certificate (a common
// name is at most 64 characters) and a domain's requirement.
const maxTLSComment = 200

// AppendTLS returns v, a value made by Format, with an x-tls resinfo
// appended and folded as Format folds.
func AppendTLS(v string, t TLSResult) string {
	var buf [10]string
	props := append(buf[:0], "smtp.version", t.Version, "smtp.cipher", t.Cipher, "smtp.bits", t.Bits)
	if t.RequireTLS {
		props = append(props, "smtp.requiretls", "yes")
	}
	if t.TLSRequiredNo {
		props = append(props, "header.tls-required", "no")
	}
	words := resinfoComment("x-tls", t.Result, commentN(t.Comment, maxTLSComment), props...)
	if id, ok := strings.CutSuffix(v, "; none"); ok {
		v = id // no other result: x-tls is the only one
	}
	return appendResinfo(v, words)
}
