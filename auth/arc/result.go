package arc

import (
	"context"

	"github.com/authmilter/authmilter/auth/dkim"
)

// Status is a chain validation status (RFC 8617 §4.4, the cv= values and
// the arc= result of RFC 8601 §2.7.7 not counting temperror).
type Status string

// Chain and seal statuses.
const (
	None Status = "none"
	Pass Status = "pass"
	Fail Status = "fail"
)

// Sealer is one ARC-Seal of the chain and whether it verified.
type Sealer struct {
	Instance int
	Domain   string // d=
	Selector string // s=
	Result   Status // pass or fail; none when the seal was not checked
}

// Result is the outcome of a chain verification.
type Result struct {
	Result Status
	// Instances is the number of ARC sets (the newest instance).
	Instances int
	// OldestPass is the lowest instance from which every AMS up to the
	// newest verified (RFC 8617 §5.2 step 5): 0 when all did, only set for
	// a passing chain.
	OldestPass int
	// Reason says why the chain failed ("" otherwise).
	Reason string
	// Temporary is true when the chain failed only because of temporary DNS
	// errors: the decision layer may then answer temperror instead.
	Temporary bool
	// Sealers are the chain's seals, newest first.
	Sealers []Sealer
	// AAR is the value of the newest ARC-Authentication-Results field
	// (read it with ParseAAR), set when the chain passes: what its sealer
	// found, for a local policy that trusts that sealer.
	AAR string
}

// TXTResolver is the DNS lookup the verifier needs; *dns.Resolver (and the
// cache) have it. Errors should be *net.DNSError so temporary failures are
// told from permanent ones.
type TXTResolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

// Options configure a verification.
type Options struct {
	// Resolver looks up key records. Required.
	Resolver TXTResolver
	// MinRSABits is the smallest RSA key accepted; 0 and values below 1024
	// mean 1024 (RFC 8301 §3.2).
	MinRSABits int
	// Keys caches parsed key records, shared with DKIM; nil parses every
	// time.
	Keys *dkim.KeyCache
}
