package store

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authmilter/authmilter/auth/report"
)

// opener returns two stores on one fresh database (two hosts sharing it).
type opener func(t *testing.T) (Store, Store)

var (
	day0  = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	after = day0.Add(25 * time.Hour) // past the first period
	meta  = report.Meta{OrgName: "mx.receiver.example", Email: "dmarc@reports.receiver.example",
		Submitter: "receiver.example", Generator: "authmilter test"}
)

func policy(domain string, rua ...string) report.Policy {
	return report.Policy{Domain: domain, P: "reject", SP: "reject", NP: "reject", ADKIM: "r", ASPF: "r",
		FO: "0", Discovery: "treewalk", RUA: rua}
}

func event(p report.Policy, ip string, at time.Duration) report.Event {
	return report.Event{
		Time: day0.Add(at), Policy: p, SourceIP: netip.MustParseAddr(ip), HeaderFrom: p.Domain, EnvelopeFrom: p.Domain,
		DKIM:        []report.DKIMResult{{Domain: p.Domain, Selector: "s1", Result: "pass"}},
		SPF:         report.SPFResult{Domain: p.Domain, Result: "pass"},
		DKIMAligned: true, SPFAligned: true, Requested: report.DispositionReject, Disposition: report.DispositionPass,
	}
}

func batch(t *testing.T, evs ...report.Event) *report.Batch {
	t.Helper()
	b := report.NewBatch(24 * time.Hour)
	for _, e := range evs {
		if err := b.Add(e); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// buildAll claims, plans and completes every due pair; it returns the
// built reports.
func buildAll(t *testing.T, s Store, owner string, now time.Time) []Built {
	t.Helper()
	ctx := context.Background()
	due, err := s.Due(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	var out []Built
	for _, d := range due {
		c, ok, err := s.ClaimBuild(ctx, d, owner, now, time.Minute)
		if err != nil || !ok {
			t.Fatalf("claim %+v: ok=%v err=%v", d, ok, err)
		}
		var bs []Built
		for _, r := range report.Plan(meta, d.Period, c.Groups) {
			bs = append(bs, NewBuilt(r))
		}
		if err := s.CompleteBuild(ctx, c, bs, now); err != nil {
			t.Fatal(err)
		}
		out = append(out, bs...)
	}
	return out
}

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	x, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// runSuite runs the Store contract against one backend.
func runSuite(t *testing.T, open opener) {
	t.Run("RecordBuildResend", func(t *testing.T) { testRecordBuild(t, open) })
	t.Run("BuildLease", func(t *testing.T) { testBuildLease(t, open) })
	t.Run("Deliveries", func(t *testing.T) { testDeliveries(t, open) })
	t.Run("Concurrent", func(t *testing.T) { testConcurrent(t, open) })
	t.Run("BuildWhileWriting", func(t *testing.T) { testBuildWhileWriting(t, open) })
	t.Run("ListStatus", func(t *testing.T) { testListStatus(t, open) })
	t.Run("SendState", func(t *testing.T) { testSendState(t, open) })
}

func testListStatus(t *testing.T, open opener) {
	ctx := context.Background()
	a, _ := open(t)
	p := policy("example.com", "mailto:d@rua.example.com", "mailto:e@rua2.example.com")
	if _, err := a.Record(ctx, batch(t, event(p, "192.0.2.1", time.Hour), event(p, "192.0.2.2", time.Hour))); err != nil {
		t.Fatal(err)
	}
	st, err := a.Status(ctx)
	if err != nil || st.PendingRows != 2 || st.PendingMessages != 2 || st.Reports != 0 || st.OldestUnsent != 0 {
		t.Fatalf("status before build: %+v %v", st, err)
	}
	built := buildAll(t, a, "host-a", after)
	st, err = a.Status(ctx)
	if err != nil || st.PendingRows != 0 || st.Reports != 1 || st.Deliveries["pending"] != 2 || st.OldestUnsent != after.Unix() {
		t.Fatalf("status after build: %+v %v", st, err)
	}
	if age := st.OldestUnsentAge(after.Add(time.Hour)); age != time.Hour {
		t.Errorf("oldest unsent age %s, want 1h", age)
	}
	l, err := a.List(ctx)
	if err != nil || len(l) != 1 || l[0].ID != built[0].ID || l[0].Messages != 2 || len(l[0].Deliveries) != 2 ||
		l[0].Deliveries[0].Dest != p.RUA[0] || l[0].Deliveries[1].State != "pending" {
		t.Fatalf("list: %+v %v", l, err)
	}
}

func testRecordBuild(t *testing.T, open opener) {
	ctx := context.Background()
	a, b := open(t)
	p := policy("example.com", "mailto:d@rua.example.com", "mailto:e@rua2.example.com")
	if _, err := a.Record(ctx, batch(t, event(p, "192.0.2.1", time.Hour), event(p, "192.0.2.2", time.Hour))); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Record(ctx, batch(t, event(p, "192.0.2.1", 2*time.Hour))); err != nil {
		t.Fatal(err)
	}
	if due, err := a.Due(ctx, day0.Add(23*time.Hour)); err != nil || len(due) != 0 {
		t.Fatalf("due before the period ended: %v %v", due, err)
	}
	built := buildAll(t, a, "host-a", after)
	if len(built) != 1 || built[0].Messages != 3 || built[0].Rows != 2 {
		t.Fatalf("built %+v, want one report, 2 rows, 3 messages", built)
	}
	if due, _ := b.Due(ctx, after); len(due) != 0 {
		t.Errorf("still due after the build: %v", due)
	}
	// a late event for a built period is an orphan, not a second report
	if n, err := b.Record(ctx, batch(t, event(p, "192.0.2.9", 3*time.Hour))); err != nil || n != 1 {
		t.Errorf("late record: orphans %d err %v, want 1", n, err)
	}
	got, err := b.Report(ctx, built[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.XMLGz, built[0].XMLGz) || got.Filename != built[0].Filename ||
		fmt.Sprint(got.Dests) != fmt.Sprint(p.RUA) {
		t.Errorf("stored report differs: %+v", got)
	}
	x := gunzip(t, got.XMLGz)
	if errs := report.Lint(x); len(errs) != 0 {
		t.Errorf("lint: %v", errs)
	}
	if !bytes.Contains(x, []byte("<report_id>"+got.ID+"</report_id>")) {
		t.Error("stored XML lacks the Report-ID")
	}
	// the store's round trip changes nothing: the same events folded in
	// memory give the same bytes
	direct := batch(t, event(p, "192.0.2.1", time.Hour), event(p, "192.0.2.2", time.Hour), event(p, "192.0.2.1", 2*time.Hour))
	g := report.Group{Policy: p}
	for k, r := range direct.Rows {
		g.Rows = append(g.Rows, *r)
		g.LastSeen = max(g.LastSeen, direct.LastSeen[k])
	}
	if want := report.Plan(meta, report.PeriodOf(day0, 24*time.Hour), []report.Group{g})[0].XML(); !bytes.Equal(x, want) {
		t.Errorf("stored XML differs from the in-memory build:\n%s\nwant\n%s", x, want)
	}
	if _, err := a.Report(ctx, "nosuch"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown report: %v", err)
	}
}

func testBuildLease(t *testing.T, open opener) {
	ctx := context.Background()
	a, b := open(t)
	p := policy("example.org", "mailto:d@example.org")
	if _, err := a.Record(ctx, batch(t, event(p, "192.0.2.1", time.Hour))); err != nil {
		t.Fatal(err)
	}
	due, _ := a.Due(ctx, after)
	if len(due) != 1 {
		t.Fatalf("due %v", due)
	}
	ca, ok, err := a.ClaimBuild(ctx, due[0], "host-a", after, time.Minute)
	if err != nil || !ok || len(ca.Groups) != 1 {
		t.Fatalf("claim a: %v %v %+v", ok, err, ca)
	}
	if _, ok, _ := b.ClaimBuild(ctx, due[0], "host-b", after.Add(30*time.Second), time.Minute); ok {
		t.Fatal("b claimed a live lease")
	}
	if d, _ := b.Due(ctx, after.Add(2*time.Minute)); len(d) != 1 {
		t.Fatalf("expired lease not due again: %v", d)
	}
	cb, ok, err := b.ClaimBuild(ctx, due[0], "host-b", after.Add(2*time.Minute), time.Minute)
	if err != nil || !ok {
		t.Fatalf("b could not take the expired lease: %v %v", ok, err)
	}
	r := NewBuilt(report.Plan(meta, due[0].Period, ca.Groups)[0])
	if err := a.CompleteBuild(ctx, ca, []Built{r}, after.Add(3*time.Minute)); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("a completed after losing its lease: %v", err)
	}
	if err := b.CompleteBuild(ctx, cb, []Built{r}, after.Add(3*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := a.ClaimBuild(ctx, due[0], "host-a", after.Add(time.Hour), time.Minute); ok {
		t.Error("a built pair was claimed again")
	}
}

func testDeliveries(t *testing.T, open opener) {
	ctx := context.Background()
	a, b := open(t)
	p := policy("example.net", "mailto:one@example.net", "mailto:two@example.net", "mailto:three@example.net")
	if _, err := a.Record(ctx, batch(t, event(p, "192.0.2.1", time.Hour))); err != nil {
		t.Fatal(err)
	}
	built := buildAll(t, a, "host-a", after)
	id := built[0].ID
	claim := func(s Store, owner string, now time.Time) (Delivery, bool) {
		t.Helper()
		d, ok, err := s.ClaimDelivery(ctx, owner, now, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return d, ok
	}
	d1, _ := claim(a, "a", after)
	d2, _ := claim(b, "b", after)
	d3, _ := claim(a, "a", after)
	if _, ok := claim(b, "b", after); ok {
		t.Fatal("a fourth delivery for three destinations")
	}
	if d1.Dest != p.RUA[0] || d2.Dest != p.RUA[1] || d3.Dest != p.RUA[2] || d1.ReportID != id || d1.Attempts != 1 {
		t.Fatalf("claims %+v %+v %+v", d1, d2, d3)
	}
	if err := a.MarkSent(ctx, d1, "250 ok"); err != nil {
		t.Fatal(err)
	}
	if err := a.MarkSent(ctx, d1, "250 ok"); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("second MarkSent: %v", err)
	}
	if err := b.MarkRetry(ctx, d2, after.Add(15*time.Minute), "451 later"); err != nil {
		t.Fatal(err)
	}
	if err := a.MarkRetry(ctx, d3, after, "451 now"); err != nil {
		t.Fatal(err)
	}
	d, ok := claim(b, "b", after)
	if !ok || d.Dest != p.RUA[2] || d.Attempts != 2 {
		t.Fatalf("retry due now not claimed: %+v %v", d, ok)
	}
	if err := b.MarkFailed(ctx, d, "550 no"); err != nil {
		t.Fatal(err)
	}
	if _, ok := claim(a, "a", after.Add(10*time.Minute)); ok {
		t.Fatal("a retry claimed before its time")
	}
	d, ok = claim(a, "a", after.Add(16*time.Minute))
	if !ok || d.Dest != p.RUA[1] {
		t.Fatalf("retry not claimed when due: %+v", d)
	}
	// a's sender dies: its lease expires and b takes the delivery over
	d, ok = claim(b, "b", after.Add(18*time.Minute))
	if !ok || d.Dest != p.RUA[1] || d.Attempts != 3 {
		t.Fatalf("expired lease not taken over: %+v %v", d, ok)
	}
	if err := a.MarkSent(ctx, Delivery{ReportID: id, Dest: p.RUA[1], Owner: "a"}, "250"); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("stale owner marked sent: %v", err)
	}
	if err := b.MarkSent(ctx, d, "250"); err != nil {
		t.Fatal(err)
	}
	if err := b.Resend(ctx, id, after.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		if _, ok := claim(a, "a", after.Add(time.Hour)); !ok {
			break
		}
		n++
	}
	if n != 3 {
		t.Errorf("resend made %d deliveries pending, want 3", n)
	}
	// All three are leased (being sent) now: the report exists, in flight.
	if err := a.Resend(ctx, id, after.Add(time.Hour)); !errors.Is(err, ErrInFlight) {
		t.Errorf("resend while every delivery is being sent: %v, want ErrInFlight", err)
	}
	if err := a.Resend(ctx, "nosuch", after); !errors.Is(err, ErrNotFound) {
		t.Errorf("resend unknown: %v", err)
	}
}

// testConcurrent: writers on two stores add up, each due pair is built by
// exactly one claimer, each delivery is claimed exactly once.
func testConcurrent(t *testing.T, open opener) {
	ctx := context.Background()
	a, b := open(t)
	const writers, flushes, domains = 4, 10, 6
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := 0; w < writers; w++ {
		for i, s := range []Store{a, b} {
			wg.Add(1)
			go func(s Store, w int) {
				defer wg.Done()
				for f := 0; f < flushes; f++ {
					bt := report.NewBatch(24 * time.Hour)
					for d := 0; d < domains; d++ {
						p := policy(fmt.Sprintf("d%d.example", d), fmt.Sprintf("mailto:r@d%d.example", d))
						for k := 0; k < 5; k++ { // overlapping keys across writers
							if err := bt.Add(event(p, fmt.Sprintf("192.0.2.%d", k), time.Duration(f)*time.Minute)); err != nil {
								errs <- err
								return
							}
						}
					}
					if _, err := s.Record(ctx, bt); err != nil {
						errs <- err
						return
					}
				}
			}(s, w*2+i)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	due, err := a.Due(ctx, after)
	if err != nil || len(due) != domains {
		t.Fatalf("due %d %v, want %d", len(due), err, domains)
	}
	var mu sync.Mutex
	claims := map[string]int{}
	var total int64
	for i := 0; i < 4; i++ {
		s := []Store{a, b}[i%2]
		wg.Add(1)
		go func(s Store, owner string) {
			defer wg.Done()
			for _, d := range due {
				c, ok, err := s.ClaimBuild(ctx, d, owner, after, time.Minute)
				if err != nil {
					t.Error(err)
					return
				}
				if !ok {
					continue
				}
				var bs []Built
				for _, r := range report.Plan(meta, d.Period, c.Groups) {
					bs = append(bs, NewBuilt(r))
				}
				if err := s.CompleteBuild(ctx, c, bs, after); err != nil {
					t.Error(err)
				}
				mu.Lock()
				claims[d.PolicyDomain]++
				for _, x := range bs {
					total += x.Messages
				}
				mu.Unlock()
			}
		}(s, fmt.Sprint("builder", i))
	}
	wg.Wait()
	for _, d := range due {
		if claims[d.PolicyDomain] != 1 {
			t.Errorf("%s built %d times", d.PolicyDomain, claims[d.PolicyDomain])
		}
	}
	if want := int64(writers * 2 * flushes * domains * 5); total != want {
		t.Errorf("reports count %d messages, want %d", total, want)
	}
	sent := map[string]int{}
	for i := 0; i < 4; i++ {
		s := []Store{a, b}[i%2]
		wg.Add(1)
		go func(s Store, owner string) {
			defer wg.Done()
			for {
				d, ok, err := s.ClaimDelivery(ctx, owner, after, time.Minute)
				if err != nil {
					t.Error(err)
					return
				}
				if !ok {
					return
				}
				mu.Lock()
				sent[d.ReportID+" "+d.Dest]++
				mu.Unlock()
				if err := s.MarkSent(ctx, d, "250"); err != nil {
					t.Error(err)
				}
			}
		}(s, fmt.Sprint("sender", i))
	}
	wg.Wait()
	if len(sent) != domains {
		t.Errorf("%d deliveries sent, want %d", len(sent), domains)
	}
	for k, n := range sent {
		if n != 1 {
			t.Errorf("%s claimed %d times", k, n)
		}
	}
}

// testBuildWhileWriting: builders claim pairs while writers still record
// into them (late events). Every message ends up either in exactly one
// report or among the orphans Record returns, never in neither.
func testBuildWhileWriting(t *testing.T, open opener) {
	ctx := context.Background()
	a, b := open(t)
	const writers, flushes, domains = 4, 25, 3
	var orphans, reported atomic.Int64
	var wg, bw sync.WaitGroup
	done := make(chan struct{})
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(s Store) {
			defer wg.Done()
			for f := 0; f < flushes; f++ {
				bt := report.NewBatch(24 * time.Hour)
				for d := 0; d < domains; d++ {
					p := policy(fmt.Sprintf("w%d.example", d), "mailto:r@example.net")
					if err := bt.Add(event(p, "192.0.2.1", time.Hour)); err != nil {
						t.Error(err)
						return
					}
				}
				n, err := s.Record(ctx, bt)
				if err != nil {
					t.Error(err)
					return
				}
				orphans.Add(n)
			}
		}([]Store{a, b}[w%2])
	}
	for i := 0; i < 2; i++ {
		bw.Add(1)
		go func(s Store, owner string) {
			defer bw.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				due, err := s.Due(ctx, after)
				if err != nil {
					t.Error(err)
					return
				}
				for _, d := range due {
					c, ok, err := s.ClaimBuild(ctx, d, owner, after, time.Hour)
					if err != nil || !ok {
						continue
					}
					var bs []Built
					for _, r := range report.Plan(meta, d.Period, c.Groups) {
						bs = append(bs, NewBuilt(r))
						reported.Add(r.Messages())
					}
					if err := s.CompleteBuild(ctx, c, bs, after); err != nil {
						t.Error(err)
					}
				}
			}
		}([]Store{a, b}[i], fmt.Sprint("builder", i))
	}
	wg.Wait()
	close(done)
	bw.Wait()
	// pairs nobody claimed while writing
	for _, x := range buildAll(t, a, "final", after) {
		reported.Add(x.Messages)
	}
	total := int64(writers * flushes * domains)
	if got := reported.Load() + orphans.Load(); got != total {
		t.Errorf("reported %d + orphans %d = %d, want %d messages", reported.Load(), orphans.Load(), got, total)
	}
	if orphans.Load() == 0 {
		t.Log("no build overlapped a write this run")
	}
}
