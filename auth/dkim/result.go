package dkim

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"time"
)

// Status is a DKIM result word (RFC 8601 §2.7.1).
type Status string

// Result values, the RFC 8601 §2.7.1 words for DKIM.
const (
	Pass      Status = "pass"
	Fail      Status = "fail"
	Neutral   Status = "neutral"
	Policy    Status = "policy"
	TempError Status = "temperror"
	PermError Status = "permerror"
)

// Defaults of Options.
const (
	DefaultMaxSignatures = 10
	DefaultMinRSABits    = 1024
	// MaxHeaderBytes bounds the header block buffered before verification
	// starts. A larger header block is not verified (every signature seen in
	// it is a permerror).
	MaxHeaderBytes = 1 << 20
)

// TXTResolver is the DNS lookup the verifier needs; *dns.Resolver has it.
// Errors should be *net.DNSError (unwrapped) so temporary failures are told
// from permanent ones.
type TXTResolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

// Options configure a verification.
type Options struct {
	// Resolver looks up key records. Required.
	Resolver TXTResolver
	// MaxSignatures is how many DKIM-Signature fields are verified, top-most
	// first; each further one gets Policy "signature limit reached". 0 means
	// DefaultMaxSignatures.
	MaxSignatures int
	// MinRSABits is the smallest RSA key that may pass; 0 means
	// DefaultMinRSABits, and values below 1024 are raised to 1024 (RFC 8301
	// §3.2 forbids accepting smaller keys).
	MinRSABits int
	// Now is the clock for x= expiry. nil means time.Now.
	Now func() time.Time
	// Keys keeps parsed key records between verifications; nil parses each
	// record when it is used. A daemon passes one KeyCache to all its
	// messages.
	Keys *KeyCache
	// Logger receives debug lines; nil discards.
	Logger *slog.Logger
	// Go runs the verifier's background work (one key lookup each)
	// concurrently with the caller: f must not run on the calling
	// goroutine, which goes on writing the message. nil starts a goroutine
	// for each. A daemon passes goroutines it keeps, whose stacks have
	// already grown.
	Go func(f func())
	// Body length limits (l=) are not configurable: a signature whose l=
	// leaves part of the canonicalized body unsigned gets Policy; one whose
	// l= covers the whole body is verified normally (see doc.go).
}

func (o Options) withDefaults() Options {
	if o.Go == nil {
		o.Go = goroutine
	}
	if o.MaxSignatures <= 0 {
		o.MaxSignatures = DefaultMaxSignatures
	}
	if o.MinRSABits <= 0 {
		o.MinRSABits = DefaultMinRSABits
	}
	if o.MinRSABits < 1024 {
		o.MinRSABits = 1024
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Resolver == nil {
		o.Resolver = noResolver{}
	}
	return o
}

// ErrNoResolver is the lookup error when Options.Resolver is nil.
var ErrNoResolver = errors.New("dkim: no resolver configured")

type noResolver struct{}

func (noResolver) LookupTXT(context.Context, string) ([]string, error) { return nil, ErrNoResolver }

// Result is the outcome for one DKIM-Signature field.
type Result struct {
	// Result is one of Pass, Fail, Neutral, Policy, TempError, PermError.
	Result Status
	// Domain (d=), Identifier (i=, "@"+d when absent), Selector (s=),
	// Algorithm (a=, e.g. "rsa-sha256", "ed25519-sha256"), as far as they
	// could be read.
	Domain, Identifier, Selector, Algorithm string
	// KeyBits is the key size from the key record (RSA modulus bits, 256 for
	// Ed25519); 0 when no key was obtained.
	KeyBits int
	// HeaderB is the first 8 characters of b= (header.b, RFC 6008).
	HeaderB string
	// Reason is a short explanation when Result is not Pass.
	Reason string
	// Testing is set when the key record carries t=y (RFC 6376 §3.6.1).
	Testing bool
}

// Verify reads a whole message from r and verifies its DKIM signatures: it
// is NewVerifier, Write and Close, so it takes the same path as the daemon.
// A read error ends the message early: every result becomes TempError.
func Verify(ctx context.Context, r io.Reader, opts Options) []Result {
	v := NewVerifier(ctx, opts)
	buf := make([]byte, 64<<10)
	_, err := io.CopyBuffer(v, r, buf)
	res := v.Close()
	if err != nil {
		for i := range res {
			res[i].Result, res[i].Reason = TempError, "reading message: "+err.Error()
		}
	}
	return res
}

// goroutine runs f on a new goroutine: Options.Go's default.
func goroutine(f func()) { go f() }
