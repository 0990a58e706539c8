// Package milter adapts github.com/emersion/go-milter to auth: it keeps
// per-connection facts (conn.go) across every message of one SMTP session,
// per-message state from MAIL FROM to end of message (message.go), and turns
// a policy decision into milter header changes and a reply (respond.go).
//
// Two facts about go-milter v0.5.0 shape it. go-milter builds a new handler
// after any response whose Continue() is false, so every response here is
// our own type whose Continue() is true: the handler, and with it the
// connection's client address and HELO, lives as long as the milter
// connection. And go-milter's macro map holds only the last macro packet's
// macros (patched: emptied and refilled, not replaced), so the macros we
// need are copied when they arrive.
//
// Server runs its own accept loop (transport.go: back-off on accept errors,
// milter.max_connections) and serves each connection with go-milter's
// ServeConn on a kept goroutine; when that returns, a message whose MTA went
// away (or sent QUIT mid-message) is released: its DNS lookups are
// cancelled and its DKIM goroutine ends.
//
// The patched go-milter (milter/third_party/go-milter, PATCH.md) writes no
// reply to a command negotiated without one, even those it answers itself,
// drops a message's header fields at end of message (v0.5.0 kept them
// until ABORT, which Sendmail does not send then), cuts off a packet that
// does not arrive whole within idle_timeout, and sends the header changes
// with the final reply in one write.
//
// The tests run go-milter's client against a Server on 127.0.0.1 with DNS
// from auth/dns/dnstest: the DKIM corpus as Postfix presents it, sessions
// (rejections, SASL, ABORT at every stage), faults (DNS down, SERVFAIL,
// drops, delays, truncation; the MTA leaving; slow peers) with goroutine
// and descriptor leak checks, hostile input, security rules, 500 sessions
// for 3 s (the 60 s soak with AUTHMILTER_SOAK=1, any length with
// AUTHMILTER_LOAD_SECONDS; skipped with -short), shutdown under load, and
// FuzzSession.
package milter
