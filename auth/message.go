package auth

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/authmilter/authmilter/auth/arc"
	"github.com/authmilter/authmilter/auth/authres"
	"github.com/authmilter/authmilter/auth/bodysig"
	"github.com/authmilter/authmilter/auth/dkim"
	"github.com/authmilter/authmilter/auth/dmarc"
	"github.com/authmilter/authmilter/auth/mime"
	"github.com/authmilter/authmilter/auth/policy"
	"github.com/authmilter/authmilter/auth/spf"
	"github.com/authmilter/authmilter/auth/tlsreq"
)

// Resolver is the DNS every check uses: *dns.Resolver in production, the
// same type pointed at dnstest in tests.
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
	LookupIP(ctx context.Context, network, host string) ([]net.IP, error)
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
	LookupAddr(ctx context.Context, addr string) ([]string, error)
}

// Evaluator holds what every message shares: configuration, resolver, logger.
// It is safe for concurrent use; a new one is built on configuration reload.
type Evaluator struct {
	// sealer seals delivered messages ([arc.seal]); nil when off.
	sealer *arc.Signer

	cfg   Config
	res   Resolver
	log   *slog.Logger
	spf   *spf.Checker
	dmarc *dmarc.Evaluator
	keys  *dkim.KeyCache   // parsed DKIM key records, shared by all messages
	sig   *bodysig.Checker // S/MIME and OpenPGP; nil when both are off
	sign  *signTable       // signing keys ([[dkim.sign]]); nil: none
	goFn  func(f func())   // runs background work (NewWithGo)
}

// goroutine runs f on a new goroutine.
func goroutine(f func()) { go f() }

// New returns an Evaluator. cfg is validated (defaults must already be in it:
// start from DefaultConfig). A message's background work runs on a new
// goroutine for each piece.
func New(cfg Config, r Resolver, log *slog.Logger) (*Evaluator, error) {
	return NewWithGo(cfg, r, log, nil)
}

// NewWithGo is New with run given each piece of a message's background
// work (SPF, DKIM key lookups) to run instead
// of a new goroutine: a daemon passes goroutines it keeps, whose stacks
// have already grown. run must run f, at once and concurrently with its
// caller; nil is a new goroutine for each.
func NewWithGo(cfg Config, r Resolver, log *slog.Logger, run func(f func())) (*Evaluator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if run == nil {
		run = goroutine
	}
	sign, err := loadSignTable(cfg.DKIM.SignConfig, log)
	if err != nil {
		return nil, err
	}
	sealer, err := cfg.ARC.newSigner(log)
	if err != nil {
		return nil, err
	}
	return &Evaluator{
		sign:   sign,
		sealer: sealer,
		cfg:    cfg,
		res:    r,
		log:    log,
		goFn:   run,
		spf: &spf.Checker{
			Resolver:     r,
			Timeout:      cfg.SPF.Timeout,
			MaxLookups:   cfg.SPF.MaxLookups,
			MaxVoid:      cfg.SPF.MaxVoidLookups,
			ReceiverName: cmp.Or(cfg.AuthservID, cfg.HostName),
			Logger:       log,
		},
		dmarc: &dmarc.Evaluator{Resolver: r, LegacyPct: cfg.DMARC.LegacyPct, Logger: log},
		keys:  dkim.NewKeyCache(0),
		sig:   cfg.signatureChecker(),
	}, nil
}

// Config returns the validated configuration in use.
func (e *Evaluator) Config() Config { return e.cfg }

// Why a message is not evaluated (Message.Skipped).
const (
	skipTrusted       = "trusted network"
	skipAuthenticated = "authenticated client"
)

// SkipsClient reports whether a client is not evaluated at all: it is in
// trusted_networks and policy.skip_trusted is on (the default).
func (e *Evaluator) SkipsClient(ip net.IP) bool {
	return e.cfg.Policy.SkipTrusted && e.TrustedClient(ip)
}

// TrustedClient reports whether a client address is in trusted_networks
// (IPv4-mapped IPv6 counts as IPv4).
func (e *Evaluator) TrustedClient(ip net.IP) bool {
	a, ok := netip.AddrFromSlice(ip)
	return ok && inPrefixes(e.cfg.trusted, a)
}

// FailureDecision is the decision for a message that could not be
// evaluated (an internal error): policy.internal_error_action.
func (e *Evaluator) FailureDecision() policy.Decision {
	return policy.Decide(e.cfg.Policy, policy.Input{InternalError: true})
}

// Envelope is what the SMTP session told us about a message.
type Envelope struct {
	ClientIP   net.IP // nil when unknown (e.g. a local socket)
	ClientPort uint16 // the client's TCP port; 0 when unknown
	ClientName string // the MTA's verified name for the client, if any
	Helo       string
	MailFrom   string // the reverse-path without <>; "" for the null sender
	AuthUser   string // the SASL login name, when the client authenticated
	QueueID    string
	// MTAHost is the MTA's own host name (the milter macro j, sent by
	// Postfix and Sendmail at connect): the authserv-id when authserv_id
	// is unset and it is fully qualified.
	MTAHost string
	// TLS is the session's transport security; nil when unknown (it is
	// then left out of the header).
	TLS *TLS
	// RequireTLS: the MAIL FROM carried the REQUIRETLS parameter (RFC
	// 8689 §4).
	RequireTLS bool
	// DaemonName is the MTA listener's name ({daemon_name}, sent at
	// connect; Postfix: milter_macro_daemon_name).
	DaemonName string
}

// Message is one message being evaluated. Its methods are called in the order
// the message arrives, from one goroutine; Abort may be called at any time.
type Message struct {
	e      *Evaluator
	env    Envelope
	start  time.Time
	ctx    context.Context
	cancel context.CancelFunc

	skip       string // why the message is not evaluated, or ""
	authservID string // names our Authentication-Results and finds forged ones

	hasARC   bool             // an ARC field was seen: the chain is verified
	arc      *arc.Verifier    // from the end of the header, when hasARC
	sealBody *dkim.BodyHasher // the seal's body hash, when we seal

	spfDone       chan struct{}
	spfRes, helo  spf.Outcome
	dkim          *dkim.Verifier
	headerBytes   int
	headers       int
	froms         []string
	hasListID     bool
	arIndex       int   // count of Authentication-Results fields so far
	forged        []int // 1-based indices (among A-R fields) carrying our authserv-id
	overLimit     string
	headersEnded  bool
	internalError error

	// The top-level Content-Type and Content-Transfer-Encoding, and the
	// body's signature check (signatures.go).
	ctype, cte      string
	haveCT, haveCTE bool
	sig             bodysig.Body
	tlsRequiredNo   bool   // a "TLS-Required: No" field (RFC 8689 §5)
	tlsReport       bool   // a TLS-Report-Domain field: a TLS report (RFC 8460 §5.3)
	rawHeader       []byte // Config.KeepHeaderBytes of the header, when set
	headerCut       bool   // rawHeader stopped short of the whole header
}

// NewMessage starts evaluating a message: it is called at MAIL FROM, and SPF
// starts at once in the background. ctx bounds all of the message's work
// (cancel it, or call Abort, when the message goes away).
func (e *Evaluator) NewMessage(ctx context.Context, env Envelope) *Message {
	ctx, cancel := context.WithCancel(ctx)
	m := &Message{e: e, env: env, start: time.Now(), ctx: ctx, cancel: cancel, spfDone: make(chan struct{}),
		authservID: e.cfg.authservID(env.MTAHost)}
	switch {
	case env.ClientIP != nil && e.SkipsClient(env.ClientIP):
		m.skip = skipTrusted
	case env.AuthUser != "" && e.cfg.Policy.SkipAuthenticated:
		m.skip = skipAuthenticated
	}
	if m.skip != "" {
		close(m.spfDone)
		return m
	}
	m.dkim = dkim.NewVerifier(ctx, dkim.Options{
		Resolver:      e.res,
		MaxSignatures: e.cfg.DKIM.MaxSignatures,
		MinRSABits:    e.cfg.DKIM.MinRSABits,
		Keys:          e.keys,
		Logger:        e.log,
		Go:            e.goFn,
	})
	e.goFn(m.runSPF)
	return m
}

// Skipped returns why the message is not evaluated ("" when it is).
func (m *Message) Skipped() string { return m.skip }

func (m *Message) runSPF() {
	defer close(m.spfDone)
	defer func() {
		if v := recover(); v != nil {
			m.spfRes = spf.Outcome{Identity: "mailfrom", Result: spf.Result("temperror"), Reason: "internal error"}
			m.e.log.Error("spf evaluation panicked", "panic", fmt.Sprint(v))
		}
	}()
	ip := m.env.ClientIP
	if ip == nil {
		m.spfRes = spf.Outcome{Identity: "mailfrom", Result: "none", Reason: "no client address"}
		m.helo = spf.Outcome{Identity: "helo", Result: "none", Reason: "no client address"}
		return
	}
	done := make(chan struct{})
	m.e.goFn(func() {
		defer close(done)
		defer func() {
			if v := recover(); v != nil {
				m.helo = spf.Outcome{Identity: "helo", Result: "temperror", Reason: "internal error"}
			}
		}()
		m.helo = m.e.spf.CheckHelo(m.ctx, ip, m.env.Helo)
	})
	m.spfRes = m.e.spf.CheckMailFrom(m.ctx, ip, m.env.Helo, m.env.MailFrom)
	<-done
}

// Header takes one header field as received: the name, and the value with
// its original whitespace after the colon and its folds (bare LF or CRLF).
func (m *Message) Header(name, value string) {
	if m.skip != "" || m.overLimit != "" {
		return
	}
	m.headers++
	raw := rawField(name, value)
	m.headerBytes += len(raw)
	switch {
	case m.headers > m.e.cfg.Limits.MaxHeaders:
		m.overLimit = fmt.Sprintf("more than %d header fields", m.e.cfg.Limits.MaxHeaders)
	case m.headerBytes > m.e.cfg.Limits.MaxHeaderBytes:
		m.overLimit = fmt.Sprintf("header block larger than %d bytes", m.e.cfg.Limits.MaxHeaderBytes)
	case strings.Count(raw, "\n") > m.e.cfg.Limits.MaxFieldLines:
		m.overLimit = fmt.Sprintf("a header field folded over more than %d lines", m.e.cfg.Limits.MaxFieldLines)
	}
	if m.overLimit != "" {
		m.dkim.Abort()
		return
	}
	m.keepField(raw)
	n := fieldName(name) // as DKIM reads it: up to the colon, trimmed
	switch {
	case strings.EqualFold(n, "From"):
		m.froms = append(m.froms, m.fromValue(name, value))
	case hidesFrom(name, value):
		// Not a From to DKIM or to us, but one to a reader that takes a
		// bare CR for a line end: counted as a second, malformed From.
		m.e.log.Debug("From field behind a bare CR", "queue_id", m.env.QueueID, "field", fieldName(name))
		m.froms = append(m.froms, "\r")
	}
	switch {
	case isARCField(n):
		m.hasARC = true
	case strings.EqualFold(n, "List-Id"):
		m.hasListID = true
	case strings.EqualFold(n, "TLS-Required"):
		m.tlsRequiredNo = m.tlsRequiredNo || tlsRequiredNo(value)
	case strings.EqualFold(n, "TLS-Report-Domain"):
		m.tlsReport = true
	case strings.EqualFold(n, "Authentication-Results"):
		m.arIndex++
		if authres.HasAuthservID(value, m.authservID) {
			m.forged = append(m.forged, m.arIndex)
		}
	}
	if m.e.sig != nil {
		m.noteMIME(n, value)
	}
	m.write(raw)
}

// keepField copies a field into rawHeader while it fits in
// Config.KeepHeaderBytes; the fields after one that does not fit are not
// kept either.
func (m *Message) keepField(raw string) {
	limit := m.e.cfg.KeepHeaderBytes
	if limit <= 0 || m.headerCut {
		return
	}
	if len(m.rawHeader)+len(raw) > limit {
		m.headerCut = true
		return
	}
	m.rawHeader = append(m.rawHeader, raw...)
}

// fromValue is the value DMARC reads of a From field: the one DKIM reads
// (rawField), under the name DKIM reads (fieldName). A malformed field is a
// malformed From: AuthorDomains refuses a value with a bare CR or a line
// break that is not a fold as it is (RFC 5322 §2.2); for a bad name
// (nameProblem), a CR put before the value makes it refuse it too.
func (m *Message) fromValue(name, value string) string {
	if p := nameProblem(name); p != "" {
		m.e.log.Debug("malformed From field", "queue_id", m.env.QueueID, "problem", p)
		return "\r" + value
	}
	return value
}

// EndHeaders marks the end of the header block: DKIM key lookups start.
func (m *Message) EndHeaders() {
	if m.skip != "" || m.overLimit != "" || m.headersEnded {
		return
	}
	m.headersEnded = true
	m.write("\r\n")
	if m.e.sig != nil {
		m.e.sig.Start(&m.sig, m.ctx, m.ctype, m.cte, m.froms)
	}
	m.startARC()
}

// Body takes the next chunk of the body (CRLF line ends, dot-unstuffed).
func (m *Message) Body(chunk []byte) {
	if m.skip != "" || m.overLimit != "" {
		return
	}
	if !m.headersEnded {
		m.EndHeaders()
	}
	m.arcBody(chunk)
	if _, err := m.dkim.Write(chunk); err != nil && m.internalError == nil {
		m.internalError = fmt.Errorf("dkim: %w", err)
	}
	m.sig.Write(chunk)
}

func (m *Message) write(s string) {
	if _, err := io.WriteString(m.dkim, s); err != nil && m.internalError == nil {
		m.internalError = fmt.Errorf("dkim: %w", err)
	}
}

// Abort drops the message: background work is cancelled and released.
func (m *Message) Abort() {
	m.cancel()
	if m.dkim != nil {
		m.dkim.Abort()
	}
}

// Report is the outcome of one message.
type Report struct {
	Envelope Envelope
	Skipped  string // why the message was not evaluated, or ""
	// AuthservID names Header and the fields listed in Forged.
	AuthservID string

	SPF     spf.Outcome // the MAIL FROM identity
	HELO    spf.Outcome // the HELO identity
	DKIM    []dkim.Result
	Authors []string // author domains (A-labels)
	// FromError says why the From field could not be used; FromOK ("")
	// when it could.
	FromError policy.FromError
	// DMARC is the result of the author domain that decided the action
	// (Decision.Author; with one author domain, its result), or why DMARC
	// was not evaluated (an unusable From, a limit).
	DMARC dmarc.Result
	// PerAuthor holds each author domain's result, in From order; empty
	// when DMARC was not evaluated. The decision and the header use every
	// one.
	PerAuthor []dmarc.Result
	Decision  policy.Decision

	// Header is the Authentication-Results value to insert (CRLF folds),
	// empty when the message was skipped.
	Header string
	// Signatures holds one result per S/MIME or OpenPGP signature (or
	// encrypted part) of the body; SignatureHeaders their
	// Authentication-Results values, one per method, to insert after
	// Header (none without a result).
	Signatures       []mime.Result
	SignatureHeaders []string
	// Forged lists the 1-based indices, among the message's
	// Authentication-Results fields, of those carrying our authserv-id.
	Forged []int
	// TLSRequiredNo: the message has "TLS-Required: No" (RFC 8689 §5).
	TLSRequiredNo bool
	// TLSRequire is the outcome of tls.require for the message.
	TLSRequire tlsreq.Outcome
	// RawHeader holds the header fields as received, up to
	// Config.KeepHeaderBytes (nil when that is 0); HeaderCut says fields
	// were left out at that limit.
	RawHeader []byte
	HeaderCut bool
	// Problem describes a limit or internal error that affected the result.
	Problem string
	Elapsed time.Duration

	// ARC is the ARC chain's verdict (RFC 8617 §5.2): none without ARC
	// fields.
	ARC arc.Result
}

// Finish joins the results at end of message. ctx bounds the wait for what
// is still outstanding (SPF, DKIM keys) and the DMARC lookups.
func (m *Message) Finish(ctx context.Context) *Report {
	defer m.cancel()
	r := &Report{Envelope: m.env, Skipped: m.skip, AuthservID: m.authservID}
	if m.skip != "" {
		reason := "authenticated client"
		if m.skip == skipTrusted {
			reason = "trusted client"
		}
		r.Decision = policy.Skipped(m.e.cfg.Policy, reason)
		r.Elapsed = time.Since(m.start)
		return r
	}
	ctx, cancel := context.WithTimeout(ctx, m.e.cfg.Limits.EvaluationTimeout)
	defer cancel()
	if !m.headersEnded && m.overLimit == "" {
		m.EndHeaders()
	}

	select {
	case <-m.spfDone:
		r.SPF, r.HELO = m.spfRes, m.helo
	case <-ctx.Done():
		r.SPF = spf.Outcome{Identity: "mailfrom", Result: "temperror", Reason: "evaluation timed out"}
		r.HELO = spf.Outcome{Identity: "helo", Result: "temperror", Reason: "evaluation timed out"}
	}

	if m.overLimit != "" {
		r.Problem = m.overLimit
	} else {
		r.DKIM = m.dkim.Close()
	}
	if m.internalError != nil {
		r.Problem = m.internalError.Error()
	}
	r.Forged = m.forged
	r.TLSRequiredNo = m.tlsRequiredNo
	r.RawHeader, r.HeaderCut = m.rawHeader, m.headerCut || m.overLimit != ""

	// Over a header limit the fields past it were never read: the From may
	// be among them, so it is neither missing nor malformed (DMARC is a
	// temperror below).
	authors, err := dmarc.AuthorDomains(m.froms)
	switch {
	case m.overLimit != "":
	case errors.Is(err, dmarc.ErrNoFrom):
		r.FromError = policy.FromMissing
	case errors.Is(err, dmarc.ErrMultipleFrom):
		r.FromError = policy.FromMultiple
	case err != nil:
		r.FromError = policy.FromMalformed
	case len(authors) > m.e.cfg.DMARC.MaxFromDomains:
		// Only max_from_domains domains would be evaluated: a forger
		// could list harmless domains first and the one whose p=reject
		// it escapes last. Such a From is treated as unusable (RFC 9989
		// §11.5 leaves the choice to the receiver), which fails closed.
		r.FromError = policy.FromMalformed
		r.Problem = fmt.Sprintf("From names %d author domains, more than dmarc.max_from_domains (%d)",
			len(authors), m.e.cfg.DMARC.MaxFromDomains)
	}
	r.Authors = authors
	r.ARC = m.arcResult(ctx)
	if r.FromError == policy.FromOK && m.overLimit == "" {
		r.DMARC, r.PerAuthor = m.e.dmarc.EvaluateAll(ctx, authors, m.dmarcSPF(r.SPF), dmarcDKIM(r.DKIM))
	} else {
		r.DMARC = dmarc.Result{Result: "permerror", Reason: "unusable From: " + string(r.FromError)}
		if m.overLimit != "" {
			r.DMARC = dmarc.Result{Result: "temperror", Reason: m.overLimit}
		}
	}

	signedBy, sigTemperror := m.finishSignatures(ctx, r)
	r.Decision = policy.Decide(m.e.cfg.Policy, policy.Input{
		Authors:       policyAuthors(r),
		FromError:     r.FromError,
		HasListID:     m.hasListID,
		ARC:           m.e.arcInput(r.ARC, dmarcAuthors(r)),
		ClientIP:      m.env.ClientIP,
		InternalError: m.internalError != nil,
		SignedBy:      signedBy,
		SigTemperror:  sigTemperror,
		Transport:     m.tlsRequirement(r),
	})
	if len(r.PerAuthor) > 1 {
		// The result reported for the message (log, metrics, JSON) is
		// the one of the author domain that decided.
		for _, p := range r.PerAuthor {
			if p.Domain == r.Decision.Author {
				r.DMARC = p
				break
			}
		}
	}
	r.Header = tlsHeader(m.e.header(r), r)
	r.SignatureHeaders = signatureHeaders(r.AuthservID, r.Signatures)
	r.Elapsed = time.Since(m.start)
	return r
}

// dmarcAuthors is each author domain's DMARC result, or the one result.
func dmarcAuthors(r *Report) []dmarc.Result {
	if len(r.PerAuthor) == 0 {
		return []dmarc.Result{r.DMARC}
	}
	return r.PerAuthor
}

// policyAuthors is the policy input: each author domain's DMARC result
// (every one counts, RFC 9989 §5.3.1, §11.5), or the one result that says
// why DMARC was not evaluated.
func policyAuthors(r *Report) []policy.Author {
	if len(r.PerAuthor) == 0 {
		return []policy.Author{policyAuthor(r.DMARC)}
	}
	in := make([]policy.Author, 0, len(r.PerAuthor))
	for _, p := range r.PerAuthor {
		in = append(in, policyAuthor(p))
	}
	return in
}

// policyAuthor converts one DMARC result to the policy's types: the words
// are the same (RFC 8601 results; none, quarantine, reject).
func policyAuthor(r dmarc.Result) policy.Author {
	return policy.Author{Domain: r.Domain, Result: policy.Result(r.Result), Policy: policy.DomainPolicy(r.Policy)}
}

// dmarcSPF is the SPF input of DMARC: only the MAIL FROM identity counts;
// for a null sender it is postmaster@HELO (RFC 9989 §3.2.4, RFC 7208 §2.4),
// which spf.CheckMailFrom already evaluated. When SPF did not finish (a
// timeout, a recovered panic) its temperror names no domain: the
// envelope's is used, so that it still counts as a temperror of the MAIL
// FROM domain when that domain is aligned.
func (m *Message) dmarcSPF(o spf.Outcome) dmarc.SPFInput {
	d := o.Domain
	if d == "" {
		d = m.env.Helo
		if i := strings.LastIndexByte(m.env.MailFrom, '@'); i >= 0 {
			d = m.env.MailFrom[i+1:]
		}
	}
	return dmarc.SPFInput{Result: string(o.Result), Domain: d}
}

func dmarcDKIM(rs []dkim.Result) []dmarc.DKIMInput {
	in := make([]dmarc.DKIMInput, 0, len(rs))
	for _, r := range rs {
		in = append(in, dmarc.DKIMInput{Result: string(r.Result), Domain: r.Domain, Selector: r.Selector})
	}
	return in
}
