package report

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Meta is the reporter's side of report_metadata (§3.1.1.2) and of the
// naming (§3.5.1).
type Meta struct {
	OrgName      string // org_name
	Email        string // email
	ExtraContact string // extra_contact_info, optional
	Submitter    string // receiver domain: filename and Subject
	HostID       string // distinguishes the reports of several hosts (may be empty)
	Generator    string // generator, e.g. "authmilter 1.2"
	// LegacyPass writes disposition "pass" as "none" for consumers that
	// predate RFC 9990.
	LegacyPass bool
}

// Group is the stored aggregate of one period, policy domain and applied
// record: what a store hands back for building.
type Group struct {
	Policy   Policy
	LastSeen int64 // newest event under this record in the period
	Rows     []Row
	Error    string // record problems seen, for report_metadata/error
}

// Report is one aggregate report: one policy domain, one period, one
// policy configuration (§3.1, §3.1.2).
type Report struct {
	Meta   Meta
	ID     string
	Period Period
	Policy Policy
	Error  string
	Rows   []Row
}

// Plan turns the groups of one period and policy domain into reports.
// Groups whose records share a rua set become one report described by the
// record seen last (§3.3: "describe only the final configuration");
// different rua sets become separate reports, so nobody receives data they
// did not ask for. Rows with the same tuple are merged.
func Plan(meta Meta, period Period, groups []Group) []Report {
	bySet := map[string][]Group{}
	var order []string
	for _, g := range groups {
		k := ruaKey(g.Policy.RUA)
		if _, ok := bySet[k]; !ok {
			order = append(order, k)
		}
		bySet[k] = append(bySet[k], g)
	}
	slices.Sort(order)
	out := make([]Report, 0, len(order))
	for _, k := range order {
		out = append(out, merge(meta, period, k, bySet[k]))
	}
	return out
}

func ruaKey(rua []string) string {
	s := slices.Clone(rua)
	for i := range s {
		s[i] = strings.ToLower(s[i])
	}
	slices.Sort(s)
	return strings.Join(slices.Compact(s), ",")
}

func merge(meta Meta, period Period, set string, gs []Group) Report {
	last := gs[0]
	for _, g := range gs[1:] {
		if g.LastSeen > last.LastSeen || g.LastSeen == last.LastSeen && g.Policy.Fingerprint() > last.Policy.Fingerprint() {
			last = g
		}
	}
	rows := map[string]*Row{}
	var errs []string
	for _, g := range gs {
		for _, r := range explainChange(last.Policy, g) {
			h := r.Hash()
			if have, ok := rows[h]; ok {
				have.Count += r.Count
			} else {
				rows[h] = &r
			}
		}
		if g.Error != "" && !slices.Contains(errs, g.Error) {
			errs = append(errs, g.Error)
		}
	}
	rep := Report{Meta: meta, Period: period, Policy: last.Policy, Error: strings.Join(errs, "; ")}
	for _, r := range rows {
		rep.Rows = append(rep.Rows, *r)
	}
	sortRows(rep.Rows)
	rep.ID = ReportID(meta, last.Policy.Domain, period, set)
	return rep
}

// explainChange returns g's rows, giving a reason to those of an earlier
// record whose disposition the final policy would not explain: §3.1.1.9
// requires a reason when alignment failed and the disposition differs from
// the published policy, and the report publishes only the final record
// (§3.3). A row that already has a reason keeps it.
func explainChange(final Policy, g Group) []Row {
	if g.Policy.Fingerprint() == final.Fingerprint() {
		return g.Rows
	}
	out := slices.Clone(g.Rows)
	for i := range out {
		r := &out[i]
		if len(r.Reasons) > 0 || r.DKIMAligned || r.SPFAligned ||
			fitsPolicy(final.Domain, final.P, final.SP, final.NP, r.HeaderFrom, r.Disposition) {
			continue
		}
		r.Reasons = []Reason{{Type: ReasonOther, Comment: "evaluated under an earlier record: p=" + g.Policy.P + " sp=" + g.Policy.SP}}
	}
	return out
}

// sortRows orders rows by source IP, then author domain, then tuple hash,
// so that the same data always gives the same bytes.
func sortRows(rows []Row) {
	slices.SortFunc(rows, func(a, b Row) int {
		if c := a.SourceIP.Compare(b.SourceIP); c != 0 {
			return c
		}
		if c := strings.Compare(a.HeaderFrom, b.HeaderFrom); c != 0 {
			return c
		}
		return strings.Compare(a.Hash(), b.Hash())
	})
}

// ReportID returns the Report-ID: lower-case letters and digits only, so
// that the same string is valid as report_id, in the Subject, as the
// filename's unique-id (1*(ALPHA / DIGIT), §3.5.1) and in a Message-ID
// (§3.1.4). It is deterministic: the period's UTC date followed by a hash
// of submitter, host, policy domain, period and rua set, hence unique per
// destination and stable across rebuilds and resends (§3.5.4).
func ReportID(meta Meta, policyDomain string, p Period, ruaSet string) string {
	s := fmt.Sprintf("%s\x00%s\x00%s\x00%d\x00%d\x00%s", meta.Submitter, meta.HostID, policyDomain, p.Begin, p.End, ruaSet)
	sum := sha256.Sum256([]byte(s))
	return time.Unix(p.Begin, 0).UTC().Format("20060102") + hex.EncodeToString(sum[:10])
}

// Messages returns the number of messages the report covers.
func (r Report) Messages() int64 {
	var n int64
	for _, x := range r.Rows {
		n += x.Count
	}
	return n
}
