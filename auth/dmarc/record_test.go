package dmarc

import (
	"errors"
	"reflect"
	"testing"
)

func TestParseRecord(t *testing.T) {
	def := func(mod func(r *Record)) *Record {
		r := &Record{PSD: "u", ADKIM: "r", ASPF: "r", FO: []string{"0"}, Pct: -1}
		mod(r)
		return r
	}
	tests := []struct {
		in   string
		want *Record // Raw is filled in by the test
	}{
		{"v=DMARC1; p=reject", def(func(r *Record) { r.P = "reject" })},
		{"v=DMARC1;p=none;", def(func(r *Record) { r.P = "none" })},
		{"V = DMARC1 ; P = Quarantine ; SP=REJECT", def(func(r *Record) { r.P, r.SP = "quarantine", "reject" })},
		{"v=DMARC1; p=reject; sp=none; np=quarantine; psd=n; t=y; adkim=s; aspf=s",
			def(func(r *Record) {
				r.P, r.SP, r.NP, r.PSD, r.Testing, r.HasT, r.ADKIM, r.ASPF = "reject", "none", "quarantine", "n", true, true, "s", "s"
			})},
		// §4.8: a bad value falls back to the default; unknown tags ignored.
		{"v=DMARC1; p=bogus; adkim=x; aspf=; psd=maybe; t=yes; fo=0:1; foo=bar",
			def(func(r *Record) { r.PInvalid = true })},
		{"v=DMARC1; sp=whatever; np=", def(func(r *Record) { r.SPInvalid, r.NPInvalid = true, true })},
		{"v=DMARC1; p=none; rua=mailto:a@example.com!10m, mailto:b@example.com,bogus, https://r.example/x",
			def(func(r *Record) {
				r.P = "none"
				r.RUA = []string{"mailto:a@example.com", "mailto:b@example.com", "https://r.example/x"}
			})},
		{"v=DMARC1; p=none; ruf=mailto:f@example.com; fo=1:d:s", def(func(r *Record) {
			r.P, r.RUF, r.FO = "none", []string{"mailto:f@example.com"}, []string{"1", "d", "s"}
		})},
		{"v=DMARC1; p=reject; pct=0", def(func(r *Record) { r.P, r.Pct = "reject", 0 })},
		{"v=DMARC1; p=reject; pct=150", def(func(r *Record) { r.P = "reject" })},
		{"v=DMARC1; p=reject; p=none", def(func(r *Record) { r.P = "reject" })},
		{"v=DMARC1; psd=y", def(func(r *Record) { r.PSD = "y" })},
		{"v=DMARC1", def(func(r *Record) {})},
	}
	for _, tt := range tests {
		got, err := ParseRecord(tt.in)
		if err != nil {
			t.Errorf("ParseRecord(%q): %v", tt.in, err)
			continue
		}
		tt.want.Raw = tt.in
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseRecord(%q)\n got %+v\nwant %+v", tt.in, got, tt.want)
		}
	}
}

func TestParseRecordInvalid(t *testing.T) {
	for _, in := range []string{
		"", "v=DMARC10; p=reject", "v=dmarc1; p=reject", "p=reject; v=DMARC1", "v=spf1 -all",
		"v=DMARC1 p=reject", " x; v=DMARC1", "v:DMARC1",
	} {
		if _, err := ParseRecord(in); !errors.Is(err, ErrInvalidRecord) {
			t.Errorf("ParseRecord(%q) error = %v, want ErrInvalidRecord", in, err)
		}
	}
}

func TestEffectivePolicy(t *testing.T) {
	tests := []struct {
		rec, tag, want string
		ok, invalid    bool
	}{
		{"v=DMARC1; p=reject", "p", "reject", true, false},
		{"v=DMARC1; p=reject", "sp", "reject", true, false},
		{"v=DMARC1; p=reject", "np", "reject", true, false},
		{"v=DMARC1; p=reject; sp=quarantine", "np", "quarantine", true, false},
		{"v=DMARC1; p=reject; sp=quarantine; np=none", "np", "none", true, false},
		{"v=DMARC1; p=reject; np=none", "sp", "reject", true, false},
		// §4.10.1: missing or invalid p: p=none only with a valid rua.
		{"v=DMARC1", "p", "", false, false},
		{"v=DMARC1; rua=mailto:a@example.com", "p", "none", true, false},
		{"v=DMARC1; p=bad", "p", "", false, true},
		{"v=DMARC1; p=bad; rua=mailto:a@example.com", "p", "none", true, false},
		{"v=DMARC1; p=bad; rua=nonsense", "p", "", false, true},
		{"v=DMARC1; p=reject; sp=bad", "sp", "", false, true},
		{"v=DMARC1; p=reject; sp=bad; rua=mailto:a@example.com", "sp", "none", true, false},
		{"v=DMARC1; p=reject; np=bad", "np", "", false, true},
		{"v=DMARC1; p=reject; np=bad", "sp", "reject", true, false},
	}
	for _, tt := range tests {
		r, err := ParseRecord(tt.rec)
		if err != nil {
			t.Fatal(err)
		}
		got, ok, invalid := r.EffectivePolicy(tt.tag)
		if got != tt.want || ok != tt.ok || invalid != tt.invalid {
			t.Errorf("%q tag %s = %q %v %v; want %q %v %v", tt.rec, tt.tag, got, ok, invalid, tt.want, tt.ok, tt.invalid)
		}
	}
}

func FuzzParseRecord(f *testing.F) {
	for _, s := range []string{
		"v=DMARC1; p=reject", "v=DMARC1; p=none; rua=mailto:a@example.com!10m; fo=1:d",
		"v=DMARC1;psd=y;t=y;np=quarantine;sp=none;adkim=s;aspf=r;pct=0", "v=DMARC10", "v=DMARC1; p",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRecord(s)
		if err != nil {
			return
		}
		for _, tag := range []string{"p", "sp", "np"} {
			p, ok, _ := r.EffectivePolicy(tag)
			if ok != (p != "") {
				t.Fatalf("%q: tag %s gives %q ok=%v", s, tag, p, ok)
			}
		}
		if r.PSD != "y" && r.PSD != "n" && r.PSD != "u" {
			t.Fatalf("%q: psd %q", s, r.PSD)
		}
	})
}
