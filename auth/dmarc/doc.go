// Package dmarc evaluates DMARC, RFC 9989 (which obsoletes RFC 7489 and
// RFC 9091): the Author Domain from the RFC5322.From field, policy discovery
// by the DNS Tree Walk (§4.10), the Organizational Domain (§4.10.2),
// identifier alignment (§3.2.10, §4.4) and the p/sp/np choice with t=y.
//
// It does not send reports and does not decide what happens to a message:
// it returns a Result whose words are those of RFC 8601 (pass, fail, none,
// temperror, permerror); package policy turns that into an action.
//
// DNS goes through the narrow Resolver interface, which *dns.Resolver
// satisfies; tests use a fake returning dns.NewError values.
package dmarc
