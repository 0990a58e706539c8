package policy

import "testing"

// TestParsePrefix: the one parser of trusted_networks and
// trusted_forwarders.
func TestParsePrefix(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"192.0.2.0/24", "192.0.2.0/24"},
		{"192.0.2.7/24", "192.0.2.0/24"},
		{" 2001:db8::/32 ", "2001:db8::/32"},
		{"192.0.2.1", "192.0.2.1/32"},
		{"::ffff:192.0.2.1", "192.0.2.1/32"},
		{"::1", "::1/128"},
		{"10.0.0.0/33", ""},
		{"example.com", ""},
		{"", ""},
	} {
		p, err := ParsePrefix(c.in)
		switch {
		case c.want == "" && err == nil:
			t.Errorf("ParsePrefix(%q) = %v, want an error", c.in, p)
		case c.want != "" && (err != nil || p.String() != c.want):
			t.Errorf("ParsePrefix(%q) = %v, %v; want %s", c.in, p, err, c.want)
		}
	}
}

// FuzzParsePrefix: a network read back from its own text is the same, and
// always masked.
func FuzzParsePrefix(f *testing.F) {
	for _, s := range []string{"192.0.2.0/24", "192.0.2.7/24", " ::1 ", "::ffff:192.0.2.1", "::ffff:192.0.2.0/120", "10.0.0.0/33", "fe80::1%eth0", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePrefix(s)
		if err != nil {
			return
		}
		if !p.IsValid() || p != p.Masked() {
			t.Fatalf("ParsePrefix(%q) = %v, not a valid masked prefix", s, p)
		}
		if q, err := ParsePrefix(p.String()); err != nil || q != p {
			t.Fatalf("ParsePrefix(%q) = %v; again from %q: %v, %v", s, p, p.String(), q, err)
		}
	})
}
