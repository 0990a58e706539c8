// Package mtasts implements the sending side of SMTP MTA Strict Transport
// Security (RFC 8461): the _mta-sts TXT record (section 3.1), the policy
// file and its fetch over HTTPS (sections 3.2 and 3.3), and the MX host
// patterns (section 4.1). It evaluates; caching, refreshing and answering
// an MTA are package tlspolicy's.
//
// The HTTP client is the caller's (NewFetcher): the daemon passes one with
// the system's roots, tests one whose transport trusts a test CA and dials
// a loopback server. No package-level client is swapped in tests.
package mtasts
