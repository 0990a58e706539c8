package milter

import (
	"sync"
	"time"
)

// Workers runs milter sessions, and their messages' background work (SPF,
// DKIM; auth.NewWithGo), on goroutines kept from earlier tasks. A
// session's goroutine grows its stack to some tens of KiB on every message
// (go-milter's dispatch, the evaluation, the header); Postfix opens a
// connection per SMTP session, most of which carry one message, so a new
// goroutine per connection paid for that growth each time (~2% of the
// daemon's CPU in the load benchmark, as much again for the background
// work). A worker that has run a task waits a while for the next one, then
// exits; there are never more workers than tasks running at once at the
// busiest moment (a few per session).
type Workers struct {
	idleFor time.Duration
	next    chan func() // unbuffered: a send succeeds only to a waiting worker
	quit    chan struct{}
	stop    sync.Once
}

// workerIdle is how long a kept goroutine waits for its next task (a
// session or a message's background work) before it ends.
const workerIdle = 10 * time.Second

// NewWorkers returns a pool for NewServer and auth.NewWithGo (its Go).
func NewWorkers() *Workers { return newWorkers(workerIdle) }

func newWorkers(idleFor time.Duration) *Workers {
	return &Workers{idleFor: idleFor, next: make(chan func()), quit: make(chan struct{})}
}

// Go runs f on an idle worker, or on a new one when none is waiting.
func (w *Workers) Go(f func()) {
	select {
	case w.next <- f:
	default:
		go w.work(f)
	}
}

func (w *Workers) work(f func()) {
	t := time.NewTimer(w.idleFor)
	defer t.Stop()
	for {
		f()
		f = nil // an idle worker keeps nothing of the session it ran
		t.Reset(w.idleFor)
		select {
		case f = <-w.next:
		case <-t.C:
			return
		case <-w.quit:
			return
		}
	}
}

// Stop ends the idle workers; tasks running finish on theirs, which then
// end too. Go still works after Stop (a connection accepted just before
// the listener closed): its worker ends after the task.
func (w *Workers) Stop() { w.stop.Do(func() { close(w.quit) }) }
