package dkim

import (
	"context"
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/authmilter/authmilter/auth/dns"
)

// TestCheckPublished: a key compared with its DNS record.
func TestCheckPublished(t *testing.T) {
	keys, r := testSignKeys(t)
	rsaRec, _ := KeyRecord(keys[0].Key)
	edRec, _ := KeyRecord(keys[1].Key)
	_, other, _ := ed25519.GenerateKey(nil)
	otherRec, _ := KeyRecord(other)
	r.add("revoked._domainkey.example.com", "v=DKIM1; k=rsa; p=")
	r.add("wrong._domainkey.example.com", otherRec)
	r.add("type._domainkey.example.com", rsaRec)
	r.add("testing._domainkey.example.com", edRec+"; t=y")
	r.add("sha1._domainkey.example.com", strings.Replace(rsaRec, "k=rsa;", "k=rsa; h=sha1;", 1))
	r.add("two._domainkey.example.com", edRec, edRec)
	r.fail("broken._domainkey.example.com", dns.ErrServFail)
	ed := keys[1].Key
	for _, c := range []struct {
		selector string
		key      SignKey
		want     error
		text     string
	}{
		{"rsa1", keys[0], nil, ""},
		{"ed1", keys[1], nil, ""},
		{"missing", SignKey{Domain: "example.com", Selector: "missing", Key: ed}, ErrKeyMissing, "missing._domainkey.example.com"},
		{"revoked", SignKey{Domain: "example.com", Selector: "revoked", Key: keys[0].Key}, ErrKeyUnusable, "revoked"},
		{"wrong", SignKey{Domain: "example.com", Selector: "wrong", Key: ed}, ErrKeyMismatch, ""},
		{"type", SignKey{Domain: "example.com", Selector: "type", Key: ed}, ErrKeyMismatch, "k=rsa for an ed25519 key"},
		{"testing", SignKey{Domain: "example.com", Selector: "testing", Key: ed}, ErrKeyUnusable, "t=y"},
		{"sha1", SignKey{Domain: "example.com", Selector: "sha1", Key: keys[0].Key}, ErrKeyUnusable, "sha256"},
		{"two", SignKey{Domain: "example.com", Selector: "two", Key: ed}, ErrKeyUnusable, "2 TXT records"},
		{"broken", SignKey{Domain: "example.com", Selector: "broken", Key: ed}, ErrKeyTemporary, ""},
	} {
		err := CheckPublished(context.Background(), r, c.key)
		switch {
		case c.want == nil && err != nil:
			t.Errorf("%s: %v", c.selector, err)
		case c.want != nil && (!errors.Is(err, c.want) || !errors.Is(err, ErrKeyCheck) || !strings.Contains(err.Error(), c.text)):
			t.Errorf("%s: %v, want %v with %q", c.selector, err, c.want, c.text)
		}
	}
}

// TestSignHeaderListOption: a configured header list replaces the default;
// a list that lacks From or names a trace field is refused.
func TestSignHeaderListOption(t *testing.T) {
	keys, _ := testSignKeys(t)
	opts := SignOptions{Keys: keys[1:], Headers: HeaderList{Oversign: []string{"From"},
		OversignIfPresent: []string{"X-Absent"}, Plain: []string{"subject", "X-Folded"}}, Expire: time.Hour}
	msg := signMessage(t, opts, oddHeader, oddBody, 1<<16)
	sig, err := parseSignature(strings.TrimSpace(strings.SplitN(splitFields(msg)[0], ":", 2)[1]))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(sig.headers, ":"); got != "From:From:subject:X-Folded" {
		t.Errorf("h=%s", got)
	}
	for _, bad := range []HeaderList{
		{Oversign: []string{"Subject"}},
		{Oversign: []string{"From"}, Plain: []string{"received"}},
		{Oversign: []string{"From"}, Plain: []string{"Authentication-Results"}},
		{Oversign: []string{"From", "from"}},
		{Oversign: []string{"From", "Bad Name"}},
	} {
		if _, err := NewSigner(SignOptions{Keys: keys[1:], Headers: bad}); !errors.Is(err, ErrSign) {
			t.Errorf("%+v: %v", bad, err)
		}
	}
	if err := DefaultHeaderList().Check(); err != nil {
		t.Errorf("default list: %v", err)
	}
}
