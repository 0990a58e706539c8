// Package spf evaluates the Sender Policy Framework, RFC 7208: check_host()
// (§4) with every mechanism and modifier (§5, §6), macro expansion (§7), the
// processing limits (§4.6.4) and the explanation string for fail results
// (§6.2), for the MAIL FROM and HELO identities (§2.3, §2.4).
//
// A Checker is configured with a Resolver (satisfied by *dns.Resolver from
// auth/dns) and returns an Outcome whose Result is one of the RFC 7208 words
// used in Authentication-Results (RFC 8601): none, neutral, pass, fail,
// softfail, temperror, permerror. The package never imports a milter library
// and logs only at debug level through the Logger it is given.
package spf
