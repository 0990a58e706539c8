package spf

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/authmilter/authmilter/auth/dns"
)

// testZone builds a fake resolver from "name TYPE value" lines.
func testZone(t *testing.T, lines ...string) *zone {
	t.Helper()
	z := newZone()
	for _, l := range lines {
		f := strings.SplitN(l, " ", 3)
		if len(f) == 2 && f[1] == "TIMEOUT" {
			z.add(f[0], zoneItem{typ: "TIMEOUT"})
			continue
		}
		if len(f) != 3 {
			t.Fatalf("bad zone line %q", l)
		}
		it := zoneItem{typ: f[1], val: f[2]}
		if f[1] == "MX" {
			fmt.Sscan(f[2], &it.pref, &it.val)
		}
		z.add(f[0], it)
	}
	z.finish()
	return z
}

func TestCheckHelo(t *testing.T) {
	z := testZone(t,
		"mail.example.com TXT v=spf1 a -all",
		"mail.example.com A 192.0.2.25",
	)
	c := &Checker{Resolver: z}
	ip := net.ParseIP("192.0.2.25")
	for helo, want := range map[string]Result{
		"mail.example.com":   Pass,
		"mail.example.com.":  Pass,
		"[192.0.2.25]":       None,
		"192.0.2.25":         None,
		"[IPv6:2001:db8::1]": None,
		"localhost":          None,
		"":                   None,
		"other.example.com":  None,
	} {
		o := c.CheckHelo(context.Background(), ip, helo)
		if o.Result != want || o.Identity != IdentityHelo {
			t.Errorf("CheckHelo(%q) = %s/%s (%s), want %s", helo, o.Identity, o.Result, o.Reason, want)
		}
	}
	o := c.CheckHelo(context.Background(), net.ParseIP("198.51.100.1"), "mail.example.com")
	if o.Result != Fail || o.Sender != "postmaster@mail.example.com" || o.Domain != "mail.example.com" {
		t.Errorf("CheckHelo from a foreign IP: %+v", o)
	}
}

func TestCheckMailFrom(t *testing.T) {
	z := testZone(t,
		"example.com TXT v=spf1 exists:%{l}.users.%{d} -all",
		"alice.users.example.com A 127.0.0.2",
		"postmaster.users.example.com A 127.0.0.2",
		"mail.example.com TXT v=spf1 ip4:192.0.2.25 -all",
	)
	c := &Checker{Resolver: z}
	ip := net.ParseIP("192.0.2.25")
	tests := []struct {
		from, helo string
		domain     string
		sender     string
		want       Result
	}{
		{"alice@example.com", "mail.example.com", "example.com", "alice@example.com", Pass},
		{"<alice@example.com>", "mail.example.com", "example.com", "alice@example.com", Pass},
		{"bob@example.com", "mail.example.com", "example.com", "bob@example.com", Fail},
		{"@example.com", "mail.example.com", "example.com", "postmaster@example.com", Pass},
		{"", "mail.example.com", "mail.example.com", "postmaster@mail.example.com", Pass},
		{"<>", "mail.example.com", "mail.example.com", "postmaster@mail.example.com", Pass},
		{"bob@nowhere.example", "mail.example.com", "nowhere.example", "bob@nowhere.example", None},
	}
	for _, tc := range tests {
		o := c.CheckMailFrom(context.Background(), ip, tc.helo, tc.from)
		if o.Result != tc.want || o.Domain != tc.domain || o.Sender != tc.sender || o.Identity != IdentityMailFrom {
			t.Errorf("CheckMailFrom(%q): %+v, want %s for %s (%s)", tc.from, o, tc.want, tc.domain, tc.sender)
		}
	}
}

func TestIPv4MappedClient(t *testing.T) {
	z := testZone(t,
		"example.com TXT v=spf1 ip6:::ffff:0:0/96 ip4:192.0.2.0/24 a:v4.example.com -all",
		"v4.example.com A 198.51.100.1",
	)
	c := &Checker{Resolver: z}
	for _, s := range []string{"::ffff:192.0.2.7", "192.0.2.7", "::ffff:198.51.100.1"} {
		o := c.CheckHost(context.Background(), net.ParseIP(s), "example.com", "a@example.com", "h.example.com")
		if o.Result != Pass || strings.HasPrefix(o.Reason, "ip6") {
			t.Errorf("%s: %s (%s), want pass by ip4 or a", s, o.Result, o.Reason)
		}
	}
}

func TestResultsAndReasons(t *testing.T) {
	z := testZone(t,
		"pass.example.com TXT v=spf1 include:_spf.example.net -all",
		"_spf.example.net TXT v=spf1 ip4:192.0.2.0/24 ~all",
		"soft.example.com TXT v=spf1 ~all",
		"neutral.example.com TXT v=spf1 mx",
		"neutral.example.com MX 10 mx.example.com",
		"mx.example.com A 198.51.100.1",
		"late-error.example.com TXT v=spf1 +all -bogus:x",
		"two.example.com TXT v=spf1 -all",
		"two.example.com TXT v=spf1 +all",
		"txt.example.com TXT hello world",
		"servfail.example.com TXT v=spf1 include:sf.example.net -all",
		"sf.example.net TIMEOUT",
		"noinc.example.com TXT v=spf1 include:nothing.example.net -all",
		"redir.example.com TXT v=spf1 redirect=_spf.example.net",
		"redir-none.example.com TXT v=spf1 redirect=nothing.example.net",
		"exp.example.com TXT v=spf1 -all exp=why.example.com",
		"why.example.com TXT %{i} is not allowed to send for %{d} (%{r})",
	)
	c := &Checker{Resolver: z, ReceiverName: "mx.receiver.example"}
	ip := net.ParseIP("192.0.2.7")
	tests := []struct {
		domain      string
		want        Result
		reason      string
		err         error
		explanation string
	}{
		{"pass.example.com", Pass, "include:_spf.example.net matched (ip4:192.0.2.0/24 matched)", nil, ""},
		{"soft.example.com", Softfail, "~all matched", nil, ""},
		{"neutral.example.com", Neutral, "no mechanism matched", nil, ""},
		{"late-error.example.com", Permerror, "", ErrSyntax, ""},
		{"two.example.com", Permerror, "", ErrMultipleRecords, ""},
		{"txt.example.com", None, "no SPF record", nil, ""},
		{"nothing.example.com", None, "no SPF record", nil, ""},
		{"servfail.example.com", Temperror, "", ErrTemporary, ""},
		{"noinc.example.com", Permerror, "", ErrNoRecord, ""},
		{"redir.example.com", Pass, "redirect=_spf.example.net: ip4:192.0.2.0/24 matched", nil, ""},
		{"redir-none.example.com", Permerror, "", ErrNoRecord, ""},
		{"exp.example.com", Fail, "-all matched", nil, "192.0.2.7 is not allowed to send for exp.example.com (mx.receiver.example)"},
	}
	// The second pass takes every record from the Checker's parse cache.
	for pass := 1; pass <= 2; pass++ {
		for _, tc := range tests {
			o := c.CheckHost(context.Background(), ip, tc.domain, "x@"+tc.domain, "h.example.com")
			if o.Result != tc.want || tc.reason != "" && o.Reason != tc.reason ||
				o.Explanation != tc.explanation || !errors.Is(o.Err, tc.err) || (tc.err == nil) != (o.Err == nil) {
				t.Errorf("pass %d, %s: %s %q expl %q err %v; want %s %q expl %q err %v",
					pass, tc.domain, o.Result, o.Reason, o.Explanation, o.Err, tc.want, tc.reason, tc.explanation, tc.err)
			}
		}
	}
	if n := c.parsed.Len(); n != 10 {
		t.Errorf("%d parsed records cached, want 10 (one per distinct record text)", n)
	}
}

func TestLimits(t *testing.T) {
	lines := []string{
		"void.example.com TXT v=spf1 a:n1.example.com a:n2.example.com a:n3.example.com +all",
		"void2.example.com TXT v=spf1 a:n1.example.com a:n2.example.com +all",
		"mx.example.com TXT v=spf1 mx +all",
	}
	// A chain of 11 includes exceeds the limit of 10; 10 are fine.
	for i := 0; i < 11; i++ {
		lines = append(lines, fmt.Sprintf("i%d.example.com TXT v=spf1 include:i%d.example.com", i, i+1))
	}
	lines = append(lines, "i11.example.com TXT v=spf1 +all")
	for i := 0; i < 11; i++ {
		lines = append(lines, fmt.Sprintf("mx.example.com MX %d mx%d.example.com", i, i))
	}
	c := &Checker{Resolver: testZone(t, lines...)}
	ip := net.ParseIP("192.0.2.7")
	check := func(domain string, want Result, wantErr error, lookups int) {
		t.Helper()
		o := c.CheckHost(context.Background(), ip, domain, "x@"+domain, "h.example.com")
		if o.Result != want || !errors.Is(o.Err, wantErr) || lookups >= 0 && o.Lookups != lookups {
			t.Errorf("%s: %s (%s) err %v lookups %d; want %s %v %d", domain, o.Result, o.Reason, o.Err, o.Lookups, want, wantErr, lookups)
		}
	}
	check("void.example.com", Permerror, ErrVoidLimit, 3)
	check("void2.example.com", Pass, nil, 2)
	check("i0.example.com", Permerror, ErrLookupLimit, 11)
	check("i1.example.com", Pass, nil, 10)
	check("mx.example.com", Permerror, ErrMXLimit, 1)
	c.MaxLookups = 20
	check("i0.example.com", Pass, nil, 11)
}

// blockingResolver answers nothing until the context ends.
type blockingResolver struct{}

func (blockingResolver) wait(ctx context.Context, name string) error {
	<-ctx.Done()
	return dns.NewError(dns.ErrTimeout, name)
}
func (r blockingResolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	return nil, r.wait(ctx, name)
}
func (r blockingResolver) LookupIP(ctx context.Context, _, host string) ([]net.IP, error) {
	return nil, r.wait(ctx, host)
}
func (r blockingResolver) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	return nil, r.wait(ctx, name)
}
func (r blockingResolver) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	return nil, r.wait(ctx, addr)
}

func TestTimeBudget(t *testing.T) {
	c := &Checker{Resolver: blockingResolver{}, Timeout: 20 * time.Millisecond}
	o := c.CheckHost(context.Background(), net.ParseIP("192.0.2.1"), "example.com", "a@example.com", "h.example.com")
	if o.Result != Temperror || !errors.Is(o.Err, ErrTimeout) {
		t.Errorf("budget exceeded: %s (%s) err %v, want temperror with ErrTimeout", o.Result, o.Reason, o.Err)
	}
}

func TestServFailIsTemperror(t *testing.T) {
	for _, cause := range []error{dns.ErrServFail, dns.ErrRefused, dns.ErrTimeout, dns.ErrNetwork} {
		r := errResolver{dns.NewError(cause, "example.com")}
		o := (&Checker{Resolver: r}).CheckHost(context.Background(), net.ParseIP("192.0.2.1"), "example.com", "a@example.com", "h")
		if o.Result != Temperror || !errors.Is(o.Err, ErrTemporary) || !errors.Is(o.Err, cause) {
			t.Errorf("%v: %s err %v, want temperror", cause, o.Result, o.Err)
		}
	}
}

type errResolver struct{ err error }

func (r errResolver) LookupTXT(context.Context, string) ([]string, error)        { return nil, r.err }
func (r errResolver) LookupIP(context.Context, string, string) ([]net.IP, error) { return nil, r.err }
func (r errResolver) LookupMX(context.Context, string) ([]*net.MX, error)        { return nil, r.err }
func (r errResolver) LookupAddr(context.Context, string) ([]string, error)       { return nil, r.err }

func TestTimeMacro(t *testing.T) {
	z := testZone(t,
		"example.com TXT v=spf1 -all exp=why.example.com",
		"why.example.com TXT at %{t}",
	)
	c := &Checker{Resolver: z, Now: func() time.Time { return time.Unix(1700000000, 0) }}
	o := c.CheckHost(context.Background(), net.ParseIP("192.0.2.1"), "example.com", "a@example.com", "h")
	if o.Explanation != "at 1700000000" {
		t.Errorf("explanation %q", o.Explanation)
	}
}

// TestPermanentDNSFailure: a name auth/dns cannot query (ErrMalformed) is
// taken as non-existent, not as a temperror.
func TestPermanentDNSFailure(t *testing.T) {
	ctx := context.Background()
	ip := net.ParseIP("192.0.2.1")
	r := errResolver{dns.NewError(dns.ErrMalformed, "bad name.example.com")}
	o := (&Checker{Resolver: r}).CheckHost(ctx, ip, "bad name.example.com", "a@bad name.example.com", "h")
	if o.Result != None {
		t.Errorf("malformed domain: %s (%s), want none", o.Result, o.Reason)
	}
	z := testZone(t, "example.com TXT v=spf1 a:%{l}.example.com -all")
	mixed := mixedResolver{z, "a b.example.", dns.NewError(dns.ErrMalformed, "a b.example.com")}
	o = (&Checker{Resolver: mixed}).CheckHost(ctx, ip, "example.com", "a b@example.com", "h")
	if o.Result != Fail {
		t.Errorf("malformed a: target: %s (%s), want fail", o.Result, o.Reason)
	}
}

// mixedResolver fails lookups of names with a prefix, else asks z.
type mixedResolver struct {
	*zone
	prefix string
	err    error
}

func (m mixedResolver) LookupIP(ctx context.Context, network, host string) ([]net.IP, error) {
	if strings.HasPrefix(host, m.prefix) {
		return nil, m.err
	}
	return m.zone.LookupIP(ctx, network, host)
}

func TestNoClientIP(t *testing.T) {
	c := &Checker{Resolver: testZone(t, "example.com TXT v=spf1 +all")}
	for _, ip := range []net.IP{nil, {1, 2, 3}} {
		if o := c.CheckMailFrom(context.Background(), ip, "h.example.com", "a@example.com"); o.Result != None {
			t.Errorf("ip %v: %s (%s), want none", ip, o.Result, o.Reason)
		}
	}
}

// TestParseCacheBounded: a record longer than parsedMaxLen is parsed for
// every evaluation, not kept; a short one is kept.
func TestParseCacheBounded(t *testing.T) {
	long := "v=spf1" + strings.Repeat(" ip4:198.51.100.0/24", parsedMaxLen/20+1) + " -all"
	z := testZone(t, "long.example.com TXT "+long, "short.example.com TXT v=spf1 -all")
	c := &Checker{Resolver: z}
	ip := net.ParseIP("198.51.100.7")
	for i := 0; i < 2; i++ {
		if o := c.CheckHost(context.Background(), ip, "long.example.com", "x@long.example.com", "h.example.com"); o.Result != Pass {
			t.Fatalf("long record: %s %q, want pass", o.Result, o.Reason)
		}
		if o := c.CheckHost(context.Background(), ip, "short.example.com", "x@short.example.com", "h.example.com"); o.Result != Fail {
			t.Fatalf("short record: %s %q, want fail", o.Result, o.Reason)
		}
	}
	if n := c.parsed.Len(); n != 1 || len(long) <= parsedMaxLen {
		t.Errorf("%d records cached (long one %d octets), want only the short one", n, len(long))
	}
}
