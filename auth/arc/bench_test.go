package arc

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/authmilter/authmilter/auth/dkim"
)

// BenchmarkVerifyRSAOnly is the RSA part of BenchmarkVerify: the six
// RSA-2048 verifications a passing 3-instance chain costs (the newest AMS,
// three seals, and the two older AMS for oldest-pass). BenchmarkVerify
// minus this is what ARC costs beyond RSA.
func BenchmarkVerifyRSAOnly(b *testing.B) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	h := sha256.Sum256([]byte("x"))
	sig, _ := rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, h[:])
	b.ReportAllocs()
	for b.Loop() {
		for range 6 {
			if rsa.VerifyPKCS1v15(&k.PublicKey, crypto.SHA256, h[:], sig) != nil {
				b.Fatal("verify")
			}
		}
	}
}

// BenchmarkSeal adds a fourth instance to a 3-instance chain on a 10 KB
// message (the body hash given, as the milter streams it): two RSA-2048
// signatures and the canonicalization around them.
func BenchmarkSeal(b *testing.B) {
	msg, _ := chain3(b, 10<<10)
	fields, body := SplitHeader([]byte(msg))
	bh := dkim.NewBodyHasher(true, -1)
	bh.Write(body)
	sum, _, _ := bh.Sum()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	s, err := NewSigner("four.example", "s1", k, nil)
	if err != nil {
		b.Fatal(err)
	}
	in := SealInput{Fields: fields, BodyHash: sum, AuthResults: "mx.four.example; spf=pass smtp.mailfrom=a@example.com",
		CV: Pass, Time: time.Unix(1765000000, 0)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Seal(in); err != nil {
			b.Fatal(err)
		}
	}
}
