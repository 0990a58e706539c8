// Package arc verifies Authenticated Received Chains (RFC 8617).
//
// Phase 1 is verification only (§5.2): a Verifier takes the header fields,
// then the body in chunks (the newest ARC-Message-Signature's body hash is
// taken while it streams, as in auth/dkim), then looks up the sealers' keys
// and judges the chain. The ARC-Message-Signature and ARC-Seal reuse DKIM's
// tag lists, canonicalization and keys through auth/dkim's exported ARC
// wrappers. Every failure, a DNS failure included, makes the chain fail;
// Result keeps the reason and whether temporary DNS errors were the only
// cause, for the decision layer.
package arc
