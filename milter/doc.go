// Package milter adapts github.com/emersion/go-milter to auth: it keeps
// per-connection facts (conn.go) across every message of one SMTP session,
// per-message state from MAIL FROM to end of message (message.go), and turns
// a policy decision into milter header changes and a reply (respond.go).
//
// Two facts about go-milter v0.5.0 shape it. go-milter builds a new handler
// after any response whose Continue() is false, so every response here is
// our own type whose Continue() is true: the handler, and with it the
// connection's client address and HELO, lives as long as the milter
// connection. And go-milter replaces its whole macro map on each macro
// packet, so the macros we need are copied when they arrive.
package milter
