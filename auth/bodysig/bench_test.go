package bodysig

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/authmilter/authmilter/auth/mime"
)

// benchBody splits a message file into its Content-Type and body.
func benchBody(b *testing.B, raw []byte) (string, []byte) {
	b.Helper()
	ct, _, _, body := splitMessage(b, raw, "")
	return ct, body
}

// run checks a body the way a milter feeds it: in chunks of 64 KiB.
func run(b *testing.B, c *Checker, ct string, body []byte, want int) {
	b.Helper()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		m := c.NewMessage(context.Background(), ct, "", []string{"alice@example.test"})
		for p := body; len(p) > 0; {
			k := min(len(p), 64<<10)
			m.Write(p[:k])
			p = p[k:]
		}
		if rs := m.Close(); len(rs) != want || (want > 0 && rs[0].Result != mime.StatusPass) {
			b.Fatalf("results %+v", rs)
		}
	}
}

// BenchmarkSMIME100K: a 100 KB S/MIME clear-signed message, walked, hashed
// and verified (RSA-2048, chain of one CA).
func BenchmarkSMIME100K(b *testing.B) {
	raw, err := os.ReadFile("testdata/smime-100k.eml")
	if err != nil {
		b.Fatal(err)
	}
	ct, body := benchBody(b, raw)
	run(b, testChecker(b, nil), ct, body, 1)
}

// BenchmarkPGPMIME: a small PGP/MIME message (Ed25519).
func BenchmarkPGPMIME(b *testing.B) {
	raw, err := os.ReadFile("testdata/pgpmime.eml")
	if err != nil {
		b.Fatal(err)
	}
	ct, body := benchBody(b, raw)
	run(b, testChecker(b, nil), ct, body, 1)
}

// unsigned100K is about 100 KB of text in 76-character lines.
func unsigned100K() []byte {
	return bytes.Repeat([]byte(strings.Repeat("x", 74)+"\r\n"), 1350)
}

// BenchmarkUnsignedText100K: a 100 KB text/plain message without a
// signature: only the search for an armor marker.
func BenchmarkUnsignedText100K(b *testing.B) {
	run(b, testChecker(b, nil), "text/plain; charset=utf-8", unsigned100K(), 0)
}

// BenchmarkUnsignedMixed100K: a multipart/mixed message with a 100 KB
// attachment and no signature: only the search for delimiters.
func BenchmarkUnsignedMixed100K(b *testing.B) {
	body := append([]byte("--b\r\nContent-Type: text/plain\r\n\r\nHello\r\n--b\r\n"+
		"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"), unsigned100K()...)
	body = append(body, "--b--\r\n"...)
	run(b, testChecker(b, nil), "multipart/mixed; boundary=b", body, 0)
}

// BenchmarkUnsignedHTML100K: a top-level type that cannot hold a
// signature: the walker does nothing after the Content-Type.
func BenchmarkUnsignedHTML100K(b *testing.B) {
	run(b, testChecker(b, nil), "text/html; charset=utf-8", unsigned100K(), 0)
}

// BenchmarkBodyUnsignedText100K: the same text through a Body, as the
// daemon feeds it: only the marker search, no Message.
func BenchmarkBodyUnsignedText100K(b *testing.B) {
	c := testChecker(b, nil)
	body := unsigned100K()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	var m Body
	from := []string{"alice@example.test"}
	for b.Loop() {
		c.Start(&m, context.Background(), "text/plain; charset=utf-8", "", from)
		for p := body; len(p) > 0; {
			k := min(len(p), 64<<10)
			m.Write(p[:k])
			p = p[k:]
		}
		if rs := m.Close(); len(rs) != 0 {
			b.Fatalf("results %+v", rs)
		}
	}
}
