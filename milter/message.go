package milter

import (
	"cmp"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"strings"
	"time"

	gomilter "github.com/emersion/go-milter"

	"github.com/authmilter/authmilter/auth"
	"github.com/authmilter/authmilter/auth/policy"
)

// message is the per-message state, from MAIL FROM to end of message.
type message struct {
	s      *session
	eval   *auth.Evaluator // the evaluator in force at MAIL FROM
	env    auth.Envelope
	am     *auth.Message
	sign   *auth.SignMessage // a signing client's message (sign.go); am is nil then
	start  time.Time
	failed string // set when a callback failed: answered with the failure action
}

func newMessage(s *session, from string) *message {
	return &message{
		s:     s,
		eval:  s.srv.eval.Load(),
		start: time.Now(),
		env: auth.Envelope{
			ClientIP:   s.facts.clientIP,
			ClientPort: s.facts.clientPort,
			ClientName: s.facts.clientName,
			Helo:       s.facts.helo,
			MailFrom:   from,
			QueueID:    s.facts.queueID,
			MTAHost:    s.facts.mtaHost,
			TLS:        &s.facts.tls,
			DaemonName: s.facts.daemonName,
		},
	}
}

// begin starts the evaluation: SPF runs in the background from here on.
func (m *message) begin() {
	m.am = m.eval.NewMessage(context.Background(), m.env)
}

// drop releases the message's background work.
func (m *message) drop() {
	if m.am != nil {
		m.am.Abort()
	}
}

// finish joins the results, edits the header and returns the final reply.
// Header changes go out through md (go-milter, patched, holds them and
// sends them in one write with the reply).
func (m *message) finish(md *gomilter.Modifier) *reply {
	eom := time.Now() // authmilter_eom_latency_seconds counts from here
	if m.failed != "" {
		m.s.log.Error("message not evaluated", "queue_id", m.env.QueueID, "reason", m.failed)
		return m.s.failureReply()
	}
	if m.sign != nil {
		return m.finishSign(md)
	}
	r := m.am.Finish(context.Background())
	d := r.Decision
	if r.Skipped == "" {
		// Forged Authentication-Results with our authserv-id go first,
		// highest index first so the remaining indices stay valid
		// (1-based, counted per field name).
		for i := len(r.Forged) - 1; i >= 0; i-- {
			if err := md.ChangeHeader(r.Forged[i], fieldAR, ""); err != nil {
				return m.writeFailed(err)
			}
		}
		// Signature results go below ours, each in a field of its own:
		// inserted first, at the top, they end up after it.
		if r.Header != "" {
			if err := insertTop(md, fieldAR, r.SignatureHeaders...); err != nil {
				return m.writeFailed(err)
			}
			if err := insertTop(md, fieldAR, r.Header); err != nil {
				return m.writeFailed(err)
			}
		}
		if d.Action == policy.Quarantine {
			if err := m.quarantine(md, d); err != nil {
				return m.writeFailed(err)
			}
		}
		if err := m.seal(md, r); err != nil {
			return m.writeFailed(err)
		}
	}
	m.logResult(r)
	if m.s.srv.obs != nil {
		m.s.srv.obs.MessageDone(r, string(d.Action), time.Since(eom))
	}
	return finalReply(d)
}

func (m *message) quarantine(md *gomilter.Modifier, d policy.Decision) error {
	switch d.Quarantine {
	case policy.QuarantineHeader:
		return md.InsertHeader(0, fieldQuarantine, quarantineValue(d.Reason))
	case policy.QuarantineAccept:
		return nil
	default:
		return md.Quarantine(safeText(orDefault(d.Reason, "DMARC quarantine")))
	}
}

func (m *message) writeFailed(err error) *reply {
	m.s.log.Error("writing header changes failed", "queue_id", m.env.QueueID, "err", err)
	return m.s.failureReply()
}

// logResult writes the one info line per message.
func (m *message) logResult(r *auth.Report) {
	if !m.s.log.Enabled(context.Background(), slog.LevelInfo) {
		return // log.level above info: not even the line's fields are built
	}
	attrs := []any{
		"queue_id", m.env.QueueID,
		"client", ipString(m.env.ClientIP),
		"helo", m.env.Helo,
		"mail_from_domain", domainOf(m.env.MailFrom),
		"from_domain", strings.Join(r.Authors, ","),
		"action", string(r.Decision.Action),
		"ms", time.Since(m.start).Milliseconds(),
	}
	if r.Decision.DryRun {
		// What was done (action, always accept) and what would have
		// been done are separate fields.
		attrs = append(attrs, "dry_run_action", string(cmp.Or(r.Decision.WouldBe, policy.Accept)))
	}
	if r.Skipped != "" {
		attrs = append(attrs, "skipped", r.Skipped)
	} else {
		attrs = append(attrs, "spf", string(r.SPF.Result), "dmarc", r.DMARC.Result, "dmarc_policy", r.DMARC.Policy)
		attrs = arcAttrs(attrs, r)
		if len(r.DKIM) > 0 {
			dk := make(dkimResults, len(r.DKIM))
			for i, k := range r.DKIM {
				dk[i] = string(k.Result) + ":" + k.Domain
			}
			attrs = append(attrs, "dkim", dk) // one key, however many signatures
		}
		attrs = appendSignatures(attrs, r.Signatures)
		if r.Decision.Reason != "" {
			attrs = append(attrs, "reason", r.Decision.Reason)
		}
		if r.Problem != "" {
			attrs = append(attrs, "problem", r.Problem)
		}
		attrs = tlsAttrs(attrs, r)
	}
	m.s.log.Info("message", attrs...)
}

// dkimResults are the log line's DKIM results ("pass:example.com"): a JSON
// array, or comma-separated in text.
type dkimResults []string

func (d dkimResults) MarshalText() ([]byte, error) { return []byte(strings.Join(d, ",")), nil }
func (d dkimResults) MarshalJSON() ([]byte, error) { return json.Marshal([]string(d)) }

func ipString(ip net.IP) string {
	if ip == nil {
		return ""
	}
	return ip.String()
}

func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return strings.ToLower(addr[i+1:])
	}
	return ""
}
