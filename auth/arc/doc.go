// Package arc verifies and seals Authenticated Received Chains (RFC 8617).
//
// Verification (§5.2): a Verifier takes the header fields, then the body in
// chunks (the ARC-Message-Signatures' body hashes are taken while it
// streams, as in auth/dkim), then looks up the sealers' keys and judges the
// chain. Every failure, a DNS failure included, makes the chain fail;
// Result keeps the reason and whether temporary DNS errors were the only
// cause, for the decision layer, and the newest ARC-Authentication-Results
// of a passing chain, which ParseAAR reads.
//
// Sealing (§5.1): a Signer makes the next ARC set of a message from its
// header fields, its relaxed body hash, our Authentication-Results and the
// chain status our own verification found.
//
// The ARC-Message-Signature and ARC-Seal reuse DKIM's tag lists,
// canonicalization and keys through auth/dkim's exported ARC wrappers.
package arc
