package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authmilter/authmilter/auth/dns/dnstest"
)

// pgStore returns a reports.store URL on a fresh schema of the database
// named by AUTHMILTER_PG_DSN (.ci/run starts one); the test is skipped
// without it, unless AUTHMILTER_E2E=1.
func pgStore(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv("AUTHMILTER_PG_DSN")
	if dsn == "" {
		if os.Getenv("AUTHMILTER_E2E") == "1" {
			t.Fatal("AUTHMILTER_PG_DSN not set; required with AUTHMILTER_E2E=1 (.ci/run starts a PostgreSQL)")
		}
		t.Skip("AUTHMILTER_PG_DSN not set")
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	schema := fmt.Sprintf("authmilter_fleet_%d_%d", os.Getpid(), time.Now().UnixNano()%1e9)
	if _, err := db.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		db.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE")
		db.Close()
	})
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return dsn + sep + "search_path=" + schema
}

// withStore replaces the SQLite store of sendConfig.
func withStore(conf, dir, store string) string {
	return strings.Replace(conf, fmt.Sprintf("store = \"sqlite:%s/reports.db\"", dir), fmt.Sprintf("store = %q", store), 1)
}

// TestEndToEndReportsFleet: two daemons, each behind its own Postfix,
// share one PostgreSQL store; the same mail goes through both; then two
// "reports send" processes run at once, each with its own relay. Exactly
// one report is built and delivered, and its counts are the sum of both
// hosts'.
func TestEndToEndReportsFleet(t *testing.T) {
	needMTA(t, "postfix", "/usr/sbin/postfix")
	store := pgStore(t)
	t.Parallel()
	zone, keyFile := sendZone(t)
	srv, err := dnstest.Start(zone)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	var ms []*mta
	var confs []string
	for i := 0; i < 2; i++ {
		dir := t.TempDir()
		d := startDaemon(t, srv.Addr, withStore(sendConfig(dir, "", keyFile, ""), dir, store))
		m := startPostfix(t, d.Addr)
		sendMix(t, m, fmt.Sprintf("f%d-", i))
		flushReports(t, d)
		ms = append(ms, m)
		confs = append(confs, writeConf(t, withStore(sendConfig(dir, m.Addr, keyFile, ""), dir, store), srv.Addr))
	}
	tomorrow := time.Now().Add(25 * time.Hour).Format(time.RFC3339)
	var wg sync.WaitGroup
	outs := make([]string, 2)
	for i := range confs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outs[i] = reportsCLI(t, confs[i], "send", "-now", tomorrow)
		}()
	}
	wg.Wait()
	t.Logf("host 1:\n%s\nhost 2:\n%s", outs[0], outs[1])
	// Let Postfix deliver, then count what both mailboxes got.
	time.Sleep(2 * time.Second)
	deadline := time.Now().Add(20 * time.Second)
	var rs []deliveredReport
	for {
		rs = append(deliveredReports(t, ms[0]), deliveredReports(t, ms[1])...)
		if len(rs) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(time.Second)
	rs = append(deliveredReports(t, ms[0]), deliveredReports(t, ms[1])...)
	if len(rs) != 1 {
		t.Fatalf("%d report mails in the two mailboxes, want exactly 1", len(rs))
	}
	if s := sortedCounts(counts(rs)["pass.test"]); s != "127.0.0.1/pass:6 127.0.0.2/quarantine/mailing_list:2 127.0.0.2/reject:4" {
		t.Errorf("pass.test counts %s, want both hosts' summed", s)
	}
	built := strings.Count(outs[0]+outs[1], "dmarc report built")
	if built != 1 {
		t.Errorf("%d builds logged by the two senders, want 1", built)
	}
}

// TestEndToEndReportsDaemonSends: the daemon itself builds and sends
// (send_interval), with short periods so that they close during the test:
// the messages sent come back as reports in the mailbox, counts summed over
// the periods, also across a SIGHUP; the metrics count the sends; SIGTERM
// stops the daemon cleanly; the report mail itself is never reported.
func TestEndToEndReportsDaemonSends(t *testing.T) {
	needMTA(t, "postfix", "/usr/sbin/postfix")
	t.Parallel()
	zone, keyFile := sendZone(t)
	srv, err := dnstest.Start(zone)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	port, mport := freePort(t), freePort(t)
	m := startPostfix(t, fmt.Sprintf("127.0.0.1:%d", port))
	conf := strings.Replace(sendConfig(dir, m.Addr, keyFile, `period = "2s"
grace = "1s"
`), `flush_interval = "1h"
send_interval = "0s"`, `flush_interval = "1s"
send_interval = "1s"`, 1)
	d := startDaemonAt(t, port, srv.Addr, conf+fmt.Sprintf("\n[metrics]\nlisten = \"127.0.0.1:%d\"\n", mport))
	for i := 0; i < 3; i++ {
		r := dialSMTP(t, m, "127.0.0.1", "client.test").Send(t, "a@pass.test", "u@rcpt.test",
			message([]string{"From: a@pass.test", "To: u@rcpt.test", "Subject: d", fmt.Sprintf("Message-ID: <d%d@e2e.test>", i)}, "D.\n"))
		if !strings.HasPrefix(r, "250") {
			t.Fatalf("message %d: %s", i, r)
		}
	}
	flushReports(t, d) // a reload leaves the scheduler running
	deadline := time.Now().Add(30 * time.Second)
	var got map[string]map[string]int64
	for time.Now().Before(deadline) {
		got = counts(deliveredReports(t, m))
		if got["pass.test"]["127.0.0.1/pass"] >= 3 {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if n := got["pass.test"]["127.0.0.1/pass"]; n != 3 {
		t.Fatalf("pass.test reports count %d passing messages, want 3 (%v)\n%s", n, got, tail(d.log.String(), 3000))
	}
	// Three more periods: a report about our own report mail would come.
	time.Sleep(6 * time.Second)
	if got := counts(deliveredReports(t, m)); len(got) != 1 {
		t.Errorf("reports for %v, want pass.test only", got)
	}
	ms := scrape(t, mport)
	if v := metricValue(t, ms, `authmilter_dmarc_report_deliveries_total{result="sent"}`); v == "" || v == "0" {
		t.Errorf("deliveries_total sent = %q", v)
	}
	if v := metricValue(t, ms, `authmilter_dmarc_reports_built_total`); v == "" || v == "0" {
		t.Errorf("reports_built_total = %q", v)
	}
	start := time.Now()
	d.Stop(t)
	if el := time.Since(start); el > 10*time.Second {
		t.Errorf("SIGTERM took %v with the scheduler running", el)
	}
	if !strings.Contains(d.log.String(), "reports: sending") {
		t.Errorf("no scheduler start line:\n%s", tail(d.log.String(), 2000))
	}
}
