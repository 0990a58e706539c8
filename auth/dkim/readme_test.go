package dkim

import (
	"crypto/rand"
	"crypto/rsa"
	"os"
	"strings"
	"testing"
	"time"
)

// TestREADMESignatureExample: the README's DKIM-Signature example (up to
// bh=) is what the signer writes for a message with From, To, Subject,
// Date, Message-ID, MIME-Version, Content-Type and
// Content-Transfer-Encoding, folded the same way.
func TestREADMESignatureExample(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	const start = "DKIM-Signature: v=1; a=rsa-sha256;"
	_, ex, ok := strings.Cut(string(readme), start)
	ex, _, ok2 := strings.Cut(ex, "bh=")
	if !ok || !ok2 {
		t.Fatal("README has no DKIM-Signature example")
	}
	want := strings.ReplaceAll(start+ex, "\n", "\r\n")
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSigner(SignOptions{Keys: []SignKey{{Domain: "example.com", Selector: "rsa2027a", Key: key}},
		Now: func() time.Time { return time.Unix(1796663566, 0) }})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"From: a@example.com", "To: b@example.org", "Subject: hi",
		"Date: Mon, 7 Dec 2026 16:00:00 +0000", "Message-ID: <1@example.com>", "MIME-Version: 1.0",
		"Content-Type: text/plain", "Content-Transfer-Encoding: 7bit"} {
		s.Header(f)
	}
	s.Write([]byte("hello\r\n"))
	v, err := s.Close()
	if err != nil {
		t.Fatal(err)
	}
	if got, _, _ := strings.Cut("DKIM-Signature: "+v[0], "bh="); got != want {
		t.Errorf("signer writes\n%s\nREADME shows\n%s", got, want)
	}
}
