package dmarc

import (
	"slices"
	"testing"
)

func TestWalkNames(t *testing.T) {
	tests := []struct {
		start string
		want  []string
	}{
		{"com", []string{"com"}},
		{"example.com", []string{"example.com", "com"}},
		{"a.mail.example.com", []string{"a.mail.example.com", "mail.example.com", "example.com", "com"}},
		// §4.10: 13 labels → 13, 7, 6, 5, 4, 3, 2, 1 labels = 8 queries.
		{"a.b.c.d.e.f.g.h.i.j.mail.example.com", []string{
			"a.b.c.d.e.f.g.h.i.j.mail.example.com", "g.h.i.j.mail.example.com", "h.i.j.mail.example.com",
			"i.j.mail.example.com", "j.mail.example.com", "mail.example.com", "example.com", "com"}},
		{"a.b.c.d.e.f.g.h", []string{"a.b.c.d.e.f.g.h", "b.c.d.e.f.g.h", "c.d.e.f.g.h", "d.e.f.g.h", "e.f.g.h", "f.g.h", "g.h", "h"}},
	}
	for _, tt := range tests {
		if got := walkNames(tt.start); !slices.Equal(got, tt.want) {
			t.Errorf("walkNames(%q) = %q, want %q", tt.start, got, tt.want)
		}
	}
}

func TestOrgDomain(t *testing.T) {
	rec := func(s string) *Record {
		r, err := ParseRecord(s)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	tests := []struct {
		name  string
		start string
		found []found
		want  string
	}{
		// §4.10.2 examples for a.mail.example.com.
		{"two records", "a.mail.example.com", []found{
			{"mail.example.com", rec("v=DMARC1; p=none")}, {"example.com", rec("v=DMARC1; p=reject")}}, "example.com"},
		{"psd=n", "a.mail.example.com", []found{{"mail.example.com", rec("v=DMARC1; p=none; psd=n")}}, "mail.example.com"},
		{"psd=y at com", "a.mail.example.com", []found{{"com", rec("v=DMARC1; psd=y")}}, "example.com"},
		{"no record", "a.mail.example.com", nil, "a.mail.example.com"},
		{"psd=y at start", "com", []found{{"com", rec("v=DMARC1; psd=y")}}, "com"},
		// After the 7-label shortcut the Org Domain comes from the start's labels.
		{"psd=y long", "a.b.c.d.e.f.g.h.i.j.example.co.uk", []found{{"co.uk", rec("v=DMARC1; psd=y; p=none")}}, "example.co.uk"},
		{"psd=y deep", "a.b.c.d.e.f.g.h.i.j.k.l", []found{{"g.h.i.j.k.l", rec("v=DMARC1; psd=y")}}, "f.g.h.i.j.k.l"},
	}
	for _, tt := range tests {
		if got := orgDomain(tt.start, &walkResult{found: tt.found}); got != tt.want {
			t.Errorf("%s: orgDomain = %q, want %q", tt.name, got, tt.want)
		}
	}
}
