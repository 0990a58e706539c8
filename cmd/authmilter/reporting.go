package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/authmilter/authmilter/auth"
	"github.com/authmilter/authmilter/auth/dmarc"
	"github.com/authmilter/authmilter/auth/policy"
	"github.com/authmilter/authmilter/auth/report"
	"github.com/authmilter/authmilter/auth/report/aggregate"
	"github.com/authmilter/authmilter/auth/report/store"
	"github.com/authmilter/authmilter/milter"
)

// reportItem is what the milter's end of message hands to the report
// aggregator: the evaluation (not copied; it is not changed after end of
// message), the action taken and the time. Converting it into report
// events happens on the aggregator's goroutine.
type reportItem struct {
	r      *auth.Report
	action string
	at     time.Time
}

// reporter records DMARC report events ([reports]).
type reporter struct {
	st  *lazyStore
	agg *aggregate.Aggregator[reportItem]
	// self is the envelope sender of our own report mail, never counted
	// (no report loops).
	self string
	fail *failureReporter // nil unless reports.failure_enabled
}

// openStore opens reports.store.
func openStore(ctx context.Context, spec string) (store.Store, error) {
	kind, arg, err := parseStore(spec)
	if err != nil {
		return nil, err
	}
	if kind == "postgres" {
		return store.OpenPostgres(ctx, arg)
	}
	return store.OpenSQLite(ctx, arg)
}

// lazyStore opens the store at its first use that succeeds: a PostgreSQL
// server that is down when the daemon starts must not stop mail; the
// counts wait (memory, then spool) until it answers.
type lazyStore struct {
	spec string
	mu   sync.Mutex
	st   store.Store
}

func (l *lazyStore) get(ctx context.Context) (store.Store, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.st != nil {
		return l.st, nil
	}
	st, err := openStore(ctx, l.spec)
	if err != nil {
		return nil, err
	}
	l.st = st
	return st, nil
}

// Record implements aggregate.Recorder.
func (l *lazyStore) Record(ctx context.Context, b *report.Batch) (int64, error) {
	st, err := l.get(ctx)
	if err != nil {
		return 0, err
	}
	return st.Record(ctx, b)
}

// Status is for the metrics: it never waits for an open in progress.
func (l *lazyStore) Status(ctx context.Context) (store.Status, error) {
	if !l.mu.TryLock() {
		return store.Status{}, fmt.Errorf("reports: store being opened")
	}
	st := l.st
	l.mu.Unlock()
	if st == nil {
		return store.Status{}, fmt.Errorf("reports: store not open")
	}
	return st.Status(ctx)
}

func (l *lazyStore) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.st != nil {
		l.st.Close()
		l.st = nil
	}
}

// newReporter opens the store and starts the aggregator; nil, nil when
// reports are off. A SQLite store that cannot be opened is an error (a
// path or permission to fix); a PostgreSQL one is logged and retried at
// each flush.
func newReporter(cfg ReportsConfig, log *slog.Logger) (*reporter, error) {
	if !cfg.Enabled {
		return nil, nil
	}
	ls := &lazyStore{spec: cfg.Store}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	_, err := ls.get(ctx)
	cancel()
	if err != nil {
		if kind, _, _ := parseStore(cfg.Store); kind != "postgres" {
			return nil, fmt.Errorf("reports.store: %w", err)
		}
		log.Error("reports: store unavailable; counts wait in memory and spool until it answers", "err", err)
	}
	conv := &converter{records: map[string]*dmarc.Record{}}
	agg, err := aggregate.New(aggregate.Config{
		QueueLen: cfg.QueueLen, FlushInterval: cfg.FlushInterval, MaxKeys: cfg.MaxKeys,
		PeriodLen: cfg.Period, SpoolPath: cfg.Spool, SpoolBytes: cfg.SpoolBytes,
	}, ls, conv.convert, log.With("component", "reports"))
	if err != nil {
		ls.close()
		return nil, fmt.Errorf("reports.spool: %w", err)
	}
	return &reporter{st: ls, agg: agg, self: cfg.from()}, nil
}

// messageDone offers a message to the aggregator: nothing is allocated
// and nothing waits. Skipped and tempfailed messages (the latter come
// back) are not counted, nor those without a DMARC record.
func (rp *reporter) messageDone(r *auth.Report, action string) {
	if r == nil || r.Skipped != "" || action == string(policy.Tempfail) || !hasRecord(r) {
		return
	}
	rp.agg.Offer(reportItem{r: r, action: action, at: time.Now()})
}

func hasRecord(r *auth.Report) bool {
	if len(r.PerAuthor) == 0 {
		return r.DMARC.RecordDomain != ""
	}
	for i := range r.PerAuthor {
		if r.PerAuthor[i].RecordDomain != "" {
			return true
		}
	}
	return false
}

// flush writes the pending counts (SIGHUP).
func (rp *reporter) flush(d time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return rp.agg.Flush(ctx)
}

// close writes the pending counts, spooling what the store does not take
// in time, and closes the store (SIGTERM).
func (rp *reporter) close(d time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	err := rp.agg.Close(ctx)
	rp.st.close()
	return err
}

// stop is close for the daemon's exit, logged.
func (rp *reporter) stop(log *slog.Logger, d time.Duration) {
	rp.fail.stop(log, d)
	if err := rp.close(d); err != nil {
		log.Error("reports: final flush failed; what the store did not take is in reports.spool", "err", err)
		return
	}
	s := rp.agg.Stats()
	log.Info("reports: counts flushed", "stored", s.Written, "spooled", s.Spooled, "dropped", s.Dropped+s.QueueFull)
}

// reportingObserver is the milter's observer when reports are on: the
// metrics, plus the report events at end of message.
type reportingObserver struct {
	*metrics
	rep *reporter
}

var _ milter.Observer = reportingObserver{}

func (o reportingObserver) MessageDone(r *auth.Report, action string, eom time.Duration) {
	o.metrics.MessageDone(r, action, eom)
	if r != nil && ownReport(r, o.rep.self) {
		// Our own report mail is neither counted nor failure-reported: a
		// report about a report could be reported again on its way out.
		return
	}
	o.rep.messageDone(r, action)
	o.rep.fail.messageDone(r, action)
}

// converter turns a message into report events, one per author domain
// whose applied record has rua. It runs on the aggregator's goroutine
// only; records are parsed once and kept (a bounded cache).
type converter struct {
	records map[string]*dmarc.Record
}

const maxCachedRecords = 4096

func (c *converter) record(raw string) *dmarc.Record {
	if rec, ok := c.records[raw]; ok {
		return rec
	}
	rec, err := dmarc.ParseRecord(raw)
	if err != nil {
		rec = nil
	}
	if len(c.records) >= maxCachedRecords {
		clear(c.records)
	}
	c.records[raw] = rec
	return rec
}

func (c *converter) convert(it reportItem, emit func(report.Event)) bool {
	authors := it.r.PerAuthor
	if len(authors) == 0 {
		authors = []dmarc.Result{it.r.DMARC}
	}
	n := 0
	for i := range authors {
		res := &authors[i]
		if res.RecordDomain == "" || res.Result == dmarc.ResultTemperror {
			continue
		}
		rec := c.record(res.Record)
		if rec == nil || len(rec.RUA) == 0 {
			continue
		}
		pol, err := report.PolicyFromRecord(res.RecordDomain, rec)
		if err != nil {
			continue
		}
		emit(newEvent(it, res, pol))
		n++
	}
	return n > 0
}

// newEvent is one author domain's report event.
func newEvent(it reportItem, res *dmarc.Result, pol report.Policy) report.Event {
	r := it.r
	ip, _ := netip.AddrFromSlice(r.Envelope.ClientIP)
	e := report.Event{
		Time: it.at, Policy: pol, SourceIP: ip.Unmap(),
		HeaderFrom:   res.Domain,
		EnvelopeFrom: mailDomain(r.Envelope.MailFrom),
		SPF:          report.SPFResult{Domain: r.SPF.Domain, Result: string(r.SPF.Result)},
		DKIMAligned:  res.DKIMAligned, SPFAligned: res.SPFAligned,
		Requested: report.Disposition(res.PublishedPolicy),
	}
	for _, d := range r.DKIM {
		x := report.DKIMResult{Domain: d.Domain, Selector: d.Selector, Result: string(d.Result), Align: dkimAlign(d.Domain, res)}
		if d.Result != "pass" {
			x.Human = d.Reason
		}
		e.DKIM = append(e.DKIM, x)
	}
	e.Disposition, e.Reasons = disposition(res, r.Decision, it.action)
	return e
}

func mailDomain(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return addr[i+1:]
	}
	return ""
}

// dkimAlign orders a signature's domain against the author domain
// (RFC 9990 §3.1.3): strict when equal, relaxed when it shares the
// author's Organizational Domain.
func dkimAlign(d string, res *dmarc.Result) report.Alignment {
	d = strings.ToLower(strings.TrimSuffix(d, "."))
	switch {
	case d == res.Domain:
		return report.AlignStrict
	case res.OrgDomain != "" && (d == res.OrgDomain || strings.HasSuffix(d, "."+res.OrgDomain)):
		return report.AlignRelaxed
	}
	return report.AlignNone
}

// disposition is what we did to the message, as a report says it
// (RFC 9990 §3.1.1.9), with the reason for a local override: the
// decision's action, and its Override for why a DMARC reject became a
// quarantine (List-Id, trusted forwarder, trusted ARC sealer) or a
// failure was accepted (ARC sealer, dry run, allow list,
// quarantine_mode accept). A DMARC-failing message
// accepted under t=y gets policy_test_mode from report.Event itself.
func disposition(res *dmarc.Result, d policy.Decision, action string) (report.Disposition, []report.Reason) {
	var reasons []report.Reason
	switch o := d.Override; {
	case o.Kind == policy.OverrideMailingList:
		reasons = append(reasons, report.Reason{Type: report.ReasonMailingList, Comment: o.Detail})
	case o.Kind == policy.OverrideTrustedForwarder:
		reasons = append(reasons, report.Reason{Type: report.ReasonTrustedForwarder})
	case o.Kind == policy.OverrideARC:
		reasons = append(reasons, report.Reason{Type: report.ReasonTrustedForwarder, Comment: "ARC sealer " + o.Detail})
	case d.DryRun && d.WouldBe != "":
		reasons = append(reasons, report.Reason{Type: report.ReasonLocalPolicy, Comment: "dry run"})
	case o.Kind == policy.OverrideAllowListed:
		reasons = append(reasons, report.Reason{Type: report.ReasonLocalPolicy, Comment: "allow-listed"})
	case o.Kind == policy.OverrideQuarantineAccept:
		reasons = append(reasons, report.Reason{Type: report.ReasonLocalPolicy, Comment: "quarantine not applied"})
	}
	switch policy.Action(action) {
	case policy.Reject:
		return report.DispositionReject, nil
	case policy.Quarantine:
		return report.DispositionQuarantine, reasons
	}
	if res.Result == dmarc.ResultPass {
		if res.PublishedPolicy == dmarc.PolicyReject || res.PublishedPolicy == dmarc.PolicyQuarantine {
			return report.DispositionPass, nil
		}
		return report.DispositionNone, nil
	}
	if res.Result != dmarc.ResultFail || res.PublishedPolicy == dmarc.PolicyNone || res.PublishedPolicy == "" {
		return report.DispositionNone, nil
	}
	return report.DispositionNone, reasons
}
