// Package openpgp verifies OpenPGP signatures on received mail: PGP/MIME
// multipart/signed (RFC 3156 §5) and inline clear-signed text (RFC 9580
// §7, RFC 4880 §7), hashing the signed text while the body streams.
//
// Packets, keys and the signature arithmetic come from
// github.com/ProtonMail/go-crypto. What it leaves to the caller is checked
// here: a key comes from the configured KeySource (a keyring the admin
// keeps; a lookup error is a temperror) or, when it lacks the key, from an
// AddressKeySource such as WKD (draft-koch-openpgp-webkey-service: HTTPS,
// cached, time-bounded; a lookup that fails or times out is a temperror,
// no key published is "neutral"), a revoked key fails, an expired
// key or signature is "policy", and a signature passes only when a valid
// user ID of the key names the From address. Signature count, packet
// sizes and RSA key size are bounded. Version 6 signatures hash a salt
// before the text (RFC 9580 §5.2.4), which a streaming hash cannot know in
// advance: they are reported "neutral".
package openpgp
