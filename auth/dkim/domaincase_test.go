package dkim

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
)

// TestDomainCaseAndBTag: d= and i= are domain names, compared
// case-insensitively (RFC 6376 §3.5 d=, i=; RFC 1035 §2.3.3), and only the
// b= tag's value is removed before the header hash (§3.5 b=, §3.7): a tag
// whose name merely ends in "b" keeps its value. dkimpy verifies every
// "pass" message below; signatures with and without l= must agree with it.
func TestDomainCaseAndBTag(t *testing.T) {
	rsaKey := loadPrivateKey(t, "testdata/dkim-dkimpy/test.private")
	edKey := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, 32))
	const msg = "From: a@example.com\r\nSubject: case\r\n\r\nHello\r\n"
	tests := []struct {
		name, tags         string
		result             Status
		domain, identifier string
	}{
		{"i= in upper case", "d=example.com; s=sel; i=@EXAMPLE.COM;", Pass, "example.com", "@EXAMPLE.COM"},
		{"d= in upper case", "d=EXAMPLE.COM; s=sel; i=user@example.com;", Pass, "example.com", "user@example.com"},
		{"i= a subdomain, mixed case", "d=Example.Com; s=sel; i=@Mail.EXAMPLE.com;", Pass, "example.com", "@Mail.EXAMPLE.com"},
		{"zb= tag", "d=example.com; s=sel; zb=keep;", Pass, "example.com", "@example.com"},
		{"zb= tag, folded", "d=example.com; s=sel; zb =\r\n keep; ab=b=1;", Pass, "example.com", "@example.com"},
		{"i= outside d=", "d=example.com; s=sel; i=@EXAMPLE.ORG;", PermError, "example.com", "@EXAMPLE.ORG"},
		{"i= a suffix but no subdomain", "d=example.com; s=sel; i=@BADEXAMPLE.COM;", PermError, "example.com", "@BADEXAMPLE.COM"},
	}
	for _, key := range []crypto.Signer{rsaKey, edKey} {
		r := newFakeResolver()
		if ek, ok := key.Public().(ed25519.PublicKey); ok {
			r.add("sel._domainkey.example.com", "v=DKIM1; k=ed25519; p="+base64.StdEncoding.EncodeToString(ek))
		} else {
			r.add("sel._domainkey.example.com", strings.TrimSpace(string(readFile(t, "testdata/dkim-dkimpy/test.txt"))))
		}
		for _, path := range []struct {
			name   string
			length int64
		}{{"no l=", noLength}, {"l=", -1}} {
			for _, tc := range tests {
				t.Run(fmt.Sprintf("%T/%s/%s", key, path.name, tc.name), func(t *testing.T) {
					signed := signOwn(t, msg, key, tc.tags, path.length)
					got := one(t, verifyAllChunkings(t, []byte(signed), Options{Resolver: r}))
					if got.Result != tc.result || got.Domain != tc.domain || got.Identifier != tc.identifier {
						t.Fatalf("got %+v, want %s d=%s i=%s", got, tc.result, tc.domain, tc.identifier)
					}
					if tc.result != Pass {
						return
					}
					// The signature covers the tag: changing it breaks it.
					tampered := strings.Replace(signed, "keep", "kept", 1)
					tampered = strings.Replace(tampered, "i=@", "i=x@", 1)
					tampered = strings.Replace(tampered, "i=user@", "i=usr@", 1)
					if got := one(t, verifyAllChunkings(t, []byte(tampered), Options{Resolver: r})); got.Result != Fail {
						t.Fatalf("tampered: got %+v, want fail", got)
					}
				})
			}
		}
	}
}
