package dkim

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"testing"
)

// BenchmarkSignCrypto is the signature operation alone, over a SHA-256
// hash, for the keys of BenchmarkSign (a whole 10 KB message): the
// difference between the two is what signing costs beyond the crypto
// (header parsing, canonicalization, hashing, formatting).
func BenchmarkSignCrypto(b *testing.B) {
	sum := sha256.Sum256([]byte("header hash input"))
	b.Run("rsa2048", func(b *testing.B) {
		for b.Loop() {
			if _, err := rsa.SignPKCS1v15(rand.Reader, signRSAKey(), crypto.SHA256, sum[:]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ed25519", func(b *testing.B) {
		for b.Loop() {
			_ = ed25519.Sign(testEdKey, sum[:])
		}
	})
}
