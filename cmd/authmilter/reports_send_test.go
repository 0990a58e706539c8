package main

import (
	"bytes"
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authmilter/authmilter/auth/report"
	"github.com/authmilter/authmilter/auth/report/schedule"
	"github.com/authmilter/authmilter/auth/report/store"
)

// TestReportsBounce: "reports bounce" with a DSN (Postfix's shape) about
// one of our reports on stdin suppresses the failed destination; a
// message that is no DSN is ignored with exit 0; a store that cannot be
// opened exits 75 so that the MTA retries the pipe.
func TestReportsBounce(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "c.toml")
	if err := os.WriteFile(conf, []byte(reportsSection(dir)), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, filepath.Join(dir, "reports.db"))
	if err != nil {
		t.Fatal(err)
	}
	day0 := time.Now().UTC().Truncate(24 * time.Hour).Add(-48 * time.Hour)
	b := report.NewBatch(24 * time.Hour)
	p := report.Policy{Domain: "a.test", P: "reject", SP: "reject", NP: "reject", ADKIM: "r", ASPF: "r", FO: "0",
		Discovery: "treewalk", RUA: []string{"mailto:gone@dest.test"}}
	if err := b.Add(report.Event{Time: day0.Add(time.Hour), Policy: p, SourceIP: netip.MustParseAddr("192.0.2.1"),
		HeaderFrom: "a.test", SPF: report.SPFResult{Domain: "a.test", Result: "pass"}, SPFAligned: true,
		Requested: report.DispositionReject, Disposition: report.DispositionPass}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Record(ctx, b); err != nil {
		t.Fatal(err)
	}
	res, err := schedule.Builder{Store: st, Meta: report.Meta{OrgName: "R", Email: "dmarc@receiver.test", Submitter: "receiver.test"},
		When: schedule.WhenAny, Owner: "t"}.Build(ctx, day0.Add(25*time.Hour))
	if err != nil || len(res.Built) != 1 {
		t.Fatalf("built %v %v", res, err)
	}
	id := res.Built[0].ID
	st.Close()

	dsn, err := os.ReadFile("../../auth/report/send/testdata/postfix-dsn.eml")
	if err != nil {
		t.Fatal(err)
	}
	dsn = bytes.NewBufferString(strings.NewReplacer("2026120712ab@receiver.example", id+"@receiver.test",
		"Gone@Dest.example", "gone@dest.test").Replace(string(dsn))).Bytes()
	var out, errb bytes.Buffer
	if code := run([]string{"reports", "bounce", "-config", conf}, bytes.NewReader(dsn), &out, &errb); code != 0 || !strings.Contains(out.String(), "suppressed for 168h0m0s: gone@dest.test") {
		t.Fatalf("bounce: exit %d\n%s%s", code, out.String(), errb.String())
	}
	st, err = store.OpenSQLite(ctx, filepath.Join(dir, "reports.db"))
	if err != nil {
		t.Fatal(err)
	}
	until, reason, err := st.Suppressed(ctx, "gone@dest.test", time.Now())
	st.Close()
	if err != nil || until.Before(time.Now().Add(167*time.Hour)) || !strings.Contains(reason, "5.1.1") {
		t.Errorf("suppressed until %v (%q) %v", until, reason, err)
	}

	out.Reset()
	if code := run([]string{"reports", "bounce", "-config", conf}, strings.NewReader("Subject: hi\r\n\r\nnot a DSN\r\n"), &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "ignored") {
		t.Errorf("not a DSN: exit %d %q", code, out.String())
	}
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(bad, []byte(strings.Replace(reportsSection(dir), dir+"/reports.db", dir+"/missing/dir/reports.db", 1)), 0o600)
	if code := run([]string{"reports", "bounce", "-config", bad}, bytes.NewReader(dsn), &out, &errb); code != 75 {
		t.Errorf("store unavailable: exit %d, want 75\n%s", code, errb.String())
	}
}
