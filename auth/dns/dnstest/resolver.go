package dnstest

import (
	"context"
	"net"
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

// NXResolver answers every lookup at once with the NXDOMAIN error the real
// resolver returns, without a server: for tests and fuzz targets that must
// not wait on DNS.
type NXResolver struct{}

func (NXResolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	return nil, dns.NewError(dns.ErrNXDomain, name)
}

func (NXResolver) LookupIP(ctx context.Context, network, host string) ([]net.IP, error) {
	return nil, dns.NewError(dns.ErrNXDomain, host)
}

func (NXResolver) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	return nil, dns.NewError(dns.ErrNXDomain, name)
}

func (NXResolver) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	return nil, dns.NewError(dns.ErrNXDomain, addr)
}
