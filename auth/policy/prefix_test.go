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
