package milter

import (
	"runtime"
	"strings"
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

// goid is the calling goroutine's id, from the first line of its stack
// trace ("goroutine 42 [running]:").
func goid() string {
	var b [64]byte
	return strings.Fields(string(b[:runtime.Stack(b[:], false)]))[1]
}

// goroutines are the stack traces of all goroutines.
func goroutines() []string {
	b := make([]byte, 1<<20)
	for {
		n := runtime.Stack(b, true)
		if n < len(b) {
			return strings.Split(string(b[:n]), "\n\n")
		}
		b = make([]byte, 2*len(b))
	}
}

// goroutineStack is goroutine id's stack trace, "" once it has ended.
func goroutineStack(id string) string {
	for _, g := range goroutines() {
		if strings.HasPrefix(g, "goroutine "+id+" [") {
			return g
		}
	}
	return ""
}

// isIdleWorker reports whether a goroutine's stack trace is a worker's
// waiting for a task.
func isIdleWorker(g string) bool {
	_, state, _ := strings.Cut(g, " [")
	return strings.HasPrefix(state, "select") && strings.Contains(g, "(*Workers).work")
}

// idleWorker reports whether goroutine id is a worker waiting for a task.
func idleWorker(id string) bool { return isIdleWorker(goroutineStack(id)) }

// idleWorkers counts the workers waiting for a task, of every pool.
func idleWorkers() int {
	n := 0
	for _, g := range goroutines() {
		if isIdleWorker(g) {
			n++
		}
	}
	return n
}

// TestWorkersReuse: a task after an earlier one has ended runs on the
// earlier one's goroutine; two at once get two; idle workers end after
// idleFor, and at Stop; Go still runs a task after Stop.
func TestWorkersReuse(t *testing.T) {
	ids := make(chan string, 2)
	task := func() { ids <- goid() }

	t.Run("reuse", func(t *testing.T) {
		w := newWorkers(time.Hour)
		defer w.Stop()
		w.Go(task)
		first := <-ids
		waitFor(t, "an idle worker", func() bool { return idleWorker(first) })
		w.Go(task)
		if got := <-ids; got != first {
			t.Fatalf("a task after an idle worker ran on goroutine %s, not the worker's %s", got, first)
		}
	})

	t.Run("busy", func(t *testing.T) {
		w := newWorkers(time.Hour)
		defer w.Stop()
		block := make(chan struct{})
		blocked := func() { <-block; task() }
		w.Go(blocked)
		w.Go(blocked) // the only worker is busy: a new one
		close(block)
		a, b := <-ids, <-ids
		if a == b {
			t.Fatalf("two tasks at once ran on one goroutine (%s)", a)
		}
		waitFor(t, "two idle workers", func() bool { return idleWorker(a) && idleWorker(b) && idleWorkers() >= 2 })
		w.Stop()
		w.Stop() // twice is fine
		waitFor(t, "workers to end at Stop", func() bool { return goroutineStack(a) == "" && goroutineStack(b) == "" })
		w.Go(task) // after Stop: still runs
		<-ids
	})

	t.Run("idle", func(t *testing.T) {
		w := newWorkers(10 * time.Millisecond)
		defer w.Stop()
		w.Go(task)
		first := <-ids
		waitFor(t, "the idle worker to end after idleFor", func() bool { return goroutineStack(first) == "" })
		w.Go(task)
		if got := <-ids; got == first {
			t.Fatalf("after idleFor: the task ran on the ended worker's goroutine %s", got)
		}
	})
}
