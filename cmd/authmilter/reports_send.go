package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/authmilter/authmilter/auth"
	"github.com/authmilter/authmilter/auth/report/schedule"
	"github.com/authmilter/authmilter/auth/report/send"
	"github.com/authmilter/authmilter/auth/report/store"
)

// reportJobs are the builder and the sender of [reports], as the daemon
// and "authmilter reports send" both run them.
type reportJobs struct {
	build schedule.Builder
	send  schedule.Sender
}

// newReportJobs makes the builder and the sender on st; the sender's
// mailer is the SMTP relay (nil mailer when reports.smtp is "").
func newReportJobs(rc ReportsConfig, st store.Store, res send.Resolver, log *slog.Logger) (reportJobs, error) {
	host, _ := os.Hostname()
	owner := fmt.Sprintf("%s/%d", host, os.Getpid())
	meta := reportMeta(rc)
	j := reportJobs{
		build: schedule.Builder{Store: st, Meta: meta, When: schedule.When(rc.ReportWhen), Grace: rc.Grace, Owner: owner, Log: log},
		send: schedule.Sender{Store: st, Resolver: res, Meta: meta, From: rc.from(), Owner: owner,
			DailyCap: rc.DailyCap, RetryMin: rc.RetryMin, RetryMax: rc.RetryMax, MaxAttempts: rc.MaxAttempts,
			SuppressFor: rc.SuppressFor, Lease: rc.SMTPTimeout + time.Minute, Log: log},
	}
	if rc.SMTP == "" {
		return j, nil
	}
	m, err := rc.mailer()
	if err != nil {
		return j, err
	}
	j.send.Mailer = m
	if j.send.Sign, err = rc.signOptions(); err != nil {
		return j, err
	}
	return j, nil
}

// run builds what is due at now and, with a mailer, sends what is due.
func (j reportJobs) run(ctx context.Context, now time.Time) (schedule.Result, map[schedule.Outcome]int, error) {
	res, err := j.build.Build(ctx, now)
	if err != nil || j.send.Mailer == nil {
		return res, nil, err
	}
	out, err := j.send.Send(ctx, now)
	return res, out, err
}

// reportScheduler is the daemon's sending goroutine: every send_interval
// it builds and sends what is due. It stops at SIGTERM (stop), ending an
// SMTP transaction in progress; a delivery cut short stays leased and is
// taken again when its lease ends. A reload does not change it ([reports]
// needs a restart).
type reportScheduler struct {
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	built    uint64
	outcomes map[schedule.Outcome]uint64
}

// startReportScheduler starts it when reports are on, smtp is set and
// send_interval is not 0; nil otherwise (stop and Collect take nil).
func startReportScheduler(rc ReportsConfig, rep *reporter, res send.Resolver, log *slog.Logger, reg *prometheus.Registry) (*reportScheduler, error) {
	if rep == nil || rc.SMTP == "" || rc.SendInterval <= 0 {
		return nil, nil
	}
	log = log.With("component", "reports")
	// The store is the aggregator's, opened lazily; the jobs get it per
	// run.
	if _, err := newReportJobs(rc, nil, res, log); err != nil {
		return nil, err // a password file or DKIM key that does not load
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &reportScheduler{cancel: cancel, done: make(chan struct{}), outcomes: map[schedule.Outcome]uint64{}}
	reg.MustRegister(s)
	go func() {
		defer close(s.done)
		t := time.NewTicker(rc.SendInterval)
		defer t.Stop()
		for {
			s.once(ctx, rc, rep, res, log)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	log.Info("reports: sending", "smtp", rc.SMTP, "every", rc.SendInterval.String())
	return s, nil
}

func (s *reportScheduler) once(ctx context.Context, rc ReportsConfig, rep *reporter, res send.Resolver, log *slog.Logger) {
	st, err := rep.st.get(ctx)
	if err != nil {
		log.Warn("reports: store unavailable; sending later", "err", err)
		return
	}
	j, err := newReportJobs(rc, st, res, log)
	if err != nil {
		log.Error("reports: cannot send", "err", err)
		return
	}
	built, out, err := j.run(ctx, time.Now())
	s.mu.Lock()
	s.built += uint64(len(built.Built))
	for o, n := range out {
		s.outcomes[o] += uint64(n)
	}
	s.mu.Unlock()
	if err != nil && ctx.Err() == nil {
		log.Warn("reports: build or send stopped; trying again at the next interval", "err", err)
	}
}

// stop ends the goroutine and waits for it.
func (s *reportScheduler) stop() {
	if s == nil {
		return
	}
	s.cancel()
	<-s.done
}

var (
	descRepBuiltTotal = prometheus.NewDesc("authmilter_dmarc_reports_built_total", "Reports built by this daemon's scheduler.", nil, nil)
	descRepDelivTotal = prometheus.NewDesc("authmilter_dmarc_report_deliveries_total", "Report delivery attempts by this daemon's scheduler by result: sent, retry (temporary failure), failed (permanent, or out of attempts), unverified (RFC 9990 §4), deferred (verification failed temporarily), suppressed, capped (daily cap).", []string{"result"}, nil)
)

func (s *reportScheduler) Describe(ch chan<- *prometheus.Desc) {
	ch <- descRepBuiltTotal
	ch <- descRepDelivTotal
}

func (s *reportScheduler) Collect(ch chan<- prometheus.Metric) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(descRepBuiltTotal, prometheus.CounterValue, float64(s.built))
	for _, o := range schedule.Outcomes {
		ch <- prometheus.MustNewConstMetric(descRepDelivTotal, prometheus.CounterValue, float64(s.outcomes[o]), string(o))
	}
}

// ownReport reports whether r is our own report mail, sent with the
// envelope sender self: it is never counted into a report, so that
// reports about reports cannot loop between two reporters.
func ownReport(r *auth.Report, self string) bool {
	return self != "" && strings.EqualFold(r.Envelope.MailFrom, self)
}

// tempFailure is an error the caller may retry (exit 75).
type tempFailure struct{ error }

func (t tempFailure) Unwrap() error { return t.error }

// bounce reads a DSN from stdin and suppresses the failed destinations of
// the report it is about.
func (c *reportsCmd) bounce(args []string) error {
	if err := c.noArgs(args); err != nil {
		return err
	}
	if c.stdin == nil {
		return usageError("bounce reads a DSN from standard input")
	}
	dsn, err := send.ParseDSN(c.stdin)
	if err != nil {
		fmt.Fprintf(c.stdout, "ignored: %v\n", err)
		return nil // not a DSN: nothing to retry, nothing to bounce
	}
	if _, err := loadConfig(c.config); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	err = c.withStore(func(ctx context.Context, st store.Store) error {
		rc := c.cfg.Reports
		s := schedule.Sender{Store: st, Meta: reportMeta(rc), SuppressFor: rc.SuppressFor, Log: slog.New(slog.NewTextHandler(c.stderr, nil))}
		done, err := s.Bounce(ctx, dsn, time.Now())
		if err != nil {
			return err
		}
		if len(done) == 0 {
			fmt.Fprintf(c.stdout, "ignored: no failed destination of one of our reports (Message-ID %q)\n", dsn.MessageID)
			return nil
		}
		fmt.Fprintf(c.stdout, "suppressed for %s: %s\n", c.cfg.Reports.SuppressFor, strings.Join(done, ", "))
		return nil
	})
	if err != nil {
		return tempFailure{err} // the configuration loaded: the store failed
	}
	return nil
}
