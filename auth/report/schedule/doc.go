// Package schedule builds the DMARC aggregate reports (RFC 9990) whose
// periods have ended, from the counts in a report store, and composes the
// e-mail each one is sent in (§3.5.2).
package schedule
