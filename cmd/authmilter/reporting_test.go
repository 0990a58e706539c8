package main

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/authmilter/authmilter/auth"
	"github.com/authmilter/authmilter/auth/dkim"
	"github.com/authmilter/authmilter/auth/dmarc"
	"github.com/authmilter/authmilter/auth/policy"
	"github.com/authmilter/authmilter/auth/report"
	"github.com/authmilter/authmilter/auth/report/aggregate"
	"github.com/authmilter/authmilter/auth/spf"
)

// TestReportEventDisposition: the disposition and reason of a report row
// come from the decision actually taken, with the policy package's own
// decisions for the local overrides (RFC 9990 §3.1.1.9).
func TestReportEventDisposition(t *testing.T) {
	const rua = "v=DMARC1; p=reject; rua=mailto:d@example.com"
	fail := dmarc.Result{Result: "fail", Policy: "reject", PublishedPolicy: "reject", Domain: "example.com",
		OrgDomain: "example.com", RecordDomain: "example.com", Record: rua}
	pass := fail
	pass.Result, pass.SPFAligned = "pass", true
	testing_ := fail
	testing_.Record, testing_.Policy, testing_.Testing = "v=DMARC1; p=reject; t=y; rua=mailto:d@example.com", "quarantine", true
	noRUA := fail
	noRUA.Record = "v=DMARC1; p=reject"
	temp := fail
	temp.Result = "temperror"

	decide := func(mod func(*policy.Config, *policy.Input), res dmarc.Result) policy.Decision {
		cfg := policy.Default()
		in := policy.Input{Authors: []policy.Author{{Domain: res.Domain, Result: policy.Result(res.Result), Policy: policy.DomainPolicy(res.Policy)}},
			ClientIP: net.ParseIP("192.0.2.1")}
		if mod != nil {
			mod(&cfg, &in)
		}
		return policy.Decide(cfg, in)
	}
	for _, c := range []struct {
		name   string
		res    dmarc.Result
		mod    func(*policy.Config, *policy.Input)
		events int
		want   report.Disposition
		reason report.ReasonType
	}{
		{"pass", pass, nil, 1, report.DispositionPass, ""},
		{"reject", fail, nil, 1, report.DispositionReject, ""},
		{"list-id", fail, func(_ *policy.Config, in *policy.Input) { in.HasListID = true }, 1, report.DispositionQuarantine, report.ReasonMailingList},
		{"forwarder", fail, func(c *policy.Config, _ *policy.Input) { c.TrustedForwarders = []string{"192.0.2.0/24"} }, 1, report.DispositionQuarantine, report.ReasonTrustedForwarder},
		{"dry-run", fail, func(c *policy.Config, _ *policy.Input) { c.DryRun = true }, 1, report.DispositionNone, report.ReasonLocalPolicy},
		{"allow-listed", fail, func(c *policy.Config, _ *policy.Input) { c.AllowDomains = []string{"example.com"} }, 1, report.DispositionNone, report.ReasonLocalPolicy},
		{"quarantine-accept", fail, func(c *policy.Config, in *policy.Input) { in.HasListID, c.QuarantineMode = true, "accept" }, 1, report.DispositionNone, report.ReasonMailingList},
		{"testing", testing_, nil, 1, report.DispositionQuarantine, report.ReasonPolicyTestMode},
		{"arc-quarantine", fail, arcVouch, 1, report.DispositionQuarantine, report.ReasonTrustedForwarder},
		{"arc-accept", fail, func(c *policy.Config, in *policy.Input) { arcVouch(c, in); c.ARCOverrideAction = policy.Accept },
			1, report.DispositionNone, report.ReasonTrustedForwarder},
		{"no-rua", noRUA, nil, 0, "", ""},
		{"temperror", temp, nil, 0, "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := decide(c.mod, c.res)
			r := &auth.Report{
				Envelope:  auth.Envelope{ClientIP: net.ParseIP("192.0.2.1"), MailFrom: "a@example.com"},
				SPF:       spf.Outcome{Domain: "example.com", Result: spf.Result("fail")},
				DKIM:      []dkim.Result{{Result: "fail", Domain: "mail.example.com", Selector: "s1", Reason: "bad signature"}},
				DMARC:     c.res,
				PerAuthor: []dmarc.Result{c.res},
				Decision:  d,
			}
			if c.res.Result == "pass" {
				r.SPF.Result = "pass"
			}
			conv := &converter{records: map[string]*dmarc.Record{}}
			var evs []report.Event
			ok := conv.convert(reportItem{r: r, action: string(d.Action), at: time.Now()}, func(e report.Event) { evs = append(evs, e) })
			if len(evs) != c.events || ok != (c.events > 0) {
				t.Fatalf("%d events (ok %v), want %d", len(evs), ok, c.events)
			}
			if c.events == 0 {
				return
			}
			row, err := evs[0].Row()
			if err != nil {
				t.Fatal(err)
			}
			if row.Disposition != c.want {
				t.Errorf("disposition %s, want %s (decision %+v)", row.Disposition, c.want, d)
			}
			var got report.ReasonType
			if len(row.Reasons) > 0 {
				got = row.Reasons[0].Type
			}
			if got != c.reason {
				t.Errorf("reason %q, want %q (decision %q)", got, c.reason, d.Reason)
			}
			if strings.HasPrefix(c.name, "arc-") && row.Reasons[0].Comment != "ARC sealer lists.example" {
				t.Errorf("ARC override comment %q", row.Reasons[0].Comment)
			}
			if len(row.DKIM) != 1 || row.DKIM[0].Align != report.AlignRelaxed || row.DKIM[0].Human != "bad signature" {
				t.Errorf("dkim %+v", row.DKIM)
			}
			if row.EnvelopeFrom != "example.com" || row.SPF.Domain != "example.com" {
				t.Errorf("row %+v", row)
			}
		})
	}
}

// arcVouch makes a trusted ARC sealer vouch for example.com.
func arcVouch(_ *policy.Config, in *policy.Input) {
	in.ARC = policy.ARCInput{Sealer: "lists.example", PassFor: []string{"example.com"}}
}

type nopRecorder struct{}

func (nopRecorder) Record(context.Context, *report.Batch) (int64, error) { return 0, nil }

// TestReporterSkips: skipped and tempfailed messages, and those without a
// record, never reach the queue.
func TestReporterSkips(t *testing.T) {
	conv := &converter{records: map[string]*dmarc.Record{}}
	agg, err := aggregate.New(aggregate.Config{FlushInterval: time.Hour}, nopRecorder{}, conv.convert, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer agg.Close(context.Background())
	rp := &reporter{agg: agg}
	withRecord := dmarc.Result{RecordDomain: "example.com"}
	for _, c := range []struct {
		r      *auth.Report
		action string
		want   uint64
	}{
		{nil, "accept", 0},
		{&auth.Report{Skipped: "trusted"}, "accept", 0},
		{&auth.Report{PerAuthor: []dmarc.Result{withRecord}}, "tempfail", 0},
		{&auth.Report{PerAuthor: []dmarc.Result{{}}}, "accept", 0},
		{&auth.Report{PerAuthor: []dmarc.Result{{}, withRecord}}, "reject", 1},
		{&auth.Report{DMARC: withRecord}, "accept", 1},
	} {
		before := agg.Stats().Queued
		rp.messageDone(c.r, c.action)
		if got := agg.Stats().Queued - before; got != c.want {
			t.Errorf("%+v %s: queued %d, want %d", c.r, c.action, got, c.want)
		}
	}
}

// TestReporterHotPathNoAlloc: handing a message to the aggregator
// allocates nothing (the item is copied into the queue's buffer). The
// aggregator's goroutine is held so that its work is not counted.
func TestReporterHotPathNoAlloc(t *testing.T) {
	hold := make(chan struct{})
	agg, err := aggregate.New(aggregate.Config{FlushInterval: time.Hour, QueueLen: 1000}, nopRecorder{},
		func(reportItem, func(report.Event)) bool { <-hold; return false }, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer agg.Close(context.Background())
	defer close(hold)
	rp := &reporter{agg: agg}
	r := &auth.Report{PerAuthor: []dmarc.Result{{RecordDomain: "example.com"}}}
	if n := testing.AllocsPerRun(200, func() { rp.messageDone(r, "accept") }); n != 0 {
		t.Errorf("%.1f allocations per message, want 0", n)
	}
}
