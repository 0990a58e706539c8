// Package policy turns results into what happens to a message: accept,
// reject, quarantine or tempfail, with the SMTP reply. It is pure: plain
// fields in (Input), a Decision out, no I/O, so that every path is table
// tested.
//
// Defaults follow the published DMARC policy (RFC 9989 §5.4, §7.2): a fail
// under reject is rejected with "550 5.7.1 DMARC policy of <domain> rejects
// this message", under quarantine quarantined, under none accepted; a
// temperror is answered "451 4.7.1" like OpenDMARC, unless the domain's
// policy is known to be none (pass or fail, the mail would be accepted).
// With several Author Domains (RFC 9989 §5.3.1, §11.5) each is decided on
// its own, an allow-listed domain exempting only itself, and the strictest
// decision wins: reject, tempfail, quarantine, accept. RFC 9989 §7.4 says not
// to reject solely because of p=reject: by default a reject becomes a
// quarantine when the message has a List-Id field or the client is a
// configured trusted forwarder, and reject_action = "quarantine" never
// rejects on DMARC at all. A trusted ARC sealer (RFC 8617) that vouches for
// the author domain turns a fail's reject (or, with accept, its
// quarantine) into arc_override_action; the DMARC result stays fail, and
// Decision.Override names every local policy that changed an outcome, for
// the log and the reports. A missing, repeated or malformed From is
// rejected with "550 5.6.0" (RFC 5322 §3.6; outside DMARC, §4.2).
package policy
