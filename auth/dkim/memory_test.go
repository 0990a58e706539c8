package dkim

import (
	"context"
	"runtime"
	"strings"
	"testing"

	msgauth "github.com/emersion/go-msgauth/dkim"
)

// TestStreamingMemory checks that a Verifier does not hold the message and
// does not churn through it: while 10 MB stream through, the live heap
// (after a GC) stays within a small bound, and so do the bytes allocated in
// all (go-msgauth v0.7.0 unpatched allocated ~2x the body per signature;
// auth/dkim/third_party/go-msgauth/PATCH.md). Both are counts of bytes, not
// timings.
func TestStreamingMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("10 MB message")
	}
	const line = "The quick brown fox jumps over the lazy dog, again and again.\r\n"
	body := strings.Repeat(line, (10<<20)/len(line))
	for _, canon := range []msgauth.Canonicalization{msgauth.CanonicalizationSimple, msgauth.CanonicalizationRelaxed} {
		msg := []byte(sign(t, "From: a@example.com\r\nSubject: big\r\n\r\n"+body, "example.com", "sel", testEdKey,
			func(o *msgauth.SignOptions) { o.BodyCanonicalization = canon }))
		r := newFakeResolver()
		r.add("sel._domainkey.example.com", keyRecordFor(t, testEdKey, ""))

		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		base, total0 := ms.HeapAlloc, ms.TotalAlloc
		var peak uint64
		v := NewVerifier(context.Background(), Options{Resolver: r})
		for i, p := 0, msg; len(p) > 0; i++ {
			n := min(64<<10, len(p))
			v.Write(p[:n])
			p = p[n:]
			if i%16 == 15 { // every MiB
				runtime.GC()
				runtime.ReadMemStats(&ms)
				if ms.HeapAlloc > base {
					peak = max(peak, ms.HeapAlloc-base)
				}
			}
		}
		if res := v.Close(); len(res) != 1 || res[0].Result != Pass {
			t.Fatalf("%s: %+v", canon, res)
		}
		runtime.ReadMemStats(&ms)
		total := ms.TotalAlloc - total0
		t.Logf("%s: live heap growth while streaming %d bytes: %d bytes; allocated in all: %d bytes", canon, len(msg), peak, total)
		if peak > 1<<20 {
			t.Errorf("%s: live heap grew by %d bytes while streaming: the message is being held", canon, peak)
		}
		if total > uint64(len(msg))/10 {
			t.Errorf("%s: %d bytes allocated for a %d-byte message", canon, total, len(msg))
		}
	}
}
