// Package failure builds DMARC failure reports (RFC 9991): it decides
// whether a message earns one (the applied record's ruf and fo tags,
// RFC 9989 §4.7), writes it in the Authentication Failure Reporting Format
// (AFRF: RFC 6591 on ARF, RFC 5965, as RFC 9991 §4 updates it) with the
// original header only and every local-part redacted (RFC 6590), and sends
// it through a bounded queue with a per-destination rate limit, a merge of
// like incidents and only to verified destinations (RFC 9991 §2, §5).
//
// Decide, Build and the Redactor do no I/O. The Sender calls the Mailer
// and Verifier it is given; it never talks SMTP or DNS itself.
//
// Section numbers cite RFC 9991 unless another RFC is named.
package failure
