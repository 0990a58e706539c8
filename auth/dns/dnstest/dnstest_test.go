package dnstest_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/authmilter/authmilter/auth/dns/dnstest"
)

const zone = `
example.com.          SOA ns.example.com. hostmaster.example.com. 1 3600 600 86400 60
example.com.          TXT "v=spf1 -all"
example.com.          A   192.0.2.1
www.example.com.      CNAME example.com.
out.example.com.      CNAME elsewhere.test.
a.b.example.com.      A   192.0.2.2
`

func start(t *testing.T, z string) *dnstest.Server {
	t.Helper()
	srv, err := dnstest.Start(z)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}

func ask(t *testing.T, srv *dnstest.Server, network, name string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	c := dns.Client{Net: network, Timeout: 2 * time.Second}
	r, _, err := c.Exchange(m, srv.Addr)
	if err != nil {
		t.Fatalf("%s %s: %v", name, dns.TypeToString[qtype], err)
	}
	return r
}

func TestAnswers(t *testing.T) {
	srv := start(t, zone)
	tests := []struct {
		name          string
		qtype         uint16
		rcode, answer int
		soa           bool
	}{
		{"example.com.", dns.TypeTXT, dns.RcodeSuccess, 1, false},
		{"EXAMPLE.com.", dns.TypeA, dns.RcodeSuccess, 1, false},
		{"example.com.", dns.TypeMX, dns.RcodeSuccess, 0, true},     // NODATA
		{"b.example.com.", dns.TypeA, dns.RcodeSuccess, 0, true},    // empty non-terminal
		{"nx.example.com.", dns.TypeA, dns.RcodeNameError, 0, true}, // NXDOMAIN
		{"www.example.com.", dns.TypeA, dns.RcodeSuccess, 2, false}, // CNAME + A
		{"www.example.com.", dns.TypeMX, dns.RcodeSuccess, 1, true}, // CNAME, target NODATA
		{"out.example.com.", dns.TypeA, dns.RcodeSuccess, 1, false}, // CNAME leaving the data
		{"nowhere.test.", dns.TypeA, dns.RcodeNameError, 0, true},   // synthetic SOA
	}
	for _, tt := range tests {
		r := ask(t, srv, "udp", tt.name, tt.qtype)
		if r.Rcode != tt.rcode || len(r.Answer) != tt.answer || (len(r.Ns) == 1) != tt.soa || !r.Authoritative {
			t.Errorf("%s %s: got %v", tt.name, dns.TypeToString[tt.qtype], r)
		}
	}
	if n := srv.Queries("Example.COM", dns.TypeTXT); n != 1 {
		t.Errorf("Queries(example.com, TXT) = %d, want 1", n)
	}
	if n := srv.Queries("example.com.", 0); n != 3 {
		t.Errorf("Queries(example.com, any) = %d, want 3", n)
	}
}

func TestRules(t *testing.T) {
	srv := start(t, zone)
	srv.ServFail("example.com")
	if r := ask(t, srv, "udp", "example.com.", dns.TypeA); r.Rcode != dns.RcodeServerFailure {
		t.Errorf("ServFail: rcode %d", r.Rcode)
	}
	srv.Clear("example.com")
	srv.Truncate("*")
	if r := ask(t, srv, "udp", "example.com.", dns.TypeA); !r.Truncated || len(r.Answer) != 0 {
		t.Errorf("Truncate over UDP: %v", r)
	}
	if r := ask(t, srv, "tcp", "example.com.", dns.TypeA); r.Truncated || len(r.Answer) != 1 {
		t.Errorf("Truncate over TCP: %v", r)
	}
	srv.Clear("")
	srv.AD("example.com.")
	if r := ask(t, srv, "udp", "example.com.", dns.TypeA); !r.AuthenticatedData {
		t.Errorf("AD: %v", r)
	}
	srv.Clear("example.com.")
	srv.Drop("example.com.")
	m := new(dns.Msg)
	m.SetQuestion("example.com.", dns.TypeA)
	c := dns.Client{Timeout: 100 * time.Millisecond}
	if _, _, err := c.Exchange(m, srv.Addr); err == nil {
		t.Error("Drop: got an answer")
	}
}

func TestAddRemove(t *testing.T) {
	srv := start(t, "")
	if err := srv.Add(`new.test. 60 IN TXT "a" "b"`); err != nil {
		t.Fatal(err)
	}
	if r := ask(t, srv, "udp", "new.test.", dns.TypeTXT); len(r.Answer) != 1 || r.Answer[0].Header().Ttl != 60 {
		t.Errorf("after Add: %v", r)
	}
	srv.Remove("new.test", dns.TypeTXT)
	if r := ask(t, srv, "udp", "new.test.", dns.TypeTXT); r.Rcode != dns.RcodeNameError {
		t.Errorf("after Remove: %v", r)
	}
	if err := srv.Add("bad record"); err == nil {
		t.Error("Add(bad record): no error")
	}
}

func TestWildcardAndAddRR(t *testing.T) {
	srv := start(t, `
*.wild.test.   TXT "star"
sub.wild.test. A   192.0.2.9
`)
	rr, err := dns.NewRR("go.test. 60 IN MX 10 mx.go.test.")
	if err != nil {
		t.Fatal(err)
	}
	srv.AddRR(rr)
	tests := []struct {
		name          string
		qtype         uint16
		rcode, answer int
	}{
		{"x.wild.test.", dns.TypeTXT, dns.RcodeSuccess, 1},
		{"a.b.wild.test.", dns.TypeTXT, dns.RcodeSuccess, 1},
		{"x.wild.test.", dns.TypeA, dns.RcodeSuccess, 0},     // NODATA via wildcard
		{"sub.wild.test.", dns.TypeTXT, dns.RcodeSuccess, 0}, // exists: no wildcard
		{"x.sub.wild.test.", dns.TypeTXT, dns.RcodeNameError, 0},
		{"go.test.", dns.TypeMX, dns.RcodeSuccess, 1},
	}
	for _, tt := range tests {
		r := ask(t, srv, "udp", tt.name, tt.qtype)
		if r.Rcode != tt.rcode || len(r.Answer) != tt.answer {
			t.Errorf("%s %s: got %v", tt.name, dns.TypeToString[tt.qtype], r)
			continue
		}
		if tt.answer == 1 && r.Answer[0].Header().Name != tt.name {
			t.Errorf("%s: owner %s", tt.name, r.Answer[0].Header().Name)
		}
	}
}

func TestDelayAndRcodeReset(t *testing.T) {
	srv := start(t, zone)
	srv.Delay("example.com", 200*time.Millisecond)
	m := new(dns.Msg)
	m.SetQuestion("example.com.", dns.TypeA)
	c := dns.Client{Timeout: 20 * time.Millisecond}
	if _, _, err := c.Exchange(m, srv.Addr); err == nil {
		t.Error("Delay: answered before the client's timeout")
	}
	srv.Clear("example.com")
	srv.Rcode("*", dns.RcodeRefused)
	if r := ask(t, srv, "udp", "example.com.", dns.TypeA); r.Rcode != dns.RcodeRefused {
		t.Errorf("Rcode(*): %v", r)
	}
	srv.Rcode("*", -1)
	if r := ask(t, srv, "udp", "example.com.", dns.TypeA); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		t.Errorf("Rcode(*, -1): %v", r)
	}
}

func TestStartResolver(t *testing.T) {
	srv, r := dnstest.StartResolver(t, `_dmarc.example.com. TXT "v=DMARC1; p=reject"`)
	txt, err := r.LookupTXT(context.Background(), "_dmarc.example.com")
	if err != nil || len(txt) != 1 || txt[0] != "v=DMARC1; p=reject" {
		t.Fatalf("LookupTXT = %q, %v", txt, err)
	}
	if n := srv.Queries("_dmarc.example.com", dns.TypeTXT); n != 1 {
		t.Errorf("queries = %d", n)
	}
}

func TestOddOwnerNames(t *testing.T) {
	srv := start(t, "")
	// A raw space in a Go value, as an SPF test might build it.
	srv.AddRR(&dns.A{Hdr: dns.RR_Header{Name: "macro%percent  space.example.com.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: []byte{192, 0, 2, 1}})
	if err := srv.Add(`caf\195\169.example. TXT "x"` + "\n" + `dot\.in.label.example. TXT "y"`); err != nil {
		t.Fatal(err)
	}
	for _, q := range []struct {
		name  string
		qtype uint16
	}{
		{`macro%percent\ \ space.example.com.`, dns.TypeA},
		{`CAF\195\169.example.`, dns.TypeTXT},
		{`dot\.in.label.example.`, dns.TypeTXT},
	} {
		if r := ask(t, srv, "udp", q.name, q.qtype); len(r.Answer) != 1 {
			t.Errorf("%s: %v", q.name, r)
		}
	}
	if n := srv.Queries("macro%percent  space.example.com", dns.TypeA); n != 1 {
		t.Errorf("Queries(raw name) = %d", n)
	}
	// label.example is an empty non-terminal; in.label.example is not (the
	// dot in "dot\.in" is inside the label).
	if r := ask(t, srv, "udp", "label.example.", dns.TypeTXT); r.Rcode != dns.RcodeSuccess {
		t.Errorf("label.example: %v", r)
	}
	if r := ask(t, srv, "udp", "in.label.example.", dns.TypeTXT); r.Rcode != dns.RcodeNameError {
		t.Errorf("in.label.example: %v", r)
	}
}

// raw sends a query for name over network and returns the octets of the
// answer, whatever they are.
func raw(t *testing.T, srv *dnstest.Server, network, name string) (*dns.Msg, []byte) {
	t.Helper()
	q := new(dns.Msg)
	q.SetQuestion(name, dns.TypeA)
	c, err := dns.DialTimeout(network, srv.Addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if err := c.WriteMsg(q); err != nil {
		t.Fatal(err)
	}
	p, err := c.ReadMsgHeader(nil)
	if err != nil {
		t.Fatal(err)
	}
	return q, p
}

func TestFaults(t *testing.T) {
	srv := start(t, zone)
	srv.Fault("example.com", dnstest.WrongQuestion)
	srv.Fault("www.example.com", dnstest.WrongID)
	srv.Fault("a.b.example.com", dnstest.Unparsable)
	for _, network := range []string{"udp", "tcp"} {
		m := new(dns.Msg)
		if _, p := raw(t, srv, network, "example.com."); m.Unpack(p) != nil || m.Question[0].Name != "wrong.example.com." || len(m.Answer) != 1 {
			t.Errorf("WrongQuestion over %s: %v", network, m)
		}
		if q, p := raw(t, srv, network, "www.example.com."); m.Unpack(p) != nil || m.Id == q.Id || len(m.Answer) != 2 {
			t.Errorf("WrongID over %s: %v", network, m)
		}
		if q, p := raw(t, srv, network, "a.b.example.com."); m.Unpack(p) == nil || m.Id != q.Id || !m.Response {
			t.Errorf("Unparsable over %s: parses, or wrong header: %v", network, m)
		}
	}
	// With Truncate, the UDP answer is the truncated one and the fault or
	// rcode comes over TCP.
	srv.Truncate("example.com")
	srv.Truncate("out.example.com")
	srv.Rcode("out.example.com", dns.RcodeNotImplemented)
	if r := ask(t, srv, "udp", "example.com.", dns.TypeA); !r.Truncated || r.Question[0].Name != "example.com." {
		t.Errorf("Fault and Truncate over UDP: %v", r)
	}
	if r := ask(t, srv, "udp", "out.example.com.", dns.TypeA); !r.Truncated || r.Rcode != dns.RcodeSuccess {
		t.Errorf("Rcode and Truncate over UDP: %v", r)
	}
	if r := ask(t, srv, "tcp", "out.example.com.", dns.TypeA); r.Truncated || r.Rcode != dns.RcodeNotImplemented {
		t.Errorf("Rcode and Truncate over TCP: %v", r)
	}
	srv.Fault("example.com", dnstest.NoFault)
	srv.Clear("example.com")
	if r := ask(t, srv, "udp", "example.com.", dns.TypeA); r.Truncated || len(r.Answer) != 1 {
		t.Errorf("after NoFault: %v", r)
	}
}

// TestStartAt: the server listens where it is told, UDP and TCP alike.
func TestStartAt(t *testing.T) {
	srv, err := dnstest.StartAt("127.0.0.2:0", "a.example. TXT \"x\"\n")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if !strings.HasPrefix(srv.Addr, "127.0.0.2:") {
		t.Fatalf("Addr %s", srv.Addr)
	}
	for _, network := range []string{"udp", "tcp"} {
		c := &dns.Client{Net: network}
		m := new(dns.Msg)
		m.SetQuestion("a.example.", dns.TypeTXT)
		r, _, err := c.Exchange(m, srv.Addr)
		if err != nil || len(r.Answer) != 1 {
			t.Errorf("%s: %v %v", network, r, err)
		}
	}
}
