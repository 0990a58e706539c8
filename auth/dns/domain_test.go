package dns_test

import (
	"strings"
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

// FuzzIsSubdomainOrSame: the same answers as the plain definition
// (lower-case both, drop one trailing dot, equal or a "."-suffix).
func FuzzIsSubdomainOrSame(f *testing.F) {
	for _, s := range [][2]string{{"mail.Example.com.", "example.com"}, {"badexample.com", "example.com"}, {"", ""}, {".", ""}, {"a..b", ".b"}} {
		f.Add(s[0], s[1])
	}
	lower := func(s string) string {
		b := []byte(strings.TrimSuffix(s, "."))
		for i, c := range b {
			if 'A' <= c && c <= 'Z' {
				b[i] = c + 'a' - 'A'
			}
		}
		return string(b)
	}
	f.Fuzz(func(t *testing.T, name, parent string) {
		n, p := lower(name), lower(parent)
		want := n == p || strings.HasSuffix(n, "."+p)
		if got := dns.IsSubdomainOrSame(name, parent); got != want {
			t.Fatalf("IsSubdomainOrSame(%q, %q) = %v, want %v", name, parent, got, want)
		}
	})
}
