package spf

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// Resolver is the part of *dns.Resolver that SPF uses. Errors must be
// *net.DNSError values classified as auth/dns does (dns.IsNotFound,
// dns.IsTemporary); tests use a fake returning dns.NewError.
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
	LookupIP(ctx context.Context, network, host string) ([]net.IP, error)
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
	LookupAddr(ctx context.Context, addr string) ([]string, error)
}

// Result is an SPF result, RFC 7208 §2.6, spelled as in RFC 8601.
type Result string

// The results of check_host(), RFC 7208 §2.6.
const (
	None      Result = "none"
	Neutral   Result = "neutral"
	Pass      Result = "pass"
	Fail      Result = "fail"
	Softfail  Result = "softfail"
	Temperror Result = "temperror"
	Permerror Result = "permerror"
)

// Identity is the identity an Outcome is about, RFC 7208 §2.3 and §2.4.
type Identity string

// The identities SPF authorizes.
const (
	IdentityMailFrom Identity = "mailfrom"
	IdentityHelo     Identity = "helo"
)

// Sentinel errors, reachable with errors.Is from the error that caused a
// permerror or temperror (see Outcome.Err).
var (
	ErrSyntax          = errors.New("spf: syntax error")
	ErrMultipleRecords = errors.New("spf: more than one v=spf1 record")
	ErrNoRecord        = errors.New("spf: no SPF record for include or redirect target")
	ErrLookupLimit     = errors.New("spf: more than 10 DNS-querying terms")
	ErrVoidLimit       = errors.New("spf: more than 2 void lookups")
	ErrMXLimit         = errors.New("spf: more than 10 MX names")
	ErrTemporary       = errors.New("spf: temporary DNS error")
	ErrTimeout         = errors.New("spf: evaluation time budget exceeded")
)

// Outcome is the result of one SPF evaluation.
type Outcome struct {
	Identity Identity
	// Domain is the domain whose policy was evaluated (the MAIL FROM
	// domain, or the HELO name).
	Domain string
	// Sender is the <sender> of check_host(), e.g. "postmaster@helo.example".
	Sender string
	Result Result
	// Explanation is the expanded exp= text (or the Checker's
	// DefaultExplanation) for a fail result; empty otherwise.
	Explanation string
	// Reason is short, for log lines and Authentication-Results comments,
	// e.g. "ip4:192.0.2.0/24 matched".
	Reason string
	// Lookups is the number of DNS-querying terms evaluated (§4.6.4).
	Lookups int
	// Err is the cause of a temperror or permerror, nil otherwise.
	Err error `json:"-"`
}

// Default limits and settings.
const (
	DefaultTimeout    = 20 * time.Second
	DefaultMaxLookups = 10
	DefaultMaxVoid    = 2
	DefaultReceiver   = "unknown"
	maxMXNames        = 10
	maxPTRNames       = 10
	maxDepth          = 64 // nesting of include and redirect
)

// Checker evaluates SPF policies. The zero value of each field but Resolver
// selects the default; a Checker is safe for concurrent use.
type Checker struct {
	Resolver Resolver
	// Timeout bounds one evaluation (default 20s, RFC 7208 §4.6.4); when it
	// runs out the result is temperror.
	Timeout time.Duration
	// MaxLookups is the limit of DNS-querying terms (default 10).
	MaxLookups int
	// MaxVoid is the limit of void lookups (default 2).
	MaxVoid int
	// ReceiverName is the %{r} macro (default "unknown").
	ReceiverName string
	// DefaultExplanation, macro-expanded like an exp= text, is the
	// explanation of a fail without a usable exp= modifier. Empty: none.
	DefaultExplanation string
	// Now gives the %{t} macro (default time.Now).
	Now    func() time.Time
	Logger *slog.Logger

	// parsed caches parsed records by their text (parse). A Checker is
	// used through a pointer and must not be copied once in use.
	parsedOnce sync.Once
	parsed     *lru.Cache[string, parsed]
}

func (c *Checker) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return DefaultTimeout
}

func (c *Checker) maxLookups() int {
	if c.MaxLookups > 0 {
		return c.MaxLookups
	}
	return DefaultMaxLookups
}

func (c *Checker) maxVoid() int {
	if c.MaxVoid > 0 {
		return c.MaxVoid
	}
	return DefaultMaxVoid
}

func (c *Checker) receiver() string {
	if c.ReceiverName != "" {
		return c.ReceiverName
	}
	return DefaultReceiver
}

func (c *Checker) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// CheckMailFrom evaluates the MAIL FROM identity (RFC 7208 §2.4). A null
// reverse-path is checked as postmaster@<helo>; an address without a
// local-part gets "postmaster" (§4.3).
func (c *Checker) CheckMailFrom(ctx context.Context, ip net.IP, helo, mailFrom string) Outcome {
	sender := strings.TrimSpace(mailFrom)
	sender = strings.TrimSuffix(strings.TrimPrefix(sender, "<"), ">")
	if sender == "" {
		sender = "postmaster@" + helo
		if !heloIsDomain(helo) {
			return Outcome{Identity: IdentityMailFrom, Domain: helo, Sender: sender,
				Result: None, Reason: "null sender and HELO is not a domain name"}
		}
	}
	domain := sender
	if i := strings.LastIndexByte(sender, '@'); i >= 0 {
		domain = sender[i+1:]
	}
	o := c.CheckHost(ctx, ip, domain, sender, helo)
	o.Identity = IdentityMailFrom
	return o
}

// CheckHelo evaluates the HELO identity (RFC 7208 §2.3). A HELO that is an
// address literal or not a fully qualified domain name gives none.
func (c *Checker) CheckHelo(ctx context.Context, ip net.IP, helo string) Outcome {
	if !heloIsDomain(helo) {
		return Outcome{Identity: IdentityHelo, Domain: helo, Sender: "postmaster@" + helo,
			Result: None, Reason: "HELO is not a domain name"}
	}
	o := c.CheckHost(ctx, ip, helo, "postmaster@"+helo, helo)
	o.Identity = IdentityHelo
	return o
}

// heloIsDomain reports whether a HELO name can be checked: not an address
// literal, and a fully qualified (multi-label) name (RFC 7208 §2.3).
func heloIsDomain(helo string) bool {
	h := strings.TrimSuffix(helo, ".")
	return !strings.HasPrefix(h, "[") && net.ParseIP(h) == nil && strings.Contains(h, ".")
}

// CheckHost is check_host() of RFC 7208 §4: it evaluates the SPF policy of
// domain for a message from ip with the given <sender> and HELO name.
func (c *Checker) CheckHost(ctx context.Context, ip net.IP, domain, sender, helo string) Outcome {
	if ip.To16() == nil {
		return Outcome{Domain: domain, Sender: sender, Result: None, Reason: "no valid client IP address"}
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	e := newEvaluation(ctx, c, ip, sender, helo)
	o := Outcome{Domain: domain, Sender: e.sender}
	res, reason, expl, err := e.checkHost(domain, 0)
	o.Result, o.Reason, o.Explanation, o.Err = res, reason, expl, err
	o.Lookups = e.lookups
	if c.Logger != nil {
		c.Logger.Debug("spf evaluated", "ip", ip.String(), "domain", domain, "sender", e.sender,
			"result", string(res), "reason", reason, "lookups", e.lookups, "voids", e.voids)
	}
	return o
}
