package schedule

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/authmilter/authmilter/auth/report/send"
	"github.com/authmilter/authmilter/auth/report/store"
)

// Bounce suppresses, for SuppressFor from now, each failed recipient of a
// delivery status notification about one of our reports: the DSN must
// return the report's Message-ID (<Report-ID@submitter>, sent with
// RET=HDRS), and the recipient must be a destination of that report or of
// its host (a verification record may have replaced the address, RFC
// 9990 §4). Anything else is ignored, so that a forged DSN cannot silence
// another destination. It returns the addresses suppressed.
func (s Sender) Bounce(ctx context.Context, d send.DSN, now time.Time) ([]string, error) {
	s = s.defaults()
	id, submitter, ok := strings.Cut(d.MessageID, "@")
	if !ok || !strings.EqualFold(submitter, s.Meta.Submitter) || len(d.Failed) == 0 {
		return nil, nil
	}
	rep, err := s.Store.Report(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	hosts := map[string]bool{}
	for _, a := range Recipients(rep.Dests) {
		_, h, _ := strings.Cut(a, "@")
		hosts[strings.ToLower(h)] = true
	}
	var done []string
	for _, b := range d.Failed {
		_, h, _ := strings.Cut(b.Recipient, "@")
		if !hosts[strings.ToLower(h)] {
			continue
		}
		reason := strings.TrimSpace("bounce " + b.Status + " " + b.Diagnostic)
		if err := s.Store.Suppress(ctx, b.Recipient, now.Add(s.SuppressFor), reason); err != nil {
			return done, err
		}
		s.Log.Info("dmarc report bounced: destination suppressed", "report", id, "address", b.Recipient,
			"status", b.Status, "until", now.Add(s.SuppressFor).UTC().Format(time.RFC3339))
		done = append(done, b.Recipient)
	}
	return done, nil
}
