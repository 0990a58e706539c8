package spf

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

// FuzzParseRecord parses arbitrary records and, when they parse, evaluates
// them against a small zone: neither may panic, and the result is always
// one of the seven RFC 7208 words.
func FuzzParseRecord(f *testing.F) {
	for _, s := range []string{
		"v=spf1 -all",
		"v=spf1 include:_spf.example.net ~all",
		"v=spf1 a mx/24//64 ptr exists:%{ir}.%{v}._spf.%{d2} redirect=%{d}",
		"v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 -all exp=exp.%{d}",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, txt string) {
		rec, err := parseRecord(txt)
		if err != nil {
			return
		}
		for _, m := range rec.mechs {
			if m.cidr4 < 0 || m.cidr4 > 32 || m.cidr6 < 0 || m.cidr6 > 128 {
				t.Fatalf("%q: prefix lengths %d, %d", txt, m.cidr4, m.cidr6)
			}
		}
		z := newZone()
		z.add("example.com", zoneItem{typ: "TXT", val: txt})
		z.add("example.com", zoneItem{typ: "A", val: "192.0.2.1"})
		z.add("example.com", zoneItem{typ: "MX", val: "example.com"})
		z.add("exp.example.com", zoneItem{typ: "TXT", val: "%{c} %{r} %{t} %{p}"})
		z.add("1.2.0.192.in-addr.arpa", zoneItem{typ: "PTR", val: "example.com"})
		z.finish()
		c := &Checker{Resolver: z, Timeout: time.Second, Now: func() time.Time { return time.Unix(0, 0) }}
		o := c.CheckHost(context.Background(), net.ParseIP("192.0.2.1"), "example.com", "a-b@example.com", "h.example.com")
		switch o.Result {
		case None, Neutral, Pass, Fail, Softfail, Temperror, Permerror:
		default:
			t.Fatalf("%q: result %q", txt, o.Result)
		}
		if o.Lookups > DefaultMaxLookups+1 {
			t.Fatalf("%q: %d lookups", txt, o.Lookups)
		}
	})
}

// FuzzMacroExpand parses and expands arbitrary macro strings with
// arbitrary sender and HELO values.
func FuzzMacroExpand(f *testing.F) {
	f.Add("%{ir}.%{v}._spf.%{d2}", "strong-bad@email.example.com", "mx.example.org", true)
	f.Add("%{l1r-}.lp.%{S}%%%_%-", "a+b=c@example.com", "h", false)
	f.Add("%{c} at %{t} by %{r}: %{p}", "@example.com", "[192.0.2.1]", true)
	f.Fuzz(func(t *testing.T, s, sender, helo string, v4 bool) {
		ms, err := parseMacroString(s, true, true)
		if err != nil {
			return
		}
		ip := net.ParseIP("2001:db8::cb01")
		if v4 {
			ip = net.ParseIP("192.0.2.3").To4()
		}
		local, dom, _ := strings.Cut(sender, "@")
		env := &macroEnv{sender: sender, local: local, senderDomain: dom, domain: dom,
			ip: ip, helo: helo, receiver: "r.example", now: 1}
		out := env.expand(ms)
		if !strings.Contains(s, "%") && out != s {
			t.Fatalf("%q without macros expanded to %q", s, out)
		}
		_ = expandDomain(env, ms)
	})
}
