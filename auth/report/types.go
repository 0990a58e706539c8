package report

import (
	"fmt"
	"time"

	"github.com/authmilter/authmilter/auth/dmarc"
)

// Namespace is the XML namespace of RFC 9990 reports (§6.1).
const Namespace = "urn:ietf:params:xml:ns:dmarc-2.0"

// MaxDKIM is the most DKIM results one row carries (§3.1.3 SHOULD).
const MaxDKIM = 100

// Disposition is the action applied to a message (§3.1.1.9
// ActionDispositionType).
type Disposition string

// Dispositions. DispositionPass is new in RFC 9990: the message passed
// DMARC under an enforcing policy and no action was taken.
const (
	DispositionNone       Disposition = "none"
	DispositionPass       Disposition = "pass"
	DispositionQuarantine Disposition = "quarantine"
	DispositionReject     Disposition = "reject"
)

// Valid reports whether d is one of the four dispositions.
func (d Disposition) Valid() bool {
	switch d {
	case DispositionNone, DispositionPass, DispositionQuarantine, DispositionReject:
		return true
	}
	return false
}

// ReasonType says why the applied disposition differs from the published
// policy (§3.1.1.9 PolicyOverrideType).
type ReasonType string

// Reason types of RFC 9990; "forwarded" and "sampled_out" were removed.
const (
	ReasonLocalPolicy      ReasonType = "local_policy"
	ReasonMailingList      ReasonType = "mailing_list"
	ReasonOther            ReasonType = "other"
	ReasonPolicyTestMode   ReasonType = "policy_test_mode"
	ReasonTrustedForwarder ReasonType = "trusted_forwarder"
)

// Valid reports whether t is a reason type of RFC 9990.
func (t ReasonType) Valid() bool {
	switch t {
	case ReasonLocalPolicy, ReasonMailingList, ReasonOther, ReasonPolicyTestMode, ReasonTrustedForwarder:
		return true
	}
	return false
}

// Reason is one policy override (§3.1.1.9): a type and an optional comment.
type Reason struct {
	Type    ReasonType
	Comment string
}

// Alignment says how a DKIM signature's d= relates to the author domain;
// it orders the DKIM results of a row (§3.1.3).
type Alignment uint8

// Alignments, best first.
const (
	AlignStrict  Alignment = iota // d= equals the author domain
	AlignRelaxed                  // same Organizational Domain
	AlignNone                     // not aligned
)

// DKIMResult is one DKIM signature's raw result (§3.1.1.12; RFC 8601
// §2.7.1 result words, lower case).
type DKIMResult struct {
	Domain   string // d=, A-label
	Selector string // s=; required by RFC 9990
	Result   string // none, pass, fail, policy, neutral, temperror, permerror
	Human    string // optional human_result
	Align    Alignment
}

// SPFResult is the raw SPF result for the MAIL FROM identity (§3.1.1.13;
// RFC 8601 §2.7.2 result words). A zero Domain means no SPF result.
type SPFResult struct {
	Domain string
	Result string // none, pass, fail, softfail, policy, neutral, temperror, permerror
	Human  string
}

// Policy is the applied DMARC record as policy_published shows it
// (§3.1.1.6): the values in effect, defaults filled in, plus the rua set
// that decides who receives the report.
type Policy struct {
	Domain  string // the Policy Domain: where the record was found, A-label
	P       string // none, quarantine, reject
	SP      string // default p
	NP      string // default sp
	ADKIM   string // r or s
	ASPF    string // r or s
	FO      string // colon-joined, default "0"
	Testing bool   // t=y
	// Discovery is "treewalk" (RFC 9989) or "psl".
	Discovery string
	// RUA is the rua list as parsed (size suffixes already dropped), in
	// record order.
	RUA []string
}

// PolicyFromRecord fills a Policy from a parsed record found at domain,
// with the defaults of RFC 9989 §4.7 (sp defaults to p, np to sp).
func PolicyFromRecord(domain string, rec *dmarc.Record) (Policy, error) {
	d, err := dmarc.NormalizeDomain(domain)
	if err != nil {
		return Policy{}, fmt.Errorf("report: policy domain: %w", err)
	}
	p, _, _ := rec.EffectivePolicy("p")
	sp, _, _ := rec.EffectivePolicy("sp")
	np, _, _ := rec.EffectivePolicy("np")
	return Policy{
		Domain: d, P: p, SP: sp, NP: np,
		ADKIM: rec.ADKIM, ASPF: rec.ASPF, FO: joinFO(rec.FO),
		Testing: rec.Testing, Discovery: "treewalk",
		RUA: append([]string(nil), rec.RUA...),
	}, nil
}

func joinFO(fo []string) string {
	if len(fo) == 0 {
		return "0"
	}
	s := fo[0]
	for _, f := range fo[1:] {
		s += ":" + f
	}
	return s
}

// Period is a reporting interval in epoch seconds UTC, both bounds
// included (§3.1.1.4 date_range).
type Period struct {
	Begin, End int64
}

// PeriodOf returns the period of length length (a divisor of 24 h,
// typically 24 h) holding t, aligned to UTC midnight (§3.1.1.4: periods
// SHOULD NOT overlap and normally start at 00:00 UTC).
func PeriodOf(t time.Time, length time.Duration) Period {
	n := int64(length / time.Second)
	if n <= 0 || 86400%n != 0 {
		n = 86400
	}
	s := t.Unix()
	b := s - ((s%n)+n)%n
	return Period{Begin: b, End: b + n - 1}
}

// Len returns the period's length in seconds.
func (p Period) Len() int64 { return p.End - p.Begin + 1 }
