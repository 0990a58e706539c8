package tlspolicy_test

import (
	"bufio"
	"context"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authmilter/authmilter/auth/dns"
	"github.com/authmilter/authmilter/auth/dns/dnstest"
	"github.com/authmilter/authmilter/auth/mtasts"
	"github.com/authmilter/authmilter/auth/mtasts/mtaststest"
	"github.com/authmilter/authmilter/auth/tlspolicy"
)

const zone = `
example.test.              MX 10 mx1.example.test.
_mta-sts.example.test.     TXT "v=STSv1; id=1"
testing.test.              MX 10 mx1.testing.test.
_mta-sts.testing.test.     TXT "v=STSv1; id=1"
elsewhere.test.            MX 10 mx1.example.test.
_mta-sts.elsewhere.test.   TXT "v=STSv1; id=1"
dane.test.                 MX 10 mx.dane.test.
_25._tcp.mx.dane.test.     TLSA 3 1 1 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
_mta-sts.dane.test.        TXT "v=STSv1; id=1"
plain.test.                MX 10 mx.plain.test.
`

const (
	enforce  = "version: STSv1\nmode: enforce\nmx: mx1.example.test\nmax_age: 86400\n"
	testing_ = "version: STSv1\nmode: testing\nmx: mx1.testing.test\nmax_age: 86400\n"
	wildcard = "version: STSv1\nmode: enforce\nmx: *.elsewhere.test\nmax_age: 86400\n"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type counts struct {
	mu      sync.Mutex
	answers map[string]int
	fetches map[string]int
}

func (c *counts) Answered(kind string) { c.mu.Lock(); c.answers[kind]++; c.mu.Unlock() }
func (c *counts) Fetched(r string)     { c.mu.Lock(); c.fetches[r]++; c.mu.Unlock() }

type env struct {
	dns   *dnstest.Server
	res   *dns.Resolver
	https *mtaststest.Server
	clk   *clock
	path  string
	obs   *counts
}

func newEnv(t *testing.T) *env {
	t.Helper()
	srv, res := dnstest.StartResolver(t, zone)
	ca := mtaststest.NewCA(t)
	https := mtaststest.StartServer(t, ca, "example.test", "testing.test", "elsewhere.test", "dane.test")
	https.SetPolicy("example.test", enforce)
	https.SetPolicy("testing.test", testing_)
	https.SetPolicy("elsewhere.test", wildcard)
	https.SetPolicy("dane.test", enforce)
	return &env{dns: srv, res: res, https: https, clk: &clock{t: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)},
		path: filepath.Join(t.TempDir(), "tls-policy.json"),
		obs:  &counts{answers: map[string]int{}, fetches: map[string]int{}}}
}

func (e *env) service(t *testing.T, version string, tempOnFailure bool) *tlspolicy.Service {
	t.Helper()
	voc, err := tlspolicy.VocabularyFor(version)
	if err != nil {
		t.Fatal(err)
	}
	store, err := tlspolicy.OpenStore(e.path, false, 100)
	if err != nil {
		t.Fatal(err)
	}
	cfg := tlspolicy.Config{Vocabulary: voc, DANE: true, TempOnFailure: tempOnFailure, Now: e.clk.Now}
	return tlspolicy.New(cfg, e.res, mtasts.NewFetcher(e.https.Client()), store, nil, e.obs)
}

func TestAnswers(t *testing.T) {
	e := newEnv(t)
	e.dns.AD("mx.dane.test")
	e.dns.AD("dane.test")
	e.dns.AD("_25._tcp.mx.dane.test")
	s := e.service(t, "3.7", false)
	ctx := context.Background()
	for _, tt := range []struct{ key, want, kind string }{
		{"example.test", "OK secure match=mx1.example.test servername=hostname", "sts-enforce"},
		{"Example.TEST.", "OK secure match=mx1.example.test servername=hostname", "sts-enforce"},
		{"testing.test", "NOTFOUND ", "sts-testing"},
		{"elsewhere.test", "OK secure match=.elsewhere.test servername=hostname", "sts-enforce"},
		{"dane.test", "OK dane-only", "dane-only"},
		{"plain.test", "NOTFOUND ", "none"},
		{"nx.test", "NOTFOUND ", "none"},
		{".example.test", "NOTFOUND ", "ignored"},
		{"[127.0.0.1]:25", "NOTFOUND ", "ignored"},
		{"127.0.0.1", "NOTFOUND ", "ignored"},
		{"example.test:2525", "OK secure match=mx1.example.test servername=hostname", "sts-enforce"},
	} {
		d := s.Lookup(ctx, tt.key)
		if got := d.Answer.Format(tlspolicy.Vocabulary{Servername: true}); got != tt.want || d.Kind != tt.kind {
			t.Errorf("%s: %q (%s), want %q (%s); why: %s", tt.key, got, d.Kind, tt.want, tt.kind, strings.Join(d.Why, "; "))
		}
	}
	if n := e.https.Fetches("example.test"); n != 1 {
		t.Errorf("example.test fetched %d times, want 1 (id unchanged)", n)
	}
	if e.obs.answers["sts-enforce"] != 4 || e.obs.fetches["ok"] != 3 {
		t.Errorf("observer: %v %v", e.obs.answers, e.obs.fetches)
	}
}

// TestDANEWithoutAD: TLSA records without the AD bit are not DANE; the
// MTA-STS policy applies.
func TestDANEWithoutAD(t *testing.T) {
	e := newEnv(t)
	d := e.service(t, "3.7", false).Lookup(context.Background(), "dane.test")
	if d.Kind != "sts-enforce" {
		t.Errorf("kind %s; why: %v", d.Kind, d.Why)
	}
	// Validated TLSA but an unvalidated MX: dane, not dane-only.
	e.dns.AD("_25._tcp.mx.dane.test")
	e.res.Purge()
	d = e.service(t, "3.7", false).Lookup(context.Background(), "dane.test")
	if got := d.Answer.Format(tlspolicy.Vocabulary{}); got != "OK dane" {
		t.Errorf("unvalidated MX: %q; why: %v", got, d.Why)
	}
}

func TestVocabulary(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for _, tt := range []struct{ version, want string }{
		{"3.3", "OK secure match=mx1.example.test"},
		{"3.7", "OK secure match=mx1.example.test servername=hostname"},
		{"3.10", "OK secure match=mx1.example.test servername=hostname policy_type=sts policy_domain=example.test mx_host_pattern=mx1.example.test { policy_string = version: STSv1 } { policy_string = mode: enforce } { policy_string = mx: mx1.example.test } { policy_string = max_age: 86400 }"},
	} {
		got := e.service(t, tt.version, false).Answer(ctx, "postfix example.test")
		if got != tt.want {
			t.Errorf("%s: %q\nwant %q", tt.version, got, tt.want)
		}
	}
	for _, bad := range []string{"", "3", "x.y", "2.10", "3.7.1.1"} {
		if _, err := tlspolicy.VocabularyFor(bad); err == nil {
			t.Errorf("VocabularyFor(%q) accepted", bad)
		}
	}
}

// TestCacheSurvives: a cached enforce policy outlives a failed refetch
// (id changed, HTTPS down), a restart with the HTTPS server down, and a
// removed record, until max_age; then NOTFOUND.
func TestCacheSurvives(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const want = "OK secure match=mx1.example.test servername=hostname"
	if got := e.service(t, "3.7", false).Answer(ctx, "postfix example.test"); got != want {
		t.Fatalf("first: %q", got)
	}
	e.https.Close()
	e.dns.Remove("_mta-sts.example.test", 0)
	e.dns.Add(`_mta-sts.example.test. TXT "v=STSv1; id=2"`)
	e.res.Purge()
	s := e.service(t, "3.7", true) // a restart: the policy from the file
	d := s.Lookup(ctx, "example.test")
	if got := d.Answer.Format(tlspolicy.Vocabulary{Servername: true}); got != want {
		t.Fatalf("after restart, HTTPS down, id changed: %q; why %v", got, d.Why)
	}
	e.dns.Remove("_mta-sts.example.test", 0)
	e.res.Purge()
	e.clk.Add(23 * time.Hour)
	if got := s.Answer(ctx, "postfix example.test"); got != want {
		t.Fatalf("record removed, policy valid: %q", got)
	}
	e.clk.Add(2 * time.Hour)
	if got := s.Answer(ctx, "postfix example.test"); got != "NOTFOUND " {
		t.Fatalf("expired: %q", got)
	}
}

// TestFetchFailureWithoutCache: RFC 8461 section 5.1, no policy →
// NOTFOUND; TEMP only when configured; no refetch within RetryInterval.
func TestFetchFailureWithoutCache(t *testing.T) {
	e := newEnv(t)
	e.https.SetResponse("example.test", mtaststest.Response{Status: 500})
	ctx := context.Background()
	s := e.service(t, "3.7", false)
	if got := s.Answer(ctx, "postfix example.test"); got != "NOTFOUND " {
		t.Errorf("default: %q", got)
	}
	if got := s.Answer(ctx, "postfix example.test"); got != "NOTFOUND " || e.https.Fetches("example.test") != 1 {
		t.Errorf("again: %q after %d fetches", got, e.https.Fetches("example.test"))
	}
	if got := e.service(t, "3.7", true).Answer(ctx, "postfix example.test"); !strings.HasPrefix(got, "TEMP ") {
		t.Errorf("on_failure temp: %q", got)
	}
	e.dns.ServFail("_mta-sts.example.test")
	e.res.Purge()
	if got := e.service(t, "3.7", false).Answer(ctx, "postfix example.test"); got != "NOTFOUND " {
		t.Errorf("SERVFAIL: %q", got)
	}
}

// TestRefresh: a changed id is fetched; Refresh fetches a policy again
// before it expires, so it does not lapse.
func TestRefresh(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	s := e.service(t, "3.7", false)
	s.Lookup(ctx, "example.test")
	e.https.SetPolicy("example.test", strings.Replace(enforce, "mx1", "mx2", 1))
	e.dns.Remove("_mta-sts.example.test", 0)
	e.dns.Add(`_mta-sts.example.test. TXT "v=STSv1; id=2"`)
	e.res.Purge()
	if got := s.Answer(ctx, "postfix example.test"); got != "OK secure match=mx2.example.test servername=hostname" {
		t.Errorf("id changed: %q", got)
	}
	e.clk.Add(11 * time.Hour)
	s.Refresh(ctx)
	if n := e.https.Fetches("example.test"); n != 2 {
		t.Errorf("refresh before half of max_age: %d fetches, want 2", n)
	}
	e.clk.Add(2 * time.Hour)
	s.Refresh(ctx)
	if n := e.https.Fetches("example.test"); n != 3 {
		t.Errorf("refresh after half of max_age: %d fetches, want 3", n)
	}
	e.clk.Add(20 * time.Hour) // 33 h after the first fetch, 20 after the refresh
	if d := s.Lookup(ctx, "example.test"); d.Kind != "sts-enforce" {
		t.Errorf("refreshed policy lapsed: %s %v", d.Kind, d.Why)
	}
}

// TestSocketmap: two requests on one connection, then a bad one closes it.
func TestSocketmap(t *testing.T) {
	e := newEnv(t)
	s := e.service(t, "3.7", false)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	t.Cleanup(func() { ln.Close(); s.Close() })
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	for _, tt := range []struct{ req, want string }{
		{"postfix example.test", "OK secure match=mx1.example.test servername=hostname"},
		{"postfix .example.test", "NOTFOUND "},
		{"nokey", `PERM request is not "NAME KEY"`},
	} {
		c.Write(tlspolicy.AppendNetstring(nil, tt.req))
		got, err := tlspolicy.ReadNetstring(r, 100000)
		if err != nil || string(got) != tt.want {
			t.Errorf("%q: %q, %v", tt.req, got, err)
		}
	}
	c.Write([]byte("3:abc;"))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := r.ReadByte(); err == nil {
		t.Errorf("a bad netstring did not close the connection")
	}
}

// TestDANELookupFails: a DNS failure while looking for DANE is logged and
// MTA-STS decides; it never becomes TEMP.
func TestDANELookupFails(t *testing.T) {
	e := newEnv(t)
	e.dns.ServFail("example.test") // the MX lookup
	d := e.service(t, "3.7", false).Lookup(context.Background(), "example.test")
	if d.Kind != "sts-enforce" || !strings.Contains(strings.Join(d.Why, "; "), "MX lookup failed") {
		t.Errorf("kind %s; why: %v", d.Kind, d.Why)
	}
	e.dns.Clear("example.test")
	e.dns.ServFail("_25._tcp.mx.dane.test")
	e.dns.AD("dane.test")
	d = e.service(t, "3.7", false).Lookup(context.Background(), "dane.test")
	if d.Kind != "sts-enforce" || !strings.Contains(strings.Join(d.Why, "; "), "TLSA lookup for mx.dane.test failed") {
		t.Errorf("TLSA SERVFAIL: kind %s; why: %v", d.Kind, d.Why)
	}
}
