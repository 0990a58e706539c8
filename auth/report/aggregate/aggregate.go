package aggregate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/authmilter/authmilter/auth/report"
)

// Recorder is the part of a report store the aggregator needs
// (store.Store implements it).
type Recorder interface {
	Record(ctx context.Context, b *report.Batch) (orphans int64, err error)
}

// Config bounds the aggregator. Zero values take the defaults below.
type Config struct {
	QueueLen      int           // items waiting to be folded (default 8192)
	FlushInterval time.Duration // how often counts go to the store (default 10s)
	WriteTimeout  time.Duration // bound of one store write (default 30s)
	MaxKeys       int           // distinct rows kept in memory (default 100000)
	PeriodLen     time.Duration // report period (default 24h)
	// SpoolPath is the spool file; "" means no spool (rows over MaxKeys
	// are dropped and counted).
	SpoolPath  string
	SpoolBytes int64 // bound of the spool file (default 64 MiB)
}

func (c *Config) defaults() {
	if c.QueueLen <= 0 {
		c.QueueLen = 8192
	}
	if c.FlushInterval <= 0 {
		c.FlushInterval = 10 * time.Second
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 30 * time.Second
	}
	if c.MaxKeys <= 0 {
		c.MaxKeys = 100000
	}
	if c.PeriodLen <= 0 {
		c.PeriodLen = 24 * time.Hour
	}
	if c.SpoolBytes <= 0 {
		c.SpoolBytes = 64 << 20
	}
}

// Stats are the aggregator's counters, all in messages (one event = one
// message for one policy domain) except where noted.
type Stats struct {
	Queued      uint64 // items accepted by Offer
	QueueFull   uint64 // items dropped by Offer: the queue was full
	Events      uint64 // events folded
	Skipped     uint64 // items that gave no event (no rua, tempfail...)
	Invalid     uint64 // events no report may carry (logged at debug)
	Written     uint64 // messages written to the store
	Orphans     uint64 // written after their period was built (not in any report)
	Spooled     uint64 // messages written to the spool
	Recovered   uint64 // spooled messages later written to the store
	Dropped     uint64 // messages lost: over the spool bound, or no spool
	StoreErrors uint64 // failed store writes (count of writes)
	PendingKeys int64  // distinct rows waiting in memory
	SpoolBytes  int64  // size of the spool files
	QueueDepth  int    // items waiting in the queue
}

// Aggregator folds items of type T into report events. Convert turns an
// item into zero or more events (it runs on the aggregator's goroutine, so
// the caller's hot path only copies T into the queue).
type Aggregator[T any] struct {
	cfg     Config
	rec     Recorder
	convert func(T, func(report.Event)) bool
	log     *slog.Logger

	in    chan T
	flush chan request
	stop  chan request
	done  chan struct{}

	queued, queueFull, events, skipped, invalid         atomic.Uint64
	written, orphans, spooled, recovered, dropped, errs atomic.Uint64
	pendingKeys, spoolBytes                             atomic.Int64
}

// New returns a running aggregator writing to rec. convert returns false
// when the item gave no event because it is not reportable (counted as
// Skipped). log may be nil.
func New[T any](cfg Config, rec Recorder, convert func(T, func(report.Event)) bool, log *slog.Logger) (*Aggregator[T], error) {
	cfg.defaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &Aggregator[T]{cfg: cfg, rec: rec, convert: convert, log: log,
		in: make(chan T, cfg.QueueLen), flush: make(chan request), stop: make(chan request), done: make(chan struct{})}
	sp, err := openSpool(cfg.SpoolPath, cfg.SpoolBytes)
	if err != nil {
		return nil, err
	}
	a.spoolBytes.Store(sp.size())
	go a.run(sp)
	return a, nil
}

// Offer hands one item to the aggregator without blocking: false when the
// queue was full (the item is dropped and counted) or the aggregator is
// closed.
func (a *Aggregator[T]) Offer(x T) bool {
	select {
	case a.in <- x:
		a.queued.Add(1)
		return true
	default:
		a.queueFull.Add(1)
		return false
	}
}

// Flush folds what is queued and writes every pending count to the store
// (spooling what it does not take), returning the store's error. ctx
// bounds the wait.
func (a *Aggregator[T]) Flush(ctx context.Context) error {
	return a.ask(ctx, a.flush)
}

// Close flushes like Flush and stops the aggregator; counts the store did
// not take by ctx's deadline go to the spool. Items offered after Close
// are not counted.
func (a *Aggregator[T]) Close(ctx context.Context) error {
	err := a.ask(ctx, a.stop)
	if errors.Is(err, errClosed) {
		return nil
	}
	return err
}

var errClosed = errors.New("aggregate: closed")

// request asks the folding goroutine to flush (or stop) by deadline.
type request struct {
	reply    chan error
	deadline time.Time
}

func (a *Aggregator[T]) ask(ctx context.Context, ch chan request) error {
	reply := make(chan error, 1)
	deadline := time.Now().Add(a.cfg.WriteTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	select {
	case ch <- request{reply: reply, deadline: deadline}:
	case <-a.done:
		return errClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stats returns the counters; safe from any goroutine.
func (a *Aggregator[T]) Stats() Stats {
	return Stats{
		Queued: a.queued.Load(), QueueFull: a.queueFull.Load(), Events: a.events.Load(),
		Skipped: a.skipped.Load(), Invalid: a.invalid.Load(), Written: a.written.Load(),
		Orphans: a.orphans.Load(), Spooled: a.spooled.Load(), Recovered: a.recovered.Load(),
		Dropped: a.dropped.Load(), StoreErrors: a.errs.Load(),
		PendingKeys: a.pendingKeys.Load(), SpoolBytes: a.spoolBytes.Load(), QueueDepth: len(a.in),
	}
}

// write is one batch on its way to the store; replay marks the spool's.
type write struct {
	b      *report.Batch
	replay bool
}

type written struct {
	write
	orphans int64
	err     error
}

// writer runs the store writes, one at a time, off the folding goroutine.
func (a *Aggregator[T]) writer(jobs <-chan write, results chan<- written) {
	for w := range jobs {
		ctx, cancel := context.WithTimeout(context.Background(), a.cfg.WriteTimeout)
		n, err := a.rec.Record(ctx, w.b)
		cancel()
		results <- written{write: w, orphans: n, err: err}
	}
}

// state is the folding goroutine's: the batch being filled, the spool, and
// whether a write is in flight.
type state[T any] struct {
	a        *Aggregator[T]
	cur      *report.Batch
	sp       *spool
	jobs     chan write
	results  chan written
	inflight bool
}

func (a *Aggregator[T]) run(sp *spool) {
	defer close(a.done)
	s := &state[T]{a: a, cur: report.NewBatch(a.cfg.PeriodLen), sp: sp,
		jobs: make(chan write), results: make(chan written, 1)}
	go a.writer(s.jobs, s.results)
	defer close(s.jobs)
	tick := time.NewTicker(a.cfg.FlushInterval)
	defer tick.Stop()
	s.start() // a spool left by the last run goes to the store at once
	for {
		select {
		case x := <-a.in:
			s.fold(x)
		case r := <-s.results:
			s.done(r)
		case <-tick.C:
			s.sp.sync()
			s.start()
		case req := <-a.flush:
			req.reply <- s.flushAll(req.deadline)
		case req := <-a.stop:
			err := s.flushAll(req.deadline)
			if s.cur.Len() > 0 {
				s.spillBatch(s.cur)
				s.cur = report.NewBatch(a.cfg.PeriodLen)
				s.setPending()
			}
			s.sp.close()
			req.reply <- err
			return
		}
	}
}

// fold converts one item and counts its events.
func (s *state[T]) fold(x T) {
	a := s.a
	ok := a.convert(x, func(e report.Event) {
		k, r, err := e.KeyRow(a.cfg.PeriodLen)
		if err != nil {
			a.invalid.Add(1)
			a.log.Debug("report event not counted", "err", err)
			return
		}
		a.events.Add(1)
		if _, have := s.cur.Rows[k]; have || s.cur.Len() < a.cfg.MaxKeys {
			s.cur.Put(k, r, e.Policy, e.Time.Unix())
			s.setPending()
			return
		}
		s.spill(entry{Key: k, Policy: e.Policy, Row: r, LastSeen: e.Time.Unix()})
	})
	if !ok {
		a.skipped.Add(1)
	}
}

func (s *state[T]) setPending() { s.a.pendingKeys.Store(int64(s.cur.Len())) }

// start hands the current batch, or else the spool, to the writer unless a
// write is in flight; it reports whether a write was started.
func (s *state[T]) start() bool {
	if s.inflight {
		return false
	}
	if s.cur.Len() > 0 {
		s.inflight = true
		s.jobs <- write{b: s.cur}
		s.cur = report.NewBatch(s.a.cfg.PeriodLen)
		s.setPending()
		return true
	}
	if s.sp.size() == 0 {
		return false
	}
	b, err := s.sp.takeReplay(s.a.cfg.PeriodLen)
	if err != nil {
		s.a.log.Error("report spool unreadable; kept for inspection", "err", err)
		return false
	}
	if b.Len() == 0 {
		return false
	}
	s.inflight = true
	s.jobs <- write{b: b, replay: true}
	return true
}

// done takes a write's result: a failed batch merges back into the current
// one, its rows over MaxKeys spilling; a failed replay stays on disk.
func (s *state[T]) done(r written) {
	a := s.a
	s.inflight = false
	a.spoolBytes.Store(s.sp.size())
	if r.err != nil {
		a.errs.Add(1)
		a.log.Warn("report store write failed; counts kept", "err", r.err, "keys", r.b.Len(), "replay", r.replay)
		if !r.replay {
			s.mergeBack(r.b)
		}
		return
	}
	n := uint64(r.b.Messages())
	a.written.Add(n)
	a.orphans.Add(uint64(r.orphans))
	if r.replay {
		a.recovered.Add(n)
		if err := s.sp.replayDone(); err != nil {
			a.log.Error("report spool: removing the replayed file", "err", err)
		}
		a.spoolBytes.Store(s.sp.size())
		a.log.Info("report spool replayed", "messages", n)
		return
	}
	// The store takes writes again: replay the spool at once.
	if s.cur.Len() == 0 && s.sp.size() > 0 {
		s.start()
	}
}

func (s *state[T]) mergeBack(b *report.Batch) {
	for k, r := range b.Rows {
		if _, have := s.cur.Rows[k]; have || s.cur.Len() < s.a.cfg.MaxKeys {
			s.cur.Put(k, *r, b.Policies[k.RecordFP], b.LastSeen[k])
			continue
		}
		s.spill(entry{Key: k, Policy: b.Policies[k.RecordFP], Row: *r, LastSeen: b.LastSeen[k]})
	}
	s.setPending()
}

func (s *state[T]) spillBatch(b *report.Batch) {
	for k, r := range b.Rows {
		s.spill(entry{Key: k, Policy: b.Policies[k.RecordFP], Row: *r, LastSeen: b.LastSeen[k]})
	}
}

// spill writes one row to the spool, or drops it when the spool is full
// or absent.
func (s *state[T]) spill(e entry) {
	if err := s.sp.append(e); err != nil {
		s.a.dropped.Add(uint64(e.Row.Count))
		if !errors.Is(err, errSpoolFull) {
			s.a.log.Error("report spool write failed; counts dropped", "err", err)
		}
		return
	}
	s.a.spooled.Add(uint64(e.Row.Count))
	s.a.spoolBytes.Store(s.sp.size())
}

// wait waits for the write in flight until deadline, folding what
// arrives meanwhile (a slow store never stops the folding).
func (s *state[T]) wait(deadline time.Time) error {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	for {
		select {
		case x := <-s.a.in:
			s.fold(x)
		case r := <-s.results:
			s.done(r)
			return r.err
		case <-t.C:
			return fmt.Errorf("aggregate: store write still running at the deadline")
		}
	}
}

// flushAll folds what is queued, waits for the write in flight, then
// writes the current batch and the spool, all by deadline. It stops at the
// first failed write, whose counts are merged back (spooling over MaxKeys)
// as usual.
func (s *state[T]) flushAll(deadline time.Time) error {
	for drained := false; !drained; {
		select {
		case x := <-s.a.in:
			s.fold(x)
		default:
			drained = true
		}
	}
	defer s.sp.sync()
	for {
		if s.inflight {
			if err := s.wait(deadline); err != nil {
				return err
			}
			continue
		}
		if !s.start() {
			return nil
		}
	}
}
