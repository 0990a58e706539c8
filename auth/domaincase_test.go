package auth

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"strings"
	"testing"

	msgauth "github.com/emersion/go-msgauth/dkim"
)

// TestDomainCaseAligns: d=, i= and the From domain in any case give a DKIM
// pass that DMARC aligns with the From domain (domain names compare
// case-insensitively, RFC 6376 §3.5, RFC 9989 §4.4).
func TestDomainCaseAligns(t *testing.T) {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{5}, 32))
	res := mapResolver{
		"sel._domainkey.example.com": "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(key.Public().(ed25519.PublicKey)),
		"_dmarc.example.com":         "v=DMARC1; p=reject; adkim=s",
	}
	cfg := DefaultConfig()
	cfg.AuthservID = "mx.test"
	ev, err := New(cfg, res, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ d, i, from string }{
		{"example.com", "@EXAMPLE.COM", "a@example.com"},
		{"EXAMPLE.COM", "@example.com", "a@Example.Com"},
		{"Example.Com", "", "a@EXAMPLE.COM."},
	} {
		var out bytes.Buffer
		err := msgauth.Sign(&out, strings.NewReader("From: "+tc.from+"\r\nSubject: s\r\n\r\nHi\r\n"), &msgauth.SignOptions{
			Domain: tc.d, Identifier: tc.i, Selector: "sel", Signer: key,
		})
		if err != nil {
			t.Fatal(err)
		}
		r, err := ev.EvaluateReader(context.Background(), Envelope{Helo: "h.test"}, &out)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.DKIM) != 1 || r.DKIM[0].Result != "pass" || r.DMARC.Result != "pass" || !r.DMARC.DKIMAligned {
			t.Errorf("d=%s i=%s From %s: dkim %+v, dmarc %+v", tc.d, tc.i, tc.from, r.DKIM, r.DMARC)
		}
	}
}
