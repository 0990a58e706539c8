// Package dkim verifies DKIM signatures (RFC 6376) while a message streams
// in, and signs messages (Signer) with the same canonicalizers and header
// hash, under today's rules: RFC 8301 (no rsa-sha1, no RSA keys under 1024
// bits) and RFC 8463 (Ed25519). It is the whole verifier: tag-list, signature
// and key record parsing, body and header canonicalization (RFC 6376 §3.4),
// the body and header hashes (§3.7), the RSA and Ed25519 checks (the
// standard library's primitives), l= (§3.5), and one RFC 8601 result per
// signature. github.com/emersion/go-msgauth v0.7.0 is its reference in the
// tests (differential tests and fuzzing against it, outside the deviations
// listed in differential_test.go) and signs the tests' messages.
//
// Body canonicalization does not allocate per write, so what a message
// allocates does not grow with its body. Trailing empty lines are held as a
// count; a body whose line breaks mixed with lone CRs exceed 1 MiB in a row
// is permerror (before rule 8 below) instead of being held. Parsed key records are kept in a KeyCache shared
// by a daemon's messages (Options.Keys).
//
// # Streaming
//
// The caller writes the raw message (header fields with CRLF line ends, the
// empty line, the body) to a Verifier in chunks of any size. The header block
// is buffered (at most MaxHeaderBytes); when its empty line arrives, every
// DKIM-Signature field is parsed, the key lookups for s._domainkey.d start
// at once, concurrently, through Options.Resolver with the message's
// context, and each signature's header hash is taken. The body is then
// canonicalized and hashed as it is written, on the caller's goroutine, once
// per distinct body canonicalization and l=; it is never held whole, and a
// write never waits for DNS. Close waits for the lookups and decides; Abort
// cancels them and waits for every goroutine.
//
// # Decisions
//
// For each signature the first rule that applies, in this order, decides:
//
//  1. Beyond Options.MaxSignatures (default 10): policy, "signature limit
//     reached"; not verified, no DNS query (RFC 6376 §6.1 lets verifiers
//     limit their work; RFC 8601 §2.7.1 policy: signed, but not acceptable
//     to the ADMD).
//  2. A DKIM-Signature that breaks RFC 6376 §3.5/§6.1.1 (tag-list syntax,
//     v= not 1, a required tag missing, unknown a= or c=, i= outside d=
//     (domains compared case-insensitively),
//     From not signed, q= without dns/txt, bad l=/t=/x=): permerror.
//  3. x= in the past: fail, "signature expired". RFC 6376 §6.1.1 lets
//     verifiers ignore an expired signature with PERMFAIL (signature
//     expired); authmilter reports fail. A t= in the future is
//     not an error (clocks drift); it is logged at debug.
//  4. a=rsa-sha1: policy, "rsa-sha1 not accepted (RFC 8301)": RFC 8301 §3.1
//     says verifiers MUST NOT consider such signatures valid; RFC 8601 §2.7.1
//     calls "signed, but some aspect not acceptable" policy. KeyBits is still
//     reported when the key could be fetched.
//  5. No usable key (RFC 6376 §6.1.2): a temporary DNS failure is temperror
//     (step 2: TEMPFAIL); NXDOMAIN/NODATA (step 3), several TXT records
//     (§3.6.2.2), a malformed (step 5) or revoked (step 7, p= empty)
//     record is permerror.
//  6. The key does not fit the signature: k= not matching a=, key h= without
//     sha256, s= without email, t=s with i= in a subdomain: permerror
//     (§6.1.2 steps 6 and 8, §3.6.1). A key h= allowing only sha1 is policy,
//     "rsa-sha1 not accepted (RFC 8301)".
//  7. An RSA key under Options.MinRSABits (default and minimum 1024): policy,
//     "rsa key too short (N bits)" (RFC 8301 §3.2: verifiers MUST NOT
//     consider signatures with keys under 1024 bits valid).
//  8. l= present: RFC 6376 §8.2 warns that content can be appended after the
//     signed length. Our choice: the signature passes only if l= covers the
//     whole canonicalized body; when content follows it is policy, "l= leaves
//     N bytes unsigned"; an l= larger than the body is permerror.
//  9. Otherwise the hashes decide (RFC 6376 §6.1.3): bh= or b= not base64
//     is permerror; a body hash that
//     does not match is fail, "body hash did not verify"; a signature that
//     does not verify over the header hash is fail, "signature did not
//     verify"; else pass.
//
// Ed25519 (k=ed25519, a=ed25519-sha256, RFC 8463) works like RSA; its
// KeyBits is 256. A key record with t=y (testing) is reported in
// Result.Testing; the result is not changed (RFC 6376 §3.6.1 leaves that to
// the receiver's policy).
//
// Header hygiene: a header block larger than MaxHeaderBytes is not verified
// (each signature seen in it is permerror "header block too large"); a
// message that ends inside its header is taken as header only.
package dkim
