package main

import (
	"io"
	"sync"
	"time"
)

// logWriter is the daemon's log destination (stderr). Lines are queued and
// written by one goroutine, so a destination that blocks (a pipe nobody
// reads, a stalled journal) or fails (a closed pipe: EPIPE) never holds a
// milter session: a line that finds the queue full, or whose write fails,
// is dropped. Mail never waits for the log.
type logWriter struct {
	lines   chan *[]byte // nil: a flush marker
	flushed chan struct{}
	bufs    sync.Pool // *[]byte, the queued lines' buffers
}

// logQueue is how many lines wait for a slow destination before lines are
// dropped.
const logQueue = 1024

func newLogWriter(w io.Writer) *logWriter {
	l := &logWriter{lines: make(chan *[]byte, logQueue), flushed: make(chan struct{}, 1)}
	l.bufs.New = func() any { b := make([]byte, 0, 512); return &b }
	go l.run(w)
	return l
}

// Write queues a copy of p (log/slog writes one record per call) and never
// fails.
func (l *logWriter) Write(p []byte) (int, error) {
	b := l.bufs.Get().(*[]byte)
	*b = append((*b)[:0], p...)
	select {
	case l.lines <- b:
	default: // the destination is behind by logQueue lines: dropped
		l.bufs.Put(b)
	}
	return len(p), nil
}

func (l *logWriter) run(w io.Writer) {
	for b := range l.lines {
		if b == nil {
			select {
			case l.flushed <- struct{}{}:
			default:
			}
			continue
		}
		w.Write(*b) // a failed write drops the line
		if cap(*b) <= 64<<10 {
			l.bufs.Put(b)
		}
	}
}

// Flush waits, at most timeout, until the lines queued so far are written.
func (l *logWriter) Flush(timeout time.Duration) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case l.lines <- nil:
	case <-t.C:
		return
	}
	select {
	case <-l.flushed:
	case <-t.C:
	}
}
