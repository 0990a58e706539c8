package send

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"strings"
	"testing"
	"time"

	"github.com/authmilter/authmilter/auth/dkim"
)

type zone map[string]string

func (z zone) LookupTXT(_ context.Context, name string) ([]string, error) {
	if v, ok := z[strings.TrimSuffix(name, ".")]; ok {
		return []string{v}, nil
	}
	return nil, nil
}

// A signed report verifies with our verifier, and the message below the
// signature is the message given.
func TestSign(t *testing.T) {
	key := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	msg := []byte("From: dmarc@rep.test\r\nSubject: Report Domain: a.test\r\n Submitter: rep.test\r\nContent-Type: text/plain\r\n\r\nbody\r\n.\r\n")
	signed, err := Sign(msg, dkim.SignOptions{Keys: []dkim.SignKey{{Domain: "rep.test", Selector: "r1", Key: key}}})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(signed, []byte("DKIM-Signature: v=1")) || !bytes.HasSuffix(signed, msg) {
		t.Fatalf("signed message:\n%s", signed)
	}
	rec, _ := dkim.KeyRecord(key)
	v := dkim.NewVerifier(context.Background(), dkim.Options{Resolver: zone{"r1._domainkey.rep.test": rec}, Now: func() time.Time { return time.Now() }})
	v.Write(signed)
	res := v.Close()
	if len(res) != 1 || res[0].Result != "pass" || res[0].Domain != "rep.test" {
		t.Errorf("verified: %+v", res)
	}
	if _, err := Sign([]byte("From: a@b\r\n"), dkim.SignOptions{Keys: []dkim.SignKey{{Domain: "rep.test", Selector: "r1", Key: key}}}); err == nil {
		t.Error("a message without a body separator was signed")
	}
}
