package auth_test

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authmilter/authmilter/auth"
	"github.com/authmilter/authmilter/auth/dns"
	"github.com/authmilter/authmilter/auth/dns/dnstest"
)

var update = flag.Bool("update", false, "rewrite auth/testdata/*.want from the current results")

// TestGolden runs every auth/testdata/NN-name.eml through the same entry
// point as the daemon (Evaluator.EvaluateReader), with DNS from
// NN-name.zone served by dnstest, and compares a rendering of the Report
// with NN-name.want. The zone's ";;" lines give the envelope
// (ip, helo, mail-from; "<>" for the null sender), faults (servfail NAME)
// and policy.allow_domains (allow-domain DOMAIN). The cases are written by
// auth/testdata/gen.
func TestGolden(t *testing.T) {
	emls, err := filepath.Glob(filepath.Join("testdata", "*.eml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(emls) < 30 {
		t.Fatalf("only %d golden cases", len(emls))
	}
	for _, eml := range emls {
		name := strings.TrimSuffix(filepath.Base(eml), ".eml")
		t.Run(name, func(t *testing.T) {
			got := runGolden(t, strings.TrimSuffix(eml, ".eml"))
			wantFile := strings.TrimSuffix(eml, ".eml") + ".want"
			if *update {
				if err := os.WriteFile(wantFile, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(wantFile)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("%s differs (run with -update to accept):\n--- got\n%s--- want\n%s", wantFile, got, want)
			}
		})
	}
}

// goldenCase is the envelope and faults of a case.
type goldenCase struct {
	zone     string
	env      auth.Envelope
	servfail []string
	allow    []string // policy.allow_domains
}

func readCase(t *testing.T, base string) goldenCase {
	t.Helper()
	f, err := os.Open(base + ".zone")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var c goldenCase
	var zone strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if d, ok := strings.CutPrefix(line, ";; "); ok {
			k, v, _ := strings.Cut(d, " ")
			switch k {
			case "ip":
				c.env.ClientIP = net.ParseIP(v)
			case "helo":
				c.env.Helo = v
			case "mail-from":
				c.env.MailFrom = strings.Trim(v, "<>")
			case "servfail":
				c.servfail = append(c.servfail, v)
			case "allow-domain":
				c.allow = append(c.allow, v)
			}
			continue
		}
		zone.WriteString(line + "\n")
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	c.zone = zone.String()
	c.env.QueueID = filepath.Base(base)
	return c
}

func runGolden(t *testing.T, base string) string {
	t.Helper()
	c := readCase(t, base)
	srv, err := dnstest.Start(c.zone)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	for _, n := range c.servfail {
		srv.ServFail(n)
	}
	res, err := dns.New(dns.Config{Servers: []string{srv.Addr}, Timeout: 2 * time.Second, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	cfg := auth.DefaultConfig()
	cfg.AuthservID = "mx.test.example"
	cfg.Policy.AllowDomains = c.allow
	ev, err := auth.New(cfg, res, nil)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := os.Open(base + ".eml")
	if err != nil {
		t.Fatal(err)
	}
	defer msg.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := ev.EvaluateReader(ctx, c.env, msg)
	if err != nil {
		t.Fatal(err)
	}
	return render(r)
}

// render prints the parts of a Report that the cases pin down. Timing is
// left out; the header is printed as the milter would add it (LF folds).
func render(r *auth.Report) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	w("spf: %s domain=%s", r.SPF.Result, r.SPF.Domain)
	w("helo: %s domain=%s", r.HELO.Result, r.HELO.Domain)
	for _, d := range r.DKIM {
		w("dkim: %s d=%s s=%s a=%s", d.Result, d.Domain, d.Selector, d.Algorithm)
	}
	if r.FromError != "" {
		w("from-error: %s", r.FromError)
	}
	w("authors: %s", strings.Join(r.Authors, " "))
	dm := r.DMARC
	w("dmarc: %s policy=%s published=%s testing=%v domain=%s org=%s record-domain=%s spf-aligned=%v dkim-aligned=%v",
		dm.Result, dm.Policy, dm.PublishedPolicy, dm.Testing, dm.Domain, dm.OrgDomain, dm.RecordDomain,
		dm.SPFAligned, dm.DKIMAligned)
	if dm.Record != "" {
		w("dmarc-record: %s", dm.Record)
	}
	w("dmarc-reason: %s", dm.Reason)
	if len(r.PerAuthor) > 1 {
		for _, p := range r.PerAuthor {
			w("dmarc-author: %s %s policy=%s", p.Domain, p.Result, p.Policy)
		}
	}
	d := r.Decision
	w("decision: %s code=%s enhanced=%s quarantine=%s", d.Action, d.Code, d.Enhanced, d.Quarantine)
	w("decision-text: %s", d.Text)
	w("decision-reason: %s", d.Reason)
	if len(r.Forged) > 0 {
		w("forged: %v", r.Forged)
	}
	if r.Problem != "" {
		w("problem: %s", r.Problem)
	}
	w("Authentication-Results: %s", strings.ReplaceAll(r.Header, "\r\n", "\n"))
	return b.String()
}
