package auth

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"

	"github.com/authmilter/authmilter/auth/dns/dnstest"
)

// FuzzRawField: a field whose line ends are CRLF, handed over the way an
// MTA hands it to a milter (folds as bare LF), is rebuilt byte for byte;
// and whatever the value, the rebuilt field has only CRLF line ends.
func FuzzRawField(f *testing.F) {
	for _, s := range []string{
		" value", "nospace", "\ttabbed", "  two spaces", " first\r\n  second line\r\n\tthird",
		"", " ", " a\r\n", " \r\n \r\n", " a\rb\nc", "\x00\xff",
	} {
		f.Add("Subject", s)
	}
	f.Fuzz(func(t *testing.T, name, value string) {
		got := rawField(name, value)
		if !strings.HasSuffix(got, "\r\n") {
			t.Fatalf("%q does not end in CRLF", got)
		}
		for i := 0; i < len(got); i++ {
			switch got[i] {
			case '\r':
				if i+1 >= len(got) || got[i+1] != '\n' {
					t.Fatalf("lone CR at %d in %q", i, got)
				}
			case '\n':
				if i == 0 || got[i-1] != '\r' {
					t.Fatalf("lone LF at %d in %q", i, got)
				}
			}
		}
		// The round trip holds for values with CRLF line ends only.
		stripped := strings.ReplaceAll(value, "\r\n", "")
		if strings.ContainsAny(stripped, "\r\n") || strings.ContainsAny(name, "\r\n") {
			return
		}
		asMTA := strings.ReplaceAll(value, "\r\n", "\n")
		if want := name + ":" + value + "\r\n"; rawField(name, asMTA) != want {
			t.Fatalf("rawField(%q, %q) = %q, want %q", name, asMTA, rawField(name, asMTA), want)
		}
	})
}

// FuzzFeed runs arbitrary bytes through the entry point the milter and the
// check command share (split into fields, reconstructed, streamed into DKIM,
// From parsed, DMARC decided): it never panics, always decides, and the
// forged A-R indices it reports exist.
func FuzzFeed(f *testing.F) {
	for _, s := range []string{
		"From: <a@example.com>\r\n\r\nbody\r\n",
		"From: a@example.com\nSubject: x\n folded\n\nbody\n",
		"Authentication-Results: mx.test; dkim=pass\r\nAuthentication-Results: other; none\r\nFrom: <a@b.test>\r\n\r\n",
		"DKIM-Signature: v=1; a=rsa-sha256; d=b.test; s=s; h=from; bh=AAAA; b=AAAA\r\nFrom: <a@b.test>\r\n\r\nx\r\n",
		"no colon here\r\n\r\n", "", "\r\n", "From:\r\n", "From: <a@b.test>\rX: y\r\n\r\n",
		"From: =?utf-8?q?=C3=A9?= <a@xn--bcher-kva.test>\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	cfg := DefaultConfig()
	cfg.AuthservID = "mx.test"
	ev, err := New(cfg, dnstest.NXResolver{}, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		env := Envelope{ClientIP: net.ParseIP("192.0.2.1"), Helo: "h.test", MailFrom: "a@b.test"}
		r, err := ev.EvaluateReader(context.Background(), env, bytes.NewReader(msg))
		if err != nil {
			t.Fatal(err)
		}
		if r.Decision.Action == "" {
			t.Fatal("no decision")
		}
		ars := bytes.Count(bytes.ToLower(msg), []byte("authentication-results:"))
		for _, i := range r.Forged {
			if i < 1 || i > ars {
				t.Fatalf("forged index %d of %d A-R fields", i, ars)
			}
		}
	})
}
