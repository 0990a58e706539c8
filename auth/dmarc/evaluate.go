package dmarc

import (
	"context"
	"log/slog"
)

// Status is a DMARC result word (RFC 8601 registry, RFC 9989 §5.3, §9.1).
type Status string

// Result words (RFC 8601 registry, RFC 9989 §5.3, §9.1).
const (
	ResultPass      Status = "pass"
	ResultFail      Status = "fail"
	ResultNone      Status = "none"
	ResultTemperror Status = "temperror"
	ResultPermerror Status = "permerror"
)

// SPFInput is the SPF result for the RFC5321.MailFrom identity (§3.2.4).
type SPFInput struct {
	Result string // RFC 7208 word: pass, fail, softfail, neutral, none, temperror, permerror
	Domain string // MAIL FROM domain, or the HELO domain when MAIL FROM was null
}

// DKIMInput is the result of one DKIM signature (§4.4.1).
type DKIMInput struct {
	Result   string // RFC 8601 word; only "pass" counts
	Domain   string // d=
	Selector string // s=
}

// Evaluator evaluates DMARC. The zero value is not usable: Resolver is
// required.
type Evaluator struct {
	Resolver Resolver
	// LegacyPct says how the removed pct tag is read when the record has no
	// t tag: "t" (the default, also for "") reads pct=0 as t=y and any other
	// value as 100%; "ignore" ignores pct.
	LegacyPct string
	Logger    *slog.Logger // debug only; nil discards
}

// Result is the outcome of DMARC for one Author Domain.
type Result struct {
	Result Status // pass, fail, none, temperror, permerror
	// Policy is the policy for this message after the p/sp/np choice and the
	// t=y step: the value of policy.dmarc. Set for pass too; "" when no
	// policy applies.
	Policy          string
	PublishedPolicy string // the policy before the t=y step
	Testing         bool   // t=y (or legacy pct=0) lowered the policy
	Domain          string // Author Domain (A-label, lower case)
	OrgDomain       string // its Organizational Domain; "" when unknown
	RecordDomain    string // where the record used was found
	Record          string // that record's text
	SPFAligned      bool
	DKIMAligned     bool
	Reason          string // short, for logs and A-R comments
}

// Evaluate evaluates DMARC for the Author Domain author (it is normalised
// with NormalizeDomain) given the SPF result of the MAIL FROM identity and
// the DKIM results. Each identifier is walked once and each DNS name queried
// once per call. The result is temperror whenever a query it depends on
// failed transiently; a pass that stands without that query stays pass.
func (e *Evaluator) Evaluate(ctx context.Context, author string, spf SPFInput, dkim []DKIMInput) Result {
	return e.newSession(ctx).evaluate(e, author, spf, dkim)
}

func (e *Evaluator) newSession(ctx context.Context) *session {
	log := e.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &session{
		ctx: ctx, r: e.Resolver, log: log,
		lookups: map[string]lookupResult{},
		walks:   map[string]*walkResult{},
		exists:  map[string]bool{},
	}
}

func (s *session) evaluate(e *Evaluator, author string, spf SPFInput, dkim []DKIMInput) Result {
	res := Result{Domain: author}
	a, err := NormalizeDomain(author)
	if err != nil {
		res.Result, res.Reason = ResultNone, "invalid author domain"
		return res
	}
	res.Domain = a

	// Policy discovery (§4.10.1): the author's own record with p, else the
	// Organizational Domain's, else the PSD's, with sp or np.
	aw := s.walk(a)
	var rec *Record
	tag := tagP
	orgA := ""
	if aw.err == nil {
		orgA = orgDomain(a, aw)
	}
	res.OrgDomain = orgA
	if len(aw.found) > 0 && aw.found[0].name == a {
		rec, res.RecordDomain = aw.found[0].rec, a
	} else if aw.err != nil {
		res.Result, res.Reason = ResultTemperror, "DNS failure in policy discovery"
		s.log.Debug("dmarc: temperror", "domain", a, "err", aw.err)
		return res
	} else {
		for _, f := range aw.found {
			if f.name == orgA {
				rec, res.RecordDomain = f.rec, f.name
			}
		}
		if rec == nil {
			for _, f := range aw.found {
				if f.rec.PSD == "y" {
					rec, res.RecordDomain = f.rec, f.name
				}
			}
		}
		if rec == nil {
			res.Result, res.Reason = ResultNone, "no DMARC record"
			return res
		}
		tag = tagSP
		sp, spOK, _ := rec.EffectivePolicy(tagSP)
		np, npOK, _ := rec.EffectivePolicy(tagNP)
		if sp != np || spOK != npOK {
			exists, err := s.domainExists(a)
			if err != nil {
				res.Result, res.Reason = ResultTemperror, "DNS failure in policy discovery"
				s.log.Debug("dmarc: temperror", "domain", a, "err", err)
				return res
			}
			if !exists {
				tag = tagNP
			}
		}
	}
	res.Record = rec.Raw

	policy, ok, invalid := rec.EffectivePolicy(tag)
	if !ok {
		// §4.10.1: a missing or invalid policy without a valid rua URI
		// means no DMARC policy applies: none, not an error.
		res.Result, res.Reason = ResultNone, "record without policy"
		if invalid {
			res.Reason = "invalid " + tag + " and no valid rua"
		}
		return res
	}
	res.PublishedPolicy, res.Policy = policy, policy
	testing := rec.Testing
	if !rec.HasT && e.LegacyPct != "ignore" && rec.Pct == 0 {
		testing = true
	}
	if testing {
		res.Testing = true
		res.Policy = lowerPolicy(policy)
	}

	s.align(&res, a, orgA, aw.err, rec, spf, dkim)
	s.log.Debug("dmarc: result", "domain", a, "result", res.Result, "policy", res.Policy,
		"record_domain", res.RecordDomain, "org", res.OrgDomain)
	return res
}

func alignedReason(r Result) string {
	switch {
	case r.SPFAligned && r.DKIMAligned:
		return "spf and dkim aligned"
	case r.SPFAligned:
		return "spf aligned"
	}
	return "dkim aligned"
}

// lowerPolicy is the t=y step (§4.7): reject→quarantine, quarantine→none.
func lowerPolicy(p string) string {
	switch p {
	case PolicyReject:
		return PolicyQuarantine
	case PolicyQuarantine:
		return PolicyNone
	}
	return p
}

// strictness orders results for EvaluateAll the way the default actions
// do: fail under reject (a reject), then temperror (a tempfail: retried
// later, it may turn out a reject), then fail under quarantine, then a
// temperror under policy none (a fail would change nothing either), then
// fail under none, permerror, pass, none.
func strictness(r Result) int {
	switch r.Result {
	case ResultFail:
		switch r.Policy {
		case PolicyReject:
			return 7
		case PolicyQuarantine:
			return 5
		}
		return 3
	case ResultTemperror:
		if r.Policy == PolicyNone {
			return 4
		}
		return 6
	case ResultPermerror:
		return 2
	case ResultPass:
		return 1
	}
	return 0
}

// EvaluateAll evaluates several Author Domains of one message (a From with
// mailboxes in different domains, §5.3.1, §11.5), sharing the DNS work, and
// returns the strictest result (see strictness) and each result, in the
// order of authors. Every domain given is evaluated: the caller bounds
// their number (auth refuses a From past dmarc.max_from_domains).
func (e *Evaluator) EvaluateAll(ctx context.Context, authors []string, spf SPFInput, dkim []DKIMInput) (Result, []Result) {
	s := e.newSession(ctx)
	all := make([]Result, 0, len(authors))
	var best Result
	for i, a := range authors {
		r := s.evaluate(e, a, spf, dkim)
		all = append(all, r)
		if i == 0 || strictness(r) > strictness(best) {
			best = r
		}
	}
	if len(authors) == 0 {
		best = Result{Result: ResultNone, Reason: "no author domain"}
	}
	return best, all
}
