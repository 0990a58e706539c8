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

// TestWorkersReuse: a task after an earlier one has ended runs on the
// earlier one's goroutine; two at once get two; idle workers end after
// idleFor, and at Stop; Go still runs a task after Stop.
func TestWorkersReuse(t *testing.T) {
	done := make(chan struct{})
	task := func() { done <- struct{}{} }

	t.Run("reuse", func(t *testing.T) {
		w := newWorkers(time.Hour)
		defer w.Stop()
		w.Go(task)
		<-done
		// A worker counts itself waiting just before it blocks, so a
		// task may still find none and start one; the next finds one.
		for i := 0; ; i++ {
			waitFor(t, "an idle worker", func() bool { return w.waiting.Load() >= 1 })
			before := w.started.Load()
			w.Go(task)
			<-done
			if w.started.Load() == before {
				break // ran on a kept goroutine
			}
			if i == 10 {
				t.Fatalf("ten tasks after an idle worker, each on a new goroutine (%d started)", w.started.Load())
			}
		}
	})

	t.Run("busy", func(t *testing.T) {
		w := newWorkers(time.Hour)
		defer w.Stop()
		block := make(chan struct{})
		w.Go(func() { <-block; done <- struct{}{} })
		w.Go(func() { <-block; done <- struct{}{} }) // the only worker is busy: a new one
		if w.started.Load() != 2 {
			t.Fatalf("two tasks at once: %d goroutines started, want 2", w.started.Load())
		}
		close(block)
		<-done
		<-done
		waitFor(t, "two idle workers", func() bool { return w.waiting.Load() == 2 })
		w.Stop()
		w.Stop() // twice is fine
		waitFor(t, "workers to end at Stop", func() bool { return w.waiting.Load() == 0 })
		w.Go(task) // after Stop: still runs
		<-done
	})

	t.Run("idle", func(t *testing.T) {
		w := newWorkers(10 * time.Millisecond)
		w.Go(task)
		<-done
		waitFor(t, "an idle worker", func() bool { return w.waiting.Load() == 1 })
		waitFor(t, "the idle worker to end after idleFor", func() bool { return w.waiting.Load() == 0 })
		w.Go(task)
		<-done
		if w.started.Load() != 2 {
			t.Fatalf("after idleFor: %d goroutines started, want 2", w.started.Load())
		}
	})
}
