package dns_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/authmilter/authmilter/auth/dns"
)

const dkimMessage = "From: Joe <joe@example.com>\r\n" +
	"To: Suzie <suzie@example.net>\r\n" +
	"Subject: key lookups\r\n" +
	"Date: Sun, 22 Nov 2026 11:00:00 +0000\r\n" +
	"Message-ID: <1@example.com>\r\n" +
	"\r\n" +
	"Is the key there?\r\n"

// TestDKIMKeyLookupErrors proves that go-msgauth, fed by our Resolver, turns
// a SERVFAIL or a timeout on the key lookup into a temporary failure
// (RFC 6376 section 6.1.2, temperror) and NXDOMAIN into a permanent one.
func TestDKIMKeyLookupErrors(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var signed bytes.Buffer
	err = dkim.Sign(&signed, strings.NewReader(dkimMessage), &dkim.SignOptions{
		Domain: "example.com", Selector: "sel", Signer: priv,
	})
	if err != nil {
		t.Fatal(err)
	}
	p := base64.StdEncoding.EncodeToString(pub)
	// The key record in two strings: the resolver joins them.
	keyRR := `sel._domainkey.example.com. TXT "v=DKIM1; k=ed25519; " "p=` + p + `"`

	srv, r, _ := setup(t, keyRR, func(c *dns.Config) {
		c.Timeout = 100 * time.Millisecond
		c.NoCache = true
	})
	ctx := context.Background()
	verify := func() error {
		t.Helper()
		vs, err := dkim.VerifyWithOptions(bytes.NewReader(signed.Bytes()), &dkim.VerifyOptions{
			LookupTXT: func(d string) ([]string, error) { return r.LookupTXT(ctx, d) },
		})
		if err != nil || len(vs) != 1 {
			t.Fatalf("VerifyWithOptions: %d verifications, %v", len(vs), err)
		}
		return vs[0].Err
	}

	if err := verify(); err != nil {
		t.Fatalf("key published: %v", err)
	}

	srv.ServFail("sel._domainkey.example.com")
	if err := verify(); !dkim.IsTempFail(err) || dkim.IsPermFail(err) {
		t.Errorf("SERVFAIL: %v (tempfail %v, permfail %v), want tempfail", err, dkim.IsTempFail(err), dkim.IsPermFail(err))
	}
	srv.Clear("sel._domainkey.example.com")

	srv.Drop("*")
	if err := verify(); !dkim.IsTempFail(err) {
		t.Errorf("timeout: %v, want tempfail", err)
	}
	srv.Clear("*")

	srv.Remove("sel._domainkey.example.com", 0)
	if err := verify(); !dkim.IsPermFail(err) || dkim.IsTempFail(err) {
		t.Errorf("NXDOMAIN: %v (tempfail %v, permfail %v), want permfail", err, dkim.IsTempFail(err), dkim.IsPermFail(err))
	}
}
