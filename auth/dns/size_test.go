package dns

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestEntrySizeIsRealSize fills an 8 MiB cache with the smallest answers,
// where bookkeeping weighs most, each made as the resolver makes it (from
// a packed answer, unpacked), and checks that the live heap they hold is
// within what the cache counts. go test -run TestEntrySizeIsRealSize -v
// ./auth/dns/ prints the figures.
func TestEntrySizeIsRealSize(t *testing.T) {
	if testing.Short() {
		t.Skip("fills an 8 MiB cache five times")
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	kinds := []struct {
		name  string
		qtype uint16
		rrs   func(owner string) []dns.RR
	}{
		{"NXDOMAIN", dns.TypeTXT, func(string) []dns.RR { return nil }},
		{"TXT v=spf1 -all", dns.TypeTXT, func(o string) []dns.RR { return rrs(t, o+" 300 TXT \"v=spf1 -all\"") }},
		{"A", dns.TypeA, func(o string) []dns.RR { return rrs(t, o+" 300 A 192.0.2.1") }},
		{"2 AAAA", dns.TypeAAAA, func(o string) []dns.RR { return rrs(t, o+" 300 AAAA 2001:db8::1", o+" 300 AAAA 2001:db8::2") }},
		{"2 MX", dns.TypeMX, func(o string) []dns.RR {
			return rrs(t, o+" 300 MX 10 mx1.example.com.", o+" 300 MX 20 mx2.example.com.")
		}},
	}
	for _, k := range kinds {
		before := heapNow()
		c := newCache(8<<20, DefaultMaxAnswerBytes)
		n := 0
		for ; c.evicted == 0; n++ {
			name := fmt.Sprintf("n%07d.example.com", n)
			key, err := makeKey(name, k.qtype)
			if err != nil {
				t.Fatal(err)
			}
			e := unpacked(t, name, k.qtype, k.rrs(name+"."))
			e.expires = now.Add(time.Hour)
			c.add(key, e, now)
		}
		grown := heapNow() - before
		t.Logf("%-16s %7d answers: %.1f MiB counted, live heap +%.1f MiB (%d bytes counted each)",
			k.name, len(c.items), float64(c.bytes)/(1<<20), float64(grown)/(1<<20), c.bytes/int64(len(c.items)))
		if grown > c.bytes+c.bytes/32 {
			t.Errorf("%s: live heap +%d for %d bytes counted", k.name, grown, c.bytes)
		}
		runtime.KeepAlive(c)
	}
}

func heapNow() int64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

func rrs(t *testing.T, texts ...string) []dns.RR {
	t.Helper()
	var out []dns.RR
	for _, s := range texts {
		rr, err := dns.NewRR(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rr)
	}
	return out
}

// unpacked makes the entry fetch makes for an answer holding answer (none:
// NXDOMAIN), going through the wire format as the resolver does.
func unpacked(t *testing.T, name string, qtype uint16, answer []dns.RR) *entry {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name+".", qtype)
	m.Response = true
	m.Answer = answer
	if len(answer) == 0 {
		m.Rcode = dns.RcodeNameError
	}
	wire, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	resp := new(dns.Msg)
	if err := resp.Unpack(wire); err != nil {
		t.Fatal(err)
	}
	res := extract(resp, name, qtype, map[string]bool{name: true})
	e := &entry{server: "192.0.2.53:53"}
	e.ans.Type = qtype
	e.ans.Canonical = res.name
	if len(res.rrs) == 0 {
		e.cause = ErrNXDomain
	}
	fill(&e.ans, res.rrs)
	return e
}
