package milter

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/textproto"
	"runtime/debug"
	"strings"

	gomilter "github.com/emersion/go-milter"

	"github.com/authmilter/authmilter/auth"
)

// connFacts are what one SMTP session told us before any message: they
// survive every message of the session.
type connFacts struct {
	clientIP   net.IP
	clientPort uint16 // the client's TCP port; 0 when not TCP
	clientName string // the MTA's name for the client ("unknown" when unverified)
	helo       string
	queueID    string   // the last queue id seen ({i}), refreshed per message
	mtaHost    string   // the MTA's own host name ({j}, sent at connect)
	daemonName string   // the MTA listener's name ({daemon_name}, sent at connect)
	tls        auth.TLS // the transport (tls.go), from HELO and MAIL macros
}

// session is the go-milter handler for one milter connection. Because every
// reply is a *reply (Continue() true), go-milter keeps this handler for the
// whole connection.
type session struct {
	srv   *Server
	conn  *trackedConn
	log   *slog.Logger
	facts connFacts
	msg   *message
	// failed says why the session's messages cannot be evaluated: a
	// no-reply stage's callback failed outside a message (connect or
	// HELO), or the connect address did not parse. It could not be
	// answered there, so the messages are answered with the failure action.
	failed string
	// acceptedAtMail: the message in progress was accepted at MAIL FROM
	// (not evaluated); an end of message for it gets accept again.
	acceptedAtMail bool
}

func newSession(s *Server, c *trackedConn) *session {
	return &session{srv: s, conn: c, log: s.log}
}

// macros copies what we need from a macro map before go-milter replaces it.
func (s *session) macros(m *gomilter.Modifier) {
	if m == nil || m.Macros == nil {
		return
	}
	if v := m.Macros["i"]; v != "" {
		s.facts.queueID = v
		if s.msg != nil {
			s.msg.env.QueueID = v
		}
	}
	if v := m.Macros["j"]; v != "" {
		s.facts.mtaHost = v
	}
	if v := m.Macros["{daemon_name}"]; v != "" {
		s.facts.daemonName = v
	}
	if s.msg != nil {
		if v := m.Macros["{auth_authen}"]; v != "" {
			s.msg.env.AuthUser = v
		}
	}
}

// guard turns a panic in a callback into the configured failure reply, with
// a log line, instead of a dropped connection.
func (s *session) guard(stage string, resp *gomilter.Response, err *error) {
	v := recover()
	if v == nil {
		return
	}
	s.log.Error("internal error; answering with the failure action",
		"stage", stage, "panic", fmt.Sprint(v), "queue_id", s.facts.queueID, "stack", string(debug.Stack()))
	if s.msg != nil {
		s.msg.failed = fmt.Sprintf("internal error at %s", stage)
	} else if noReply(stage) {
		s.failed = "internal error at " + stage
	}
	*err = nil
	if noReply(stage) {
		// The MTA waits for no reply at this stage; a message in flight
		// is answered with the failure action at end of message.
		*resp = nil
		return
	}
	if stage == "eom" || s.msg == nil {
		*resp = s.failureReply()
		s.endMessage()
		return
	}
	*resp = replyContinue // the failure is answered at end of message
}

// noReplySteps are the steps negotiated without a reply (SMFIP_NR_*, see
// Server.Serve): the stage name guard is given, and the option. Their
// handlers return a nil Response, and go-milter (patched) writes no reply
// to these commands whatever it would answer itself; the MTA streams the message without waiting a round trip per
// stage, header and chunk. MAIL keeps its reply: trusted and authenticated
// clients are accepted there, before their message is sent.
var noReplySteps = []struct {
	stage string
	opt   gomilter.OptProtocol
}{
	{"connect", gomilter.OptNoConnReply},
	{"helo", gomilter.OptNoHeloReply},
	{"rcpt", gomilter.OptNoRcptReply},
	{"header", gomilter.OptNoHeaderReply},
	{"eoh", gomilter.OptNoEOHReply},
	{"body", gomilter.OptNoBodyReply},
}

// noReplyOptions are the SMFIP_NR_* options of noReplySteps.
func noReplyOptions() (opts gomilter.OptProtocol) {
	for _, st := range noReplySteps {
		opts |= st.opt
	}
	return opts
}

// noReply reports whether the MTA expects no reply at a stage.
func noReply(stage string) bool {
	for _, st := range noReplySteps {
		if st.stage == stage {
			return true
		}
	}
	return false
}

// failureReply answers a message that could not be evaluated with the
// policy's internal_error_action (default tempfail 451 4.3.0).
func (s *session) failureReply() *reply {
	return finalReply(s.srv.eval.Load().FailureDecision())
}

// Connect is go-milter's connect callback; go-milter (patched) calls
// ConnectAddr instead, with the address as the MTA sent it.
func (s *session) Connect(host, family string, port uint16, addr net.IP, m *gomilter.Modifier) (gomilter.Response, error) {
	return s.ConnectAddr(host, family, port, ipString(addr), m)
}

// ConnectAddr takes the client's name and address. A TCP client's address
// that does not parse (parseClientAddr) is logged, and the session's
// messages are answered with the failure action: without it SPF would be
// "none" and trusted_networks would not match.
func (s *session) ConnectAddr(host, family string, port uint16, addr string, m *gomilter.Modifier) (resp gomilter.Response, err error) {
	defer s.guard("connect", &resp, &err)
	s.macros(m)
	s.facts.clientName = host
	s.facts.clientIP, s.facts.clientPort = nil, 0
	if family == "tcp4" || family == "tcp6" {
		s.facts.clientPort = port
		ip, perr := parseClientAddr(addr)
		if perr != nil {
			s.log.Error("client address not understood; its messages get the failure action",
				"family", family, "addr", truncate(addr, 100), "client_name", host)
			s.failed = fmt.Sprintf("client address %q not understood", truncate(addr, 100))
		}
		s.facts.clientIP = ip
	}
	// SMFIP_NR_CONN: no reply. A trusted client is accepted at MAIL, with
	// its message not sent to us (see MailFrom).
	return nil, nil
}

func (s *session) Helo(name string, m *gomilter.Modifier) (resp gomilter.Response, err error) {
	defer s.guard("helo", &resp, &err)
	s.macros(m)
	s.tlsMacrosAt(m, true)
	s.facts.helo = name
	return nil, nil // SMFIP_NR_HELO: no reply
}

func (s *session) MailFrom(from string, m *gomilter.Modifier) (resp gomilter.Response, err error) {
	return s.MailFromArgs(from, nil, m)
}

// MailFromArgs is go-milter's (patched) MAIL callback with the ESMTP
// parameters after the address.
func (s *session) MailFromArgs(from string, args []string, m *gomilter.Modifier) (resp gomilter.Response, err error) {
	defer s.guard("mail", &resp, &err)
	s.endMessage() // a second MAIL FROM without end of message
	s.tlsMacrosAt(m, false)
	s.startMessage(from)
	s.msg.env.RequireTLS = hasRequireTLS(args)
	s.macros(m)
	if s.msg.startSigning() {
		return replyContinue, nil // signed at end of message (sign.go)
	}
	s.msg.begin()
	if why := s.msg.am.Skipped(); why != "" {
		// A client in trusted_networks (policy.skip_trusted) or a
		// SASL-authenticated one (policy.skip_authenticated): accepted
		// here, the MTA does not send us the message.
		if s.log.Enabled(context.Background(), slog.LevelDebug) {
			s.log.Debug("message not evaluated", "reason", why, "queue_id", s.facts.queueID,
				"client", ipString(s.facts.clientIP), "auth_user", s.msg.env.AuthUser)
		}
		if s.srv.obs != nil {
			s.srv.obs.MessageSkipped(why)
		}
		s.endMessage()
		s.acceptedAtMail = true
		return replyAccept, nil
	}
	return replyContinue, nil
}

func (s *session) RcptTo(rcptTo string, m *gomilter.Modifier) (resp gomilter.Response, err error) {
	defer s.guard("rcpt", &resp, &err)
	s.macros(m)
	return nil, nil // SMFIP_NR_RCPT: no reply
}

func (s *session) Header(name, value string, m *gomilter.Modifier) (resp gomilter.Response, err error) {
	defer s.guard("header", &resp, &err)
	if s.msg == nil {
		return nil, nil
	}
	if name == "" || strings.IndexByte(value, 0) >= 0 {
		// The MTA sent a packet that is not "name NUL value NUL". The
		// field goes to the evaluation as received, not dropped: DKIM
		// hashes what the MTA will deliver, and a From field with a NUL
		// is a malformed From (policy.from_malformed_action).
		s.log.Warn("malformed header field from the MTA (no name, or a NUL byte in the value); evaluated as received",
			"queue_id", s.facts.queueID, "field", truncate(name, 100))
	}
	if s.msg.sign != nil {
		s.msg.sign.Header(name, value)
	} else {
		s.msg.am.Header(name, value)
	}
	return nil, nil // SMFIP_NR_HDR: no reply
}

func (s *session) Headers(h textproto.MIMEHeader, m *gomilter.Modifier) (resp gomilter.Response, err error) {
	defer s.guard("eoh", &resp, &err)
	s.macros(m)
	if s.msg != nil && s.msg.sign != nil {
		s.msg.sign.EndHeaders()
	} else if s.msg != nil {
		s.msg.am.EndHeaders()
	}
	return nil, nil // SMFIP_NR_EOH: no reply
}

func (s *session) BodyChunk(chunk []byte, m *gomilter.Modifier) (resp gomilter.Response, err error) {
	defer s.guard("body", &resp, &err)
	if s.msg != nil && s.msg.sign != nil {
		s.msg.sign.Body(chunk)
	} else if s.msg != nil {
		s.msg.am.Body(chunk) // consumed before it returns: go-milter reuses chunk's buffer
	}
	return nil, nil // SMFIP_NR_BODY: no reply
}

func (s *session) Body(m *gomilter.Modifier) (resp gomilter.Response, err error) {
	defer s.guard("eom", &resp, &err)
	s.macros(m)
	if s.msg == nil {
		if s.acceptedAtMail {
			// Accepted at MAIL FROM: the MTA should not have sent the
			// message, and the answer stands.
			s.acceptedAtMail = false
			return replyAccept, nil
		}
		// Out of order: no MAIL FROM before it, or a second end of
		// message. Nothing was evaluated, so it is never accepted.
		s.log.Error("end of message without a message in progress (no MAIL FROM, or a second end of message); answering tempfail",
			"queue_id", s.facts.queueID)
		return replyTempFail, nil
	}
	r := s.msg.finish(m)
	s.msg.drop()
	s.msg = nil
	s.conn.lastEOM.Store(true) // busy until the final reply is written
	return r, nil
}

func (s *session) Abort(m *gomilter.Modifier) error {
	defer func() {
		if v := recover(); v != nil {
			s.log.Error("internal error at abort", "panic", fmt.Sprint(v))
		}
	}()
	s.endMessage()
	return nil
}

// startMessage creates the per-message state at MAIL FROM.
func (s *session) startMessage(from string) {
	s.msg = newMessage(s, from)
	if s.failed != "" {
		s.msg.failed = s.failed
	}
	s.conn.busy.Store(true)
}

// endMessage drops the per-message state (end of message, abort, or a new
// MAIL FROM); background work for an unfinished message is cancelled.
func (s *session) endMessage() {
	s.acceptedAtMail = false
	if s.msg != nil {
		s.msg.drop()
		s.msg = nil
	}
	s.conn.busy.Store(false)
}

// truncate shortens s to at most n bytes for a log line.
func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
