package dns_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"

	mdns "github.com/miekg/dns"

	"github.com/authmilter/authmilter/auth/dns"
)

// classify names the single class an error falls in.
func classify(err error) string {
	switch {
	case err == nil:
		return "ok"
	case dns.IsNXDomain(err):
		return "nxdomain"
	case dns.IsNotFound(err):
		return "nodata"
	case dns.IsTemporary(err):
		return "temporary"
	}
	return "permanent"
}

func TestRcodes(t *testing.T) {
	srv, r, _ := setup(t, zone, nil)
	ctx := context.Background()
	tests := []struct {
		rcode int
		cause error
		class string
	}{
		{mdns.RcodeServerFailure, dns.ErrServFail, "temporary"},
		{mdns.RcodeRefused, dns.ErrRefused, "temporary"},
		{mdns.RcodeFormatError, dns.ErrBadAnswer, "temporary"},
		{mdns.RcodeNotImplemented, dns.ErrBadAnswer, "temporary"},
		{mdns.RcodeNameError, dns.ErrNXDomain, "nxdomain"},
	}
	for _, tt := range tests {
		name := strings.ToLower(mdns.RcodeToString[tt.rcode]) + ".example.com"
		srv.Rcode(name, tt.rcode)
		for _, lookup := range []func() error{
			func() error { _, err := r.LookupTXT(ctx, name); return err },
			func() error { _, err := r.LookupIP(ctx, "ip4", name); return err },
			func() error { _, err := r.LookupMX(ctx, name); return err },
		} {
			err := lookup()
			if _, ok := err.(*net.DNSError); !ok {
				t.Errorf("%s: %T is not an unwrapped *net.DNSError", name, err)
			}
			if !errors.Is(err, tt.cause) || classify(err) != tt.class {
				t.Errorf("%s: got %v (%s), want %v (%s)", name, err, classify(err), tt.cause, tt.class)
			}
		}
	}
}

func TestErrorFlags(t *testing.T) {
	for _, tt := range []struct {
		cause                        error
		notFound, timeout, temporary bool
	}{
		{dns.ErrNXDomain, true, false, false},
		{dns.ErrNoData, true, false, false},
		{dns.ErrServFail, false, false, true},
		{dns.ErrRefused, false, false, true},
		{dns.ErrTimeout, false, true, true},
		{dns.ErrNetwork, false, false, true},
		{dns.ErrBadAnswer, false, false, true},
		{dns.ErrMalformed, false, false, false},
	} {
		de := dns.NewError(tt.cause, "x.example").(*net.DNSError)
		if de.IsNotFound != tt.notFound || de.IsTimeout != tt.timeout || de.IsTemporary != tt.temporary {
			t.Errorf("%v: flags %+v", tt.cause, de)
		}
		if !errors.Is(de, tt.cause) || de.Name != "x.example" || errors.Is(de, dns.ErrTemporary) != tt.temporary {
			t.Errorf("%v: errors.Is or Name wrong: %+v", tt.cause, de)
		}
	}
}

func TestBadNames(t *testing.T) {
	srv, r, _ := setup(t, zone, nil)
	ctx := context.Background()
	for _, name := range []string{
		"",
		".",
		"a..example.com",
		strings.Repeat("a", 64) + ".example.com",
		strings.Repeat("abcdefghi.", 25) + "abcd", // 254
		"example.com..",
	} {
		_, err := r.LookupTXT(ctx, name)
		if !errors.Is(err, dns.ErrMalformed) || classify(err) != "permanent" {
			t.Errorf("LookupTXT(%q) = %v, want ErrMalformed", name, err)
		}
	}
	long := strings.Repeat("abcdefghi.", 25) + "abc" // 253: valid
	if _, err := r.LookupTXT(ctx, long); !dns.IsNXDomain(err) {
		t.Errorf("LookupTXT(253 chars) = %v, want NXDOMAIN", err)
	}
	// U-labels are asked as A-labels.
	if err := srv.Add(`_dmarc.xn--exmple-cua.com. TXT "v=DMARC1; p=none"`); err != nil {
		t.Fatal(err)
	}
	if txt, err := r.LookupTXT(ctx, "_dmarc.Exämple.com"); err != nil || len(txt) != 1 {
		t.Errorf("LookupTXT(U-label) = %q, %v", txt, err)
	}
	if _, err := r.LookupAddr(ctx, "not-an-ip"); !errors.Is(err, dns.ErrMalformed) {
		t.Errorf("LookupAddr(not-an-ip) = %v", err)
	}
	if _, err := r.Lookup(ctx, "example.com", mdns.TypeSRV); !errors.Is(err, dns.ErrMalformed) {
		t.Errorf("Lookup(SRV) = %v", err)
	}
	if n := srv.Queries("", 0) + srv.Queries("a..example.com", 0); n != 0 {
		t.Errorf("bad names sent %d queries", n)
	}
}

// TestOddNames: any octet may be in a label (RFC 2181 section 11); the
// resolver asks for them escaped and matches the answer.
func TestOddNames(t *testing.T) {
	srv, r, _ := setup(t, "", nil)
	ctx := context.Background()
	for _, tt := range []struct{ raw, zone string }{
		{"macro%percent  space%20url-space.example.com", `macro%percent\ \ space%20url-space.example.com.`},
		{"paren(.example.com", `paren\(.example.com.`},
		{`quote".example.com`, `quote\".example.com.`},
		{"semi;colon@x.example.com", `semi\;colon\@x.example.com.`},
		{`back\slash.example.com`, `back\\slash.example.com.`},
		{"ctl\x01\x7f.example.com", `ctl\001\127.example.com.`},
		{"\xff\xfe.example.com", `\255\254.example.com.`}, // not UTF-8: raw octets
		{strings.Repeat("é", 32) + ".example.com", "xn--9caaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example.com."},
	} {
		rr := &mdns.TXT{Hdr: mdns.RR_Header{Name: tt.zone, Rrtype: mdns.TypeTXT, Class: mdns.ClassINET, Ttl: 60}, Txt: []string{"ok"}}
		srv.AddRR(rr)
		if txt, err := r.LookupTXT(ctx, tt.raw); err != nil || len(txt) != 1 || txt[0] != "ok" {
			t.Errorf("LookupTXT(%q) = %q, %v", tt.raw, txt, err)
		}
	}
}
