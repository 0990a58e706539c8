package milter

import (
	"runtime"
	"strings"
	"testing"
)

// TestHeadersNotKeptAcrossMessages: go-milter v0.5.0 collects every header
// field of a connection in a map that only ABORT clears; Sendmail sends no
// ABORT after end of message. Many messages on one connection must not
// make the session's memory grow.
func TestHeadersNotKeptAcrossMessages(t *testing.T) {
	env := newTestEnv(t, sessionZone, envOptions{})
	s := env.client()
	defer s.Close()
	connect(t, s, sessionIP, "helo.test")
	hdr := strings.Repeat("X-Pad: "+strings.Repeat("p", 500)+"\r\n", 200) // 100 KB
	msg := []byte(hdr + string(simpleMessage("b@other.test", "many")))
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	for range 20 {
		sendMessage(t, s, "b@other.test", msg)
	}
	before := heap()
	for range 200 {
		sendMessage(t, s, "b@other.test", msg)
	}
	after := heap()
	// 200 messages of 100 KB of header: 20 MB if the fields were kept.
	if after > before+8<<20 {
		t.Errorf("heap grew by %d MB over 200 messages on one connection", (after-before)>>20)
	}
}
