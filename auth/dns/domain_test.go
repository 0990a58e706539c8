package dns_test

import (
	"testing"

	"github.com/authmilter/authmilter/auth/dns"
)

func TestIsSubdomainOrSame(t *testing.T) {
	for _, c := range []struct {
		name, parent string
		want         bool
	}{
		{"example.com", "example.com", true},
		{"Mail.Example.COM", "example.com", true},
		{"mail.example.com.", "EXAMPLE.com", true},
		{"example.com", "example.com.", true},
		{"a.b.example.com", "example.com", true},
		{"badexample.com", "example.com", false},
		{"example.com", "mail.example.com", false},
		{"example.org", "example.com", false},
		{"", "", true},
		{"example.com", "", false},
		{"", "example.com", false},
	} {
		if got := dns.IsSubdomainOrSame(c.name, c.parent); got != c.want {
			t.Errorf("IsSubdomainOrSame(%q, %q) = %v, want %v", c.name, c.parent, got, c.want)
		}
	}
}
