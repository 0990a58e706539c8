package schedule

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/authmilter/authmilter/auth/report"
	"github.com/authmilter/authmilter/auth/report/store"
)

// When says which policy domains get a report for a period (reports'
// report_when): a report shows a domain's owner which sources use its
// name, and one sent for traffic we only rejected feeds spammers and makes
// the reporter look like one.
type When string

// Values of When.
const (
	// WhenAny reports every domain whose record asks for reports.
	WhenAny When = "any"
	// WhenAccepted reports a domain only for a period in which we
	// accepted (disposition none or pass) or DMARC-passed at least one
	// of its messages.
	WhenAccepted When = "accepted"
	// WhenPass reports a domain only for a period in which at least one
	// of its messages passed DMARC.
	WhenPass When = "pass"
)

// Valid reports whether w is one of the values.
func (w When) Valid() bool {
	switch w {
	case WhenAny, WhenAccepted, WhenPass:
		return true
	}
	return false
}

// Wanted reports whether the groups of one period and policy domain
// deserve a report under w.
func (w When) Wanted(groups []report.Group) bool {
	if w == WhenAny {
		return true
	}
	for _, g := range groups {
		for _, r := range g.Rows {
			if r.DKIMAligned || r.SPFAligned {
				return true
			}
			if w == WhenAccepted && (r.Disposition == report.DispositionNone || r.Disposition == report.DispositionPass) {
				return true
			}
		}
	}
	return false
}

// Builder builds due reports.
type Builder struct {
	Store store.Store
	Meta  report.Meta
	When  When
	// Grace is how long after a period's end its late counts may still
	// arrive (other hosts' flushes) before it is built.
	Grace time.Duration
	Owner string        // names this builder in the store's leases
	Lease time.Duration // how long a claimed build may take (default 5m)
	Log   *slog.Logger  // may be nil
}

// Result is what one Build did.
type Result struct {
	Built   []store.Built
	Skipped []store.Due // pairs that report_when left without a report
}

// Build builds every (period, policy domain) that ended Grace before now
// and that no one built yet; each is claimed, planned into one report per
// rua set (report.Plan), frozen and stored with a pending delivery per
// destination. A pair report_when does not want is marked built with no
// report.
func (b Builder) Build(ctx context.Context, now time.Time) (Result, error) {
	var res Result
	log := b.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	lease := b.Lease
	if lease <= 0 {
		lease = 5 * time.Minute
	}
	due, err := b.Store.Due(ctx, now.Add(-b.Grace))
	if err != nil {
		return res, err
	}
	for _, d := range due {
		c, ok, err := b.Store.ClaimBuild(ctx, d, b.Owner, now, lease)
		if err != nil {
			return res, err
		}
		if !ok {
			continue // another builder has it
		}
		var built []store.Built
		if b.When.Wanted(c.Groups) {
			for _, r := range report.Plan(b.Meta, d.Period, c.Groups) {
				built = append(built, store.NewBuilt(r))
			}
		}
		if err := b.Store.CompleteBuild(ctx, c, built, now); err != nil {
			return res, fmt.Errorf("schedule: %s %d: %w", d.PolicyDomain, d.Period.Begin, err)
		}
		if len(built) == 0 {
			res.Skipped = append(res.Skipped, d)
			log.Info("dmarc report skipped", "policy_domain", d.PolicyDomain, "begin", d.Period.Begin, "report_when", string(b.When))
		}
		for _, x := range built {
			log.Info("dmarc report built", "id", x.ID, "policy_domain", x.PolicyDomain, "rows", x.Rows, "messages", x.Messages)
		}
		res.Built = append(res.Built, built...)
	}
	return res, nil
}
