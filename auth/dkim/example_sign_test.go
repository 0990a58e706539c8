package dkim_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"strings"
	"time"

	"github.com/authmilter/authmilter/auth/dkim"
)

// A message is signed field by field, then body chunk by body chunk; the
// values returned become "DKIM-Signature: " + value fields on top.
func ExampleSigner() {
	key := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)) // dkim.LoadSigningKey in production
	s, err := dkim.NewSigner(dkim.SignOptions{
		Keys: []dkim.SignKey{{Domain: "example.com", Selector: "ed1", Key: key}},
		Now:  func() time.Time { return time.Unix(1800000000, 0) },
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	header := []string{"From: Joe <joe@example.com>\r\n", "Subject: hello\r\n"}
	for _, f := range header {
		s.Header(f)
	}
	s.Write([]byte("Hi.\r\n"))
	values, err := s.Close()
	if err != nil {
		fmt.Println(err)
		return
	}
	msg := "DKIM-Signature: " + values[0] + "\r\n" + strings.Join(header, "") + "\r\nHi.\r\n"

	record, _ := dkim.KeyRecord(key)
	v := dkim.NewVerifier(context.Background(), dkim.Options{Resolver: zone{"ed1._domainkey.example.com": record}})
	v.WriteString(msg)
	for _, r := range v.Close() {
		fmt.Println(r.Result, r.Domain, r.Algorithm)
	}
	// Output: pass example.com ed25519-sha256
}
