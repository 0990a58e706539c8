package milter

import (
	"errors"
	"net"
	"net/netip"
	"strings"
)

// errClientAddr: the connect address is not an IP address in a form the
// MTAs send.
var errClientAddr = errors.New("milter: client address not understood")

// parseClientAddr parses the client address of a milter CONNECT (or a
// {client_addr} macro), in every form Postfix and Sendmail send:
//
//   - IPv4 dotted quad: "192.0.2.25" (both MTAs);
//   - IPv6, compressed or full: "2001:db8::25" (Postfix);
//   - IPv6 with the RFC 5321 §4.1.3 address-literal tag, matched without
//     regard to case (RFC 5234 §2.3): "IPv6:2001:db8::25" (Sendmail; its
//     libmilter strips the tag before a filter sees it, go-milter does not);
//   - either of those in brackets, as in an address literal: "[IPv6:::1]",
//     "[192.0.2.25]";
//   - an IPv6 zone ("fe80::1%eth0") is dropped.
//
// An IPv4-mapped IPv6 address ("::ffff:192.0.2.25") is returned as the IPv4
// address (a 4-byte net.IP): such a client is an IPv4 client (RFC 7208 §5
// and §7.3). An IPv6 address is 16 bytes. Anything else is errClientAddr.
func parseClientAddr(s string) (net.IP, error) {
	if len(s) >= 2 && s[0] == '[' && s[len(s)-1] == ']' {
		s = s[1 : len(s)-1]
	}
	tagged := len(s) >= 5 && strings.EqualFold(s[:5], "IPv6:")
	if tagged {
		s = s[5:]
	}
	a, err := netip.ParseAddr(s)
	if err != nil || (tagged && !a.Is6()) {
		return nil, errClientAddr
	}
	a = a.WithZone("").Unmap()
	return net.IP(a.AsSlice()), nil
}
