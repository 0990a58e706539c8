package aggregate

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/authmilter/authmilter/auth/report"
)

// entry is one spooled row: a JSON line.
type entry struct {
	Key      report.Key
	Policy   report.Policy
	Row      report.Row
	LastSeen int64
}

var errSpoolFull = errors.New("aggregate: spool full")

// maxLine bounds one spool line when reading it back (a row carries at
// most report.MaxDKIM signatures).
const maxLine = 1 << 20

// spool is an append-only file of entries, bounded in bytes together with
// the file being replayed (path + ".replay"). A nil-path spool holds
// nothing: every append fails with errSpoolFull.
type spool struct {
	path       string
	limit      int64
	f          *os.File
	n, replayN int64
	dirty      bool
}

func openSpool(path string, limit int64) (*spool, error) {
	s := &spool{path: path, limit: limit}
	if path == "" {
		return s, nil
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("aggregate: spool: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("aggregate: spool: %w", err)
	}
	s.f, s.n = f, fi.Size()
	if fi, err := os.Stat(s.replayPath()); err == nil {
		s.replayN = fi.Size()
	}
	return s, nil
}

func (s *spool) replayPath() string { return s.path + ".replay" }

// size is the bytes waiting on disk.
func (s *spool) size() int64 { return s.n + s.replayN }

func (s *spool) append(e entry) error {
	if s.f == nil {
		return errSpoolFull
	}
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if s.size()+int64(len(b)) > s.limit {
		return errSpoolFull
	}
	if _, err := s.f.Write(b); err != nil {
		return err
	}
	s.n += int64(len(b))
	s.dirty = true
	return nil
}

// sync makes the appended lines durable (once per flush interval).
func (s *spool) sync() {
	if s.f != nil && s.dirty {
		_ = s.f.Sync()
		s.dirty = false
	}
}

func (s *spool) close() {
	if s.f != nil {
		s.sync()
		s.f.Close()
		s.f = nil
	}
}

// takeReplay reads the file being replayed, first moving the spool there
// when there is none (new spills then go to a fresh spool file), into one
// batch. Unreadable lines are skipped.
func (s *spool) takeReplay(periodLen time.Duration) (*report.Batch, error) {
	if s.f == nil {
		return report.NewBatch(periodLen), nil
	}
	if s.replayN == 0 && s.n > 0 {
		s.sync()
		if err := os.Rename(s.path, s.replayPath()); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(s.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_TRUNC, 0o600)
		if err != nil {
			return nil, err
		}
		s.f.Close()
		s.f, s.replayN, s.n = f, s.n, 0
	}
	f, err := os.Open(s.replayPath())
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := report.NewBatch(periodLen)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	for sc.Scan() {
		var e entry
		if json.Unmarshal(sc.Bytes(), &e) != nil || e.Row.Count <= 0 {
			continue
		}
		b.Put(e.Key, e.Row, e.Policy, e.LastSeen)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if b.Len() == 0 {
		return b, s.replayDone()
	}
	return b, nil
}

// replayDone removes the replayed file once the store holds its counts.
func (s *spool) replayDone() error {
	s.replayN = 0
	err := os.Remove(s.replayPath())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}
