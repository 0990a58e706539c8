package dkim

import (
	"context"
	"runtime"
	"strings"
	"testing"
)

// TestStreamingMemory checks that a Verifier does not hold the message: the
// live heap (after a GC) while 10 MB stream through stays within a small
// bound. (B/op in BenchmarkVerify counts garbage too: go-msgauth's body
// canonicalizers allocate a fresh buffer per write, about twice the body in
// total, all short-lived.)
func TestStreamingMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("10 MB message")
	}
	const line = "The quick brown fox jumps over the lazy dog, again and again.\r\n"
	msg := []byte(sign(t, "From: a@example.com\r\nSubject: big\r\n\r\n"+strings.Repeat(line, (10<<20)/len(line)),
		"example.com", "sel", testEdKey, nil))
	r := newFakeResolver()
	r.add("sel._domainkey.example.com", keyRecordFor(t, testEdKey, ""))

	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
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
		t.Fatalf("%+v", res)
	}
	t.Logf("live heap growth while streaming %d bytes: %d bytes", len(msg), peak)
	if peak > 1<<20 {
		t.Errorf("live heap grew by %d bytes while streaming: the message is being held", peak)
	}
}
