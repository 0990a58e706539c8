package aggregate

import (
	"context"
	"errors"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/authmilter/authmilter/auth/report"
)

// fakeStore counts messages per key; stall makes Record hang, ignoring
// its context, until released (then it fails); down makes it fail at once.
type fakeStore struct {
	mu      sync.Mutex
	counts  map[report.Key]int64
	stall   bool
	down    bool
	calls   int
	release chan struct{}
}

func newFake() *fakeStore {
	return &fakeStore{counts: map[report.Key]int64{}, release: make(chan struct{})}
}

func (f *fakeStore) Record(ctx context.Context, b *report.Batch) (int64, error) {
	f.mu.Lock()
	stall, down := f.stall, f.down
	f.calls++
	f.mu.Unlock()
	if stall {
		<-f.release
		return 0, errors.New("store stalled")
	}
	if down {
		return 0, errors.New("store down")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for k, r := range b.Rows {
		f.counts[k] += r.Count
	}
	return 0, nil
}

func (f *fakeStore) set(stall, down bool) {
	f.mu.Lock()
	f.stall, f.down = stall, down
	f.mu.Unlock()
}

func (f *fakeStore) total() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	var n int64
	for _, c := range f.counts {
		n += c
	}
	return n
}

var when = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

// event i comes from a distinct source IP, so each is its own row (key).
func event(i int) report.Event {
	ip := netip.AddrFrom4([4]byte{192, 0, byte(2 + i/250), byte(1 + i%250)})
	return report.Event{
		Time:     when,
		Policy:   report.Policy{Domain: "example.com", P: "reject", SP: "reject", NP: "reject", ADKIM: "r", ASPF: "r", FO: "0", Discovery: "treewalk", RUA: []string{"mailto:d@example.com"}},
		SourceIP: ip, HeaderFrom: "example.com", EnvelopeFrom: "example.com",
		SPF:         report.SPFResult{Domain: "example.com", Result: "pass"},
		SPFAligned:  true,
		Requested:   report.DispositionReject,
		Disposition: report.DispositionPass,
	}
}

// convert: items are event numbers; negative numbers are not reportable.
func convert(i int, emit func(report.Event)) bool {
	if i < 0 {
		return false
	}
	emit(event(i))
	return true
}

func newAgg(t *testing.T, cfg Config, st Recorder) *Aggregator[int] {
	t.Helper()
	if cfg.FlushInterval == 0 {
		cfg.FlushInterval = time.Hour // flushes only when the test asks
	}
	a, err := New(cfg, st, convert, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(context.Background()) })
	return a
}

func TestFlushWritesCounts(t *testing.T) {
	st := newFake()
	a := newAgg(t, Config{}, st)
	for i := 0; i < 10; i++ {
		a.Offer(i % 3)
	}
	a.Offer(-1)
	if err := a.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := st.total(); got != 10 {
		t.Fatalf("store has %d messages, want 10", got)
	}
	if n := len(st.counts); n != 3 {
		t.Errorf("store has %d rows, want 3", n)
	}
	s := a.Stats()
	if s.Written != 10 || s.Skipped != 1 || s.Queued != 11 {
		t.Errorf("stats %+v", s)
	}
}

// TestStalledStoreNeverBlocks: with a store write that hangs (ignoring its
// deadline), Offer never waits (were it to wait for the store, the test
// would hang: the store is released only after every Offer returned); rows
// over MaxKeys go to the spool, past its bound they are dropped and
// counted; once the store answers again, memory and spool reach it and
// every message not dropped is counted exactly once.
func TestStalledStoreNeverBlocks(t *testing.T) {
	st := newFake()
	st.set(true, false)
	spool := filepath.Join(t.TempDir(), "spool")
	a := newAgg(t, Config{MaxKeys: 10, SpoolPath: spool, SpoolBytes: 20 << 10, QueueLen: 4096}, st)

	// A flush starts a write that hangs in the store.
	a.Offer(0)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	a.Flush(ctx)
	cancel()

	const n = 1000
	for i := 1; i < n; i++ {
		if !a.Offer(i) {
			t.Fatalf("Offer %d refused: queue full", i)
		}
	}
	// Wait until the items are folded.
	deadline := time.Now().Add(10 * time.Second)
	for a.Stats().Events+a.Stats().Invalid < n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	s := a.Stats()
	if s.Spooled == 0 || s.Dropped == 0 {
		t.Fatalf("want spooled and dropped rows with a 20 KiB spool, got %+v", s)
	}
	if s.PendingKeys > 10 {
		t.Errorf("pending keys %d over MaxKeys 10", s.PendingKeys)
	}
	if s.SpoolBytes > 20<<10 {
		t.Errorf("spool %d bytes over its bound", s.SpoolBytes)
	}

	st.set(false, false)
	close(st.release) // the hung write fails; its counts merge back
	// The first Flush collects the hung write's failure; the next ones
	// write memory and replay the spool.
	a.Flush(context.Background())
	for i := 0; i < 5 && (a.Stats().SpoolBytes > 0 || a.Stats().PendingKeys > 0); i++ {
		if err := a.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	s = a.Stats()
	if s.SpoolBytes != 0 || s.PendingKeys != 0 {
		t.Fatalf("after recovery: %+v", s)
	}
	if s.Recovered != s.Spooled {
		t.Errorf("recovered %d of %d spooled", s.Recovered, s.Spooled)
	}
	// The first item was in the write that hung: merged back and written
	// later, so every item not dropped is counted once.
	if got, want := st.total(), int64(n)-int64(s.Dropped); got != want {
		t.Errorf("store has %d messages, want %d (%d dropped)", got, want, s.Dropped)
	}
}

// TestDownStoreSpoolSurvivesRestart: counts spooled at Close are replayed
// by the next aggregator on the same spool.
func TestDownStoreSpoolSurvivesRestart(t *testing.T) {
	st := newFake()
	st.set(false, true)
	spool := filepath.Join(t.TempDir(), "spool")
	cfg := Config{MaxKeys: 5, SpoolPath: spool, FlushInterval: time.Hour}
	a, err := New(cfg, st, convert, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		a.Offer(i)
	}
	if err := a.Close(context.Background()); err == nil {
		t.Fatal("Close with the store down: want its error")
	}
	if s := a.Stats(); s.Spooled != 20 || s.Dropped != 0 {
		t.Fatalf("after Close: %+v", s)
	}
	st.set(false, false)
	b := newAgg(t, cfg, st)
	if err := b.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := st.total(); got != 20 {
		t.Errorf("store has %d messages after replay, want 20", got)
	}
	if s := b.Stats(); s.Recovered != 20 || s.SpoolBytes != 0 {
		t.Errorf("replay stats %+v", s)
	}
}

func TestQueueFullDropsAndCounts(t *testing.T) {
	st := newFake()
	block := make(chan struct{})
	a, err := New(Config{QueueLen: 4, FlushInterval: time.Hour}, st, func(i int, emit func(report.Event)) bool {
		<-block
		return convert(i, emit)
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ok := 0
	for i := 0; i < 10; i++ {
		if a.Offer(i) {
			ok++
		}
	}
	close(block)
	if s := a.Stats(); s.QueueFull == 0 || s.QueueFull+s.Queued != 10 || int(s.Queued) != ok {
		t.Errorf("stats %+v", s)
	}
	if err := a.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := st.total(); got != int64(ok) {
		t.Errorf("store has %d, want %d", got, ok)
	}
}
