// Package schedule builds the DMARC aggregate reports (RFC 9990) whose
// periods have ended, from the counts in a report store, composes the
// e-mail each one is sent in (§3.5.2), and sends them (Sender): each
// destination verified (§4), in its own SMTP transaction, DKIM-signed when
// a key is given, with backoff, suppression after permanent failures and
// bounces, and a daily cap per address.
package schedule
