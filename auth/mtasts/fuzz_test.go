package mtasts

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParsePolicy: any text parses or fails with ErrInvalid; a parsed
// policy has a known mode, max_age in range, valid patterns, and
// re-serialised parses to the same policy.
func FuzzParsePolicy(f *testing.F) {
	f.Add("version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmax_age: 604800\r\n")
	f.Add("version: STSv1\nmode: none\nmax_age: 0\n")
	f.Add("version: STSv1\nmode: testing\nmx: a.example\nmax_age: 9999999999\nx: y\n")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePolicy(s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v is not ErrInvalid", err)
			}
			return
		}
		if p.MaxAge < 0 || p.MaxAge > MaxAge {
			t.Fatalf("max_age %d", p.MaxAge)
		}
		var b strings.Builder
		b.WriteString("version: STSv1\nmode: " + string(p.Mode) + "\n")
		for _, mx := range p.MX {
			b.WriteString("mx: " + mx + "\n")
		}
		b.WriteString("max_age: 1\n")
		q, err := ParsePolicy(b.String())
		if err != nil || q.Mode != p.Mode || len(q.MX) != len(p.MX) {
			t.Fatalf("re-parse of %+v: %+v, %v", p, q, err)
		}
	})
}

// FuzzParseRecord: no panic; a record that parses has a valid id.
func FuzzParseRecord(f *testing.F) {
	f.Add("v=STSv1; id=20160831085700Z;")
	f.Add("v=STSv1;id=a;ext=b")
	f.Add("v=spf1 -all")
	f.Fuzz(func(t *testing.T, s string) {
		rec, isSTS, err := ParseRecord(s)
		if err == nil && isSTS && (len(rec.ID) < 1 || len(rec.ID) > 32 || !allAlnum(rec.ID)) {
			t.Fatalf("id %q", rec.ID)
		}
	})
}
