package dns

import "strings"

// IsSubdomainOrSame reports whether name equals parent or lies below it,
// label by label: "mail.example.com" is below "example.com",
// "badexample.com" is not. Case is ignored for ASCII letters only (RFC 4343
// section 3), and so is one trailing dot on either name. It is the one
// domain-or-subdomain rule of SPF (the ptr mechanism and the %{p} macro),
// DMARC (relaxed alignment), DKIM (i= within d=) and the policy's allow
// list.
func IsSubdomainOrSame(name, parent string) bool {
	name = strings.TrimSuffix(name, ".")
	parent = strings.TrimSuffix(parent, ".")
	switch n, p := len(name), len(parent); {
	case n == p:
		return equalFoldASCII(name, parent)
	case n < p:
		return false
	default:
		return name[n-p-1] == '.' && equalFoldASCII(name[n-p:], parent)
	}
}

// equalFoldASCII compares a and b ignoring the case of ASCII letters.
func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
