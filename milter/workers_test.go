package milter

import (
	"testing"
	"time"
)

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// TestWorkersReuse: a session after an earlier one has ended runs on the
// earlier one's goroutine; two at once get two; idle workers end after
// idleFor, and at Stop.
func TestWorkersReuse(t *testing.T) {
	w := newWorkers(time.Hour)
	done := make(chan int, 4)
	w.Go(func() { done <- 1 })
	<-done
	waitFor(t, "an idle worker", func() bool { return w.waiting.Load() == 1 })
	w.Go(func() { done <- 2 })
	if <-done != 2 || w.started.Load() != 1 {
		t.Fatalf("second session: %d goroutines started, want 1 (reused)", w.started.Load())
	}

	waitFor(t, "an idle worker", func() bool { return w.waiting.Load() == 1 })
	block := make(chan struct{})
	w.Go(func() { <-block; done <- 3 })
	w.Go(func() { <-block; done <- 4 }) // the only worker is busy: a new one
	if w.started.Load() != 2 {
		t.Fatalf("two sessions at once: %d goroutines started, want 2", w.started.Load())
	}
	close(block)
	<-done
	<-done
	waitFor(t, "two idle workers", func() bool { return w.waiting.Load() == 2 })
	w.Stop()
	w.Stop() // twice is fine
	waitFor(t, "workers to end at Stop", func() bool { return w.waiting.Load() == 0 })

	w.Go(func() { done <- 5 }) // after Stop: still runs
	if <-done != 5 {
		t.Fatal("session after Stop not run")
	}

	short := newWorkers(10 * time.Millisecond)
	short.Go(func() {})
	waitFor(t, "an idle worker", func() bool { return short.waiting.Load() == 1 })
	waitFor(t, "the idle worker to end after idleFor", func() bool { return short.waiting.Load() == 0 })
	short.Go(func() {})
	if short.started.Load() != 2 {
		t.Fatalf("after idleFor: %d goroutines started, want 2", short.started.Load())
	}
}
