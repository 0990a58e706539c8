package dmarc_test

import (
	"context"
	"fmt"
	"net"

	"github.com/authmilter/authmilter/auth/dmarc"
	"github.com/authmilter/authmilter/auth/dns"
)

// zone is a tiny in-memory Resolver for the examples.
type zone map[string][]string

func (z zone) LookupTXT(_ context.Context, name string) ([]string, error) {
	if v, ok := z[name]; ok {
		return v, nil
	}
	return nil, dns.NewError(dns.ErrNXDomain, name)
}

func (z zone) LookupIP(_ context.Context, _, host string) ([]net.IP, error) {
	return nil, dns.NewError(dns.ErrNoData, host)
}

func ExampleAuthorDomains() {
	domains, err := dmarc.AuthorDomains([]string{`"Doe, Jane" (CEO) <jane@Bücher.Example>`})
	fmt.Println(domains, err)
	_, err = dmarc.AuthorDomains(nil)
	fmt.Println(err)
	// Output:
	// [xn--bcher-kva.example] <nil>
	// dmarc: no From field
}

func ExampleParseRecord() {
	r, err := dmarc.ParseRecord("v=DMARC1; p=reject; sp=bogus; rua=mailto:d@example.com!10m")
	if err != nil {
		fmt.Println(err)
		return
	}
	sp, ok, _ := r.EffectivePolicy("sp")
	fmt.Println(r.P, r.SPInvalid, sp, ok, r.RUA, r.ADKIM)
	// Output: reject true none true [mailto:d@example.com] r
}

func ExampleEvaluator_Evaluate() {
	e := &dmarc.Evaluator{Resolver: zone{
		"_dmarc.example.com": {"v=DMARC1; p=reject; t=y"},
	}}
	r := e.Evaluate(context.Background(), "news.example.com",
		dmarc.SPFInput{Result: "pass", Domain: "bounces.example.net"},
		[]dmarc.DKIMInput{{Result: "pass", Domain: "example.com", Selector: "s1"}})
	fmt.Println(r.Result, r.Policy, r.PublishedPolicy, r.OrgDomain, r.RecordDomain, r.SPFAligned, r.DKIMAligned)
	// Output: pass quarantine reject example.com example.com false true
}

func ExampleEvaluator_EvaluateAll() {
	e := &dmarc.Evaluator{Resolver: zone{
		"_dmarc.a.example": {"v=DMARC1; p=none"},
		"_dmarc.b.example": {"v=DMARC1; p=reject"},
	}}
	best, all := e.EvaluateAll(context.Background(), []string{"a.example", "b.example"},
		dmarc.SPFInput{Result: "pass", Domain: "a.example"}, nil)
	fmt.Println(best.Result, best.Domain, best.Policy, len(all))
	// Output: fail b.example reject 2
}

func ExampleNormalizeDomain() {
	d, err := dmarc.NormalizeDomain("Bücher.Example.")
	fmt.Println(d, err)
	// Output: xn--bcher-kva.example <nil>
}

func ExampleRecord_EffectivePolicy() {
	r, _ := dmarc.ParseRecord("v=DMARC1; p=reject; sp=quarantine")
	for _, tag := range []string{"p", "sp", "np"} {
		p, ok, _ := r.EffectivePolicy(tag)
		fmt.Println(tag, p, ok)
	}
	// Output:
	// p reject true
	// sp quarantine true
	// np quarantine true
}
