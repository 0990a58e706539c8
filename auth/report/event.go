package report

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/authmilter/authmilter/auth/dmarc"
)

// Event is one DMARC evaluation as the milter decided it: the applied
// record, the identifiers, the raw results and our actual disposition with
// the reasons for any local override (List-Id quarantine, trusted
// forwarder, test mode...).
type Event struct {
	Time   time.Time
	Policy Policy

	SourceIP     netip.Addr
	HeaderFrom   string // author domain; U-labels are converted
	EnvelopeFrom string // MAIL FROM domain; empty for the null reverse-path
	EnvelopeTo   string // optional; off by default for privacy

	DKIM []DKIMResult
	SPF  SPFResult

	DKIMAligned, SPFAligned bool // policy_evaluated dkim and spf (§3.1.1.9)

	// Requested is what the record asked for this author domain (p, sp or
	// np); Disposition is what we did.
	Requested   Disposition
	Disposition Disposition
	Reasons     []Reason
}

// Row is one aggregated report record (§3.1.1.8): the distinct tuple and
// the number of messages that had it.
type Row struct {
	SourceIP     netip.Addr
	HeaderFrom   string
	EnvelopeFrom string
	EnvelopeTo   string
	DKIM         []DKIMResult
	SPF          SPFResult
	DKIMAligned  bool
	SPFAligned   bool
	Disposition  Disposition
	Reasons      []Reason
	Count        int64
}

// Row turns the event into its canonical row with Count 1: domains in
// lower-case A-labels, DKIM results ordered and capped, and the reason the
// RFC requires when none was given. It fails only for input no report may
// carry (an invalid IP or author domain, an unknown disposition).
func (e Event) Row() (Row, error) {
	if !e.SourceIP.IsValid() {
		return Row{}, fmt.Errorf("report: no source IP")
	}
	hf, err := dmarc.NormalizeDomain(e.HeaderFrom)
	if err != nil {
		return Row{}, fmt.Errorf("report: header_from: %w", err)
	}
	if !e.Disposition.Valid() {
		return Row{}, fmt.Errorf("report: disposition %q", e.Disposition)
	}
	r := Row{
		SourceIP:     e.SourceIP.Unmap().WithZone(""),
		HeaderFrom:   hf,
		EnvelopeFrom: domainOrRaw(e.EnvelopeFrom),
		EnvelopeTo:   domainOrRaw(e.EnvelopeTo),
		DKIM:         canonicalDKIM(e.DKIM),
		SPF:          SPFResult{Domain: domainOrRaw(e.SPF.Domain), Result: strings.ToLower(e.SPF.Result), Human: e.SPF.Human},
		DKIMAligned:  e.DKIMAligned,
		SPFAligned:   e.SPFAligned,
		Disposition:  e.Disposition,
		Reasons:      e.reasons(),
		Count:        1,
	}
	return r, nil
}

// domainOrRaw normalizes a domain, keeping a lower-cased original that
// does not parse (a report states what was seen).
func domainOrRaw(d string) string {
	if d == "" {
		return ""
	}
	if n, err := dmarc.NormalizeDomain(d); err == nil {
		return n
	}
	return strings.ToLower(d)
}

// reasons returns the event's reasons, adding one when §3.1.1.9 requires
// it and the caller gave none: alignment failed and the disposition
// differs from the requested policy. Under t=y that reason is
// policy_test_mode (RFC 9989 §5.3.4); otherwise local_policy.
func (e Event) reasons() []Reason {
	rs := slices.Clone(e.Reasons)
	if len(rs) > 0 || e.DKIMAligned || e.SPFAligned || !needsReason(e.Requested, e.Disposition) {
		return rs
	}
	if e.Policy.Testing {
		return []Reason{{Type: ReasonPolicyTestMode}}
	}
	return []Reason{{Type: ReasonLocalPolicy}}
}

// needsReason reports whether disposition d differs from the requested
// policy req (§3.1.1.9); pass and none both mean "no action".
func needsReason(req, d Disposition) bool {
	if req == "" {
		return false
	}
	noAction := func(x Disposition) bool { return x == DispositionNone || x == DispositionPass }
	if noAction(req) && noAction(d) {
		return false
	}
	return req != d
}

// fitsPolicy reports whether disposition d is what the published policy
// asks for author domain from: p for the policy domain itself, sp (or np
// for a non-existent subdomain, which the report cannot tell) otherwise.
func fitsPolicy(domain, p, sp, np, from string, d Disposition) bool {
	allowed := []string{p}
	if from != domain {
		allowed = []string{sp, np, p}
	}
	for _, a := range allowed {
		if a != "" && !needsReason(Disposition(a), d) {
			return true
		}
	}
	return false
}

// dkimRank orders DKIM results (§3.1.3): strict-aligned pass,
// relaxed-aligned pass, other pass, then everything else.
func dkimRank(d DKIMResult) int {
	if d.Result != "pass" {
		return 3
	}
	return int(d.Align)
}

// canonicalDKIM lower-cases, orders (§3.1.3; ties by domain, selector,
// result) and caps (at most MaxDKIM, §3.1.3) the DKIM results. A result
// without d= or s= is left out: selector is required (§3.1.1.12) and such
// a signature names nobody.
func canonicalDKIM(in []DKIMResult) []DKIMResult {
	var out []DKIMResult
	for _, d := range in {
		if d.Domain == "" || d.Selector == "" {
			continue
		}
		d.Domain = domainOrRaw(d.Domain)
		d.Result = strings.ToLower(d.Result)
		out = append(out, d)
	}
	slices.SortStableFunc(out, func(a, b DKIMResult) int {
		if c := dkimRank(a) - dkimRank(b); c != 0 {
			return c
		}
		if c := strings.Compare(a.Domain, b.Domain); c != 0 {
			return c
		}
		if c := strings.Compare(a.Selector, b.Selector); c != 0 {
			return c
		}
		return strings.Compare(a.Result, b.Result)
	})
	if len(out) > MaxDKIM {
		out = out[:MaxDKIM]
	}
	return out
}

// Hash identifies the row's tuple (everything but Count): rows with equal
// hashes are one report record (§3.1.1.8). Hex, 32 characters.
func (r Row) Hash() string {
	h := sha256.New()
	w := func(s string) {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	w(r.SourceIP.String())
	w(r.HeaderFrom)
	w(r.EnvelopeFrom)
	w(r.EnvelopeTo)
	w(fmt.Sprint(r.DKIMAligned, r.SPFAligned))
	w(string(r.Disposition))
	for _, x := range r.Reasons {
		w("reason")
		w(string(x.Type))
		w(x.Comment)
	}
	for _, d := range r.DKIM {
		w("dkim")
		w(d.Domain)
		w(d.Selector)
		w(d.Result)
		w(d.Human)
		w(fmt.Sprint(d.Align))
	}
	w("spf")
	w(r.SPF.Domain)
	w(r.SPF.Result)
	w(r.SPF.Human)
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// Fingerprint identifies the applied record (policy domain and every value
// policy_published shows, plus rua): rows under different fingerprints
// were evaluated under different policy configurations (§3.1.2).
func (p Policy) Fingerprint() string {
	s := strings.Join([]string{p.Domain, p.P, p.SP, p.NP, p.ADKIM, p.ASPF, p.FO,
		fmt.Sprint(p.Testing), p.Discovery, strings.Join(p.RUA, ",")}, "\x00")
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:16])
}

// Key places a row in the aggregation: its period, policy domain, record
// fingerprint and tuple hash.
type Key struct {
	Period       Period
	PolicyDomain string
	RecordFP     string
	RowHash      string
}

// Batch folds events into counted rows in memory, one entry per Key. It is
// what a flush hands to the store. Not safe for concurrent use.
type Batch struct {
	PeriodLen time.Duration
	Rows      map[Key]*Row
	Policies  map[string]Policy // by fingerprint
	LastSeen  map[Key]int64     // epoch seconds of the newest event per key
}

// NewBatch returns an empty batch for periods of length periodLen.
func NewBatch(periodLen time.Duration) *Batch {
	return &Batch{PeriodLen: periodLen, Rows: map[Key]*Row{}, Policies: map[string]Policy{}, LastSeen: map[Key]int64{}}
}

// Add counts one event.
func (b *Batch) Add(e Event) error {
	k, r, err := e.KeyRow(b.PeriodLen)
	if err != nil {
		return err
	}
	b.Put(k, r, e.Policy, e.Time.Unix())
	return nil
}

// KeyRow returns the event's canonical row (Count 1) and its key for
// periods of length periodLen.
func (e Event) KeyRow(periodLen time.Duration) (Key, Row, error) {
	r, err := e.Row()
	if err != nil {
		return Key{}, Row{}, err
	}
	k := Key{Period: PeriodOf(e.Time, periodLen), PolicyDomain: e.Policy.Domain, RecordFP: e.Policy.Fingerprint(), RowHash: r.Hash()}
	return k, r, nil
}

// Put adds r's count under k, evaluated under policy p (whose fingerprint
// is k.RecordFP), the newest event at epoch second last.
func (b *Batch) Put(k Key, r Row, p Policy, last int64) {
	if have, ok := b.Rows[k]; ok {
		have.Count += r.Count
	} else {
		b.Rows[k] = &r
	}
	b.Policies[k.RecordFP] = p
	if last > b.LastSeen[k] {
		b.LastSeen[k] = last
	}
}

// Merge adds every count of o to b.
func (b *Batch) Merge(o *Batch) {
	for k, r := range o.Rows {
		b.Put(k, *r, o.Policies[k.RecordFP], o.LastSeen[k])
	}
}

// Messages returns the number of messages the batch counts.
func (b *Batch) Messages() int64 {
	var n int64
	for _, r := range b.Rows {
		n += r.Count
	}
	return n
}

// Len returns the number of distinct keys.
func (b *Batch) Len() int { return len(b.Rows) }
