package report

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"
)

// TestRandomReportsValid builds reports from random events (fixed seed)
// and checks each against the lint and the XSD, and that the counts add up.
func TestRandomReportsValid(t *testing.T) {
	rs, events := randomReports(t)
	var total int64
	for i, r := range rs {
		x := r.XML()
		lintClean(t, x)
		t.Run(fmt.Sprint("xsd-", i), func(t *testing.T) { validateXSD(t, x) })
		total += r.Messages()
	}
	if total != int64(events) {
		t.Errorf("reports count %d messages, want %d", total, events)
	}
	if len(rs) < 6 {
		t.Errorf("only %d reports", len(rs))
	}
}

// randomReports builds the reports of 400 random events (fixed seed) and
// returns them with the number of events.
func randomReports(t *testing.T) ([]Report, int) {
	t.Helper()
	rnd := rand.New(rand.NewPCG(1, 2))
	pick := func(s ...string) string { return s[rnd.IntN(len(s))] }
	var evs []Event
	for i := 0; i < 400; i++ {
		d := pick("example.com", "example.org", "bücher.example")
		p := pol(d, pick("none", "quarantine", "reject"), func(p *Policy) {
			p.Domain = domainOrRaw(d)
			p.Testing = rnd.IntN(4) == 0
			p.RUA = []string{pick("mailto:a@r.example", "mailto:b@r.example")}
		})
		e := fail(p, "192.0.2.1", pick(d, "sub."+d), Disposition(p.P), time.Duration(rnd.IntN(48))*time.Hour)
		if rnd.IntN(2) == 0 {
			e = pass(p, "192.0.2.1", e.HeaderFrom, e.Time.Sub(day0))
		}
		var b [16]byte
		b[0], b[1], b[15] = 0x20, 0x01, byte(rnd.IntN(4))
		e.SourceIP = netip.AddrFrom16(b)
		if rnd.IntN(2) == 0 {
			e.SourceIP = netip.AddrFrom4([4]byte{198, 51, 100, byte(rnd.IntN(4))})
		}
		if rnd.IntN(5) == 0 {
			e.Reasons = []Reason{{Type: ReasonOther, Comment: fmt.Sprintf("rule <%d> & more", rnd.IntN(3))}}
		}
		evs = append(evs, e)
	}
	return build(t, meta, evs), len(evs)
}
