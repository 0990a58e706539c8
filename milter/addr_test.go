package milter

import (
	"net"
	"net/netip"
	"strings"
	"testing"
)

// TestParseClientAddr: every form of client address Postfix and Sendmail
// send in the CONNECT packet, and what is refused.
func TestParseClientAddr(t *testing.T) {
	for _, c := range []struct {
		in, want string // want "" means an error
		v4       bool
	}{
		{"IPv6:2001:db8::25", "2001:db8::25", false}, // Sendmail
		{"ipv6:2001:DB8::25", "2001:db8::25", false}, // the tag without regard to case
		{"IPv6:2001:0db8:0000:0000:0000:0000:0000:0025", "2001:db8::25", false},
		{"IPv6:::1", "::1", false},
		{"[IPv6:2001:db8::25]", "2001:db8::25", false},
		{"[IPv6:::1]", "::1", false},
		{"2001:db8::25", "2001:db8::25", false}, // Postfix
		{"2001:0db8:0000:0000:0000:0000:0000:0025", "2001:db8::25", false},
		{"::1", "::1", false},
		{"fe80::1%eth0", "fe80::1", false}, // zone dropped
		{"IPv6:fe80::1%eth0", "fe80::1", false},
		{"192.0.2.25", "192.0.2.25", true}, // both MTAs
		{"[192.0.2.25]", "192.0.2.25", true},
		{"::ffff:192.0.2.25", "192.0.2.25", true}, // IPv4-mapped: IPv4
		{"IPv6:::ffff:192.0.2.25", "192.0.2.25", true},
		{"::ffff:c000:219", "192.0.2.25", true},

		{"", "", false},
		{"[]", "", false},
		{"IPv6:", "", false},
		{"IPv6:192.0.2.25", "", false}, // the tag announces IPv6
		{"IPv4:192.0.2.25", "", false},
		{"IPv6 2001:db8::25", "", false},
		{"[IPv6:2001:db8::25", "", false},
		{"IPv6:[2001:db8::25]", "", false},
		{"2001:db8::25]", "", false},
		{"IPv6:IPv6:2001:db8::25", "", false},
		{"2001:db8:::25", "", false},
		{"2001:db8::25:1:2:3:4:5:6", "", false},
		{"192.0.2.256", "", false},
		{"192.0.2", "", false},
		{"0192.0.2.25", "", false},
		{" 192.0.2.25", "", false},
		{"192.0.2.25\x00", "", false},
		{"localhost", "", false},
		{"/var/run/socket", "", false},
		{"[" + strings.Repeat("f", 1000) + "]", "", false},
	} {
		ip, err := parseClientAddr(c.in)
		if c.want == "" {
			if err == nil || ip != nil {
				t.Errorf("parseClientAddr(%q) = %v, %v; want an error", c.in, ip, err)
			}
			continue
		}
		if err != nil || ip.String() != c.want {
			t.Errorf("parseClientAddr(%q) = %v, %v; want %s", c.in, ip, err, c.want)
			continue
		}
		if v4 := len(ip) == net.IPv4len; v4 != c.v4 {
			t.Errorf("parseClientAddr(%q) = %d bytes, want IPv4 %v", c.in, len(ip), c.v4)
		}
	}
}

// FuzzParseClientAddr: never a panic; a result is 4 bytes (IPv4, also from
// IPv4-mapped) or 16 (IPv6, never mapped), and it prints back to an address
// that parses to itself.
func FuzzParseClientAddr(f *testing.F) {
	for _, s := range []string{"IPv6:2001:db8::25", "[IPv6:::1]", "2001:db8::25", "192.0.2.25",
		"::ffff:192.0.2.25", "fe80::1%eth0", "IPv6:192.0.2.25", "[]", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ip, err := parseClientAddr(s)
		if err != nil {
			if ip != nil {
				t.Fatalf("%q: an error and an address %v", s, ip)
			}
			return
		}
		a, ok := netip.AddrFromSlice(ip)
		switch {
		case !ok:
			t.Fatalf("%q: %d-byte address", s, len(ip))
		case a.Is4In6():
			t.Fatalf("%q: IPv4-mapped address %v not returned as IPv4", s, ip)
		}
		again, err := parseClientAddr(ip.String())
		if err != nil || !again.Equal(ip) || len(again) != len(ip) {
			t.Fatalf("%q: %v does not parse back to itself: %v, %v", s, ip, again, err)
		}
	})
}
