package schedule

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authmilter/authmilter/auth/dkim"
	"github.com/authmilter/authmilter/auth/dns"
	"github.com/authmilter/authmilter/auth/report"
	"github.com/authmilter/authmilter/auth/report/send"
	"github.com/authmilter/authmilter/auth/report/store"
)

// mailer records the sends and answers each address as errs says.
type mailer struct {
	mu   sync.Mutex
	errs map[string]error
	sent []sent
}

type sent struct {
	from string
	to   []string
	msg  []byte
}

func (m *mailer) Send(_ context.Context, from string, to []string, msg []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, a := range to {
		if err := m.errs[a]; err != nil {
			return err
		}
	}
	m.sent = append(m.sent, sent{from, to, msg})
	return nil
}

// zone answers TXT from a map; names in servfail fail temporarily.
type zone struct {
	txt      map[string]string
	servfail map[string]bool
}

func (z zone) LookupTXT(_ context.Context, name string) ([]string, error) {
	name = strings.TrimSuffix(name, ".")
	if z.servfail[name] {
		return nil, dns.NewError(dns.ErrServFail, name)
	}
	if v, ok := z.txt[name]; ok {
		return []string{v}, nil
	}
	return nil, dns.NewError(dns.ErrNXDomain, name)
}

// built records one message per domain with the given rua and builds
// the reports.
func built(t *testing.T, st store.Store, rua map[string][]string) {
	t.Helper()
	b := report.NewBatch(24 * time.Hour)
	for domain, uris := range rua {
		e := ev(domain, "192.0.2.1", report.DispositionPass, true)
		e.Policy.RUA = uris
		if err := b.Add(e); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.Record(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	res, err := Builder{Store: st, Meta: meta, When: WhenAny, Owner: "b"}.Build(context.Background(), day0.Add(25*time.Hour))
	if err != nil || len(res.Built) != len(rua) {
		t.Fatalf("built %d, %v", len(res.Built), err)
	}
}

func states(t *testing.T, st store.Store) string {
	t.Helper()
	l, err := st.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var s []string
	for _, r := range l {
		for _, d := range r.Deliveries {
			s = append(s, d.Dest+"="+d.State)
		}
	}
	return strings.Join(s, " ")
}

// TestSenderOutcomes: each destination ends as its relay reply, its
// verification and its suppression say; one transaction per
// destination, To naming only it.
func TestSenderOutcomes(t *testing.T) {
	st := open(t)
	built(t, st, map[string][]string{
		"a.example": {"mailto:dmarc@a.example", "mailto:r@reports.test", "mailto:r@unverified.test", "https://a.example/"},
		"b.example": {"mailto:full@b.example", "mailto:gone@b.example", "mailto:r@dnsdown.test", "mailto:r@over.test"},
	})
	m := &mailer{errs: map[string]error{
		"full@b.example": &send.ReplyError{Code: 452, Text: "full", Stage: "RCPT"},
		"gone@b.example": &send.ReplyError{Code: 550, Text: "no such user", Stage: "RCPT"},
	}}
	z := zone{txt: map[string]string{
		"a.example._report._dmarc.reports.test": "v=DMARC1;",
		"b.example._report._dmarc.over.test":    "v=DMARC1; rua=mailto:other@over.test",
	}, servfail: map[string]bool{"b.example._report._dmarc.dnsdown.test": true}}
	s := Sender{Store: st, Mailer: m, Resolver: z, Meta: meta, From: "dmarc@receiver.example", Owner: "s"}
	now := day0.Add(25 * time.Hour)
	got, err := s.Send(context.Background(), now)
	if err != nil {
		t.Fatal(err)
	}
	want := map[Outcome]int{Sent: 3, Retry: 1, Failed: 2, Unverified: 1, Deferred: 1}
	for _, o := range Outcomes {
		if got[o] != want[o] {
			t.Errorf("%s: %d, want %d (all %v)", o, got[o], want[o], got)
		}
	}
	var to []string
	for _, x := range m.sent {
		to = append(to, strings.Join(x.to, ","))
		if x.from != "dmarc@receiver.example" {
			t.Errorf("envelope sender %q", x.from)
		}
		if !bytes.Contains(x.msg, []byte("\r\nTo: "+x.to[0]+"\r\n")) {
			t.Errorf("message to %s does not name only it in To", x.to[0])
		}
	}
	if s := strings.Join(to, " "); !strings.Contains(s, "dmarc@a.example") || !strings.Contains(s, "r@reports.test") || !strings.Contains(s, "other@over.test") {
		t.Errorf("sent to %s", s)
	}
	// gone@ is suppressed now: a resend does not reach it.
	if until, _, _ := st.Suppressed(context.Background(), "gone@b.example", now); !until.Equal(now.Add(7 * 24 * time.Hour)) {
		t.Errorf("550 suppressed until %v", until)
	}
	l, _ := st.List(context.Background())
	for _, r := range l {
		if r.PolicyDomain == "b.example" {
			if err := st.Resend(context.Background(), r.ID, now); err != nil {
				t.Fatal(err)
			}
		}
	}
	m.errs = nil
	clear(z.servfail) // s holds a copy of z, sharing the map
	got, err = s.Send(context.Background(), now)
	if err != nil {
		t.Fatal(err)
	}
	// full@ (was 452) and over.test sent; gone@ (was 550) suppressed;
	// dnsdown.test answers now, without a verification record.
	if got[Suppressed] != 1 || got[Sent] != 2 || got[Unverified] != 1 {
		t.Errorf("after resend: %v, want two sent, one suppressed, one unverified", got)
	}
	// Nothing is due any more.
	if got, _ := s.Send(context.Background(), now.Add(time.Hour)); len(got) != 0 {
		t.Errorf("second run: %v", got)
	}
}

// TestSenderBackoff: a temporary failure is retried after RetryMin,
// doubling, and fails after MaxAttempts.
func TestSenderBackoff(t *testing.T) {
	st := open(t)
	built(t, st, map[string][]string{"a.example": {"mailto:dmarc@a.example"}})
	m := &mailer{errs: map[string]error{"dmarc@a.example": &send.ReplyError{Code: 421, Text: "busy", Stage: "MAIL"}}}
	s := Sender{Store: st, Mailer: m, Resolver: zone{}, Meta: meta, From: "dmarc@receiver.example", Owner: "s",
		RetryMin: time.Minute, RetryMax: 3 * time.Minute, MaxAttempts: 4}
	now := day0.Add(25 * time.Hour)
	var tries []time.Duration
	for at := time.Duration(0); at < time.Hour; at += 30 * time.Second {
		got, err := s.Send(context.Background(), now.Add(at))
		if err != nil {
			t.Fatal(err)
		}
		if got[Retry]+got[Failed] > 0 {
			tries = append(tries, at)
		}
		if got[Failed] > 0 {
			break
		}
	}
	// attempts at 0, +1m, +2m (3m), +3m (capped, 6m)
	if !slices.Equal(tries, []time.Duration{0, time.Minute, 3 * time.Minute, 6 * time.Minute}) {
		t.Errorf("attempts at %v", tries)
	}
	if !strings.Contains(states(t, st), "=failed") {
		t.Errorf("states %s", states(t, st))
	}
}

// TestSenderDailyCap: the second report of the day to one address waits
// for the next UTC day.
func TestSenderDailyCap(t *testing.T) {
	st := open(t)
	built(t, st, map[string][]string{"a.example": {"mailto:agg@reports.example"}, "b.example": {"mailto:agg@reports.example"}})
	z := zone{txt: map[string]string{
		"a.example._report._dmarc.reports.example": "v=DMARC1", "b.example._report._dmarc.reports.example": "v=DMARC1",
	}}
	m := &mailer{}
	s := Sender{Store: st, Mailer: m, Resolver: z, Meta: meta, From: "dmarc@receiver.example", Owner: "s", DailyCap: 1}
	now := day0.Add(25 * time.Hour)
	got, _ := s.Send(context.Background(), now)
	if got[Sent] != 1 || got[Capped] != 1 {
		t.Fatalf("day 1: %v", got)
	}
	if got, _ := s.Send(context.Background(), now.Add(time.Hour)); len(got) != 0 {
		t.Errorf("capped one retried the same day: %v", got)
	}
	if got, _ := s.Send(context.Background(), day0.Add(48*time.Hour)); got[Sent] != 1 {
		t.Errorf("next day: %v", got)
	}
}

// TestSenderSigns: with a key, the report mail carries a DKIM signature
// that verifies.
func TestSenderSigns(t *testing.T) {
	st := open(t)
	built(t, st, map[string][]string{"a.example": {"mailto:dmarc@a.example"}})
	key := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	m := &mailer{}
	s := Sender{Store: st, Mailer: m, Resolver: zone{}, Meta: meta, From: "dmarc@receiver.example", Owner: "s",
		Sign: dkim.SignOptions{Keys: []dkim.SignKey{{Domain: "receiver.example", Selector: "rep", Key: key}}}}
	if got, err := s.Send(context.Background(), day0.Add(25*time.Hour)); err != nil || got[Sent] != 1 {
		t.Fatalf("%v %v", got, err)
	}
	rec, _ := dkim.KeyRecord(key)
	v := dkim.NewVerifier(context.Background(), dkim.Options{Resolver: zone{txt: map[string]string{"rep._domainkey.receiver.example": rec}}})
	v.Write(m.sent[0].msg)
	if res := v.Close(); len(res) != 1 || res[0].Result != "pass" {
		t.Errorf("signature: %+v", res)
	}
}

// TestSenderBounce: a DSN about one of our reports suppresses its failed
// destination; one about another message, or naming an address that was
// no destination of the report, suppresses nothing.
func TestSenderBounce(t *testing.T) {
	st := open(t)
	built(t, st, map[string][]string{"a.example": {"mailto:dmarc@a.example"}})
	l, _ := st.List(context.Background())
	id := l[0].ID
	s := Sender{Store: st, Meta: meta, Owner: "s"}
	now := day0.Add(30 * time.Hour)
	for _, c := range []struct {
		dsn  send.DSN
		want string
	}{
		{send.DSN{MessageID: "other@receiver.example", Failed: []send.Bounce{{Recipient: "dmarc@a.example"}}}, ""},
		{send.DSN{MessageID: id + "@elsewhere.example", Failed: []send.Bounce{{Recipient: "dmarc@a.example"}}}, ""},
		{send.DSN{MessageID: id + "@receiver.example", Failed: []send.Bounce{{Recipient: "victim@b.example"}}}, ""},
		{send.DSN{MessageID: id + "@receiver.example", Failed: []send.Bounce{{Recipient: "dmarc@a.example", Status: "5.1.1"}}}, "dmarc@a.example"},
	} {
		got, err := s.Bounce(context.Background(), c.dsn, now)
		if err != nil || strings.Join(got, ",") != c.want {
			t.Errorf("%+v: suppressed %v %v, want %q", c.dsn, got, err, c.want)
		}
	}
	if until, reason, _ := st.Suppressed(context.Background(), "dmarc@a.example", now); until.IsZero() || !strings.Contains(reason, "5.1.1") {
		t.Errorf("suppressed until %v (%q)", until, reason)
	}
	if until, _, _ := st.Suppressed(context.Background(), "victim@b.example", now); !until.IsZero() {
		t.Error("a forged DSN suppressed another address")
	}
}
