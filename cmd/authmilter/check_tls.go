package main

import (
	"flag"

	"github.com/authmilter/authmilter/auth"
	"github.com/authmilter/authmilter/auth/tlsreq"
)

// tlsFlags are check message's transport facts: what the MTA's TLS macros
// and MAIL FROM parameters would have told the milter.
type tlsFlags struct {
	version, cipher, bits string
	cert, subject, issuer string
	requireTLS            bool
}

func addTLSFlags(fs *flag.FlagSet) *tlsFlags {
	t := &tlsFlags{}
	fs.StringVar(&t.version, "tls", "", "the session's TLS `version` (TLSv1.3), or none for plaintext; unset: transport unknown, not recorded")
	fs.StringVar(&t.cipher, "tls-cipher", "", "TLS cipher `name` (with -tls)")
	fs.StringVar(&t.bits, "tls-bits", "", "TLS cipher strength in `bits` (with -tls)")
	fs.StringVar(&t.cert, "tls-cert", "", "client certificate `state`: verified, none, failed; unset: unknown (as from Postfix without one)")
	fs.StringVar(&t.subject, "tls-cert-subject", "", "verified client certificate's subject common `name`")
	fs.StringVar(&t.issuer, "tls-cert-issuer", "", "verified client certificate's issuer common `name`")
	fs.BoolVar(&t.requireTLS, "requiretls", false, "MAIL FROM carried REQUIRETLS (RFC 8689)")
	return t
}

// check returns the transport facts, nil when -tls is unset; a non-zero
// code is the exit status of a usage error.
func (t *tlsFlags) check(c *checkFlags) (*auth.TLS, int) {
	if t.version == "" {
		if t.cipher != "" || t.bits != "" || t.cert != "" || t.subject != "" || t.issuer != "" {
			return nil, c.usageError("-tls-cipher, -tls-bits and -tls-cert* need -tls")
		}
		return nil, 0
	}
	if t.version == "none" {
		if t.cipher != "" || t.bits != "" || t.cert != "" || t.subject != "" || t.issuer != "" {
			return nil, c.usageError("-tls none (plaintext) takes no cipher or certificate")
		}
		return &auth.TLS{}, 0
	}
	out := &auth.TLS{Version: t.version, Cipher: t.cipher, Bits: t.bits}
	switch auth.CertState(t.cert) {
	case auth.CertVerified:
		out.Cert, out.Subject, out.Issuer = auth.CertVerified, t.subject, t.issuer
	case auth.CertNone, auth.CertUnknown:
		out.Cert = auth.CertState(t.cert)
	case auth.CertFailed:
		out.Cert, out.CertDetail = auth.CertFailed, "FAIL"
	default:
		return nil, c.usageError("-tls-cert %q is not one of verified, none, failed", t.cert)
	}
	if out.Cert != auth.CertVerified && (t.subject != "" || t.issuer != "") {
		return nil, c.usageError("-tls-cert-subject and -tls-cert-issuer need -tls-cert verified")
	}
	return out, 0
}

// tlsJSON is the transport in check message -json.
type tlsJSON struct {
	Version       string          `json:"version"` // "none" for plaintext
	Cipher        string          `json:"cipher,omitempty"`
	Bits          string          `json:"bits,omitempty"`
	ClientCert    string          `json:"client_cert,omitempty"` // verified, none, failed; absent: unknown
	CertSubject   string          `json:"client_cert_subject,omitempty"`
	CertIssuer    string          `json:"client_cert_issuer,omitempty"`
	CertMD5       string          `json:"client_cert_md5,omitempty"`
	RequireTLS    bool            `json:"requiretls"`
	TLSRequiredNo bool            `json:"tls_required_no"`
	Require       *tlsRequireJSON `json:"require,omitempty"`
}

type tlsRequireJSON struct {
	Status    string `json:"status"` // met, enforced, recorded, exempt
	Domain    string `json:"domain"`
	Want      string `json:"want"`
	Shortfall string `json:"shortfall,omitempty"`
	Proof     string `json:"proof,omitempty"`
	Action    string `json:"action,omitempty"`
}

// tlsJSONOf is nil when the transport is unknown and nothing of RFC 8689
// or tls.require applies.
func tlsJSONOf(r *auth.Report) *tlsJSON {
	t, o := r.Envelope.TLS, r.TLSRequire
	if t == nil && !r.Envelope.RequireTLS && !r.TLSRequiredNo && o.Status == tlsreq.None {
		return nil
	}
	j := &tlsJSON{RequireTLS: r.Envelope.RequireTLS, TLSRequiredNo: r.TLSRequiredNo}
	switch {
	case t == nil:
		j.Version = "unknown"
	case !t.Encrypted():
		j.Version = "none"
	default:
		j.Version, j.Cipher, j.Bits = t.Version, t.Cipher, t.Bits
		j.ClientCert, j.CertSubject, j.CertIssuer, j.CertMD5 = string(t.Cert), t.Subject, t.Issuer, t.MD5
	}
	if o.Status != tlsreq.None {
		j.Require = &tlsRequireJSON{Status: string(o.Status), Domain: o.Domain, Want: o.Want, Shortfall: o.Shortfall,
			Proof: o.Proof, Action: string(o.Action)}
	}
	return j
}
