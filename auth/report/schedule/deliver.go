package schedule

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/authmilter/authmilter/auth/dkim"
	"github.com/authmilter/authmilter/auth/report"
	"github.com/authmilter/authmilter/auth/report/send"
	"github.com/authmilter/authmilter/auth/report/store"
)

// Outcome is what one delivery attempt ended in.
type Outcome string

// Values of Outcome.
const (
	Sent       Outcome = "sent"       // the relay took it
	Retry      Outcome = "retry"      // temporary failure; tried again later
	Failed     Outcome = "failed"     // permanent failure, or out of attempts
	Unverified Outcome = "unverified" // the destination did not agree (RFC 9990 §4)
	Deferred   Outcome = "deferred"   // verification failed temporarily
	Suppressed Outcome = "suppressed" // every address is suppressed
	Capped     Outcome = "capped"     // the destination's daily cap is reached
)

// Outcomes lists the values of Outcome, for metrics.
var Outcomes = []Outcome{Sent, Retry, Failed, Unverified, Deferred, Suppressed, Capped}

// Sender works the delivery queue of the store: it claims each due
// delivery, verifies its destination, and hands the report mail to the
// Mailer, one transaction per destination (RFC 9990 §3.5: independent
// results, and no destination learns of another).
type Sender struct {
	Store    store.Store
	Mailer   send.Mailer
	Resolver send.Resolver
	Meta     report.Meta
	// From is the From address and the envelope sender. It should be at
	// a domain whose DMARC record has no rua, and the daemon does not
	// count mail from it into reports (no report loops).
	From string
	// Sign, when it has keys, DKIM-signs every report mail.
	Sign dkim.SignOptions
	// Owner names this sender in the store's leases.
	Owner string
	// Lease is how long a claimed delivery may take (default 5m; it must
	// outlast the Mailer's timeout).
	Lease time.Duration
	// DailyCap is the most reports one address gets per UTC day; 0 is no
	// cap.
	DailyCap int
	// RetryMin and RetryMax bound the backoff: RetryMin doubled after
	// each failed attempt, at most RetryMax (defaults 15m and 12h).
	RetryMin, RetryMax time.Duration
	// MaxAttempts ends a delivery as failed after that many attempts
	// (default 10, about three days with the default backoff).
	MaxAttempts int
	// SuppressFor is how long a permanent failure (5xx) keeps an address
	// from getting reports (default 7 days).
	SuppressFor time.Duration
	Log         *slog.Logger // may be nil
}

// Send works every delivery due at now, until none is left or ctx ends,
// and counts what each one ended in. An error is the store's; a
// delivery's own failures are outcomes.
func (s Sender) Send(ctx context.Context, now time.Time) (map[Outcome]int, error) {
	s = s.defaults()
	counts := map[Outcome]int{}
	for ctx.Err() == nil {
		d, ok, err := s.Store.ClaimDelivery(ctx, s.Owner, now, s.Lease)
		if err != nil {
			return counts, err
		}
		if !ok {
			break
		}
		o, err := s.deliver(ctx, d, now)
		if err != nil {
			return counts, err
		}
		counts[o]++
	}
	return counts, nil
}

func (s Sender) defaults() Sender {
	if s.Lease <= 0 {
		s.Lease = 5 * time.Minute
	}
	if s.RetryMin <= 0 {
		s.RetryMin = 15 * time.Minute
	}
	if s.RetryMax < s.RetryMin {
		s.RetryMax = max(12*time.Hour, s.RetryMin)
	}
	if s.MaxAttempts <= 0 {
		s.MaxAttempts = 10
	}
	if s.SuppressFor <= 0 {
		s.SuppressFor = 7 * 24 * time.Hour
	}
	if s.Log == nil {
		s.Log = slog.New(slog.DiscardHandler)
	}
	return s
}

// backoff is the wait after the attempt-th failed attempt.
func (s Sender) backoff(attempt int) time.Duration {
	d := s.RetryMin
	for i := 1; i < attempt && d < s.RetryMax; i++ {
		d *= 2
	}
	return min(d, s.RetryMax)
}

// deliver makes one attempt at a claimed delivery and ends its lease.
func (s Sender) deliver(ctx context.Context, d store.Delivery, now time.Time) (Outcome, error) {
	log := s.Log.With("report", d.ReportID, "dest", d.Dest, "attempt", d.Attempts)
	rep, err := s.Store.Report(ctx, d.ReportID)
	if err != nil {
		return "", err
	}
	// A temporary failure: retried with backoff, or failed when out of
	// attempts.
	retry := func(o Outcome, reply string) (Outcome, error) {
		if d.Attempts >= s.MaxAttempts {
			log.Warn("dmarc report delivery failed: out of attempts", "reply", reply)
			return Failed, s.Store.MarkFailed(ctx, d, "gave up after "+fmt.Sprint(d.Attempts)+" attempts: "+reply)
		}
		next := now.Add(s.backoff(d.Attempts))
		log.Info("dmarc report delivery deferred", "outcome", string(o), "reply", reply, "next", next.UTC().Format(time.RFC3339))
		return o, s.Store.MarkRetry(ctx, d, next, reply)
	}
	uris, err := send.Verify(ctx, s.Resolver, rep.PolicyDomain, d.Dest)
	switch {
	case errors.Is(err, send.ErrTemporary):
		return retry(Deferred, err.Error())
	case errors.Is(err, send.ErrURI):
		// RFC 9989 §4.7: only mailto: is defined; others are skipped.
		return Failed, s.Store.MarkFailed(ctx, d, err.Error())
	case err != nil:
		log.Info("dmarc report destination not verified", "err", err)
		return Unverified, s.Store.MarkFailed(ctx, d, "unverified: "+err.Error())
	}
	var to []string
	var why []string
	for _, u := range uris {
		a, err := send.MailtoAddress(u)
		if err != nil {
			continue
		}
		until, reason, err := s.Store.Suppressed(ctx, a, now)
		if err != nil {
			return "", err
		}
		if !until.IsZero() {
			why = append(why, a+" suppressed until "+until.Format(time.RFC3339)+" ("+reason+")")
			continue
		}
		to = append(to, a)
	}
	if len(to) == 0 {
		log.Info("dmarc report destination suppressed", "why", strings.Join(why, "; "))
		return Suppressed, s.Store.MarkFailed(ctx, d, strings.Join(why, "; "))
	}
	for _, a := range to {
		ok, err := s.Store.TakeQuota(ctx, a, now, s.DailyCap)
		if err != nil {
			return "", err
		}
		if !ok {
			next := now.UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)
			log.Info("dmarc report destination capped", "address", a, "cap", s.DailyCap, "next", next.Format(time.RFC3339))
			return Capped, s.Store.MarkRetry(ctx, d, next, fmt.Sprintf("daily cap of %d reached for %s", s.DailyCap, a))
		}
	}
	msg, err := s.message(rep, uris, now)
	if err != nil {
		log.Error("dmarc report not signed", "err", err)
		return retry(Retry, "signing: "+err.Error())
	}
	err = s.Mailer.Send(ctx, s.From, to, msg)
	switch {
	case err == nil:
		log.Info("dmarc report sent", "to", strings.Join(to, ","), "bytes", len(msg))
		return Sent, s.Store.MarkSent(ctx, d, "sent to "+strings.Join(to, ","))
	case send.IsPermanent(err):
		for _, a := range to {
			if err := s.Store.Suppress(ctx, a, now.Add(s.SuppressFor), err.Error()); err != nil {
				return "", err
			}
		}
		log.Warn("dmarc report delivery failed", "err", err, "suppressed_until", now.Add(s.SuppressFor).UTC().Format(time.RFC3339))
		return Failed, s.Store.MarkFailed(ctx, d, err.Error())
	}
	return retry(Retry, err.Error())
}

// message is the report mail for one destination: To names only it, and
// it is DKIM-signed when keys are configured.
func (s Sender) message(rep store.Built, uris []string, now time.Time) ([]byte, error) {
	rep.Dests = uris
	msg := Message(rep, s.Meta, s.From, now)
	if len(s.Sign.Keys) == 0 {
		return msg, nil
	}
	return send.Sign(msg, s.Sign)
}
