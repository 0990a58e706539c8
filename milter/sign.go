package milter

import (
	"context"
	"log/slog"
	"strings"
	"time"

	gomilter "github.com/emersion/go-milter"
)

// Outbound signing: a signing client's message (auth.Evaluator.SignsClient:
// SASL-authenticated, trusted_networks or a signing listener, while
// [[dkim.sign]] keys are configured) continues past MAIL FROM, is not
// evaluated, and gets its DKIM-Signature fields at end of message.

const fieldDKIMSignature = "DKIM-Signature"

// skipReasonSigning is the skipped-messages metric's reason for messages
// of signing clients (signed or not, they are not evaluated).
const skipReasonSigning = "signing client"

// startSigning makes m a message to sign when it comes from a signing
// client, and reports whether it did. Called at MAIL FROM, before the
// evaluation would start.
func (m *message) startSigning() bool {
	if m.failed != "" || !m.eval.SignsClient(m.env) {
		return false
	}
	m.sign = m.eval.NewSignMessage(m.env)
	return true
}

// finishSign adds the signatures above the header and accepts the message.
// The value sent starts with a space: with the leading-space option
// negotiated the MTA stores "DKIM-Signature:" + value as sent, and the
// signature hashed "DKIM-Signature: " + value (c=simple depends on it).
func (m *message) finishSign(md *gomilter.Modifier) *reply {
	r := m.sign.Finish()
	log := m.s.log
	attrs := []any{"queue_id", m.env.QueueID, "client", ipString(m.env.ClientIP),
		"auth_user", m.env.AuthUser, "daemon", m.env.DaemonName, "from_domain", r.Domain}
	if r.NotSigned != "" {
		log.Info("message not signed", append(attrs, "reason", r.NotSigned, "ms", time.Since(m.start).Milliseconds())...)
	} else {
		if err := insertTop(md, fieldDKIMSignature, r.Signatures...); err != nil {
			return m.writeFailed(err)
		}
		for _, w := range r.Warnings {
			log.Warn("signed message may not verify on arrival", append(attrs, "problem", w)...)
		}
		if log.Enabled(context.Background(), slog.LevelInfo) {
			log.Info("message signed", append(attrs, "signatures", strings.Join(r.Selectors, ","),
				"ms", time.Since(m.start).Milliseconds())...)
		}
	}
	if m.s.srv.obs != nil {
		m.s.srv.obs.MessageSkipped(skipReasonSigning)
	}
	return replyAccept
}
