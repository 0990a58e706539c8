// Package dkim verifies DKIM signatures (RFC 6376) while a message streams
// in, under today's rules: RFC 8301 (no rsa-sha1, no RSA keys under 1024
// bits) and RFC 8463 (Ed25519). The cryptography, canonicalization and key
// record checks are github.com/emersion/go-msgauth/dkim's; this package adds
// streaming, early key lookups, the decisions the library leaves to its
// caller, and one RFC 8601 result per signature.
//
// go-msgauth is v0.7.0 with a patch (go.mod replaces it with
// auth/dkim/third_party/go-msgauth; its PATCH.md): body canonicalizers that
// give the same octets without allocating per write, so verifying a 10 MB
// body allocates ~20 KB instead of ~20 MB, and that hold trailing empty
// lines as a count; a pooled copy buffer; parsed key records cached. A body
// whose line breaks mixed with lone CRs exceed 1 MiB in a row is permerror
// for every signature instead of being held, l= ones included (this
// package's own canonicalizer has the same bound).
//
// # Streaming
//
// The caller writes the raw message (header fields with CRLF line ends, the
// empty line, the body) to a Verifier in chunks of any size. The header block
// is buffered (at most MaxHeaderBytes); when its empty line arrives, every
// DKIM-Signature field is parsed and the key lookups for s._domainkey.d start
// at once, concurrently, through Options.Resolver with the message's context.
// go-msgauth then reads the message from an io.Pipe; its own LookupTXT joins
// the lookup already under way. The body is never held whole: a body Write
// may block until the keys have answered (go-msgauth hashes the body after
// fetching the key). Abort cancels the lookups and waits for every goroutine.
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
//     N bytes unsigned"; an l= larger than the body is permerror. go-msgauth
//     refuses l= altogether, so these signatures are checked by this package
//     (canonicalization and hashing as in RFC 6376 §3.4 and §3.7; the RSA and
//     Ed25519 primitives of the standard library).
//  9. Otherwise go-msgauth's verdict: no error is pass; IsTempFail is
//     temperror; IsPermFail is permerror; a bad signature or body hash is
//     fail. An unexpected error (the stream broke) is neutral.
//
// Ed25519 (k=ed25519, a=ed25519-sha256, RFC 8463) works like RSA; its
// KeyBits is 256. A key record with t=y (testing) is reported in
// Result.Testing; the result is not changed (RFC 6376 §3.6.1 leaves that to
// the receiver's policy).
//
// Clock: x= is checked with Options.Now, but go-msgauth checks it with the
// real clock too, so with Now set in the past a signature whose x= lies
// between Now and the real time ends as permerror "signature has expired".
// In production Now is time.Now and both agree.
//
// Header hygiene: a header block larger than MaxHeaderBytes is not verified
// (each signature seen in it is permerror "header block too large"); a
// message that ends inside its header is taken as header only.
package dkim
