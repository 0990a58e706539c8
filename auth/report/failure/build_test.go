package failure

import (
	"bytes"
	"flag"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authmilter/authmilter/auth/dmarc"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// sampleIncident is a DMARC failure of example.com: an aligned DKIM
// signature that failed, SPF failing for the aligned MAIL FROM domain.
func sampleIncident(t *testing.T) *Incident {
	t.Helper()
	rec := mustRecord(t, "v=DMARC1; p=reject; ruf=mailto:ruf@example.com; fo=1")
	return &Incident{
		Input: Input{
			Result: dmarc.Result{Result: dmarc.ResultFail, Domain: "example.com", OrgDomain: "example.com",
				RecordDomain: "example.com", Record: rec.Raw, Policy: "reject", PublishedPolicy: "reject"},
			Record: rec,
			SPF:    SPF{Domain: "example.com", Result: "fail"},
			DKIM: []DKIM{{Domain: "other.example", Identifier: "@other.example", Selector: "o", Result: "pass"},
				{Domain: "mail.example.com", Identifier: "dave@mail.example.com", Selector: "sel", Result: "fail"}},
		},
		Arrival:     time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC),
		SourceIP:    netip.MustParseAddr("192.0.2.7"),
		SourcePort:  49152,
		MailFrom:    "alice.smith@example.com",
		AuthResults: "mx.receiver.example;\r\n\tspf=fail smtp.mailfrom=alice.smith@example.com;\r\n\tdkim=fail header.d=mail.example.com header.s=sel;\r\n\tdmarc=fail header.from=example.com policy.dmarc=reject",
		SPFRecord:   "v=spf1 -all",
		Delivery:    "reject",
		Header:      []byte(sampleHeader),
		Triggers:    []string{"1"},
	}
}

var sampleOptions = Options{From: "dmarc-reports@receiver.example", To: "ruf@example.com",
	UserAgent: "authmilter/test", ReportingMTA: "mx.receiver.example", Date: time.Date(2026, 12, 7, 10, 0, 5, 0, time.UTC)}

// parsed is a report as a reader's MIME parser sees it.
type parsed struct {
	msg      *mail.Message
	types    []string
	parts    [][]byte
	feedback mail.Header
}

// parseReport parses a report with net/mail and mime/multipart and checks
// the AFRF shape (RFC 5965 §2, RFC 6591): multipart/report with
// report-type=feedback-report; text, message/feedback-report and the
// headers, in that order.
func parseReport(t testing.TB, b []byte) parsed {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("report does not parse as a message: %v", err)
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/report" || params["report-type"] != "feedback-report" || params["boundary"] == "" {
		t.Fatalf("Content-Type %q: %v", m.Header.Get("Content-Type"), err)
	}
	p := parsed{msg: m}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		part, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("part %d: %v", len(p.parts), err)
		}
		body, err := io.ReadAll(part)
		if err != nil {
			t.Fatalf("part %d: %v", len(p.parts), err)
		}
		ct, _, _ := mime.ParseMediaType(part.Header.Get("Content-Type"))
		p.types = append(p.types, ct)
		p.parts = append(p.parts, body)
	}
	want := []string{"text/plain", "message/feedback-report", "text/rfc822-headers"}
	if strings.Join(p.types, " ") != strings.Join(want, " ") {
		t.Fatalf("parts %q, want %q", p.types, want)
	}
	fb, err := mail.ReadMessage(bytes.NewReader(append(p.parts[1], "\r\n"...)))
	if err != nil {
		t.Fatalf("feedback part: %v", err)
	}
	p.feedback = fb.Header
	for _, k := range []string{"Feedback-Type", "Version", "User-Agent", "Auth-Failure", "Identity-Alignment", "Reported-Domain"} {
		if len(fb.Header[k]) != 1 {
			t.Errorf("feedback field %s appears %d times, want once", k, len(fb.Header[k]))
		}
	}
	if fb.Header.Get("Feedback-Type") != "auth-failure" || fb.Header.Get("Auth-Failure") != "dmarc" || fb.Header.Get("Version") != "1" {
		t.Errorf("feedback fields: %v", fb.Header)
	}
	if _, err := mail.ReadMessage(bytes.NewReader(append(p.parts[2], "\r\n"...))); err != nil {
		t.Errorf("text/rfc822-headers part does not parse as a header: %v", err)
	}
	return p
}

func TestBuildGolden(t *testing.T) {
	red := NewRedactor([]byte("golden key"))
	null := sampleIncident(t)
	null.MailFrom = ""
	null.Result.Result, null.Result.SPFAligned = dmarc.ResultPass, true
	null.SPF.Result = "pass"
	null.Triggers = []string{"1"}
	null.Incidents = 3
	null.SourceIP = netip.MustParseAddr("2001:db8::25")
	for _, c := range []struct {
		name string
		inc  *Incident
	}{
		{"fail-fo1", sampleIncident(t)},
		{"pass-dkim-unaligned-ipv6-null-sender", null},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := Build(c.inc, sampleOptions, red)
			if err != nil {
				t.Fatal(err)
			}
			parseReport(t, got)
			path := filepath.Join("testdata", "golden", c.name+".eml")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs (go test -update to accept):\n%s", path, got)
			}
		})
	}
}

func TestBuildFields(t *testing.T) {
	red := NewRedactor([]byte("k"))
	inc := sampleIncident(t)
	b, err := Build(inc, sampleOptions, red)
	if err != nil {
		t.Fatal(err)
	}
	p := parseReport(t, b)
	fb := p.feedback
	for k, want := range map[string]string{
		"Identity-Alignment": "dkim, spf",
		"DKIM-Domain":        "mail.example.com",
		"DKIM-Identity":      red.Local("dave") + "@mail.example.com",
		"DKIM-Selector":      "sel",
		"SPF-DNS":            `txt : example.com : "v=spf1 -all"`,
		"Original-Mail-From": "<" + red.Local("alice.smith") + "@example.com>",
		"Source-IP":          "192.0.2.7",
		"Source-Port":        "49152",
		"Reported-Domain":    "example.com",
		"Delivery-Result":    "reject",
		"Arrival-Date":       "Mon, 07 Dec 2026 10:00:00 +0000",
		"Reporting-MTA":      "dns; mx.receiver.example",
	} {
		if got := fb.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if !strings.Contains(fb.Get("Authentication-Results"), "smtp.mailfrom="+red.Local("alice.smith")+"@example.com") {
		t.Errorf("Authentication-Results not redacted: %q", fb.Get("Authentication-Results"))
	}
	// No local-part of the original anywhere in the report.
	for _, l := range append(secretLocals, "alice.smith") {
		if bytes.Contains(b, []byte(l+"@")) || bytes.Contains(b, []byte(l+"%40")) {
			t.Errorf("local-part %q survives in the report", l)
		}
	}
	// Never the body; and the report says what it is.
	if p.msg.Header.Get("Auto-Submitted") != "auto-generated" || !strings.HasPrefix(p.msg.Header.Get("Subject"), "DMARC failure report for example.com") {
		t.Errorf("report header: %v", p.msg.Header)
	}

	// Aligned identities: no DKIM-* or SPF-DNS fields, Identity-Alignment none.
	ok := sampleIncident(t)
	ok.Result.SPFAligned, ok.Result.DKIMAligned = true, true
	ok.DKIM = ok.DKIM[:1]
	ok.SPF.Result = "pass"
	b, err = Build(ok, sampleOptions, red)
	if err != nil {
		t.Fatal(err)
	}
	fb = parseReport(t, b).feedback
	if fb.Get("Identity-Alignment") != "none" || fb.Get("DKIM-Domain") != "" || fb.Get("SPF-DNS") != "" {
		t.Errorf("aligned: %v", fb)
	}
}

func TestBuildRefusesBadOptions(t *testing.T) {
	inc := sampleIncident(t)
	for _, o := range []Options{
		{From: "", To: "a@b.example", UserAgent: "x"},
		{From: "a@b.example", To: "x@y.example\r\nBcc: z@w.example", UserAgent: "x"},
		{From: "a@b.example", To: "x@y.example", UserAgent: "x", ReportingMTA: "a b"},
	} {
		if _, err := Build(inc, o, NewRedactor(nil)); err == nil {
			t.Errorf("Build(%+v) did not fail", o)
		}
	}
}

// A header that contains the boundary (or looks like MIME) cannot end a
// part early.
func TestBuildBoundaryCollision(t *testing.T) {
	red := NewRedactor(nil)
	inc := sampleIncident(t)
	first, err := Build(inc, sampleOptions, red)
	if err != nil {
		t.Fatal(err)
	}
	_, params, _ := mime.ParseMediaType(parseReport(t, first).msg.Header.Get("Content-Type"))
	inc.Header = append([]byte("X-Evil: x\r\n--"+params["boundary"]+"--\r\n"), inc.Header...)
	b, err := Build(inc, sampleOptions, red)
	if err != nil {
		t.Fatal(err)
	}
	p := parseReport(t, b)
	if !bytes.Contains(p.parts[2], []byte(params["boundary"])) {
		t.Error("the header lost its line that looks like a boundary")
	}
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
