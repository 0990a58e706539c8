package dmarc

import (
	"context"
	"testing"
	"time"

	"github.com/authmilter/authmilter/auth/dns/dnstest"
)

// TestRealResolver runs the evaluator over *dns.Resolver and the in-process
// DNS server: the classification of real answers (NXDOMAIN, NODATA,
// SERVFAIL, a dropped query) ends in the right result.
func TestRealResolver(t *testing.T) {
	const zone = `
_dmarc.example.com. 300 IN TXT "v=DMARC1; p=none; " "sp=quarantine; np=reject"
sub.example.com.    300 IN A   192.0.2.1
empty.example.com.  300 IN MX  10 mx.example.com.
_dmarc.broken.example. 300 IN TXT "v=DMARC1; p=reject"
`
	srv, r := dnstest.StartResolver(t, zone)
	srv.ServFail("_dmarc.broken.example.")
	srv.Drop("_dmarc.slow.example.")
	e := &Evaluator{Resolver: r}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tests := []struct {
		author, result, policy string
	}{
		{"example.com", "fail", "none"},             // p, from a record of two strings
		{"sub.example.com", "fail", "quarantine"},   // exists (A): sp
		{"empty.example.com", "fail", "quarantine"}, // NODATA for A: exists, sp
		{"ghost.example.com", "fail", "reject"},     // NXDOMAIN: np
		{"broken.example", "temperror", ""},         // SERVFAIL
		{"slow.example", "temperror", ""},           // timeout
		{"nothing.example", "none", ""},
	}
	for _, tt := range tests {
		got := e.Evaluate(ctx, tt.author, SPFInput{"fail", tt.author}, nil)
		if string(got.Result) != tt.result || got.Policy != tt.policy {
			t.Errorf("%s: got %s/%s (%s), want %s/%s", tt.author, got.Result, got.Policy, got.Reason, tt.result, tt.policy)
		}
	}
}
