// Package smime verifies S/MIME signatures (RFC 8551) on received mail:
// clear-signed multipart/signed, whose CMS SignedData (RFC 5652) is
// detached and whose content digest is computed while the body streams
// (Digester), and opaque application/pkcs7-mime signed-data.
//
// The CMS structure and the signature are checked by
// github.com/smallstep/pkcs7. What it leaves out is checked here: the
// signer certificate must chain to the configured CAs at the time of
// checking (not at the signing time the message claims), be usable for
// email protection (RFC 8550 §4.4.2 key usage, §4.4.4 extended key usage)
// and name the From address (RFC 8550 §3, RFC 8551 §3.1.1). Certificate
// count, signer count and RSA key size are bounded. Results use the
// RFC 7281 vocabulary: a valid signature that is not trusted or does not
// name the author is "policy", a broken one "fail", an unparsable one
// "permerror". An optional RevocationChecker (CRLs, RFC 5280; OCSP,
// RFC 6960) makes a revoked signer certificate "fail" and a check that
// cannot be made "temperror".
package smime
