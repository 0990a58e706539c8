// Package auth evaluates one message: SPF (RFC 7208) for the MAIL FROM and
// HELO identities, DKIM (RFC 6376, RFC 8301, RFC 8463) for every signature,
// DMARC (RFC 9989) for the author domain, the local policy decision, and the
// Authentication-Results header (RFC 8601) to add.
//
// It is the one entry point that both the milter adapter and the offline
// `authmilter check message` command call. A Message is fed as the message
// arrives: NewMessage at MAIL FROM (SPF starts at once), Header for each
// header field as received, EndHeaders (DKIM key lookups start), Body for each
// chunk (hashed as it arrives), then Finish joins the results. Nothing here
// knows about milters.
package auth
