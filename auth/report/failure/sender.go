package failure

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authmilter/authmilter/auth/dmarc"
	"github.com/authmilter/authmilter/auth/report/send"
)

// Mailer submits one message (the report) to its relay.
type Mailer interface {
	Send(ctx context.Context, from string, to []string, msg []byte) error
}

// Verifier checks a destination (RFC 9991 §5, by the procedure
// of RFC 9990 §4 with ruf for rua): policyDomain is where the applied
// record was found, uri the ruf URI. false with a nil error means not
// authorized (never send); an error is temporary (ask again later). A
// destination within the Organizational Domain of policyDomain is not
// external and needs no lookup: the Verifier answers true for it.
type Verifier func(ctx context.Context, policyDomain, uri string) (ok bool, err error)

// Config tunes a Sender.
type Config struct {
	QueueLen    int           // incidents waiting for the worker; more are dropped
	RatePerHour int           // reports per destination per hour
	Merge       time.Duration // like incidents within this are reported once
	MaxURIs     int           // ruf URIs tried per record, in order
	MaxKeys     int           // destinations and incidents remembered
	RetryAfter  time.Duration // wait after a temporary verification or send error
	MaxAttempts int           // tries per report and destination
	MaxRetries  int           // reports waiting for a retry; more are dropped
	Timeout     time.Duration // bounds one verification, and one send
	VerifyTTL   time.Duration // how long a verification answer is kept

	From         string // envelope sender and From of the reports
	UserAgent    string
	ReportingMTA string
	RedactKey    []byte

	// LookupTXT, when set, finds the SPF record of the MAIL FROM domain
	// for SPF-DNS when SPF failed for an aligned identifier (RFC 9991 §4
	// item 1); without it, or when it fails, the field is left out.
	LookupTXT func(ctx context.Context, name string) ([]string, error)

	Now func() time.Time // the clock; nil is time.Now
}

// Stats are the Sender's counters since it started.
type Stats struct {
	Queued, DroppedQueueFull  uint64 // offered incidents
	NotRequested              uint64 // no ruf, psd=y, or fo not met
	Unverified, RateLimited   uint64 // suppressed destinations
	Merged, Unsupported       uint64 // like incidents; non-mailto URIs
	Sent, Failed, Retried     uint64 // delivery attempts' outcomes
	DroppedRetries, Abandoned uint64 // retry queue full; attempts used up or shut down
}

// Sender queues incidents at end of message without blocking and reports
// them from its own goroutine.
type Sender struct {
	cfg    Config
	mailer Mailer
	verify Verifier
	red    *Redactor
	log    *slog.Logger

	q      chan *Incident
	stop   chan struct{}
	done   chan struct{}
	closed atomic.Bool
	once   sync.Once

	// Owned by the worker.
	lim     *limiter
	retries []*delivery
	vcache  map[string]verdict

	queued, full, notReq, unverified, rated, merged, unsupported atomic.Uint64
	sent, failed, retried, droppedRetries, abandoned             atomic.Uint64
}

type verdict struct {
	ok  bool
	exp time.Time
}

// delivery is one report to one destination, possibly retried.
type delivery struct {
	inc      *Incident
	uri      string
	to       string
	attempts int
	allowed  bool // the rate limit was charged
	due      time.Time
}

// NewSender starts the worker. Stop it with Close.
func NewSender(cfg Config, m Mailer, v Verifier, log *slog.Logger) (*Sender, error) {
	switch {
	case m == nil || v == nil:
		return nil, errors.New("failure: a Mailer and a Verifier are required")
	case cfg.QueueLen < 1 || cfg.RatePerHour < 1 || cfg.MaxKeys < 1:
		return nil, fmt.Errorf("failure: QueueLen, RatePerHour and MaxKeys must be at least 1")
	case cfg.From == "" || cfg.UserAgent == "":
		return nil, errors.New("failure: From and UserAgent are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Sender{
		cfg: cfg, mailer: m, verify: v, red: NewRedactor(cfg.RedactKey), log: log,
		q: make(chan *Incident, cfg.QueueLen), stop: make(chan struct{}), done: make(chan struct{}),
		lim:    newLimiter(cfg.RatePerHour, time.Hour, cfg.Merge, cfg.MaxKeys),
		vcache: map[string]verdict{},
	}
	go s.run()
	return s, nil
}

// Offer queues an incident; it never blocks: with the queue full the
// incident is dropped and counted. inc must not change afterwards.
func (s *Sender) Offer(inc *Incident) bool {
	if s.closed.Load() {
		s.full.Add(1)
		return false
	}
	select {
	case s.q <- inc:
		s.queued.Add(1)
		return true
	default:
		s.full.Add(1)
		return false
	}
}

// Close stops the worker; what is still queued or waiting for a retry is
// abandoned (failure reports are best effort, RFC 9991 §2). It waits for
// the report being sent, up to ctx.
func (s *Sender) Close(ctx context.Context) error {
	s.once.Do(func() {
		s.closed.Store(true)
		close(s.stop)
	})
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stats returns the counters.
func (s *Sender) Stats() Stats {
	return Stats{
		Queued: s.queued.Load(), DroppedQueueFull: s.full.Load(), NotRequested: s.notReq.Load(),
		Unverified: s.unverified.Load(), RateLimited: s.rated.Load(), Merged: s.merged.Load(),
		Unsupported: s.unsupported.Load(), Sent: s.sent.Load(), Failed: s.failed.Load(),
		Retried: s.retried.Load(), DroppedRetries: s.droppedRetries.Load(), Abandoned: s.abandoned.Load(),
	}
}

func (s *Sender) run() {
	defer close(s.done)
	tick := s.cfg.RetryAfter / 2
	if tick <= 0 || tick > time.Minute {
		tick = time.Minute
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-s.stop
		cancel()
	}()
	for {
		select {
		case <-s.stop:
			s.abandoned.Add(uint64(len(s.retries) + len(s.q)))
			return
		case inc := <-s.q:
			s.handle(ctx, inc)
		case <-t.C:
			s.retryDue(ctx)
		}
	}
}

// handle decides and sends one incident's reports, one per ruf URI.
func (s *Sender) handle(ctx context.Context, inc *Incident) {
	if inc.Record == nil && inc.Result.Record != "" {
		inc.Record, _ = dmarc.ParseRecord(inc.Result.Record)
	}
	inc.Triggers = Decide(inc.Input)
	if len(inc.Triggers) == 0 {
		s.notReq.Add(1)
		return
	}
	now := s.cfg.Now()
	for i, uri := range inc.Record.RUF {
		if s.cfg.MaxURIs > 0 && i >= s.cfg.MaxURIs {
			break
		}
		to, err := send.MailtoAddress(uri)
		if err != nil {
			s.unsupported.Add(1)
			continue
		}
		key := strings.Join([]string{strings.ToLower(to), inc.Result.Domain, inc.SourceIP.String(), IdentityAlignment(inc.Result), strings.Join(inc.Triggers, ":")}, "|")
		if s.lim.duplicate(key, now) {
			s.merged.Add(1)
			continue
		}
		s.deliver(ctx, &delivery{inc: inc, uri: uri, to: to})
	}
}

// deliver verifies the destination, charges the rate limit and sends.
func (s *Sender) deliver(ctx context.Context, d *delivery) {
	d.attempts++
	ok, err := s.verified(ctx, d.inc.Result.RecordDomain, d.uri)
	if err != nil {
		s.log.Debug("failure report: destination verification failed; retrying later", "dest", d.to, "err", err)
		s.later(d)
		return
	}
	if !ok {
		s.unverified.Add(1)
		s.log.Debug("failure report: destination not verified", "policy_domain", d.inc.Result.RecordDomain, "dest", d.to)
		return
	}
	now := s.cfg.Now()
	if !d.allowed {
		if !s.lim.allow(strings.ToLower(d.to), now) {
			s.rated.Add(1)
			return
		}
		d.allowed = true
	}
	s.spfRecord(ctx, d.inc)
	msg, err := Build(d.inc, Options{From: s.cfg.From, To: d.to, UserAgent: s.cfg.UserAgent,
		ReportingMTA: s.cfg.ReportingMTA, Date: now}, s.red)
	if err != nil {
		s.failed.Add(1)
		s.log.Error("failure report: cannot build", "dest", d.to, "err", err)
		return
	}
	sctx, cancel := s.timeout(ctx)
	err = s.mailer.Send(sctx, s.cfg.From, []string{d.to}, msg)
	cancel()
	switch {
	case err == nil:
		s.sent.Add(1)
		s.log.Info("failure report sent", "domain", d.inc.Result.Domain, "dest", d.to, "fo", strings.Join(d.inc.Triggers, ":"))
	case send.IsPermanent(err):
		s.failed.Add(1)
		s.log.Warn("failure report refused", "dest", d.to, "err", err)
	default:
		s.log.Warn("failure report not sent; retrying later", "dest", d.to, "err", err)
		s.later(d)
	}
}

// spfRecord fills inc.SPFRecord when the report needs it (once per
// incident).
func (s *Sender) spfRecord(ctx context.Context, inc *Incident) {
	if s.cfg.LookupTXT == nil || inc.SPFRecord != "" || inc.spfLooked || !alignedSPFFailure(inc.Input) {
		return
	}
	inc.spfLooked = true
	lctx, cancel := s.timeout(ctx)
	txts, err := s.cfg.LookupTXT(lctx, inc.SPF.Domain)
	cancel()
	if err != nil {
		return
	}
	for _, t := range txts {
		// RFC 7208 §4.5: "v=spf1" alone or followed by a space.
		if len(t) >= 6 && strings.EqualFold(t[:6], "v=spf1") && (len(t) == 6 || t[6] == ' ') {
			inc.SPFRecord = t
			return
		}
	}
}

// verified asks the Verifier, through a cache of its final answers.
func (s *Sender) verified(ctx context.Context, policyDomain, uri string) (bool, error) {
	key := policyDomain + " " + uri
	now := s.cfg.Now()
	if v, ok := s.vcache[key]; ok && now.Before(v.exp) {
		return v.ok, nil
	}
	vctx, cancel := s.timeout(ctx)
	ok, err := s.verify(vctx, policyDomain, uri)
	cancel()
	if err != nil {
		return false, err
	}
	if s.cfg.VerifyTTL > 0 {
		if len(s.vcache) >= s.cfg.MaxKeys {
			clear(s.vcache)
		}
		s.vcache[key] = verdict{ok: ok, exp: now.Add(s.cfg.VerifyTTL)}
	}
	return ok, nil
}

func (s *Sender) timeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if s.cfg.Timeout > 0 {
		return context.WithTimeout(ctx, s.cfg.Timeout)
	}
	return context.WithCancel(ctx)
}

// later puts a delivery on the retry list, unless its attempts are used up
// or the list is full.
func (s *Sender) later(d *delivery) {
	switch {
	case d.attempts >= max(s.cfg.MaxAttempts, 1):
		s.abandoned.Add(1)
	case len(s.retries) >= max(s.cfg.MaxRetries, 0):
		s.droppedRetries.Add(1)
	default:
		d.due = s.cfg.Now().Add(s.cfg.RetryAfter)
		s.retries = append(s.retries, d)
	}
}

// retryDue tries again the deliveries whose wait is over.
func (s *Sender) retryDue(ctx context.Context) {
	now := s.cfg.Now()
	var due []*delivery
	keep := s.retries[:0]
	for _, d := range s.retries {
		if now.Before(d.due) {
			keep = append(keep, d)
		} else {
			due = append(due, d)
		}
	}
	clear(s.retries[len(keep):])
	s.retries = keep
	for _, d := range due {
		s.retried.Add(1)
		s.deliver(ctx, d)
	}
}
