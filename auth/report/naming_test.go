package report

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"
)

func sampleReport(t *testing.T) Report {
	t.Helper()
	rs := build(t, meta, []Event{pass(pol("example.com", "reject"), "192.0.2.10", "example.com", time.Hour)})
	return rs[0]
}

func TestNaming(t *testing.T) {
	r := sampleReport(t)
	id := "202606014a3a5b7ab2fad9a4d424"
	if r.ID != id {
		t.Fatalf("ID %q, want %q", r.ID, id)
	}
	for _, c := range []struct{ got, want string }{
		{r.Filename(true), "receiver.example!example.com!1780272000!1780358399!" + id + ".xml.gz"},
		{r.Filename(false), "receiver.example!example.com!1780272000!1780358399!" + id + ".xml"},
		{r.Subject(), "Report Domain: example.com Submitter: receiver.example Report-ID: " + id},
		{r.MessageID(), "<" + id + "@receiver.example>"},
		{r.ContentType(), "application/gzip; name=receiver.example!example.com!1780272000!1780358399!" + id + ".xml.gz"},
		{r.ContentDisposition(), "attachment; filename=receiver.example!example.com!1780272000!1780358399!" + id + ".xml.gz"},
	} {
		if c.got != c.want {
			t.Errorf("got  %q\nwant %q", c.got, c.want)
		}
	}
	if !bytes.Contains(r.XML(), []byte("<report_id>"+id+"</report_id>")) {
		t.Error("XML report_id differs from the Report-ID")
	}
	// §3.5.2 Subject ABNF with single spaces for FWS.
	subj := regexp.MustCompile(`^Report Domain: [a-z0-9.-]+ Submitter: [a-z0-9.-]+ Report-ID: [a-z0-9]+$`)
	if !subj.MatchString(r.Subject()) {
		t.Errorf("Subject %q does not match the ABNF", r.Subject())
	}
}

func TestReportIDDistinct(t *testing.T) {
	p := Period{Begin: 1780272000, End: 1780358399}
	seen := map[string]bool{}
	for _, m := range []Meta{{Submitter: "a.example"}, {Submitter: "a.example", HostID: "mx2"}, {Submitter: "b.example"}} {
		for _, d := range []string{"example.com", "example.org"} {
			for _, set := range []string{"mailto:a@x", "mailto:b@x"} {
				id := ReportID(m, d, p, set)
				if seen[id] || !isLowerAlnum(id) {
					t.Errorf("ID %q repeated or not alphanumeric", id)
				}
				seen[id] = true
			}
		}
	}
}

func TestTokenOrQuoted(t *testing.T) {
	for in, want := range map[string]string{
		"a!b.xml.gz": "a!b.xml.gz",
		"a b":        `"a b"`,
		`a"b`:        `"a\"b"`,
		"":           `""`,
	} {
		if got := tokenOrQuoted(in); got != want {
			t.Errorf("tokenOrQuoted(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestGzipDeterministic(t *testing.T) {
	x := sampleReport(t).XML()
	a, b := Gzip(x), Gzip(x)
	if !bytes.Equal(a, b) {
		t.Fatal("two compressions differ")
	}
	zr, err := gzip.NewReader(bytes.NewReader(a))
	if err != nil {
		t.Fatal(err)
	}
	if zr.Name != "" || !zr.ModTime.IsZero() {
		t.Errorf("gzip header carries name %q, time %v", zr.Name, zr.ModTime)
	}
	got, _ := io.ReadAll(zr)
	if !bytes.Equal(got, x) {
		t.Error("gunzip differs from the XML")
	}
}

func TestPeriodOf(t *testing.T) {
	at := time.Date(2026, 6, 1, 23, 59, 59, 0, time.FixedZone("east", 3*3600))
	for _, c := range []struct {
		len  time.Duration
		want Period
	}{
		{24 * time.Hour, Period{1780272000, 1780358399}},
		{time.Hour, Period{1780272000 + 20*3600, 1780272000 + 21*3600 - 1}},
		{7 * time.Hour, Period{1780272000, 1780358399}}, // not a divisor: a day
	} {
		if got := PeriodOf(at, c.len); got != c.want {
			t.Errorf("PeriodOf(%v) = %+v, want %+v", c.len, got, c.want)
		}
	}
}

func TestEventRowErrors(t *testing.T) {
	p := pol("example.com", "reject")
	for name, mod := range map[string]func(*Event){
		"no ip":       func(e *Event) { e.SourceIP = netip.Addr{} },
		"bad from":    func(e *Event) { e.HeaderFrom = "bad domain" },
		"disposition": func(e *Event) { e.Disposition = "softfail" },
	} {
		e := pass(p, "192.0.2.1", "example.com", 0)
		mod(&e)
		if _, err := e.Row(); err == nil || !strings.HasPrefix(err.Error(), "report: ") {
			t.Errorf("%s: err %v", name, err)
		}
	}
}

func TestLegacyPass(t *testing.T) {
	r := sampleReport(t)
	r.Meta.LegacyPass = true
	if x := r.XML(); bytes.Contains(x, []byte("<disposition>pass")) || !bytes.Contains(x, []byte("<disposition>none")) {
		t.Error("legacy switch did not write pass as none")
	}
}
