package failure

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authmilter/authmilter/auth/dmarc"
	"github.com/authmilter/authmilter/auth/report/send"
)

type sentMsg struct {
	from string
	to   []string
	msg  []byte
}

type fakeMailer struct {
	mu   sync.Mutex
	sent []sentMsg
	err  error // returned (once) when set
}

func (m *fakeMailer) Send(_ context.Context, from string, to []string, msg []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		err := m.err
		m.err = nil
		return err
	}
	m.sent = append(m.sent, sentMsg{from, to, msg})
	return nil
}

func (m *fakeMailer) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.sent)
}

type permErr struct{}

func (permErr) Error() string   { return "550 no" }
func (permErr) Permanent() bool { return true }

// fakeClock is advanced by the test.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newTestSender(t *testing.T, m Mailer, v Verifier, clk *fakeClock, mod func(*Config)) *Sender {
	t.Helper()
	cfg := Config{QueueLen: 16, RatePerHour: 2, Merge: time.Minute, MaxURIs: 3, MaxKeys: 100,
		RetryAfter: 20 * time.Millisecond, MaxAttempts: 3, MaxRetries: 10, Timeout: time.Second, VerifyTTL: time.Hour,
		From: "reports@receiver.example", UserAgent: "authmilter/test", RedactKey: []byte("k"), Now: clk.now}
	if mod != nil {
		mod(&cfg)
	}
	s, err := NewSender(cfg, m, v, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

// failing is an incident of a DMARC failure of example.com from ip; the
// record is left to the worker to parse.
func failing(record, ip string) *Incident {
	inc := &Incident{Input: Input{Result: dmarc.Result{Result: dmarc.ResultFail, Domain: "example.com",
		OrgDomain: "example.com", RecordDomain: "example.com", Record: record}, SPF: SPF{Domain: "example.com", Result: "fail"}},
		MailFrom: "someone@example.com", Header: []byte("From: someone@example.com\r\n")}
	inc.SourceIP = mustAddr(ip)
	return inc
}

// waitFor polls until cond holds (the worker is asynchronous).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func allow(context.Context, string, string) (bool, error) { return true, nil }

func TestSenderSendsVerifiedOnly(t *testing.T) {
	m := &fakeMailer{}
	clk := &fakeClock{t: time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)}
	var mu sync.Mutex
	asked := map[string]int{}
	v := func(_ context.Context, pd, uri string) (bool, error) {
		mu.Lock()
		asked[pd+" "+uri]++
		mu.Unlock()
		return strings.Contains(uri, "ok@"), nil
	}
	s := newTestSender(t, m, v, clk, nil)
	rec := "v=DMARC1; p=reject; ruf=mailto:ok@reports.example,mailto:no@elsewhere.example,https://x.example/r"
	s.Offer(failing(rec, "192.0.2.1"))
	s.Offer(failing(rec, "192.0.2.2"))
	waitFor(t, "two sent and two unverified", func() bool { st := s.Stats(); return st.Sent == 2 && st.Unverified == 2 })
	st := s.Stats()
	if st.Unsupported != 2 || m.count() != 2 {
		t.Errorf("stats %+v, sent %d", st, m.count())
	}
	for _, x := range m.sent {
		if len(x.to) != 1 || x.to[0] != "ok@reports.example" || x.from != "reports@receiver.example" {
			t.Errorf("sent %s → %v", x.from, x.to)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if asked["example.com mailto:no@elsewhere.example"] != 1 {
		t.Errorf("verification not cached: %v", asked)
	}
}

func TestSenderRateLimitAndMerge(t *testing.T) {
	m := &fakeMailer{}
	clk := &fakeClock{t: time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)}
	s := newTestSender(t, m, allow, clk, nil)
	rec := "v=DMARC1; p=reject; ruf=mailto:ruf@example.com"
	s.Offer(failing(rec, "192.0.2.1"))
	s.Offer(failing(rec, "192.0.2.1")) // like the first: merged
	s.Offer(failing(rec, "192.0.2.2"))
	s.Offer(failing(rec, "192.0.2.3")) // third to one destination in the hour
	waitFor(t, "four handled", func() bool { st := s.Stats(); return st.Sent+st.Merged+st.RateLimited == 4 })
	if st := s.Stats(); st.Sent != 2 || st.Merged != 1 || st.RateLimited != 1 {
		t.Errorf("stats %+v", st)
	}
	clk.add(time.Hour)
	s.Offer(failing(rec, "192.0.2.1")) // a new hour, and past the merge window
	waitFor(t, "sent again", func() bool { return s.Stats().Sent == 3 })
}

func TestSenderRetriesTemporaryErrors(t *testing.T) {
	m := &fakeMailer{err: errors.New("421 try later")}
	clk := &fakeClock{t: time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)}
	var mu sync.Mutex
	calls := 0
	v := func(context.Context, string, string) (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls == 1 {
			return false, errors.New("SERVFAIL")
		}
		return true, nil
	}
	s := newTestSender(t, m, v, clk, nil)
	s.Offer(failing("v=DMARC1; p=reject; ruf=mailto:ruf@example.com", "192.0.2.1"))
	// Verification temperror, then a 4xx, then sent; never sent before
	// the verification answered.
	waitFor(t, "the first verification", func() bool { mu.Lock(); defer mu.Unlock(); return calls == 1 })
	time.Sleep(50 * time.Millisecond) // retry ticks pass; the clock has not moved
	if m.count() != 0 || s.Stats().Retried != 0 {
		t.Fatalf("retried or sent before the retry was due: %+v", s.Stats())
	}
	// The clock moves on until the report is out: a retry after the
	// verification's temperror, another after the 4xx.
	waitFor(t, "sent", func() bool { clk.add(time.Minute); return s.Stats().Sent == 1 })
	if st := s.Stats(); st.Retried != 2 || st.RateLimited != 0 {
		t.Errorf("stats %+v", st)
	}

	// A permanent refusal is not retried; a verifier that never answers
	// gives up after MaxAttempts.
	m.err = permErr{}
	s.Offer(failing("v=DMARC1; p=reject; ruf=mailto:ruf2@example.com", "192.0.2.9"))
	waitFor(t, "failed", func() bool { return s.Stats().Failed == 1 })
}

func TestSenderGivesUpUnverifiable(t *testing.T) {
	m := &fakeMailer{}
	clk := &fakeClock{t: time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)}
	v := func(context.Context, string, string) (bool, error) { return false, errors.New("timeout") }
	s := newTestSender(t, m, v, clk, nil)
	s.Offer(failing("v=DMARC1; p=reject; ruf=mailto:ruf@example.com", "192.0.2.1"))
	for i := 0; i < 3; i++ {
		clk.add(time.Minute)
		time.Sleep(30 * time.Millisecond)
	}
	waitFor(t, "abandoned", func() bool { return s.Stats().Abandoned == 1 })
	if m.count() != 0 {
		t.Error("sent to a destination that was never verified")
	}
}

func TestSenderQueueFullDrops(t *testing.T) {
	block := make(chan struct{})
	m := &fakeMailer{}
	v := func(ctx context.Context, _, _ string) (bool, error) {
		select {
		case <-block:
		case <-ctx.Done():
		}
		return true, nil
	}
	clk := &fakeClock{t: time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)}
	s := newTestSender(t, m, v, clk, func(c *Config) { c.QueueLen = 2 })
	rec := "v=DMARC1; p=reject; ruf=mailto:ruf@example.com"
	n := 0
	for i := 0; i < 10; i++ {
		if s.Offer(failing(rec, "192.0.2.1")) {
			n++
		}
	}
	close(block)
	if st := s.Stats(); st.DroppedQueueFull == 0 || st.Queued != uint64(n) || st.Queued+st.DroppedQueueFull != 10 {
		t.Errorf("stats %+v", st)
	}
	s.Close(context.Background())
	if s.Offer(failing(rec, "192.0.2.1")) {
		t.Error("Offer after Close queued")
	}
}

func TestSenderNotRequested(t *testing.T) {
	m := &fakeMailer{}
	clk := &fakeClock{t: time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)}
	s := newTestSender(t, m, allow, clk, nil)
	s.Offer(failing("v=DMARC1; p=reject; psd=y; ruf=mailto:ruf@example.com; fo=1", "192.0.2.1"))
	s.Offer(failing("v=DMARC1; p=reject; rua=mailto:rua@example.com", "192.0.2.1"))
	waitFor(t, "two not requested", func() bool { return s.Stats().NotRequested == 2 })
	if m.count() != 0 {
		t.Error("sent")
	}
}

func TestMailtoAddress(t *testing.T) {
	for uri, want := range map[string]string{
		"mailto:ruf@example.com":             "ruf@example.com",
		"MAILTO:ruf@example.com?subject=x":   "ruf@example.com",
		"mailto:r%2Bf@example.com":           "r+f@example.com",
		"mailto:a@example.com,b@example.com": "",
		"https://example.com/r":              "",
		"mailto:":                            "",
		"mailto:not an address":              "",
	} {
		got, err := send.MailtoAddress(uri)
		if got != want || (err == nil) != (want != "") {
			t.Errorf("send.MailtoAddress(%q) = %q, %v; want %q", uri, got, err, want)
		}
	}
}

// TestSenderSPFDNS: SPF failed for the aligned MAIL FROM domain: the
// record is looked up once and goes into SPF-DNS.
func TestSenderSPFDNS(t *testing.T) {
	m := &fakeMailer{}
	clk := &fakeClock{t: time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)}
	var mu sync.Mutex
	var names []string
	lookup := func(_ context.Context, name string) ([]string, error) {
		mu.Lock()
		names = append(names, name)
		mu.Unlock()
		return []string{"google-site-verification=x", "v=spf1 ip4:192.0.2.0/24 -all"}, nil
	}
	s := newTestSender(t, m, allow, clk, func(c *Config) { c.LookupTXT = lookup })
	s.Offer(failing("v=DMARC1; p=reject; ruf=mailto:a@example.com,mailto:b@example.com", "192.0.2.1"))
	waitFor(t, "two sent", func() bool { return s.Stats().Sent == 2 })
	for _, x := range m.sent {
		fb := parseReport(t, x.msg).feedback
		if got := fb.Get("SPF-DNS"); got != `txt : example.com : "v=spf1 ip4:192.0.2.0/24 -all"` {
			t.Errorf("SPF-DNS %q", got)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(names) != 1 || names[0] != "example.com" {
		t.Errorf("lookups %q", names)
	}
}
