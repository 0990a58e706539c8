package report

import (
	"bytes"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

var (
	day0 = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	meta = Meta{
		OrgName: "mx.receiver.example", Email: "dmarc-noreply@reports.receiver.example",
		Submitter: "receiver.example", Generator: "authmilter test",
	}
	rua = []string{"mailto:dmarc@rua.example.com"}
)

func pol(domain, p string, mod ...func(*Policy)) Policy {
	x := Policy{Domain: domain, P: p, SP: p, NP: p, ADKIM: "r", ASPF: "r", FO: "0", Discovery: "treewalk", RUA: rua}
	for _, m := range mod {
		m(&x)
	}
	return x
}

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

// pass is an aligned DKIM and SPF pass for domain d from addr.
func pass(p Policy, addr, d string, at time.Duration) Event {
	return Event{
		Time: day0.Add(at), Policy: p, SourceIP: ip(addr), HeaderFrom: d, EnvelopeFrom: d,
		DKIM:        []DKIMResult{{Domain: d, Selector: "s2026", Result: "pass", Align: AlignStrict}},
		SPF:         SPFResult{Domain: d, Result: "pass"},
		DKIMAligned: true, SPFAligned: true,
		Requested: Disposition(p.P), Disposition: DispositionPass,
	}
}

// fail is a message that failed DMARC and got what the policy asked for.
func fail(p Policy, addr, d string, req Disposition, at time.Duration) Event {
	return Event{
		Time: day0.Add(at), Policy: p, SourceIP: ip(addr), HeaderFrom: d, EnvelopeFrom: "spoof.example.net",
		DKIM:      []DKIMResult{{Domain: "spoof.example.net", Selector: "k1", Result: "fail", Human: "body hash mismatch", Align: AlignNone}},
		SPF:       SPFResult{Domain: "spoof.example.net", Result: "softfail"},
		Requested: req, Disposition: req,
	}
}

// build folds events through a Batch and the store's grouping into
// reports, as the store and builder will.
func build(t *testing.T, m Meta, evs []Event) []Report {
	t.Helper()
	b := NewBatch(24 * time.Hour)
	for _, e := range evs {
		if err := b.Add(e); err != nil {
			t.Fatal(err)
		}
	}
	type pk struct {
		p Period
		d string
	}
	groups := map[pk]map[string]*Group{}
	for k, r := range b.Rows {
		g := groups[pk{k.Period, k.PolicyDomain}]
		if g == nil {
			g = map[string]*Group{}
			groups[pk{k.Period, k.PolicyDomain}] = g
		}
		if g[k.RecordFP] == nil {
			g[k.RecordFP] = &Group{Policy: b.Policies[k.RecordFP]}
		}
		gr := g[k.RecordFP]
		gr.Rows = append(gr.Rows, *r)
		gr.LastSeen = max(gr.LastSeen, b.LastSeen[k])
	}
	var out []Report
	for k, gm := range groups {
		var gs []Group
		for _, g := range gm {
			gs = append(gs, *g)
		}
		out = append(out, Plan(m, k.p, gs)...)
	}
	sortReports(out)
	return out
}

func sortReports(rs []Report) {
	for i := range rs {
		for j := i + 1; j < len(rs); j++ {
			if rs[j].Policy.Domain+rs[j].ID < rs[i].Policy.Domain+rs[i].ID {
				rs[i], rs[j] = rs[j], rs[i]
			}
		}
	}
}

// checkGolden compares the reports' XML with testdata/golden/NAME-N.xml,
// then validates each against the XSD and the lint.
func checkGolden(t *testing.T, name string, rs []Report, want int) {
	t.Helper()
	if len(rs) != want {
		t.Fatalf("%d reports, want %d", len(rs), want)
	}
	for i, r := range rs {
		got := r.XML()
		path := filepath.Join("testdata", "golden", fmt.Sprintf("%s-%d.xml", name, i+1))
		if *update {
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		wantB, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -update)", err)
		}
		if !bytes.Equal(got, wantB) {
			t.Errorf("%s differs from the golden file:\n%s", path, got)
		}
		lintClean(t, got)
		t.Run(fmt.Sprintf("xsd-%d", i+1), func(t *testing.T) { validateXSD(t, got) })
	}
}

func TestGoldenParentSubdomain(t *testing.T) {
	parent := pol("example.com", "reject", func(p *Policy) { p.SP = "quarantine" })
	own := pol("own.example.com", "none", func(p *Policy) { p.RUA = []string{"mailto:own@rua.example.com"} })
	evs := []Event{
		pass(parent, "192.0.2.10", "example.com", time.Hour),
		pass(parent, "192.0.2.10", "example.com", 2*time.Hour),
		// a subdomain without a record: a row in the parent's report
		fail(parent, "198.51.100.7", "news.example.com", DispositionQuarantine, 3*time.Hour),
		// null reverse-path: empty envelope_from, SPF on HELO is not reported
		func() Event {
			e := pass(parent, "192.0.2.11", "news.example.com", 4*time.Hour)
			e.EnvelopeFrom, e.SPF, e.SPFAligned = "", SPFResult{}, false
			return e
		}(),
		// a subdomain with a record of its own: its own report
		pass(own, "192.0.2.12", "own.example.com", 5*time.Hour),
		pass(own, "192.0.2.12", "deep.own.example.com", 5*time.Hour),
	}
	rs := build(t, meta, evs)
	checkGolden(t, "parent-subdomain", rs, 2)
	if rs[0].Policy.Domain != "example.com" || rs[1].Policy.Domain != "own.example.com" {
		t.Errorf("policy domains %q, %q", rs[0].Policy.Domain, rs[1].Policy.Domain)
	}
	if n := rs[0].Messages(); n != 4 {
		t.Errorf("parent report counts %d messages, want 4", n)
	}
}

func TestGoldenTestingMode(t *testing.T) {
	p := pol("example.com", "reject", func(p *Policy) { p.Testing = true })
	e := fail(p, "203.0.113.5", "example.com", DispositionReject, time.Hour)
	e.Disposition = DispositionQuarantine // t=y: one step lower (RFC 9989 §5.3.4)
	rs := build(t, meta, []Event{e, e})
	checkGolden(t, "testing", rs, 1)
	if r := rs[0].Rows[0].Reasons; len(r) != 1 || r[0].Type != ReasonPolicyTestMode {
		t.Errorf("reasons %v, want policy_test_mode", r)
	}
}

func TestGoldenLocalOverrides(t *testing.T) {
	p := pol("example.com", "reject")
	list := fail(p, "192.0.2.20", "example.com", DispositionReject, time.Hour)
	list.Disposition = DispositionQuarantine
	list.Reasons = []Reason{{Type: ReasonMailingList, Comment: "List-Id: <users.lists.example.org>"}}
	fwd := fail(p, "192.0.2.21", "example.com", DispositionReject, time.Hour)
	fwd.Disposition = DispositionNone
	fwd.Reasons = []Reason{{Type: ReasonTrustedForwarder, Comment: "trusted forwarder 192.0.2.21"}}
	// no reason given: local_policy is added (§3.1.1.9 MUST)
	bare := fail(p, "192.0.2.22", "example.com", DispositionReject, time.Hour)
	bare.Disposition = DispositionQuarantine
	rs := build(t, meta, []Event{list, fwd, bare})
	checkGolden(t, "overrides", rs, 1)
}

func TestGoldenIPv6(t *testing.T) {
	p := pol("example.com", "quarantine")
	a := pass(p, "2001:db8::25", "example.com", time.Hour)
	b := pass(p, "::ffff:192.0.2.1", "example.com", time.Hour) // v4-mapped: reported as IPv4
	c := pass(p, "2001:DB8:0:0::25", "example.com", 2*time.Hour)
	rs := build(t, meta, []Event{a, b, c})
	checkGolden(t, "ipv6", rs, 1)
	if n := len(rs[0].Rows); n != 2 {
		t.Errorf("%d rows, want 2 (2001:db8::25 twice, 192.0.2.1)", n)
	}
}

func TestGoldenIDN(t *testing.T) {
	p := pol("xn--bcher-kva.example", "reject")
	e := pass(p, "192.0.2.30", "bücher.example", time.Hour)
	e.DKIM[0].Domain = "Bücher.Example"
	e2 := pass(p, "192.0.2.30", "XN--BCHER-KVA.example", time.Hour)
	e2.DKIM[0].Domain = "xn--bcher-kva.example"
	rs := build(t, meta, []Event{e, e2})
	checkGolden(t, "idn", rs, 1)
	if len(rs[0].Rows) != 1 || rs[0].Rows[0].Count != 2 {
		t.Errorf("rows %+v, want one row counting 2", rs[0].Rows)
	}
}

func TestGoldenManySignatures(t *testing.T) {
	p := pol("example.com", "reject")
	e := pass(p, "192.0.2.40", "example.com", time.Hour)
	e.DKIM = nil
	for i := 0; i < 120; i++ {
		d := DKIMResult{Domain: fmt.Sprintf("d%03d.example.net", i), Selector: "s", Result: "fail", Align: AlignNone}
		switch i % 4 {
		case 0:
			d.Result = "pass"
		case 1:
			d.Domain, d.Result, d.Align = "example.com", "pass", AlignStrict
			d.Selector = fmt.Sprintf("s%03d", i)
		case 2:
			d.Domain, d.Result, d.Align = fmt.Sprintf("x%03d.example.com", i), "pass", AlignRelaxed
		}
		e.DKIM = append(e.DKIM, d)
	}
	e.DKIM = append(e.DKIM, DKIMResult{Domain: "noselector.example", Result: "permerror"})
	rs := build(t, meta, []Event{e})
	checkGolden(t, "many-signatures", rs, 1)
	got := rs[0].Rows[0].DKIM
	if len(got) != MaxDKIM {
		t.Fatalf("%d DKIM results, want %d", len(got), MaxDKIM)
	}
	// §3.1.3: 30 strict, 30 relaxed, 30 other pass, then 10 of 30 fails.
	for i, d := range got {
		want := []Alignment{AlignStrict, AlignRelaxed, AlignNone, AlignNone}[min(i/30, 3)]
		if d.Align != want || (i < 90) != (d.Result == "pass") {
			t.Fatalf("DKIM %d = %+v, want align %d", i, d, want)
		}
	}
}

func TestGoldenPolicyChange(t *testing.T) {
	before := pol("example.com", "none")
	after := pol("example.com", "reject")
	otherRUA := pol("example.com", "quarantine", func(p *Policy) { p.RUA = []string{"mailto:new@rua2.example.net"} })
	t.Run("same-rua", func(t *testing.T) {
		rs := build(t, meta, []Event{
			pass(before, "192.0.2.50", "example.com", time.Hour),
			pass(after, "192.0.2.50", "example.com", 13*time.Hour),
			// failed under p=none: the final p=reject needs a reason for it
			fail(before, "203.0.113.9", "example.com", DispositionNone, 2*time.Hour),
		})
		checkGolden(t, "policy-change-same-rua", rs, 1)
		if r := rs[0].Rows[1].Reasons; len(r) != 1 || r[0].Type != ReasonOther {
			t.Errorf("row under the earlier record has reasons %v, want other", r)
		}
		if rs[0].Policy.P != "reject" || rs[0].Rows[0].Count != 2 {
			t.Errorf("policy p=%s count=%d, want the final p=reject and 2", rs[0].Policy.P, rs[0].Rows[0].Count)
		}
	})
	t.Run("other-rua", func(t *testing.T) {
		rs := build(t, meta, []Event{
			pass(before, "192.0.2.50", "example.com", time.Hour),
			pass(otherRUA, "192.0.2.50", "example.com", 13*time.Hour),
		})
		checkGolden(t, "policy-change-other-rua", rs, 2)
		if rs[0].ID == rs[1].ID {
			t.Error("two reports share a Report-ID")
		}
	})
}
