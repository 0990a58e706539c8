package dns

import (
	"bytes"
	"testing"

	"github.com/miekg/dns"
)

// viaWire returns the strings miekg/dns hands out for a TXT record whose
// single string on the wire is raw.
func viaWire(t testing.TB, raw []byte) []string {
	placeholder := bytes.Repeat([]byte{'Z'}, len(raw))
	m := new(dns.Msg)
	m.SetQuestion("t.example.", dns.TypeTXT)
	m.Answer = []dns.RR{&dns.TXT{
		Hdr: dns.RR_Header{Name: "t.example.", Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60},
		Txt: []string{string(placeholder)},
	}}
	wire, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.LastIndex(wire, append([]byte{byte(len(raw))}, placeholder...))
	if i < 0 {
		t.Fatal("placeholder not found")
	}
	copy(wire[i+1:], raw)
	var got dns.Msg
	if err := got.Unpack(wire); err != nil {
		t.Fatal(err)
	}
	return got.Answer[0].(*dns.TXT).Txt
}

func TestJoinTXT(t *testing.T) {
	for _, raw := range []string{"", "plain", `a"b\c;d`, "caf\xc3\xa9", "\x00\x01\xff", `\065`, "v=DKIM1; p=abc\\"} {
		if got := joinTXT(viaWire(t, []byte(raw))); got != raw {
			t.Errorf("joinTXT(%q) = %q", raw, got)
		}
	}
	if got := joinTXT([]string{"a", `\034b`, "c"}); got != `a"bc` {
		t.Errorf("joinTXT(3 strings) = %q", got)
	}
}

func FuzzJoinTXT(f *testing.F) {
	for _, s := range []string{"v=spf1 -all", `"\`, "caf\xc3\xa9", "\x00\x7f\x80"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if len(raw) > 255 || len(raw) == 0 {
			return
		}
		if got := joinTXT(viaWire(t, raw)); got != string(raw) {
			t.Errorf("joinTXT(%q) = %q", raw, got)
		}
	})
}
