package spf

import (
	"net"
	"testing"
)

// TestMacroRFCExamples checks the examples of RFC 7208 §7.4.
func TestMacroRFCExamples(t *testing.T) {
	env4 := &macroEnv{sender: "strong-bad@email.example.com", local: "strong-bad",
		senderDomain: "email.example.com", domain: "email.example.com",
		ip: net.ParseIP("192.0.2.3").To4(), helo: "mx.example.org", receiver: "mx.example.net", now: 1700000000}
	env6 := *env4
	env6.ip = net.ParseIP("2001:db8::cb01")
	tests := []struct {
		env  *macroEnv
		in   string
		want string
	}{
		{env4, "%{s}", "strong-bad@email.example.com"},
		{env4, "%{o}", "email.example.com"},
		{env4, "%{d}", "email.example.com"},
		{env4, "%{d4}", "email.example.com"},
		{env4, "%{d3}", "email.example.com"},
		{env4, "%{d2}", "example.com"},
		{env4, "%{d1}", "com"},
		{env4, "%{dr}", "com.example.email"},
		{env4, "%{d2r}", "example.email"},
		{env4, "%{l}", "strong-bad"},
		{env4, "%{l-}", "strong.bad"},
		{env4, "%{lr}", "strong-bad"},
		{env4, "%{lr-}", "bad.strong"},
		{env4, "%{l1r-}", "strong"},
		{env4, "%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com"},
		{env4, "%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com"},
		{env4, "%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", "bad.strong.lp.3.2.0.192.in-addr._spf.example.com"},
		{env4, "%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", "3.2.0.192.in-addr.strong.lp._spf.example.com"},
		{env4, "%{d2}.trusted-domains.example.net", "example.com.trusted-domains.example.net"},
		{&env6, "%{ir}.%{v}._spf.%{d2}", "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com"},
		// Beyond the RFC's examples.
		{env4, "%{S}", "strong-bad%40email.example.com"},
		{env4, "%%%_%-", "% %20"},
		{env4, "%{c} %{C}", "192.0.2.3 192.0.2.3"},
		{&env6, "%{c}", "2001:db8::cb01"},
		{&env6, "%{C}", "2001%3Adb8%3A%3Acb01"},
		{env4, "%{h} %{r} %{t}", "mx.example.org mx.example.net 1700000000"},
		{env4, "%{p}", "unknown"},
		{env4, "%{l1-}", "bad"},
		{env4, "%{l200}", "strong-bad"},
		{env4, "%{o1R}", "email"},
	}
	for _, tc := range tests {
		ms, err := parseMacroString(tc.in, true, true)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if got := tc.env.expand(ms); got != tc.want {
			t.Errorf("%q expanded to %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestMacroSyntax(t *testing.T) {
	for _, tc := range []struct {
		in      string
		expOnly bool
		ok      bool
	}{
		{"%{d}", false, true},
		{"%{D2r.-+,/_=}", false, true},
		{"%{c}", false, false},
		{"%{r}", false, false},
		{"%{t}", false, false},
		{"%{c}%{r}%{t}", true, true},
		{"%{d0}", false, false},
		{"%{x}", false, false},
		{"%{d", false, false},
		{"%{}", false, false},
		{"%{d2:}", false, false},
		{"%", false, false},
		{"%a", false, false},
		{"a b", false, false},
		{"\x7f", false, false},
		{"é", false, false},
	} {
		_, err := parseMacroString(tc.in, tc.expOnly, false)
		if (err == nil) != tc.ok {
			t.Errorf("parseMacroString(%q, expOnly=%v): err %v, want ok=%v", tc.in, tc.expOnly, err, tc.ok)
		}
	}
}
