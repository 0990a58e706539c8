package dkim

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"strings"
	"testing"
)

// benchMessage builds a message with a body of about size bytes, signed
// once with rsa-sha256 (2048-bit key), and a resolver serving its key.
func benchMessage(b *testing.B, size int, withL bool) ([]byte, *fakeResolver) {
	b.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	const line = "The quick brown fox jumps over the lazy dog, again and again.\r\n" // 64 bytes
	body := strings.Repeat(line, size/len(line))
	unsigned := "From: a@example.com\r\nTo: b@example.net\r\nSubject: bench\r\n\r\n" + body
	var msg string
	if withL {
		msg = signWithLength(b, unsigned, key, -1)
	} else {
		msg = sign(b, unsigned, "example.com", "sel", key, nil)
	}
	r := newFakeResolver()
	r.add("sel._domainkey.example.com", keyRecordFor(b, key, ""))
	return []byte(msg), r
}

// BenchmarkVerify streams a signed message in 64 KiB chunks (as a milter
// gets it) through a Verifier. The message is built once, outside the timer.
// B/op counts all allocations (far below the message size for
// 10 MB; go-msgauth v0.7.0 allocates about twice the body). The "-l" cases
// carry l= covering the whole body.
func BenchmarkVerify(b *testing.B) {
	for _, bc := range []struct {
		name  string
		size  int
		withL bool
	}{{"10KB", 10 << 10, false}, {"10MB", 10 << 20, false}, {"10KB-l", 10 << 10, true}, {"10MB-l", 10 << 20, true}} {
		b.Run(bc.name, func(b *testing.B) {
			msg, r := benchMessage(b, bc.size, bc.withL)
			opts := Options{Resolver: r, Keys: NewKeyCache(0)} // as the daemon: parsed keys shared
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				v := NewVerifier(context.Background(), opts)
				for p := msg; len(p) > 0; {
					n := min(64<<10, len(p))
					v.Write(p[:n])
					p = p[n:]
				}
				if res := v.Close(); len(res) != 1 || res[0].Result != Pass {
					b.Fatalf("%+v", res)
				}
			}
		})
	}
}
