package auth

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/authmilter/authmilter/auth/arc"
	"github.com/authmilter/authmilter/auth/authres"
	"github.com/authmilter/authmilter/auth/dkim"
	"github.com/authmilter/authmilter/auth/dmarc"
	"github.com/authmilter/authmilter/auth/dns"
	"github.com/authmilter/authmilter/auth/policy"
)

// ARC (RFC 8617) in the evaluation: a chain is verified only when the
// message has ARC fields (NewVerifier is never called otherwise), from
// the header fields DKIM already split, with its key lookups started at
// the end of the header and its body hashes taken as the body streams.

// ARCConfig is the [arc] section.
type ARCConfig struct {
	// TrustedSealers are the sealer domains (d= of an ARC-Seal; a domain
	// counts for its subdomains too) whose passing chains may soften a
	// DMARC fail (policy.arc_override_action).
	TrustedSealers []string `toml:"trusted_sealers"`
	// Seal configures sealing; off unless Domain, Selector and Key are set.
	Seal ARCSealConfig `toml:"seal"`
}

// ARCSealConfig is [arc.seal]: the key our ARC sets are signed with.
type ARCSealConfig struct {
	Domain   string `toml:"domain"`   // d=
	Selector string `toml:"selector"` // s=; the key is published at selector._domainkey.domain
	Key      string `toml:"key"`      // PEM private key file (RSA of at least 1024 bits, or Ed25519)
}

// validate checks [arc]; errors name the key.
func (c ARCConfig) validate() error {
	for _, d := range c.TrustedSealers {
		if !validHostName(strings.TrimSuffix(strings.TrimSpace(d), ".")) {
			return fmt.Errorf("arc.trusted_sealers: %q is not a domain name", d)
		}
	}
	s := c.Seal
	if (s.Domain != "" || s.Selector != "" || s.Key != "") && (s.Domain == "" || s.Selector == "" || s.Key == "") {
		return fmt.Errorf("arc.seal: domain, selector and key are all needed to seal")
	}
	return nil
}

// newSigner loads [arc.seal]'s key (at start and at each reload, when the
// Evaluator is built); nil when sealing is off. An Ed25519 key is used but
// warned about: RFC 8617 takes its algorithms from DKIM, but ARC verifiers
// in use (dkimpy's arc_verify among them) know only rsa-sha256 and fail
// such a seal.
func (c ARCConfig) newSigner(log *slog.Logger) (*arc.Signer, error) {
	if c.Seal.Key == "" {
		return nil, nil
	}
	key, err := dkim.LoadSigningKey(c.Seal.Key)
	if err != nil {
		return nil, fmt.Errorf("arc.seal.key: %w", err)
	}
	if _, ok := key.Public().(ed25519.PublicKey); ok {
		log.Warn("arc.seal.key is an Ed25519 key: most ARC verifiers (dkimpy among them) accept only rsa-sha256 seals and will fail ours; use an RSA-2048 key", "key", c.Seal.Key)
	}
	s, err := arc.NewSigner(c.Seal.Domain, c.Seal.Selector, key, nil)
	if err != nil {
		return nil, fmt.Errorf("arc.seal: %w", err)
	}
	return s, nil
}

// isARCField reports whether a field name is one of an ARC set's.
func isARCField(n string) bool {
	return len(n) > 4 && strings.EqualFold(n[:4], "arc-") &&
		(strings.EqualFold(n, "ARC-Seal") || strings.EqualFold(n, "ARC-Message-Signature") ||
			strings.EqualFold(n, "ARC-Authentication-Results"))
}

// startARC runs at the end of the header: the chain's verification
// starts, with its key lookups, when the message has ARC fields; the
// seal's body hash when we seal.
func (m *Message) startARC() {
	if m.e.sealer != nil {
		m.sealBody = dkim.NewBodyHasher(true, -1)
	}
	fields := m.dkim.HeaderFields()
	if !m.hasARC || fields == nil {
		return // no chain; or a header too large to split: arcResult fails it
	}
	m.arc = arc.NewVerifier(arc.Options{Resolver: m.e.res, MinRSABits: m.e.cfg.DKIM.MinRSABits, Keys: m.e.keys}, fields)
	m.arc.Lookup(m.ctx)
}

// arcBody gives a body chunk to the chain's verifier and the seal.
func (m *Message) arcBody(chunk []byte) {
	if m.arc != nil {
		m.arc.Write(chunk)
	}
	if m.sealBody != nil {
		m.sealBody.Write(chunk)
	}
}

// arcResult is the chain's verdict at end of message.
func (m *Message) arcResult(ctx context.Context) arc.Result {
	switch {
	case !m.hasARC:
		return arc.Result{Result: arc.None}
	case m.arc == nil || m.overLimit != "":
		return arc.Result{Result: arc.Fail, Reason: "header not verifiable: " + cmp.Or(m.overLimit, "too large")}
	}
	return m.arc.Result(ctx)
}

// trustedSealer reports whether d is, or lies below, a trusted sealer.
func (e *Evaluator) trustedSealer(d string) bool {
	for _, t := range e.cfg.ARC.TrustedSealers {
		if t = strings.TrimSuffix(strings.TrimSpace(t), "."); t != "" && dns.IsSubdomainOrSame(d, t) {
			return true
		}
	}
	return false
}

// arcInput is the decision's ARC evidence: the newest sealer when it is
// trusted and the chain passed, with the author domains its AAR recorded
// a pass for; or, when the chain failed only on temporary DNS errors, the
// newest sealer when it is trusted.
func (e *Evaluator) arcInput(res arc.Result, authors []dmarc.Result) policy.ARCInput {
	if len(res.Sealers) == 0 || res.Sealers[0].Instance != res.Instances || !e.trustedSealer(res.Sealers[0].Domain) {
		return policy.ARCInput{}
	}
	sealer := res.Sealers[0].Domain
	switch {
	case res.Result == arc.Fail && res.Temporary:
		return policy.ARCInput{TempSealer: sealer}
	case res.Result != arc.Pass:
		return policy.ARCInput{}
	}
	in := policy.ARCInput{Sealer: sealer}
	results := arc.ParseAAR(res.AAR)
	for _, a := range authors {
		if a.Domain != "" && aarVouches(results, a) {
			in.PassFor = append(in.PassFor, a.Domain)
		}
	}
	return in
}

// aarVouches reports whether a sealer's recorded results pass DMARC for
// author domain a: dmarc=pass for it, or a pass of DKIM (header.d) or SPF
// (smtp.mailfrom) for a domain in relaxed alignment with it (RFC 9989
// §4.4: the same Organizational Domain).
func aarVouches(results []arc.AARResult, a dmarc.Result) bool {
	aligned := func(d string) bool {
		d = strings.ToLower(strings.TrimSuffix(d, "."))
		return d != "" && (d == a.Domain || (a.OrgDomain != "" && dns.IsSubdomainOrSame(d, a.OrgDomain)))
	}
	for _, r := range results {
		if r.Result != "pass" {
			continue
		}
		switch r.Method {
		case "dmarc":
			if strings.EqualFold(strings.TrimSuffix(r.Props["header.from"], "."), a.Domain) {
				return true
			}
		case "dkim":
			if aligned(r.Props["header.d"]) {
				return true
			}
		case "spf":
			mf := r.Props["smtp.mailfrom"]
			if aligned(mf[strings.LastIndexByte(mf, '@')+1:]) {
				return true
			}
		}
	}
	return false
}

// arcHeaderResult is the arc= result of our Authentication-Results (RFC
// 8617 §10.1 and the IANA registry: header.oldest-pass, smtp.remote-ip).
func arcHeaderResult(r *Report) *authres.ARCResult {
	a := r.ARC
	if a.Result == "" || a.Result == arc.None && r.Envelope.ClientIP == nil {
		return nil
	}
	h := &authres.ARCResult{Result: string(a.Result), OldestPass: -1}
	if r.Envelope.ClientIP != nil {
		h.RemoteIP = r.Envelope.ClientIP.String()
	}
	switch a.Result {
	case arc.Pass:
		h.OldestPass = a.OldestPass
		var names []string
		for _, s := range a.Sealers {
			names = append(names, fmt.Sprintf("i=%d %s", s.Instance, s.Domain))
		}
		h.Reason = strings.Join(names, ", ")
		if r.Decision.Override.Kind == policy.OverrideARC {
			h.Reason = "trusted sealer " + r.Decision.Override.Detail
		}
	case arc.Fail:
		h.Reason = a.Reason
	}
	return h
}

// Seal returns the ARC set to add to a message we deliver (RFC 8617
// §5.1): AAR with our Authentication-Results, AMS and AS with cv= from
// our verification. nil, nil when sealing is off or the message is not
// delivered or not evaluated; an error (wrapping arc.ErrNoSeal when the
// chain must not be extended, or failed only on temporary DNS errors) when
// no set can be made. Call it after
// Finish, with its report.
func (m *Message) Seal(r *Report) (*arc.Set, error) {
	s := m.e.sealer
	if s == nil || r.Skipped != "" || r.Header == "" || m.sealBody == nil ||
		(r.Decision.Action != policy.Accept && r.Decision.Action != policy.Quarantine) {
		return nil, nil
	}
	fields := m.dkim.HeaderFields()
	if fields == nil {
		return nil, fmt.Errorf("%w: header not available", arc.ErrNoSeal)
	}
	sum, _, ok := m.sealBody.Sum()
	if !ok {
		return nil, fmt.Errorf("%w: body hash unusable", arc.ErrNoSeal)
	}
	cv := r.ARC.Result
	if cv == arc.Fail && r.ARC.Temporary {
		// A seal with cv=fail would end a chain that may well verify
		// once DNS answers; the next hop can still judge it without us.
		return nil, fmt.Errorf("%w: the chain failed on a temporary DNS error", arc.ErrNoSeal)
	}
	set, err := s.Seal(arc.SealInput{Fields: fields, BodyHash: sum, AuthResults: r.Header, CV: cv, Time: time.Now()})
	if err != nil {
		return nil, err
	}
	return &set, nil
}
