package store

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testSendState: suppression keeps the later end and ignores case; the
// daily quota is shared by two hosts and starts again the next UTC day.
func testSendState(t *testing.T, open opener) {
	a, b := open(t)
	ctx := context.Background()
	if u, _, err := a.Suppressed(ctx, "d@x.test", day0); err != nil || !u.IsZero() {
		t.Fatalf("fresh destination suppressed: %v %v", u, err)
	}
	if err := a.Suppress(ctx, "D@X.test", day0.Add(48*time.Hour), "550 no such user"); err != nil {
		t.Fatal(err)
	}
	if err := b.Suppress(ctx, "d@x.test", day0.Add(time.Hour), "bounce"); err != nil {
		t.Fatal(err)
	}
	u, reason, err := b.Suppressed(ctx, "d@x.test", day0.Add(47*time.Hour))
	if err != nil || !u.Equal(day0.Add(48*time.Hour)) || reason != "bounce" {
		t.Errorf("suppressed until %v (%q) %v, want the later end", u, reason, err)
	}
	if u, _, _ := a.Suppressed(ctx, "d@x.test", day0.Add(48*time.Hour)); !u.IsZero() {
		t.Errorf("still suppressed at its end: %v", u)
	}

	var taken atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := s.TakeQuota(ctx, "q@x.test", day0.Add(time.Hour), 3)
			if err != nil {
				t.Error(err)
			}
			if ok {
				taken.Add(1)
			}
		}()
	}
	wg.Wait()
	if taken.Load() != 3 {
		t.Errorf("%d sends within a cap of 3", taken.Load())
	}
	if ok, err := a.TakeQuota(ctx, "q@x.test", day0.Add(25*time.Hour), 3); !ok || err != nil {
		t.Errorf("next day: %v %v", ok, err)
	}
	if ok, _ := a.TakeQuota(ctx, "q@x.test", day0.Add(2*time.Hour), 0); !ok {
		t.Error("limit 0 capped")
	}
}
