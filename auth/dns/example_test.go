package dns_test

import (
	"context"
	"fmt"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/authmilter/authmilter/auth/dns"
	"github.com/authmilter/authmilter/auth/dns/dnstest"
)

func Example() {
	srv, err := dnstest.Start(`
example.com.        TXT "v=spf1 ip4:192.0.2.0/24 -all"
_dmarc.example.com. TXT "v=DMARC1; " "p=reject"
`)
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	r, err := dns.New(dns.Config{Servers: []string{srv.Addr}, Timeout: time.Second})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()

	txt, err := r.LookupTXT(ctx, "_dmarc.example.com")
	fmt.Printf("%q %v\n", txt, err)

	_, err = r.LookupTXT(ctx, "_dmarc.nx.example.com")
	fmt.Println(dns.IsNXDomain(err), dns.IsNotFound(err), dns.IsTemporary(err))

	srv.ServFail("example.com")
	_, err = r.LookupMX(ctx, "example.com")
	fmt.Println(dns.IsNotFound(err), dns.IsTemporary(err))
	// Output:
	// ["v=DMARC1; p=reject"] <nil>
	// true true false
	// false true
}

func ExampleResolver_Lookup() {
	srv, err := dnstest.Start(`www.example.com. 600 CNAME example.com.
example.com. 300 A 192.0.2.1`)
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	srv.AD("*") // as a validating resolver would
	r, err := dns.New(dns.Config{Servers: []string{srv.Addr}, Timeout: time.Second})
	if err != nil {
		panic(err)
	}
	for range 2 {
		a, err := r.Lookup(context.Background(), "www.example.com", mdns.TypeA)
		if err != nil {
			panic(err)
		}
		fmt.Println(a.IPs, a.Canonical, a.Authentic, a.FromCache)
	}
	s := r.Stats()
	fmt.Println(s.Hits, s.Misses, s.UpstreamQueries, s.Rcodes)
	// Output:
	// [192.0.2.1] example.com true false
	// [192.0.2.1] example.com true true
	// 1 1 1 map[NOERROR:1]
}
