// Package tlspolicy answers Postfix's smtp_tls_policy_maps over the
// socketmap protocol (socketmap_table(5)): for a next-hop domain, DANE
// (RFC 7672) when the domain's MX hosts have DNSSEC-validated TLSA
// records, which takes precedence over MTA-STS (RFC 8461 section 2); else
// the domain's MTA-STS policy (package mtasts) from a cache persisted to
// a file, so that a restart never forgets an enforced policy; else
// NOTFOUND, and Postfix applies its own smtp_tls_security_level.
//
// Answers use only the vocabulary of the Postfix version configured:
// servername= needs 3.4, the TLS-RPT attributes (policy_type=sts ...)
// need 3.10 and make older versions defer every delivery.
package tlspolicy
