package tlspolicy

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/authmilter/authmilter/auth/mtasts"
)

// Entry is a cached MTA-STS policy.
type Entry struct {
	Domain  string        `json:"domain"`
	ID      string        `json:"id"` // the _mta-sts record's id when fetched
	Policy  mtasts.Policy `json:"policy"`
	Fetched time.Time     `json:"fetched"`
	Expires time.Time     `json:"expires"` // Fetched + max_age
}

// storeFile is the file's content; Version guards future changes.
type storeFile struct {
	Version  int      `json:"version"`
	Policies []*Entry `json:"policies"`
}

// Store holds the policies in memory and, when it has a path, in a JSON
// file rewritten atomically (a temporary file, fsync, rename) after each
// change. A JSON file rather than SQLite or bbolt: the set is small (one
// entry per MTA-STS domain mail goes to), changes are rare (a fetch per
// domain a day), and it needs no new dependency and stays readable.
type Store struct {
	path     string
	readOnly bool
	max      int

	mu      sync.Mutex
	entries map[string]*Entry
}

// OpenStore loads the file at path ("" keeps the cache in memory only; a
// missing file is an empty cache). readOnly never writes the file (the
// lookup command beside a running daemon). max bounds the entries; the
// ones expiring first make room.
func OpenStore(path string, readOnly bool, max int) (*Store, error) {
	s := &Store{path: path, readOnly: readOnly, max: max, entries: map[string]*Entry{}}
	if path == "" {
		return s, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("tlspolicy: cache: %w", err)
	}
	var f storeFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("tlspolicy: cache %s: %w", path, err)
	}
	for _, e := range f.Policies {
		if e != nil && e.Domain != "" {
			s.entries[e.Domain] = e
		}
	}
	return s, nil
}

// Get returns a copy of domain's entry.
func (s *Store) Get(domain string) (Entry, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[domain]
	if !ok {
		return Entry{}, false
	}
	return *e, true
}

// All returns copies of every entry.
func (s *Store) All() []Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Entry, 0, len(s.entries))
	for _, e := range s.entries {
		out = append(out, *e)
	}
	return out
}

// Put stores e and writes the file.
func (s *Store) Put(e Entry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entries[e.Domain] = &e
	if s.max > 0 && len(s.entries) > s.max {
		var oldest *Entry
		for _, x := range s.entries {
			if x.Domain != e.Domain && (oldest == nil || x.Expires.Before(oldest.Expires)) {
				oldest = x
			}
		}
		delete(s.entries, oldest.Domain)
	}
	return s.write()
}

// Prune drops entries expired before now and writes the file if any went.
func (s *Store) Prune(now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.entries)
	for d, e := range s.entries {
		if !now.Before(e.Expires) {
			delete(s.entries, d)
		}
	}
	if len(s.entries) == n {
		return nil
	}
	return s.write()
}

// write saves the entries atomically; s.mu is held.
func (s *Store) write() error {
	if s.path == "" || s.readOnly {
		return nil
	}
	f := storeFile{Version: 1}
	for _, e := range s.entries {
		f.Policies = append(f.Policies, e)
	}
	slices.SortFunc(f.Policies, func(a, b *Entry) int {
		if a.Domain < b.Domain {
			return -1
		}
		return 1
	})
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(s.path)
	tmp, err := os.CreateTemp(dir, ".tls-policy-*")
	if err != nil {
		return fmt.Errorf("tlspolicy: cache: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename, a no-op
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("tlspolicy: cache: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("tlspolicy: cache: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("tlspolicy: cache: %w", err)
	}
	if err := os.Rename(tmp.Name(), s.path); err != nil {
		return fmt.Errorf("tlspolicy: cache: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
