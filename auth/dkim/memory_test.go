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
// all (go-msgauth v0.7.0 allocates ~2x the body per signature). Both are
// counts of bytes, not timings.
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
		if total > 640<<10 { // ~0.2-0.3 MB, most of it pools refilled after the forced GCs
			t.Errorf("%s: %d bytes allocated for a %d-byte message", canon, total, len(msg))
		}
	}
}

// TestLengthTagHostileBodies: bodies that make a canonicalizer hold line
// breaks back, under signatures with and without l=: line breaks mixed
// with lone CRs beyond 1 MiB are a permerror; megabytes of empty lines
// before content are passed on without being held or copied whole.
func TestLengthTagHostileBodies(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-megabyte bodies")
	}
	r := newFakeResolver()
	r.add("sel._domainkey.example.com", keyRecordFor(t, testEdKey, ""))
	const hdr = "From: a@example.com\r\nSubject: l= test\r\n\r\n"
	for _, tc := range []struct {
		name, body string
		result     Status
		reason     string
		maxAlloc   uint64
	}{
		{"lone CRs past 1 MiB", "x" + strings.Repeat("\r\r\n", 400_000) + "y\r\n", PermError, errHeldReason, 8 << 20},
		{"lone CRs, 6 MB of them", "x" + strings.Repeat("\r\r\n", 2_000_000) + "y\r\n", PermError, errHeldReason, 8 << 20}, // bounded: no more than for 1.2 MB
		{"10 MB of empty lines", "x\r\n" + strings.Repeat("\r\n", 5<<20) + "y\r\n", Pass, "", 1 << 20},
	} {
		for _, length := range []int64{-1, noLength} {
			msg := []byte(signOwn(t, hdr+tc.body, testEdKey, "d=example.com; s=sel;", length))
			name := tc.name + ", l="
			if length == noLength {
				name = tc.name + ", no l="
			}
			var ms runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&ms)
			total0 := ms.TotalAlloc
			v := NewVerifier(context.Background(), Options{Resolver: r})
			for p := msg; len(p) > 0; {
				n := min(64<<10, len(p))
				v.Write(p[:n])
				p = p[n:]
			}
			res := v.Close()
			runtime.ReadMemStats(&ms)
			total := ms.TotalAlloc - total0
			if len(res) != 1 || res[0].Result != tc.result || res[0].Reason != tc.reason {
				t.Errorf("%s: %+v, want %s %q", name, res, tc.result, tc.reason)
			}
			t.Logf("%s: %d bytes allocated for a %d-byte message", name, total, len(msg))
			if total > tc.maxAlloc {
				t.Errorf("%s: %d bytes allocated for a %d-byte message, bound %d", name, total, len(msg), tc.maxAlloc)
			}
		}
	}
}
