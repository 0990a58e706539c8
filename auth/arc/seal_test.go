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
