// Package send delivers DMARC reports: an SMTP Mailer that hands each
// message to one configured relay (RFC 5321; STARTTLS RFC 3207 and AUTH
// RFC 4954 optional), the classification of its failures into permanent
// (5xx) and temporary, the verification of external report destinations
// (RFC 9990 §4, also used for failure reports, RFC 9991 §5), and DKIM
// signing of the report mail (RFC 6376) with auth/dkim's signer.
//
// It knows nothing of the report store: the caller decides what to send,
// when to retry and what to suppress.
package send
