package send

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authmilter/authmilter/auth/dns"
	"github.com/authmilter/authmilter/auth/dns/dnstest"
)

func TestVerify(t *testing.T) {
	srv, err := dnstest.Start(`
example.com._report._dmarc.reports.test.     TXT "v=DMARC1"
example.org._report._dmarc.reports.test.     TXT "v=DMARC1;"
*._report._dmarc.wild.test.                  TXT "v=DMARC1"
example.com._report._dmarc.ten.test.         TXT "v=DMARC10"
example.com._report._dmarc.spf.test.         TXT "v=spf1 -all"
example.com._report._dmarc.over.test.        TXT "v=DMARC1; rua=mailto:other@over.test,mailto:x@elsewhere.test"
example.com._report._dmarc.away.test.        TXT "v=DMARC1; rua=mailto:x@elsewhere.test"
example.com._report._dmarc.late.test.        TXT "tag=1; v=DMARC1"
`)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	srv.ServFail("example.com._report._dmarc.broken.test.")
	res, err := dns.New(dns.Config{Servers: []string{srv.Addr}, Timeout: time.Second, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("a", 60) + "." + strings.Repeat("b", 60) + "." + strings.Repeat("c", 60) + ".test"
	for _, c := range []struct {
		pd, uri string
		want    string // URIs joined by space
		err     error
	}{
		{"example.com", "mailto:d@example.com", "mailto:d@example.com", nil},                 // same domain: no query
		{"sub.example.com", "mailto:d@example.com", "mailto:d@example.com", nil},             // parent
		{"example.com", "mailto:d@reports.example.com", "mailto:d@reports.example.com", nil}, // subdomain
		{"example.com", "mailto:d@reports.test", "mailto:d@reports.test", nil},
		{"Example.COM.", "mailto:d@Reports.Test", "mailto:d@Reports.Test", nil}, // case, root dot
		{"example.org", "mailto:d@reports.test", "mailto:d@reports.test", nil},  // trailing ;
		{"example.com", "mailto:d@wild.test", "mailto:d@wild.test", nil},        // wildcard
		{"example.com", "mailto:d@ten.test", "", ErrUnverified},
		{"example.com", "mailto:d@spf.test", "", ErrUnverified},
		{"example.com", "mailto:d@late.test", "", ErrUnverified}, // v= not first
		{"example.com", "mailto:d@nothing.test", "", ErrUnverified},
		{"example.com", "mailto:d@over.test", "mailto:other@over.test", nil}, // override, same host only
		{"example.com", "mailto:d@away.test", "", ErrUnverified},             // override to another host
		{"example.com", "mailto:d@broken.test", "", ErrTemporary},
		{long, "mailto:d@" + long[:60] + ".other.test", "", ErrUnverified}, // name too long
		{"example.com", "https://reports.test/", "", ErrURI},
		{"example.com", "mailto:not-an-address", "", ErrURI},
	} {
		got, err := Verify(context.Background(), res, c.pd, c.uri)
		if !errors.Is(err, c.err) || (c.err == nil && err != nil) {
			t.Errorf("Verify(%s, %s): error %v, want %v", c.pd, c.uri, err, c.err)
			continue
		}
		if s := strings.Join(got, " "); s != c.want {
			t.Errorf("Verify(%s, %s) = %q, want %q", c.pd, c.uri, s, c.want)
		}
	}
}

func TestParseVerification(t *testing.T) {
	for _, c := range []struct {
		txt string
		ok  bool
		rua []string
	}{
		{"v=DMARC1", true, nil},
		{"v=DMARC1; ", true, nil},
		{" v=DMARC1 ; rua = mailto:a@b.test!10m , mailto:c@b.test", true, []string{"mailto:a@b.test", "mailto:c@b.test"}},
		{"v=DMARC10", false, nil},
		{"v=dmarc1", false, nil},
		{"", false, nil},
	} {
		rua, ok := ParseVerification(c.txt)
		if ok != c.ok || !slices.Equal(rua, c.rua) {
			t.Errorf("ParseVerification(%q) = %q, %v", c.txt, rua, ok)
		}
	}
}

func TestMailtoAddress(t *testing.T) {
	for uri, want := range map[string]string{
		"mailto:dmarc@example.com":             "dmarc@example.com",
		"MAILTO:dmarc%2Bx@example.com?subject": "dmarc+x@example.com",
		"mailto:a b@example.com":               "",
		"mailto:a%0D%0ARCPT@example.com":       "",
		"mailto:<a@example.com>":               "",
		"mailto:a@b@example.com":               "",
		"mailto:":                              "",
		"https://example.com/":                 "",
	} {
		got, err := MailtoAddress(uri)
		if got != want || (want == "") != (err != nil) {
			t.Errorf("MailtoAddress(%q) = %q, %v; want %q", uri, got, err, want)
		}
	}
}

func FuzzParseVerification(f *testing.F) {
	for _, s := range []string{"v=DMARC1", "v=DMARC1; rua=mailto:a@b.test!1m,mailto:c@d.test", "v=DMARC1;rua=", ";;", "rua=x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		rua, ok := ParseVerification(s)
		if !ok && len(rua) > 0 {
			t.Fatal("rua without a record")
		}
		for _, u := range rua {
			if u == "" {
				t.Fatal("empty URI")
			}
		}
	})
}

func FuzzMailtoAddress(f *testing.F) {
	for _, s := range []string{"mailto:a@b.test", "mailto:a%40b@c.test?x=y", "mailto:%", "mailto:\"a b\"@c.test"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := MailtoAddress(s)
		if err != nil {
			return
		}
		if strings.ContainsAny(a, "\r\n <>") || !strings.Contains(a, "@") {
			t.Fatalf("MailtoAddress(%q) = %q", s, a)
		}
	})
}
