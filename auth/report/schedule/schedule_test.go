package schedule

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authmilter/authmilter/auth/report"
	"github.com/authmilter/authmilter/auth/report/store"
)

var (
	day0 = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	meta = report.Meta{OrgName: "mx.receiver.example", Email: "dmarc@receiver.example", Submitter: "receiver.example", Generator: "authmilter test"}
)

func ev(domain, ip string, d report.Disposition, aligned bool) report.Event {
	return report.Event{
		Time:     day0.Add(time.Hour),
		Policy:   report.Policy{Domain: domain, P: "reject", SP: "reject", NP: "reject", ADKIM: "r", ASPF: "r", FO: "0", Discovery: "treewalk", RUA: []string{"mailto:dmarc@" + domain, "https://x.example/"}},
		SourceIP: netip.MustParseAddr(ip), HeaderFrom: domain, EnvelopeFrom: domain,
		SPF:        report.SPFResult{Domain: domain, Result: map[bool]string{true: "pass", false: "fail"}[aligned]},
		SPFAligned: aligned, Requested: report.DispositionReject, Disposition: d,
	}
}

func open(t *testing.T) store.Store {
	t.Helper()
	st, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "r.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestReportWhen: under "accepted" a domain whose messages were all
// rejected gets no report; under "any" it does.
func TestReportWhen(t *testing.T) {
	for _, tc := range []struct {
		when  When
		built int
	}{{WhenAccepted, 1}, {WhenPass, 1}, {WhenAny, 2}} {
		t.Run(string(tc.when), func(t *testing.T) {
			st := open(t)
			b := report.NewBatch(24 * time.Hour)
			for _, e := range []report.Event{
				ev("good.example", "192.0.2.1", report.DispositionPass, true),
				ev("spoofed.example", "198.51.100.1", report.DispositionReject, false),
			} {
				if err := b.Add(e); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := st.Record(context.Background(), b); err != nil {
				t.Fatal(err)
			}
			bl := Builder{Store: st, Meta: meta, When: tc.when, Grace: 30 * time.Minute, Owner: "t"}
			if res, err := bl.Build(context.Background(), day0.Add(24*time.Hour)); err != nil || len(res.Built) != 0 {
				t.Fatalf("built inside the grace period: %+v %v", res, err)
			}
			res, err := bl.Build(context.Background(), day0.Add(25*time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Built) != tc.built || len(res.Built)+len(res.Skipped) != 2 {
				t.Fatalf("built %d skipped %d, want %d built", len(res.Built), len(res.Skipped), tc.built)
			}
			if res, _ := bl.Build(context.Background(), day0.Add(26*time.Hour)); len(res.Built)+len(res.Skipped) != 0 {
				t.Errorf("second build did something: %+v", res)
			}
		})
	}
}

func TestMessage(t *testing.T) {
	r := report.Plan(meta, report.PeriodOf(day0, 24*time.Hour), []report.Group{{
		Policy: ev("example.com", "192.0.2.1", "", true).Policy,
		Rows:   []report.Row{mustRow(t, ev("example.com", "192.0.2.1", report.DispositionPass, true))},
	}})[0]
	b := store.NewBuilt(r)
	raw := Message(b, meta, "dmarc-noreply@reports.receiver.example", day0.Add(26*time.Hour))
	if !bytes.Equal(raw, Message(b, meta, "dmarc-noreply@reports.receiver.example", day0.Add(26*time.Hour))) {
		t.Error("message bytes not deterministic")
	}
	for _, l := range strings.Split(string(raw), "\r\n") {
		if len(l) > 998 || len(l) > 78 && !strings.Contains(l, "name=") {
			t.Errorf("line too long: %q", l)
		}
	}
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	subj := strings.Join(strings.Fields(m.Header.Get("Subject")), " ")
	if want := "Report Domain: example.com Submitter: receiver.example Report-ID: " + r.ID; subj != want {
		t.Errorf("Subject %q, want %q", subj, want)
	}
	if from, err := m.Header.AddressList("From"); err != nil || len(from) != 1 || from[0].Name != meta.OrgName || from[0].Address != "dmarc-noreply@reports.receiver.example" {
		t.Errorf("From %q: %v", m.Header.Get("From"), err)
	}
	if to := m.Header.Get("To"); to != "dmarc@example.com" {
		t.Errorf("To %q (https: is not a mail destination)", to)
	}
	if m.Header.Get("Message-ID") != r.MessageID() || m.Header.Get("Auto-Submitted") != "auto-generated" {
		t.Errorf("header %v", m.Header)
	}
	_, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	var gz []byte
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(p.Header.Get("Content-Type"), "application/gzip") {
			if p.FileName() != b.Filename {
				t.Errorf("filename %q, want %q", p.FileName(), b.Filename)
			}
			gz, _ = io.ReadAll(base64.NewDecoder(base64.StdEncoding, p))
		}
	}
	if !bytes.Equal(gz, b.XMLGz) {
		t.Error("attachment differs from the stored .xml.gz")
	}
}

func mustRow(t *testing.T, e report.Event) report.Row {
	t.Helper()
	r, err := e.Row()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRecipients(t *testing.T) {
	got := Recipients([]string{"mailto:a@x.example", "MAILTO:b%40y.example", "https://h.example/", "mailto:c@z.example?subject=x", "mailto:bad", "mailto:d e@x"})
	if strings.Join(got, " ") != "a@x.example b@y.example c@z.example" {
		t.Errorf("got %q", got)
	}
}
