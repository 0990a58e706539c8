package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/authmilter/authmilter/auth"
	"github.com/authmilter/authmilter/auth/dkim"
	"github.com/authmilter/authmilter/auth/dmarc"
	"github.com/authmilter/authmilter/auth/dns"
	"github.com/authmilter/authmilter/auth/policy"
	"github.com/authmilter/authmilter/auth/report/failure"
	"github.com/authmilter/authmilter/auth/report/send"
)

// failureReporter sends DMARC failure reports (RFC 9991;
// reports.failure_enabled): at end of message the facts go into the
// Sender's bounded queue, and its goroutine decides, verifies, limits and
// sends.
type failureReporter struct {
	s *failure.Sender
}

// Fixed tunings of failure reports; the keys are the failure_* ones.
const (
	failureMaxURIs     = 5                // ruf URIs tried per record
	failureMaxKeys     = 10000            // destinations and incidents remembered
	failureRetryAfter  = 10 * time.Minute // after a temporary verification or send error
	failureMaxAttempts = 6
	failureMaxRetries  = 1000
	failureTimeout     = 30 * time.Second
	failureVerifyTTL   = time.Hour
)

// failureTransport returns the Mailer and the external-destination
// Verifier of failure reports: the SMTP relay of [reports] (DKIM-signed
// when reports.dkim_key is set), and the RFC 9991 §5 / RFC 9990 §4 check
// of report destinations through the daemon's resolver.
func failureTransport(cfg ReportsConfig, r send.Resolver) (failure.Mailer, failure.Verifier, error) {
	if cfg.SMTP == "" {
		return nil, nil, errors.New(`reports.failure_enabled: needs reports.smtp (the relay), which is ""`)
	}
	m, err := cfg.mailer()
	if err != nil {
		return nil, nil, err
	}
	opts, err := cfg.signOptions()
	if err != nil {
		return nil, nil, err
	}
	var mailer failure.Mailer = m
	if len(opts.Keys) > 0 {
		mailer = signingMailer{m, opts}
	}
	return mailer, verifier(r), nil
}

// verifier adapts send.Verify to the failure Sender: a destination counts
// as verified only when the owner's record names it; when the record's
// override names other addresses, nothing is sent to this one (we never
// send where the owner did not agree). A temporary DNS error is an error:
// the Sender tries later.
func verifier(r send.Resolver) failure.Verifier {
	return func(ctx context.Context, policyDomain, uri string) (bool, error) {
		uris, err := send.Verify(ctx, r, policyDomain, uri)
		switch {
		case errors.Is(err, send.ErrTemporary):
			return false, err
		case err != nil:
			return false, nil
		}
		want, err := send.MailtoAddress(uri)
		if err != nil {
			return false, nil
		}
		for _, u := range uris {
			if a, err := send.MailtoAddress(u); err == nil && strings.EqualFold(a, want) {
				return true, nil
			}
		}
		return false, nil
	}
}

// signingMailer DKIM-signs each report before it is sent.
type signingMailer struct {
	m    failure.Mailer
	opts dkim.SignOptions
}

func (s signingMailer) Send(ctx context.Context, from string, to []string, msg []byte) error {
	signed, err := send.Sign(msg, s.opts)
	if err != nil {
		return err
	}
	return s.m.Send(ctx, from, to, signed)
}

// startFailure starts failure reports when they are on, with the daemon's
// transport, and registers their metrics.
func (rp *reporter) startFailure(cfg Config, res *dns.Resolver, log *slog.Logger, reg *prometheus.Registry) error {
	if !cfg.Reports.Enabled || !cfg.Reports.FailureEnabled {
		return nil
	}
	m, v, err := failureTransport(cfg.Reports, res)
	if err != nil {
		return err
	}
	if rp.fail, err = newFailureReporter(cfg.Reports, cfg.HostName, m, v, res.LookupTXT, log); err != nil {
		return err
	}
	reg.MustRegister(failureCollector{rp.fail})
	return nil
}

// newFailureReporter starts the failure reports' Sender; nil, nil when
// they are off. hostName is the Reporting-MTA; lookupTXT finds SPF records
// for SPF-DNS (nil: none).
func newFailureReporter(cfg ReportsConfig, hostName string, m failure.Mailer, v failure.Verifier,
	lookupTXT func(context.Context, string) ([]string, error), log *slog.Logger) (*failureReporter, error) {
	if !cfg.Enabled || !cfg.FailureEnabled {
		return nil, nil
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("reports: redaction key: %w", err)
	}
	s, err := failure.NewSender(failure.Config{
		QueueLen: cfg.FailureQueueLen, RatePerHour: cfg.FailureRatePerHour, Merge: cfg.FailureMerge,
		MaxURIs: failureMaxURIs, MaxKeys: failureMaxKeys, RetryAfter: failureRetryAfter,
		MaxAttempts: failureMaxAttempts, MaxRetries: failureMaxRetries, Timeout: failureTimeout,
		VerifyTTL: failureVerifyTTL, From: cfg.from(), UserAgent: "authmilter/" + version,
		ReportingMTA: hostName, RedactKey: key, LookupTXT: lookupTXT,
	}, m, v, log.With("component", "failure-reports"))
	if err != nil {
		return nil, err
	}
	return &failureReporter{s: s}, nil
}

// messageDone offers each author domain whose applied record may ask for
// failure reports (a final result, a ruf tag) to the Sender. Nothing else
// is allocated and nothing waits; the fo and psd rules are the Sender's.
func (f *failureReporter) messageDone(r *auth.Report, action string) {
	if f == nil || r == nil || r.Skipped != "" || action == string(policy.Tempfail) {
		return // a tempfailed message comes back
	}
	if len(r.PerAuthor) == 0 {
		f.offer(r, &r.DMARC, action)
		return
	}
	for i := range r.PerAuthor {
		f.offer(r, &r.PerAuthor[i], action)
	}
}

func (f *failureReporter) offer(r *auth.Report, res *dmarc.Result, action string) {
	if res.RecordDomain == "" || (res.Result != dmarc.ResultFail && res.Result != dmarc.ResultPass) || !hasRUF(res.Record) {
		return
	}
	ip, _ := netip.AddrFromSlice(r.Envelope.ClientIP)
	inc := &failure.Incident{
		Input: failure.Input{Result: *res, SPF: failure.SPF{Domain: r.SPF.Domain, Result: string(r.SPF.Result)},
			DKIM: make([]failure.DKIM, len(r.DKIM))},
		Arrival: time.Now(), SourceIP: ip.Unmap(), SourcePort: r.Envelope.ClientPort, MailFrom: r.Envelope.MailFrom,
		AuthResults: r.Header, Delivery: deliveryResult(action),
		Header: r.RawHeader, HeaderTruncated: r.HeaderCut,
	}
	for i, d := range r.DKIM {
		inc.DKIM[i] = failure.DKIM{Domain: d.Domain, Identifier: d.Identifier, Selector: d.Selector, Result: string(d.Result)}
	}
	f.s.Offer(inc)
}

// hasRUF says, without allocating, whether a record's text has a ruf tag
// (case-insensitive): the cheap test before anything is built.
func hasRUF(rec string) bool {
	for i := 0; i+3 <= len(rec); i++ {
		if (rec[i]|0x20) != 'r' || (rec[i+1]|0x20) != 'u' || (rec[i+2]|0x20) != 'f' {
			continue
		}
		if i > 0 && rec[i-1] != ';' && rec[i-1] != ' ' && rec[i-1] != '\t' {
			continue
		}
		for j := i + 3; j < len(rec); j++ {
			if rec[j] == '=' {
				return true
			}
			if rec[j] != ' ' && rec[j] != '\t' {
				break
			}
		}
	}
	return false
}

// deliveryResult is RFC 6591 Delivery-Result for the action taken.
func deliveryResult(action string) string {
	switch policy.Action(action) {
	case policy.Accept:
		return "delivered"
	case policy.Quarantine:
		return "spam"
	case policy.Reject:
		return "reject"
	}
	return "other"
}

// stop ends the Sender; what waits is abandoned and counted.
func (f *failureReporter) stop(log *slog.Logger, d time.Duration) {
	if f == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if err := f.s.Close(ctx); err != nil {
		log.Warn("failure reports: a report was still being sent at exit", "err", err)
	}
}

// failureCollector exports the Sender's counters.
type failureCollector struct{ f *failureReporter }

var descFailure = prometheus.NewDesc("authmilter_dmarc_failure_reports_total",
	"DMARC failure reports (RFC 9991) by outcome: queued, dropped_queue_full (at end of message), not_requested (no ruf, psd=y, fo not met), merged (like an incident already reported), unsupported_uri, suppressed_unverified, suppressed_rate, sent, failed, retried, dropped_retry, abandoned.",
	[]string{"result"}, nil)

func (c failureCollector) Describe(ch chan<- *prometheus.Desc) { ch <- descFailure }

func (c failureCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.f.s.Stats()
	for _, kv := range []struct {
		k string
		v uint64
	}{
		{"queued", s.Queued}, {"dropped_queue_full", s.DroppedQueueFull}, {"not_requested", s.NotRequested},
		{"merged", s.Merged}, {"unsupported_uri", s.Unsupported}, {"suppressed_unverified", s.Unverified},
		{"suppressed_rate", s.RateLimited}, {"sent", s.Sent}, {"failed", s.Failed}, {"retried", s.Retried},
		{"dropped_retry", s.DroppedRetries}, {"abandoned", s.Abandoned},
	} {
		ch <- prometheus.MustNewConstMetric(descFailure, prometheus.CounterValue, float64(kv.v), kv.k)
	}
}
