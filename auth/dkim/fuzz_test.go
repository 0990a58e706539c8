package dkim

import (
	"context"
	"crypto/ed25519"
	"strings"
	"testing"
)

// The parsers see hostile input: they must never panic. Seeds live in
// testdata/fuzz/<FuzzName>/ (go test runs them as regular tests).

func FuzzParseTagList(f *testing.F) {
	f.Add("v=1; a=rsa-sha256; d=example.com")
	f.Add(" a = b ;; c=d;")
	f.Add("v=DKIM1: g=*; k=rsa")
	f.Fuzz(func(t *testing.T, s string) {
		tags, err := parseTagList(s)
		if err == nil {
			for name := range tags {
				if !isTagName(name) {
					t.Fatalf("bad tag name %q accepted", name)
				}
			}
		}
	})
}

func FuzzParseSignature(f *testing.F) {
	f.Add("v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.com; s=sel; h=from:to; bh=AAAA; b=AAAA; l=12; t=1; x=2; i=a=40@example.com")
	f.Add("v=1; a=ed25519-sha256; d=x; s=y; h=From; bh=a; b=b; q=dns/txt:http")
	f.Add("v=1; a=rsa-sha1; d=example.com; s=s; h=from; bh=x; b=y; i=@sub.example.com; x=99999999999999999999")
	f.Fuzz(func(t *testing.T, s string) {
		sig, err := parseSignature(s)
		if err == nil {
			_ = sig.keyName()
			_ = strictIdentity(sig)
		}
		_ = describe(s)
		_ = emptyB("DKIM-Signature: " + s + "\r\n")
	})
}

func FuzzParseKeyRecord(f *testing.F) {
	f.Add("v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=")
	f.Add("v=DKIM1; h=sha1:sha256; s=email:*; t=y:s; p=")
	f.Add("k=rsa; p=MFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBALgSoqXVSEmfcIsOzw7oRuCCOwsmtX/SJnTWxYyj2leFxfS/AVJ+dYfY+hXqMsT7l+MZvvh/R1WzN4MO/kI/7XsCAwEAAQ==")
	f.Fuzz(func(t *testing.T, s string) {
		k, err := parseKeyRecord(s)
		if err == nil {
			if k.pub == nil || k.bits <= 0 {
				t.Fatalf("key without public key or size: %+v", k)
			}
			_, _, _ = k.allowsHash("sha256"), k.forEmail(), k.hasFlag("y")
		}
	})
}

// FuzzBodyCanon checks this package's body canonicalization (used for l=)
// against go-msgauth's, through the bh= that go-msgauth's signer writes.
func FuzzBodyCanon(f *testing.F) {
	f.Add("a \r\n\r\n", true, uint8(1))
	f.Add("a\rb\n\r\r\n \t\r\n", false, uint8(3))
	key := ed25519.NewKeyFromSeed(make([]byte, 32))
	f.Fuzz(func(t *testing.T, body string, relaxed bool, chunk uint8) {
		bc := "simple"
		if relaxed {
			bc = "relaxed"
		}
		want := libBodyHash(t, key, bc, "From: a@example.com\r\n\r\n"+body)
		if got := ownBodyHash(bc, body, int(chunk)+1); got != want {
			t.Fatalf("%s %q: own bh %s, go-msgauth %s", bc, body, got, want)
		}
	})
}

// FuzzVerifier streams arbitrary messages: no panic, one result per
// signature field, goroutines ended by Close.
func FuzzVerifier(f *testing.F) {
	f.Add([]byte("DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=s; h=from; bh=AA==; b=AA==\r\nFrom: a@example.com\r\n\r\nbody\r\n"), uint8(3))
	f.Add([]byte("DKIM-Signature: v=1; a=ed25519-sha256; l=3; d=example.com; s=s; h=from; bh=AA==; b=AA==\r\n\r\n"), uint8(0))
	f.Add([]byte("\r\n\r\n"), uint8(1))
	f.Add([]byte("dkim-signature:\n \n"), uint8(2))
	r := newFakeResolver()
	r.add("s._domainkey.example.com", "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=")
	f.Fuzz(func(t *testing.T, msg []byte, chunk uint8) {
		v := NewVerifier(context.Background(), Options{Resolver: r})
		for b := msg; len(b) > 0; {
			k := min(int(chunk)+1, len(b))
			v.Write(b[:k])
			b = b[k:]
		}
		res := v.Close()
		if n := strings.Count(strings.ToLower(string(msg)), "dkim-signature"); len(res) > n {
			t.Fatalf("%d results for %d signature names", len(res), n)
		}
	})
}
