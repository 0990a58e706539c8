// Package tlsreq decides whether a message meets the transport security a
// sending domain is configured to require ([[tls.require]]): TLS, a
// minimum TLS version, or a client certificate verified by the MTA and
// pinned by name or issuer. It is pure: configuration and plain facts in,
// an Outcome out; the caller turns an enforced shortfall into a decision
// (auth/policy).
//
// TLS belongs to the last hop: a shortfall is acted on only when the
// connecting host is proven to send for the domain (SPF pass for the MAIL
// FROM domain, or a verified client certificate matching the rule's pins).
// A domain authenticated only by DKIM or DMARC may have come through a
// list or forwarder whose hop was plaintext: the shortfall is recorded, not
// acted on. The null sender and TLS reports (RFC 8460 §5.3, which may be
// sent without TLS) are exempt.
package tlsreq
