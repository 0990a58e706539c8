package spf

import (
	"errors"
	"testing"
)

func TestParseRecord(t *testing.T) {
	good := []string{
		"v=spf1",
		"v=spf1 ",
		"V=SPF1 -ALL",
		"v=spf1  ip4:192.0.2.0/24   ip6:2001:db8::/32 ~all ",
		"v=spf1 a a:example.com a/24 a//64 a:example.com/24//64 mx:%{d}/0 -all",
		"v=spf1 ptr ptr:example.com exists:%{ir}.%{l1r-}.%{d} include:_spf.example.net ?all",
		"v=spf1 redirect=_spf.example.com exp=explain._spf.%{d}",
		"v=spf1 foo=bar unknown-mod=%{c} moo.cow-far_out=man:dog/cat -all",
		"v=spf1 a:e.b-c -all",
		"v=spf1 ip4:0.0.0.0/0 ip6:::/0",
	}
	for _, s := range good {
		if _, err := parseRecord(s); err != nil {
			t.Errorf("parseRecord(%q): %v", s, err)
		}
	}
	bad := []string{
		"v=spf1 -all moo",
		"v=spf1 all:foo",
		"v=spf1 include",
		"v=spf1 include:",
		"v=spf1 a:museum",
		"v=spf1 a:museum.",
		"v=spf1 a:foo.-dash",
		"v=spf1 a:1.2.3.4",
		"v=spf1 a/33",
		"v=spf1 a//129",
		"v=spf1 a/024",
		"v=spf1 ip4:192.0.2.0/33",
		"v=spf1 ip4:2001:db8::1",
		"v=spf1 ip6:192.0.2.1",
		"v=spf1 ip4:192.0.2.300",
		"v=spf1 ip4",
		"v=spf1 ptr/24",
		"v=spf1 exists:%{c}.example.com",
		"v=spf1 redirect=a.example.com redirect=b.example.com",
		"v=spf1 exp=a.example.com exp=b.example.com",
		"v=spf1 exp=",
		"v=spf1 foo=%",
		"v=spf1 -all\t",
		"v=spf1 =foo",
		"v=spf1 ip4:192.0.2.1 ip4:192.0.2.2/",
		"v=spf1 exists:%{i}.%{d}.", // domain-end: "." toplabel [ "." ] / macro-expand
	}
	for _, s := range bad {
		if _, err := parseRecord(s); !errors.Is(err, ErrSyntax) {
			t.Errorf("parseRecord(%q): err %v, want ErrSyntax", s, err)
		}
	}
}

func TestIsSPFRecord(t *testing.T) {
	for s, want := range map[string]bool{
		"v=spf1":        true,
		"v=spf1 -all":   true,
		"V=Spf1 -all":   true,
		"v=spf1-all":    false,
		"v=spf10":       false,
		"v=spf2.0/pra":  false,
		" v=spf1 -all":  false,
		"spf1":          false,
		"v=spf1\t-all":  false,
		"google-verify": false,
	} {
		if got := isSPFRecord(s); got != want {
			t.Errorf("isSPFRecord(%q) = %v", s, got)
		}
	}
}
