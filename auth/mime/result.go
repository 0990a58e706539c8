package mime

// Status is a signature result in RFC 8601 words (§2.7.1), the set RFC 7281
// §3.1 registers for smime.
type Status string

// The results a signature can have.
const (
	StatusNone      Status = "none"      // no signature
	StatusPass      Status = "pass"      // valid, trusted, and names the From address
	StatusFail      Status = "fail"      // the signature does not match the content, or the key is revoked
	StatusPolicy    Status = "policy"    // valid but not acceptable: untrusted, expired, wrong address or key usage
	StatusNeutral   Status = "neutral"   // not verified: encrypted, or no key to verify with
	StatusTemperror Status = "temperror" // a key lookup failed or timed out; may work later
	StatusPermerror Status = "permerror" // the signature or its MIME structure cannot be parsed
)

// Method names the kind of signature, as the Authentication-Results method.
type Method string

// The methods. OpenPGP has no registered Authentication-Results method: its
// results go in a field of their own under this unregistered name.
const (
	MethodSMIME   Method = "smime"     // RFC 7281
	MethodOpenPGP Method = "x-openpgp" // unregistered
)

// Result is the outcome of one signature (or one encrypted part).
type Result struct {
	Method Method `json:"method"`
	Result Status `json:"result"`
	// Part is the IMAP part number of the signed entity ("TEXT" for the
	// message's top level): body.smime-part.
	Part string `json:"part"`
	// Identifier is the signer's address (the certificate's email address,
	// or the OpenPGP user ID's) when known: body.smime-identifier.
	Identifier string `json:"identifier,omitempty"`
	// Issuer and Serial name the S/MIME signer certificate
	// (body.smime-issuer and body.smime-serial, always both, RFC 7281
	// §3.2.3); Serial is upper-case hex.
	Issuer string `json:"issuer,omitempty"`
	Serial string `json:"serial,omitempty"`
	// Fingerprint is the OpenPGP signing key's fingerprint (upper-case hex).
	Fingerprint string `json:"fingerprint,omitempty"`
	// Encrypted is set for an encrypted part, which is reported, not
	// verified.
	Encrypted bool   `json:"encrypted,omitempty"`
	Reason    string `json:"reason,omitempty"`
}
