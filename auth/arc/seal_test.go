//go:debug rsa1024min=0

package arc

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"strings"
	"testing"
	"time"

	"github.com/authmilter/authmilter/auth/dkim"
)

// TestNewSignerRefuses: the seal's domain, selector and key are checked
// as the DKIM signer checks them, so that a key we cannot seal with is
// refused at start, not when a message is sealed (ed25519.Sign panics on
// a key of the wrong length).
func TestNewSignerRefuses(t *testing.T) {
	small, err := rsa.GenerateKey(rand.Reader, 512)
	if err != nil {
		t.Fatal(err)
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, domain, sel string
		key               crypto.Signer
	}{
		{"RSA-512", "lists.test", "s1", small},
		{"ECDSA", "lists.test", "s1", ec},
		{"short Ed25519", "lists.test", "s1", ed[:32]},
		{"empty domain", "", "s1", ed},
		{"space in selector", "lists.test", "s 1", ed},
		{"64-octet label", strings.Repeat("a", 64) + ".test", "s1", ed},
	} {
		if _, err := NewSigner(c.domain, c.sel, c.key, nil); err == nil {
			t.Errorf("%s: NewSigner accepted it", c.name)
		}
	}
	if _, err := NewSigner("Lists.Test", "S1", ed, nil); err != nil {
		t.Errorf("Ed25519 key: %v", err)
	}
}

// TestSealFieldBytes: the values of a new set are what the milter inserts
// after "Name:" and one space, so they begin with a tag (never
// whitespace) and fold only with CRLF TAB; the signatures keep "Name: "
// and each line within 78 characters with RSA-2048 and Ed25519 keys (the
// tags after b= start a line of their own) and fold their tags as the
// DKIM signer does (dkim.FoldTags; the golden text after b=).
func TestSealFieldBytes(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	msg := "From: ceo@example.com\r\nTo: users@lists.example.org\r\nCc: other@example.net\r\n" +
		"Subject: [users] hello\r\nDate: Mon, 7 Dec 2026 16:00:00 +0000\r\nMessage-ID: <1@example.com>\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: text/plain\r\nList-Id: <users.lists.example.org>\r\n\r\nhello\r\n"
	fields, body := SplitHeader([]byte(msg))
	bh := dkim.NewBodyHasher(true, -1)
	bh.Write(body)
	sum, _, _ := bh.Sum()
	for _, key := range []crypto.Signer{rsaKey, ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))} {
		s, err := NewSigner("lists.example.org", "arc2026", key, nil)
		if err != nil {
			t.Fatal(err)
		}
		set, err := s.Seal(SealInput{Fields: fields, BodyHash: sum, CV: None, Time: time.Unix(1796663566, 0),
			AuthResults: "mx.lists.example.org; spf=pass smtp.mailfrom=example.com"})
		if err != nil {
			t.Fatal(err)
		}
		a := "a=" + s.algo + "; b=\r\n\t"
		for _, c := range []struct{ name, value, head, tail string }{
			{nameAAR, set.AAR, "i=1; mx.lists.example.org; spf=pass smtp.mailfrom=example.com", ""},
			{nameAMS, set.AMS, a, "\r\n\tbh=zS7KNTV0HyeorkDDGwxB1AV6enuRKzO5rthkhdHIRnY=; c=relaxed/relaxed;\r\n" +
				"\td=lists.example.org; h=from:to:cc:subject:date:message-id:mime-version:\r\n" +
				"\tcontent-type:list-id; i=1; s=arc2026; t=1796663566"},
			{nameSeal, set.Seal, a, "\r\n\tcv=none; d=lists.example.org; i=1; s=arc2026; t=1796663566"},
		} {
			if !strings.HasPrefix(c.value, c.head) {
				t.Errorf("%s %s: %q does not begin with %q", s.algo, c.name, c.value, c.head)
			}
			if strings.Count(c.value, "\n") != strings.Count(c.value, "\r\n\t") {
				t.Errorf("%s %s: a fold other than CRLF TAB: %q", s.algo, c.name, c.value)
			}
			if c.tail == "" {
				continue
			}
			_, afterB, _ := strings.Cut(c.value, "b=")
			if _, tail, _ := strings.Cut(afterB, ";"); tail != c.tail {
				t.Errorf("%s %s: tags after b=\n got %q\nwant %q", s.algo, c.name, tail, c.tail)
			}
			for i, line := range strings.Split(c.name+": "+c.value, "\r\n") {
				if len(line) > 78 {
					t.Errorf("%s %s: line %d of %d characters: %q", s.algo, c.name, i, len(line), line)
				}
			}
		}
	}
}
