package report_test

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/authmilter/authmilter/auth/report"
)

// Fold evaluations into rows, plan the report of one period and policy
// domain, and name it.
func Example() {
	p := report.Policy{Domain: "example.com", P: "reject", SP: "reject", NP: "reject", ADKIM: "r", ASPF: "r",
		FO: "0", Discovery: "treewalk", RUA: []string{"mailto:dmarc@example.com"}}
	at := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	b := report.NewBatch(24 * time.Hour)
	for i := 0; i < 3; i++ {
		_ = b.Add(report.Event{
			Time: at, Policy: p, SourceIP: netip.MustParseAddr("192.0.2.1"),
			HeaderFrom: "example.com", EnvelopeFrom: "example.com",
			DKIM:        []report.DKIMResult{{Domain: "example.com", Selector: "s1", Result: "pass"}},
			SPF:         report.SPFResult{Domain: "example.com", Result: "pass"},
			DKIMAligned: true, SPFAligned: true,
			Requested: report.DispositionReject, Disposition: report.DispositionPass,
		})
	}
	g := report.Group{Policy: p}
	for k, r := range b.Rows {
		g.Rows = append(g.Rows, *r)
		g.LastSeen = b.LastSeen[k]
	}
	meta := report.Meta{OrgName: "Receiver", Email: "dmarc@receiver.example", Submitter: "receiver.example"}
	for _, r := range report.Plan(meta, report.PeriodOf(at, 24*time.Hour), []report.Group{g}) {
		fmt.Println(r.Subject())
		fmt.Println(r.Filename(true))
		fmt.Println(len(r.Rows), r.Messages(), len(report.Lint(r.XML())))
	}
	// Output:
	// Report Domain: example.com Submitter: receiver.example Report-ID: 202606015fdd256098b471938d3c
	// receiver.example!example.com!1780272000!1780358399!202606015fdd256098b471938d3c.xml.gz
	// 1 3 0
}
