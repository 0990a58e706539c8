package auth

import (
	"strings"

	"github.com/authmilter/authmilter/auth/authres"
	"github.com/authmilter/authmilter/auth/policy"
	"github.com/authmilter/authmilter/auth/tlsreq"
)

// TLS is the SMTP session's transport security as the MTA reported it
// (Postfix and Sendmail milter macros {tls_version}, {cipher},
// {cipher_bits}, the client certificate's). The zero value is a plaintext
// session.
type TLS struct {
	Version string // "TLSv1.3"; "" for a plaintext session
	Cipher  string // "TLS_AES_256_GCM_SHA384"
	Bits    string // "256"
	// Cert is the client certificate's state, as far as the MTA makes it
	// known; Subject and Issuer are set only for CertVerified.
	Cert CertState
	// CertDetail is the MTA's word for a certificate that was not
	// verified (Sendmail's {verify}: FAIL, TEMP, ...), for the log.
	CertDetail string
	// Subject and Issuer are the verified certificate's subject and
	// issuer common names.
	Subject, Issuer string
	// MD5 is the verified certificate's MD5 fingerprint as Sendmail
	// gives it ({cert_md5}, "15:0F:58:..."); Postfix sends none.
	MD5 string
}

// CertState is what is known of the client's certificate.
type CertState string

// Certificate states.
const (
	// CertUnknown: the MTA does not say. Postfix sends certificate macros
	// only for a chain it verified; no certificate and an unverified one
	// look the same.
	CertUnknown CertState = ""
	// CertNone: no certificate was presented (Sendmail {verify} NO).
	CertNone CertState = "none"
	// CertVerified: the MTA verified the chain against its trusted CAs
	// (Postfix {cert_subject} present; Sendmail {verify} OK or TRUSTED).
	CertVerified CertState = "verified"
	// CertFailed: a certificate was presented and not verified (Sendmail
	// {verify} FAIL and others; CertDetail has the word).
	CertFailed CertState = "failed"
)

// Encrypted reports whether the session used TLS.
func (t *TLS) Encrypted() bool { return t != nil && t.Version != "" }

// certText describes the client certificate for a comment or log line;
// "" when nothing trustworthy is known.
func (t *TLS) certText() string {
	switch t.Cert {
	case CertVerified:
		s := "client certificate " + orDash(t.Subject)
		if t.Issuer != "" {
			s += " issued by " + t.Issuer
		}
		return s + " verified"
	case CertNone:
		return "no client certificate"
	case CertFailed:
		return "client certificate not verified (" + orDash(t.CertDetail) + ")"
	}
	return ""
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// tlsRequiredNo reports whether a TLS-Required field's value is "No"
// (RFC 8689 §5: the only value; case-insensitive, surrounding whitespace
// and folds ignored).
func tlsRequiredNo(value string) bool {
	return strings.EqualFold(strings.TrimSpace(strings.NewReplacer("\r", "", "\n", "").Replace(value)), "No")
}

// tlsRequirement evaluates tls.require for r and returns the shortfall to
// act on, or nil. An unknown transport (a check command without TLS
// facts) is not judged.
func (m *Message) tlsRequirement(r *Report) *policy.Transport {
	c := &m.e.cfg.TLS
	if len(c.Require) == 0 || m.env.TLS == nil {
		return nil
	}
	in := tlsreq.Input{MailFrom: m.env.MailFrom, SPFPass: r.SPF.Result == "pass", Authors: r.Authors, Report: m.tlsReport}
	for _, p := range r.PerAuthor {
		if p.Result == "pass" {
			in.DMARCPass = append(in.DMARCPass, p.Domain)
		}
	}
	t := m.env.TLS
	in.Session = tlsreq.Session{Version: t.Version, CertVerified: t.Cert == CertVerified, CertName: t.Subject, CertIssuer: t.Issuer}
	r.TLSRequire = c.Evaluate(in)
	o := r.TLSRequire
	if o.Status != tlsreq.Enforced {
		return nil
	}
	reply := policy.Reply{Code: c.TempfailCode, Enhanced: c.TempfailEnhanced, Text: c.Text}
	if o.Action == policy.Reject {
		reply.Code, reply.Enhanced = c.RejectCode, c.RejectEnhanced
	}
	return &policy.Transport{Action: o.Action, Reply: reply, Domain: o.Domain,
		Reason: o.Domain + " requires " + o.Want + ": " + o.Shortfall + " (proven by " + o.Proof + ")"}
}

// tlsHeader appends the x-tls result to our Authentication-Results value
// when the session's transport is known.
func tlsHeader(v string, r *Report) string {
	t := r.Envelope.TLS
	if t == nil {
		return v
	}
	res := authres.TLSResult{Result: "none", Version: t.Version, Cipher: t.Cipher, Bits: t.Bits,
		RequireTLS: r.Envelope.RequireTLS, TLSRequiredNo: r.TLSRequiredNo}
	if t.Encrypted() {
		res.Result = "pass"
	}
	var comment []string
	if o := r.TLSRequire; o.Status == tlsreq.Enforced || o.Status == tlsreq.Recorded {
		res.Result = "fail"
		comment = append(comment, o.Domain+" requires "+o.Want+": "+o.Shortfall)
	}
	if c := t.certText(); c != "" && t.Encrypted() {
		comment = append(comment, c)
	}
	res.Comment = strings.Join(comment, "; ")
	return authres.AppendTLS(v, res)
}
