package authres

// SignatureResult is one S/MIME or OpenPGP signature of the message body.
type SignatureResult struct {
	// Method is "smime" (RFC 7281) or the unregistered "x-openpgp".
	Method string
	// Result: pass, fail, policy, neutral, temperror, permerror.
	Result string
	// Part is the signed MIME part (IMAP part number, "TEXT" for the
	// whole body); Identifier the signer's address.
	Part       string
	Identifier string
	// Issuer and Serial name the S/MIME signer certificate; both or
	// neither are written (RFC 7281 §3.2.3).
	Issuer string
	Serial string
	// Fingerprint is the OpenPGP signing key's.
	Fingerprint string
	Reason      string
}

// FormatSignatures returns the value of an Authentication-Results field
// (without the name, folded as Format folds) for signature results of the
// message body. For smime the properties are RFC 7281 §3.2's:
// body.smime-identifier, body.smime-part, body.smime-serial,
// body.smime-issuer. For x-openpgp, which has no registration, they are
// body.x-openpgp-identifier, body.x-openpgp-part and
// body.x-openpgp-fingerprint. Results of a method a reader does not know
// make some readers (SpamAssassin) drop the whole field: the caller keeps
// one method per field, apart from the SPF/DKIM/DMARC one.
func FormatSignatures(authservID string, rs []SignatureResult) string {
	res := make([][]string, 0, len(rs))
	for _, r := range rs {
		if r.Method == "smime" {
			issuer, serial := r.Issuer, r.Serial
			if issuer == "" || serial == "" {
				issuer, serial = "", ""
			}
			res = append(res, resinfo("smime", r.Result, r.Reason, "body.smime-identifier", r.Identifier,
				"body.smime-part", r.Part, "body.smime-serial", serial, "body.smime-issuer", issuer))
			continue
		}
		m := token(r.Method)
		res = append(res, resinfo(m, r.Result, r.Reason, "body."+m+"-identifier", r.Identifier,
			"body."+m+"-part", r.Part, "body."+m+"-fingerprint", r.Fingerprint))
	}
	return fold(authservID, res)
}
