package dnstest

import (
	"testing"
	"time"

	"github.com/authmilter/authmilter/auth/dns"
)

// StartResolver starts a Server for zone and returns it with a
// *dns.Resolver that queries only it (timeout 1 s, 1 attempt, default
// cache). Both are closed when the test ends; a zone that does not parse
// fails the test.
func StartResolver(tb testing.TB, zone string) (*Server, *dns.Resolver) {
	tb.Helper()
	srv, err := Start(zone)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(srv.Close)
	r, err := dns.New(dns.Config{Servers: []string{srv.Addr}, Timeout: time.Second, Attempts: 1})
	if err != nil {
		tb.Fatal(err)
	}
	return srv, r
}
