package dns_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/authmilter/authmilter/auth/dns"
	"github.com/authmilter/authmilter/auth/dns/dnstest"
)

func TestTruncationFallsBackToTCP(t *testing.T) {
	srv, r, _ := setup(t, zone, nil)
	srv.Truncate("example.com")
	txt, err := r.LookupTXT(context.Background(), "example.com")
	if err != nil || len(txt) != 1 {
		t.Fatalf("LookupTXT = %q, %v", txt, err)
	}
	if n := srv.Queries("example.com", mdns.TypeTXT); n != 2 {
		t.Errorf("queries = %d, want 2 (UDP then TCP)", n)
	}
	if s := r.Stats(); s.UpstreamQueries != 1 || s.Rcodes["NOERROR"] != 1 {
		t.Errorf("stats: %+v", s)
	}
}

func TestHugeTXT(t *testing.T) {
	// 10,000 strings in one record: 30,000 bytes, only TCP carries it.
	var b strings.Builder
	b.WriteString("big.example. TXT")
	for i := range 10000 {
		fmt.Fprintf(&b, " %02d", i%100)
	}
	srv, r, _ := setup(t, b.String(), nil)
	txt, err := r.LookupTXT(context.Background(), "big.example")
	if err != nil || len(txt) != 1 || len(txt[0]) != 20000 || !strings.HasPrefix(txt[0], "000102") {
		t.Fatalf("LookupTXT: %d records, %v", len(txt), err)
	}
	if n := srv.Queries("big.example", mdns.TypeTXT); n != 2 {
		t.Errorf("queries = %d, want 2 (UDP truncated, then TCP)", n)
	}
}

func TestEscapedTXT(t *testing.T) {
	_, r, _ := setup(t, `
esc.example. TXT "caf\195\169 \"q\" back\\slash semi\;colon" "tab\009end"
raw.example. TXT "naïve ✓"
multi.example. TXT "v=DKIM1; k=rsa; " "p=MIIB"
multi.example. TXT "second"
`, nil)
	ctx := context.Background()
	for name, want := range map[string][]string{
		"esc.example":   {"café \"q\" back\\slash semi;colontab\tend"},
		"raw.example":   {"naïve ✓"},
		"multi.example": {"v=DKIM1; k=rsa; p=MIIB", "second"},
	} {
		got, err := r.LookupTXT(ctx, name)
		if err != nil || fmt.Sprintf("%q", got) != fmt.Sprintf("%q", want) {
			t.Errorf("LookupTXT(%s) = %q, %v; want %q", name, got, err, want)
		}
	}
}

func TestCNAME(t *testing.T) {
	srv, r, _ := setup(t, `
a.example. CNAME b.example.
b.example. CNAME C.example.
c.example. TXT "end"
loop1.example. CNAME loop2.example.
loop2.example. CNAME loop1.example.
dangling.example. CNAME nowhere.example.
`, nil)
	ctx := context.Background()
	a, err := r.Lookup(ctx, "a.example", mdns.TypeTXT)
	if err != nil || a.Canonical != "c.example" || a.TXT[0] != "end" {
		t.Errorf("chain: %+v, %v", a, err)
	}
	_, err = r.LookupTXT(ctx, "loop1.example")
	if !errors.Is(err, dns.ErrBadAnswer) || !dns.IsTemporary(err) {
		t.Errorf("loop: %v, want a temporary ErrBadAnswer", err)
	}
	// dnstest answers the CNAME alone (the target is not in its data): the
	// resolver asks for the target, which does not exist.
	_, err = r.LookupTXT(ctx, "dangling.example")
	if !dns.IsNXDomain(err) {
		t.Errorf("dangling: %v", err)
	}
	if n := srv.Queries("nowhere.example", mdns.TypeTXT); n != 1 {
		t.Errorf("target queries = %d, want 1", n)
	}
}

func TestCNAMEChainTooLong(t *testing.T) {
	var z strings.Builder
	for i := range 12 {
		fmt.Fprintf(&z, "n%d.example. CNAME n%d.example.\n", i, i+1)
	}
	z.WriteString("n12.example. TXT \"end\"\n")
	_, r, _ := setup(t, z.String(), nil)
	ctx := context.Background()
	if _, err := r.LookupTXT(ctx, "n4.example"); err != nil { // 8 CNAMEs: fine
		t.Errorf("8 CNAMEs: %v", err)
	}
	if _, err := r.LookupTXT(ctx, "n0.example"); !errors.Is(err, dns.ErrBadAnswer) || !dns.IsTemporary(err) {
		t.Errorf("12 CNAMEs: %v, want a temporary ErrBadAnswer", err)
	}
}

// serveFunc runs h on 127.0.0.1 over UDP and TCP and returns the address.
func serveFunc(t *testing.T, h mdns.HandlerFunc) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", pc.LocalAddr().String())
	if err != nil {
		pc.Close()
		t.Skipf("TCP port taken: %v", err)
	}
	for _, s := range []*mdns.Server{{PacketConn: pc, Handler: h}, {Listener: l, Handler: h}} {
		started := make(chan struct{})
		s.NotifyStartedFunc = func() { close(started) }
		go s.ActivateAndServe()
		<-started
		t.Cleanup(func() { s.Shutdown() })
	}
	return pc.LocalAddr().String()
}

func resolverFor(t *testing.T, servers ...string) *dns.Resolver {
	t.Helper()
	r, err := dns.New(dns.Config{Servers: servers, Timeout: 300 * time.Millisecond, Attempts: 2})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func txtReply(req *mdns.Msg, name, text string) *mdns.Msg {
	m := new(mdns.Msg)
	m.SetReply(req)
	rr, _ := mdns.NewRR(name + ` 60 IN TXT "` + text + `"`)
	m.Answer = append(m.Answer, rr)
	return m
}

func TestCNAMEChase(t *testing.T) {
	// A server that answers the CNAME and its target in separate queries.
	addr := serveFunc(t, func(w mdns.ResponseWriter, req *mdns.Msg) {
		q := req.Question[0]
		switch strings.ToLower(q.Name) {
		case "alias.test.":
			m := new(mdns.Msg)
			m.SetReply(req)
			rr, _ := mdns.NewRR("alias.test. 60 IN CNAME target.test.")
			m.Answer = append(m.Answer, rr)
			w.WriteMsg(m)
		case "target.test.":
			w.WriteMsg(txtReply(req, "target.test.", "found"))
		}
	})
	r := resolverFor(t, addr)
	a, err := r.Lookup(context.Background(), "alias.test", mdns.TypeTXT)
	if err != nil || a.TXT[0] != "found" || a.Canonical != "target.test" {
		t.Errorf("chase: %+v, %v", a, err)
	}
}

func TestAnswerChecks(t *testing.T) {
	addr := serveFunc(t, func(w mdns.ResponseWriter, req *mdns.Msg) {
		q := req.Question[0]
		switch strings.ToLower(q.Name) {
		case "wrongid.test.":
			// A reply with another ID first (ignored on UDP), then ours.
			m := txtReply(req, q.Name, "spoofed")
			m.Id = req.Id + 1
			w.WriteMsg(m)
			w.WriteMsg(txtReply(req, q.Name, "genuine"))
		case "wrongname.test.":
			m := txtReply(req, "other.test.", "spoofed")
			m.Question[0].Name = "other.test."
			w.WriteMsg(m)
		case "wrongtype.test.":
			m := txtReply(req, q.Name, "x")
			m.Question[0].Qtype = mdns.TypeA
			w.WriteMsg(m)
		case "foreign.test.":
			// Records at another name than asked are ignored.
			w.WriteMsg(txtReply(req, "elsewhere.test.", "foreign"))
		}
	})
	r := resolverFor(t, addr)
	ctx := context.Background()
	if txt, err := r.LookupTXT(ctx, "wrongid.test"); err != nil || txt[0] != "genuine" {
		t.Errorf("wrong ID: %q, %v", txt, err)
	}
	for _, name := range []string{"wrongname.test", "wrongtype.test"} {
		if _, err := r.LookupTXT(ctx, name); !errors.Is(err, dns.ErrBadAnswer) || !dns.IsTemporary(err) {
			t.Errorf("%s: %v, want a temporary ErrBadAnswer", name, err)
		}
	}
	if _, err := r.LookupTXT(ctx, "foreign.test"); !errors.Is(err, dns.ErrNoData) {
		t.Errorf("foreign records: %v, want NODATA", err)
	}
}

func TestAuthenticData(t *testing.T) {
	srv, r, _ := setup(t, zone, nil)
	srv.AD("example.com")
	for range 2 {
		a, err := r.Lookup(context.Background(), "example.com", mdns.TypeTXT)
		if err != nil || !a.Authentic {
			t.Errorf("AD not kept: %+v, %v", a, err)
		}
	}
	if a, _ := r.Lookup(context.Background(), "www.example.com", mdns.TypeA); a.Authentic {
		t.Errorf("AD set without the bit: %+v", a)
	}
}

func TestTimeout(t *testing.T) {
	srv, r, _ := setup(t, zone, func(c *dns.Config) { c.Timeout = 100 * time.Millisecond })
	srv.Drop("*")
	start := time.Now()
	_, err := r.LookupTXT(context.Background(), "example.com")
	elapsed := time.Since(start)
	var de *net.DNSError
	if !errors.As(err, &de) || !de.IsTimeout || !de.IsTemporary || !errors.Is(err, dns.ErrTimeout) {
		t.Errorf("got %#v, want a timeout", err)
	}
	// Bounded by Timeout × Attempts (200 ms); the bound here is loose on purpose.
	if elapsed > 3*time.Second {
		t.Errorf("took %v", elapsed)
	}
	if n := srv.Queries("example.com", mdns.TypeTXT); n != 2 {
		t.Errorf("queries = %d, want 2 (Attempts)", n)
	}
	if s := r.Stats(); s.Rcodes["timeout"] != 2 {
		t.Errorf("stats: %+v", s)
	}
	// Timeouts are not cached.
	srv.Clear("*")
	if _, err := r.LookupTXT(context.Background(), "example.com"); err != nil {
		t.Errorf("after Drop cleared: %v", err)
	}
}

func TestContextDeadline(t *testing.T) {
	srv, r, _ := setup(t, zone, func(c *dns.Config) { c.Timeout = 30 * time.Second })
	srv.Drop("*")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := r.LookupTXT(ctx, "example.com")
	if !dns.IsTemporary(err) || !errors.Is(err, dns.ErrTimeout) {
		t.Errorf("got %v, want a temporary timeout", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the context deadline did not bound the lookup: %v", d)
	}
}

func TestContextCancel(t *testing.T) {
	srv, r, _ := setup(t, zone, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := r.LookupTXT(ctx, "example.com")
	if !dns.IsTemporary(err) || !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
	if n := srv.Queries("example.com", 0); n != 0 {
		t.Errorf("cancelled context sent %d queries", n)
	}
	// Not cached: a live context gets the answer.
	if _, err := r.LookupTXT(context.Background(), "example.com"); err != nil {
		t.Errorf("after cancel: %v", err)
	}

	// Cancelled while waiting.
	srv.Delay("*", 10*time.Second)
	ctx, cancel = context.WithCancel(context.Background())
	done := make(chan error)
	go func() { _, err := r.LookupMX(ctx, "example.com"); done <- err }()
	time.Sleep(20 * time.Millisecond)
	cancel()
	if err := <-done; !dns.IsTemporary(err) || !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled in flight: %v", err)
	}
}

func TestNetworkError(t *testing.T) {
	srv, err := dnstest.Start("")
	if err != nil {
		t.Fatal(err)
	}
	addr := srv.Addr
	srv.Close() // nothing listens there now: ICMP port unreachable
	r := resolverFor(t, addr)
	_, err = r.LookupTXT(context.Background(), "example.com")
	if !dns.IsTemporary(err) || !(errors.Is(err, dns.ErrNetwork) || errors.Is(err, dns.ErrTimeout)) {
		t.Errorf("got %v, want a temporary network error", err)
	}
}

func TestServersRoundRobin(t *testing.T) {
	dead, err := dnstest.Start(zone)
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	dead.ServFail("*")
	live, err := dnstest.Start(zone)
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	r := resolverFor(t, dead.Addr, live.Addr)
	if _, err := r.LookupTXT(context.Background(), "example.com"); err != nil {
		t.Fatalf("second server not tried: %v", err)
	}
	if a, b := dead.Queries("example.com", 0), live.Queries("example.com", 0); a != 1 || b != 1 {
		t.Errorf("queries = %d, %d; want 1, 1", a, b)
	}
	s := r.Stats()
	if s.Rcodes["SERVFAIL"] != 1 || s.Rcodes["NOERROR"] != 1 || s.LatencyBuckets[len(s.LatencyBuckets)-1] != 2 {
		t.Errorf("stats: %+v", s)
	}
}

func TestNoEDNSServer(t *testing.T) {
	// An old server: FORMERR (without OPT) to queries with OPT.
	addr := serveFunc(t, func(w mdns.ResponseWriter, req *mdns.Msg) {
		if req.IsEdns0() != nil {
			m := new(mdns.Msg)
			m.SetRcode(req, mdns.RcodeFormatError)
			m.Extra = nil
			w.WriteMsg(m)
			return
		}
		w.WriteMsg(txtReply(req, req.Question[0].Name, "plain"))
	})
	r := resolverFor(t, addr)
	if txt, err := r.LookupTXT(context.Background(), "old.test"); err != nil || txt[0] != "plain" {
		t.Errorf("LookupTXT = %q, %v", txt, err)
	}
}

// TestShortDeadlineDoesNotFailOthers: a lookup joining the flight of a
// caller with a shorter deadline is not failed by that deadline.
func TestShortDeadlineDoesNotFailOthers(t *testing.T) {
	srv, r, _ := setup(t, zone, func(c *dns.Config) { c.Timeout = 5 * time.Second })
	srv.Delay("example.com", 150*time.Millisecond)
	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	shortErr := make(chan error)
	go func() { _, err := r.LookupTXT(short, "example.com"); shortErr <- err }()
	time.Sleep(10 * time.Millisecond) // let the short lookup lead the flight
	txt, err := r.LookupTXT(context.Background(), "example.com")
	if err != nil || len(txt) != 1 {
		t.Errorf("long lookup: %q, %v", txt, err)
	}
	// Usually a timeout; nil if the scheduler started it after the answer.
	if err := <-shortErr; err != nil && !dns.IsTemporary(err) {
		t.Errorf("short lookup: %v, want a temporary error", err)
	}
}
