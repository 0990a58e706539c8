package dmarc

import (
	"context"
	"testing"

	"github.com/authmilter/authmilter/auth/dns"
)

type evalCase struct {
	name    string
	txt     map[string][]string
	errs    map[string]error // TXT failures by _dmarc name
	ipErrs  map[string]error
	exists  []string
	legacy  string
	author  string
	spf     SPFInput
	dkim    []DKIMInput
	want    Result // compared on the fields set in check
	queries int    // expected DNS queries when > 0
}

func rec(s string) []string { return []string{s} }

func pass(d string) []DKIMInput { return []DKIMInput{{Result: "pass", Domain: d, Selector: "s1"}} }

func run(t *testing.T, tc evalCase) (Result, *fakeResolver) {
	t.Helper()
	f := &fakeResolver{txt: tc.txt, errs: tc.errs, ipErrs: tc.ipErrs, exists: map[string]bool{}}
	for _, e := range tc.exists {
		f.exists[e] = true
	}
	e := &Evaluator{Resolver: f, LegacyPct: tc.legacy}
	return e.Evaluate(context.Background(), tc.author, tc.spf, tc.dkim), f
}

func TestEvaluate(t *testing.T) {
	servfail, timeout := dns.ErrServFail, dns.ErrTimeout
	tests := []evalCase{
		{name: "no record", author: "example.com", spf: SPFInput{"pass", "example.com"},
			want: Result{Result: "none", OrgDomain: "example.com"}, queries: 2},
		{name: "author record p, spf strict pass", author: "example.com",
			txt: map[string][]string{"_dmarc.example.com": rec("v=DMARC1; p=reject")},
			spf: SPFInput{"pass", "Example.COM."},
			want: Result{Result: "pass", Policy: "reject", PublishedPolicy: "reject", OrgDomain: "example.com",
				RecordDomain: "example.com", SPFAligned: true}},
		{name: "fail", author: "example.com",
			txt: map[string][]string{"_dmarc.example.com": rec("v=DMARC1; p=reject")},
			spf: SPFInput{"fail", "example.com"}, dkim: []DKIMInput{{Result: "fail", Domain: "example.com"}},
			want: Result{Result: "fail", Policy: "reject", PublishedPolicy: "reject", OrgDomain: "example.com", RecordDomain: "example.com"}},
		{name: "spf softfail does not count", author: "example.com",
			txt:  map[string][]string{"_dmarc.example.com": rec("v=DMARC1; p=quarantine")},
			spf:  SPFInput{"softfail", "example.com"},
			want: Result{Result: "fail", Policy: "quarantine", PublishedPolicy: "quarantine", OrgDomain: "example.com", RecordDomain: "example.com"}},
		// §4.10.2 example 1: records at mail.example.com and example.com.
		{name: "4.10.2 two records", author: "a.mail.example.com", exists: []string{"a.mail.example.com"},
			txt: map[string][]string{
				"_dmarc.mail.example.com": rec("v=DMARC1; p=none"),
				"_dmarc.example.com":      rec("v=DMARC1; p=none; sp=reject")},
			dkim: pass("example.com"),
			want: Result{Result: "pass", Policy: "reject", PublishedPolicy: "reject", OrgDomain: "example.com",
				RecordDomain: "example.com", DKIMAligned: true}},
		// §4.10.2 example 2: psd=n at mail.example.com.
		{name: "4.10.2 psd=n", author: "a.mail.example.com", exists: []string{"a.mail.example.com"},
			txt: map[string][]string{
				"_dmarc.mail.example.com": rec("v=DMARC1; p=quarantine; psd=n"),
				"_dmarc.example.com":      rec("v=DMARC1; p=reject")},
			dkim: pass("example.com"),
			want: Result{Result: "fail", Policy: "quarantine", PublishedPolicy: "quarantine", OrgDomain: "mail.example.com",
				RecordDomain: "mail.example.com"}},
		// §4.10.2 example 3: only com with psd=y.
		{name: "4.10.2 psd=y at com", author: "a.mail.example.com", exists: []string{"a.mail.example.com"},
			txt:  map[string][]string{"_dmarc.com": rec("v=DMARC1; psd=y; p=reject")},
			dkim: pass("mail.example.com"),
			want: Result{Result: "pass", Policy: "reject", PublishedPolicy: "reject", OrgDomain: "example.com",
				RecordDomain: "com", DKIMAligned: true}},
		{name: "psd=y at TLD fails unrelated", author: "example.gov",
			txt: map[string][]string{"_dmarc.gov": rec("v=DMARC1; psd=y; p=reject")},
			spf: SPFInput{"pass", "other.gov"}, exists: []string{"example.gov"},
			want: Result{Result: "fail", Policy: "reject", OrgDomain: "example.gov", RecordDomain: "gov"}},
		{name: "org record beats PSD", author: "www.example.gov", exists: []string{"www.example.gov"},
			txt: map[string][]string{
				"_dmarc.example.gov": rec("v=DMARC1; p=none"),
				"_dmarc.gov":         rec("v=DMARC1; psd=y; p=reject")},
			want: Result{Result: "fail", Policy: "none", OrgDomain: "example.gov", RecordDomain: "example.gov"}},
		{name: "intermediate record not used", author: "a.b.example.com", exists: []string{"a.b.example.com"},
			txt: map[string][]string{
				"_dmarc.b.example.com": rec("v=DMARC1; p=none"),
				"_dmarc.example.com":   rec("v=DMARC1; p=reject")},
			want: Result{Result: "fail", Policy: "reject", OrgDomain: "example.com", RecordDomain: "example.com"}},
		{name: "intermediate record not used, psd", author: "a.b.example.com", exists: []string{"a.b.example.com"},
			txt: map[string][]string{
				"_dmarc.b.example.com": rec("v=DMARC1; p=none"),
				"_dmarc.com":           rec("v=DMARC1; p=quarantine; psd=y")},
			want: Result{Result: "fail", Policy: "quarantine", OrgDomain: "example.com", RecordDomain: "com"}},
		// sp versus p, np for a non-existent subdomain.
		{name: "sp applies to existing subdomain", author: "sub.example.com", exists: []string{"sub.example.com"},
			txt:  map[string][]string{"_dmarc.example.com": rec("v=DMARC1; p=none; sp=reject; np=quarantine")},
			want: Result{Result: "fail", Policy: "reject", RecordDomain: "example.com", OrgDomain: "example.com"}},
		{name: "np applies to non-existent subdomain", author: "nx.example.com",
			txt:  map[string][]string{"_dmarc.example.com": rec("v=DMARC1; p=none; sp=none; np=reject")},
			want: Result{Result: "fail", Policy: "reject", RecordDomain: "example.com"}},
		{name: "np defaults to sp", author: "nx.example.com",
			txt:  map[string][]string{"_dmarc.example.com": rec("v=DMARC1; p=none; sp=quarantine")},
			want: Result{Result: "fail", Policy: "quarantine"}, queries: 3}, // no A query: sp == np
		// A failed existence check must not choose the weaker of sp and np.
		{name: "np existence SERVFAIL is a temperror", author: "nx.example.com",
			ipErrs: map[string]error{"nx.example.com": servfail},
			txt:    map[string][]string{"_dmarc.example.com": rec("v=DMARC1; p=none; np=reject")},
			want:   Result{Result: "temperror"}},
		{name: "p used for the author's own record", author: "example.com",
			txt:  map[string][]string{"_dmarc.example.com": rec("v=DMARC1; p=quarantine; sp=reject; np=reject")},
			want: Result{Result: "fail", Policy: "quarantine"}},
		// t=y and legacy pct.
		{name: "t=y lowers reject", author: "example.com",
			txt:  map[string][]string{"_dmarc.example.com": rec("v=DMARC1; p=reject; t=y")},
			want: Result{Result: "fail", Policy: "quarantine", PublishedPolicy: "reject", Testing: true}},
		{name: "t=y lowers quarantine", author: "example.com",
			txt:  map[string][]string{"_dmarc.example.com": rec("v=DMARC1; p=quarantine; t=y")},
			dkim: pass("example.com"),
			want: Result{Result: "pass", Policy: "none", PublishedPolicy: "quarantine", Testing: true, DKIMAligned: true}},
		{name: "pct=0 is t=y", author: "example.com",
			txt:  map[string][]string{"_dmarc.example.com": rec("v=DMARC1; p=reject; pct=0")},
			want: Result{Result: "fail", Policy: "quarantine", PublishedPolicy: "reject", Testing: true}},
		{name: "pct=0 ignored", author: "example.com", legacy: "ignore",
			txt:  map[string][]string{"_dmarc.example.com": rec("v=DMARC1; p=reject; pct=0")},
			want: Result{Result: "fail", Policy: "reject", PublishedPolicy: "reject"}},
		{name: "pct=0 explicit t=n wins", author: "example.com",
			txt:  map[string][]string{"_dmarc.example.com": rec("v=DMARC1; p=reject; pct=0; t=n")},
			want: Result{Result: "fail", Policy: "reject", PublishedPolicy: "reject"}},
		{name: "pct=25 is 100%", author: "example.com",
			txt:  map[string][]string{"_dmarc.example.com": rec("v=DMARC1; p=reject; pct=25")},
			want: Result{Result: "fail", Policy: "reject", PublishedPolicy: "reject"}},
		// Strict and relaxed alignment for both mechanisms.
		{name: "spf relaxed", author: "example.com",
			txt:  map[string][]string{"_dmarc.example.com": rec("v=DMARC1; p=reject")},
			spf:  SPFInput{"pass", "bounce.example.com"},
			want: Result{Result: "pass", SPFAligned: true}},
		{name: "spf strict", author: "example.com",
			txt:  map[string][]string{"_dmarc.example.com": rec("v=DMARC1; p=reject; aspf=s")},
			spf:  SPFInput{"pass", "bounce.example.com"},
			want: Result{Result: "fail", Policy: "reject"}},
		{name: "dkim relaxed", author: "news.example.com", exists: []string{"news.example.com"},
			txt:  map[string][]string{"_dmarc.example.com": rec("v=DMARC1; p=reject")},
			dkim: pass("example.com"),
			want: Result{Result: "pass", DKIMAligned: true}},
		{name: "dkim strict", author: "news.example.com", exists: []string{"news.example.com"},
			txt:  map[string][]string{"_dmarc.example.com": rec("v=DMARC1; p=reject; adkim=s")},
			dkim: pass("example.com"),
			want: Result{Result: "fail"}},
		{name: "dkim strict exact", author: "example.com",
			txt:  map[string][]string{"_dmarc.example.com": rec("v=DMARC1; p=reject; adkim=s; aspf=s")},
			dkim: []DKIMInput{{Result: "fail", Domain: "example.com"}, {Result: "pass", Domain: "EXAMPLE.com"}},
			want: Result{Result: "pass", DKIMAligned: true}},
		{name: "dkim unrelated domain", author: "example.com",
			txt:  map[string][]string{"_dmarc.example.com": rec("v=DMARC1; p=reject")},
			dkim: pass("mailer.example.net"), spf: SPFInput{"pass", "mailer.example.net"},
			want: Result{Result: "fail"}, queries: 2},
		// Relaxed alignment uses the identifier's own walk (pitfall 1).
		{name: "identifier's own walk: psd=n below", author: "example.com",
			txt: map[string][]string{
				"_dmarc.example.com":       rec("v=DMARC1; p=reject"),
				"_dmarc.users.example.com": rec("v=DMARC1; p=none; psd=n")},
			dkim: pass("alice.users.example.com"),
			want: Result{Result: "fail", Policy: "reject"}},
		{name: "psd=y at the author's parent", author: "alice.example.net",
			txt:  map[string][]string{"_dmarc.example.net": rec("v=DMARC1; p=reject; psd=y")},
			dkim: pass("bob.example.net"), exists: []string{"alice.example.net"},
			want: Result{Result: "fail", Policy: "reject", OrgDomain: "alice.example.net", RecordDomain: "example.net"}},
		{name: "null MAIL FROM: HELO domain", author: "example.com",
			txt:  map[string][]string{"_dmarc.example.com": rec("v=DMARC1; p=reject")},
			spf:  SPFInput{"pass", "mx1.example.com"},
			want: Result{Result: "pass", SPFAligned: true}},
		// Multiple records and invalid records.
		{name: "two records at author discarded", author: "sub.example.com", exists: []string{"sub.example.com"},
			txt: map[string][]string{
				"_dmarc.sub.example.com": {"v=DMARC1; p=none", "v=DMARC1; p=none; rua=mailto:x@example.com"},
				"_dmarc.example.com":     {"v=DMARC1; p=reject", "some other text"}},
			want: Result{Result: "fail", Policy: "reject", RecordDomain: "example.com"}},
		{name: "v=DMARC10 ignored", author: "example.com",
			txt:  map[string][]string{"_dmarc.example.com": rec("v=DMARC10; p=reject")},
			want: Result{Result: "none"}},
		// §4.10.1: an invalid policy without a valid rua URI means no
		// DMARC policy applies (none, not permerror); with one, p=none.
		{name: "invalid p no rua", author: "example.com",
			txt:  map[string][]string{"_dmarc.example.com": rec("v=DMARC1; p=rejct")},
			want: Result{Result: "none", RecordDomain: "example.com"}},
		{name: "invalid p, rua not a URI", author: "example.com",
			txt:  map[string][]string{"_dmarc.example.com": rec("v=DMARC1; p=rejct; rua=dmarc@example.com")},
			want: Result{Result: "none", RecordDomain: "example.com"}},
		{name: "invalid sp no rua, subdomain", author: "sub.example.com", exists: []string{"sub.example.com"},
			txt:  map[string][]string{"_dmarc.example.com": rec("v=DMARC1; p=reject; sp=rejct")},
			want: Result{Result: "none", RecordDomain: "example.com"}},
		{name: "invalid sp with rua, subdomain", author: "sub.example.com", exists: []string{"sub.example.com"},
			txt:  map[string][]string{"_dmarc.example.com": rec("v=DMARC1; p=reject; sp=rejct; rua=mailto:d@example.com")},
			want: Result{Result: "fail", Policy: "none", RecordDomain: "example.com"}},
		{name: "invalid p with rua", author: "example.com",
			txt:  map[string][]string{"_dmarc.example.com": rec("v=DMARC1; p=rejct; rua=mailto:d@example.com")},
			want: Result{Result: "fail", Policy: "none"}},
		{name: "missing p", author: "example.com",
			txt:  map[string][]string{"_dmarc.example.com": rec("v=DMARC1; adkim=s")},
			want: Result{Result: "none", RecordDomain: "example.com"}},
		{name: "split TXT strings", author: "example.com",
			txt:  map[string][]string{"_dmarc.example.com": rec("v=DMARC1; p=re" + "ject")},
			want: Result{Result: "fail", Policy: "reject"}},
		// IDN author.
		{name: "idn", author: "Bücher.example",
			txt:  map[string][]string{"_dmarc.xn--bcher-kva.example": rec("v=DMARC1; p=reject")},
			dkim: pass("xn--bcher-kva.example"),
			want: Result{Result: "pass", Domain: "xn--bcher-kva.example", DKIMAligned: true}},
		// Temporary errors at each step.
		{name: "temperror author query", author: "example.com",
			errs: map[string]error{"_dmarc.example.com": servfail},
			spf:  SPFInput{"pass", "example.com"},
			want: Result{Result: "temperror"}},
		{name: "temperror org query", author: "sub.example.com",
			errs: map[string]error{"_dmarc.example.com": timeout},
			want: Result{Result: "temperror"}},
		{name: "temperror TLD query", author: "sub.example.com",
			errs: map[string]error{"_dmarc.com": servfail},
			want: Result{Result: "temperror"}},
		{name: "temperror refused", author: "example.com",
			errs: map[string]error{"_dmarc.example.com": dns.ErrRefused},
			want: Result{Result: "temperror"}},
		{name: "malformed is no record", author: "example.com",
			errs: map[string]error{"_dmarc.example.com": dns.ErrMalformed},
			want: Result{Result: "none"}},
		{name: "author record, walk fails, exact pass stands", author: "example.com",
			txt:  map[string][]string{"_dmarc.example.com": rec("v=DMARC1; p=reject")},
			errs: map[string]error{"_dmarc.com": servfail},
			spf:  SPFInput{"pass", "example.com"},
			want: Result{Result: "pass", Policy: "reject", OrgDomain: "", SPFAligned: true}},
		{name: "author record, walk fails, relaxed needed", author: "example.com",
			txt:  map[string][]string{"_dmarc.example.com": rec("v=DMARC1; p=reject")},
			errs: map[string]error{"_dmarc.com": servfail},
			dkim: pass("mail.example.com"),
			want: Result{Result: "temperror", Policy: "reject"}},
		{name: "author record, walk fails, unrelated TLD", author: "example.com",
			txt:  map[string][]string{"_dmarc.example.com": rec("v=DMARC1; p=reject")},
			errs: map[string]error{"_dmarc.com": servfail},
			dkim: pass("example.org"),
			want: Result{Result: "fail", Policy: "reject"}},
		{name: "temperror in identifier walk", author: "example.com",
			txt:  map[string][]string{"_dmarc.example.com": rec("v=DMARC1; p=reject")},
			errs: map[string]error{"_dmarc.mail.example.com": servfail},
			dkim: pass("mail.example.com"),
			want: Result{Result: "temperror"}},
		{name: "temperror in identifier walk, other pass stands", author: "example.com",
			txt:  map[string][]string{"_dmarc.example.com": rec("v=DMARC1; p=reject")},
			errs: map[string]error{"_dmarc.mail.example.com": servfail},
			dkim: []DKIMInput{{Result: "pass", Domain: "mail.example.com"}, {Result: "pass", Domain: "example.com"}},
			want: Result{Result: "pass", DKIMAligned: true}},
		{name: "temperror in identifier walk, spf aligned", author: "example.com",
			txt:  map[string][]string{"_dmarc.example.com": rec("v=DMARC1; p=reject")},
			errs: map[string]error{"_dmarc.mail.example.com": servfail},
			dkim: pass("mail.example.com"), spf: SPFInput{"pass", "example.com"},
			want: Result{Result: "pass", SPFAligned: true}},
		// A temporary failure of an identifier that would be aligned is a
		// temperror, not a fail (§4.10.1, §5.3.6); an unaligned one is not.
		{name: "spf temperror, exact domain", author: "example.com",
			txt:  map[string][]string{"_dmarc.example.com": rec("v=DMARC1; p=reject")},
			spf:  SPFInput{"temperror", "example.com"},
			want: Result{Result: "temperror", Policy: "reject", RecordDomain: "example.com"}},
		{name: "spf temperror, relaxed aligned", author: "example.com",
			txt:  map[string][]string{"_dmarc.example.com": rec("v=DMARC1; p=reject")},
			spf:  SPFInput{"TempError", "bounce.example.com"},
			want: Result{Result: "temperror", Policy: "reject"}},
		{name: "spf temperror, not aligned under aspf=s", author: "example.com",
			txt:  map[string][]string{"_dmarc.example.com": rec("v=DMARC1; p=reject; aspf=s")},
			spf:  SPFInput{"temperror", "bounce.example.com"},
			want: Result{Result: "fail", Policy: "reject"}},
		{name: "spf temperror, unaligned, dkim fail", author: "example.com",
			txt: map[string][]string{"_dmarc.example.com": rec("v=DMARC1; p=reject")},
			spf: SPFInput{"temperror", "attacker.example"}, dkim: []DKIMInput{{Result: "fail", Domain: "example.com"}},
			want: Result{Result: "fail", Policy: "reject"}, queries: 2},
		{name: "spf temperror under p=none", author: "example.com",
			txt:  map[string][]string{"_dmarc.example.com": rec("v=DMARC1; p=none")},
			spf:  SPFInput{"temperror", "example.com"},
			want: Result{Result: "temperror", Policy: "none"}},
		{name: "dkim temperror, aligned d=", author: "example.com",
			txt:  map[string][]string{"_dmarc.example.com": rec("v=DMARC1; p=reject")},
			spf:  SPFInput{"pass", "attacker.example"},
			dkim: []DKIMInput{{Result: "temperror", Domain: "example.com"}, {Result: "pass", Domain: "attacker.example"}},
			want: Result{Result: "temperror", Policy: "reject"}},
		{name: "dkim temperror, unaligned d=, aligned dkim fail", author: "example.com",
			txt: map[string][]string{"_dmarc.example.com": rec("v=DMARC1; p=reject")},
			dkim: []DKIMInput{{Result: "temperror", Domain: "attacker.example"},
				{Result: "fail", Domain: "example.com"}},
			want: Result{Result: "fail", Policy: "reject"}},
		{name: "dkim temperror, d= walk fails too", author: "example.com",
			txt:  map[string][]string{"_dmarc.example.com": rec("v=DMARC1; p=reject")},
			errs: map[string]error{"_dmarc.mail.example.com": servfail},
			dkim: []DKIMInput{{Result: "temperror", Domain: "mail.example.com"}},
			want: Result{Result: "temperror", Policy: "reject"}},
		{name: "dkim temperror, d= not aligned after its walk", author: "example.com",
			txt: map[string][]string{
				"_dmarc.example.com":       rec("v=DMARC1; p=reject"),
				"_dmarc.users.example.com": rec("v=DMARC1; p=none; psd=n")},
			dkim: []DKIMInput{{Result: "temperror", Domain: "alice.users.example.com"}},
			want: Result{Result: "fail", Policy: "reject"}},
		{name: "dkim temperror, aligned spf pass stands", author: "example.com",
			txt: map[string][]string{"_dmarc.example.com": rec("v=DMARC1; p=reject")},
			spf: SPFInput{"pass", "example.com"}, dkim: []DKIMInput{{Result: "temperror", Domain: "example.com"}},
			want: Result{Result: "pass", Policy: "reject", SPFAligned: true}},
		{name: "spf temperror, aligned dkim pass stands", author: "example.com",
			txt: map[string][]string{"_dmarc.example.com": rec("v=DMARC1; p=reject")},
			spf: SPFInput{"temperror", "example.com"}, dkim: pass("example.com"),
			want: Result{Result: "pass", Policy: "reject", DKIMAligned: true}},
		{name: "invalid author", author: "bad..example",
			want: Result{Result: "none"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, f := run(t, tc)
			check(t, got, tc.want)
			if tc.queries > 0 && f.total() != tc.queries {
				t.Errorf("queries = %d %v, want %d", f.total(), f.queries, tc.queries)
			}
			for q, n := range f.queries {
				if n > 1 {
					t.Errorf("%s queried %d times", q, n)
				}
			}
		})
	}
}

// check compares the fields of want that are set (Result always).
func check(t *testing.T, got, want Result) {
	t.Helper()
	if got.Result != want.Result {
		t.Errorf("Result = %q (%s), want %q; got %+v", got.Result, got.Reason, want.Result, got)
	}
	if want.Result != "none" && want.Result != "permerror" && want.Result != "temperror" || want.Policy != "" {
		if got.Policy != want.Policy && want.Policy != "" {
			t.Errorf("Policy = %q, want %q", got.Policy, want.Policy)
		}
	}
	cmp := func(name, g, w string) {
		if w != "" && g != w {
			t.Errorf("%s = %q, want %q", name, g, w)
		}
	}
	cmp("PublishedPolicy", got.PublishedPolicy, want.PublishedPolicy)
	cmp("OrgDomain", got.OrgDomain, want.OrgDomain)
	cmp("RecordDomain", got.RecordDomain, want.RecordDomain)
	cmp("Domain", got.Domain, want.Domain)
	if got.Testing != want.Testing {
		t.Errorf("Testing = %v, want %v", got.Testing, want.Testing)
	}
	if got.SPFAligned != want.SPFAligned || got.DKIMAligned != want.DKIMAligned {
		t.Errorf("aligned spf=%v dkim=%v, want %v %v", got.SPFAligned, got.DKIMAligned, want.SPFAligned, want.DKIMAligned)
	}
}

func TestEvaluateLongName(t *testing.T) {
	f := &fakeResolver{txt: map[string][]string{"_dmarc.example.com": rec("v=DMARC1; p=reject")}}
	e := &Evaluator{Resolver: f}
	r := e.Evaluate(context.Background(), "a.b.c.d.e.f.g.h.i.j.mail.example.com", SPFInput{}, nil)
	if r.Result != "fail" || r.RecordDomain != "example.com" || r.OrgDomain != "example.com" {
		t.Fatalf("got %+v", r)
	}
	if n := f.total(); n != 8 { // 8 TXT; no A query as sp == np
		t.Errorf("queries = %d %v, want 8", n, f.queries)
	}
}

func TestEvaluateAll(t *testing.T) {
	f := &fakeResolver{txt: map[string][]string{
		"_dmarc.one.example":   rec("v=DMARC1; p=quarantine"),
		"_dmarc.two.example":   rec("v=DMARC1; p=reject"),
		"_dmarc.three.example": rec("v=DMARC1; p=none"),
	}}
	e := &Evaluator{Resolver: f}
	ctx := context.Background()
	best, all := e.EvaluateAll(ctx, []string{"one.example", "two.example", "three.example"}, SPFInput{}, pass("one.example"))
	if len(all) != 3 || all[0].Result != "pass" || all[1].Result != "fail" || all[2].Result != "fail" {
		t.Fatalf("all = %+v", all)
	}
	if best.Domain != "two.example" || best.Policy != "reject" {
		t.Errorf("best = %+v", best)
	}
	best, _ = e.EvaluateAll(ctx, []string{"one.example", "three.example"}, SPFInput{}, pass("one.example"))
	if best.Domain != "three.example" || best.Result != "fail" || best.Policy != "none" {
		t.Errorf("best = %+v", best)
	}
	// A temperror is stricter than a fail under quarantine (retried, it may
	// become a reject), but not under policy none.
	f.errs = map[string]error{"_dmarc.four.example": dns.ErrServFail}
	best, _ = e.EvaluateAll(ctx, []string{"one.example", "four.example"}, SPFInput{}, nil)
	if best.Domain != "four.example" || best.Result != "temperror" {
		t.Errorf("temperror beside quarantine: best = %+v", best)
	}
	f.txt["_dmarc.five.example"] = rec("v=DMARC1; p=none")
	best, _ = e.EvaluateAll(ctx, []string{"one.example", "five.example"}, SPFInput{"temperror", "five.example"}, nil)
	if best.Domain != "one.example" || best.Result != "fail" {
		t.Errorf("temperror under p=none beside quarantine: best = %+v", best)
	}
	best, _ = e.EvaluateAll(ctx, []string{"four.example", "two.example"}, SPFInput{}, nil)
	if best.Domain != "two.example" || best.Result != "fail" {
		t.Errorf("reject beside temperror: best = %+v", best)
	}
	best, _ = e.EvaluateAll(ctx, nil, SPFInput{}, nil)
	if best.Result != "none" {
		t.Errorf("empty: %+v", best)
	}
}
