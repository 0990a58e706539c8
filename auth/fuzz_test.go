package auth

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"

	"github.com/authmilter/authmilter/auth/dns/dnstest"
)

// FuzzRawField: whatever the name and value, the rebuilt field is one
// field with CRLF line ends, each but the last a fold, so that DKIM cannot
// see a second field or the end of the header block in it; its bare CRs
// are the value's (kept as octets, not made line breaks). A value whose
// line ends are CRLF folds, handed over the way an MTA hands it to a
// milter (folds as bare LF), is rebuilt byte for byte.
func FuzzRawField(f *testing.F) {
	for _, s := range []string{
		" value", "nospace", "\ttabbed", "  two spaces", " first\r\n  second line\r\n\tthird",
		"", " ", " a\r\n", " \r\n \r\n", " a\rb\nc", "\x00\xff", " a\rFrom: b@evil.example",
		" a\nFrom: b@evil.example", " a\n\r\n", " a\r", "\r\r\n\t\r",
	} {
		f.Add("Subject", s)
	}
	f.Add("From\r", " a@example.com")
	f.Add("Fr\nom", " a@example.com")
	f.Fuzz(func(t *testing.T, name, value string) {
		got := rawField(name, value)
		if !strings.HasSuffix(got, "\r\n") {
			t.Fatalf("%q does not end in CRLF", got)
		}
		if n, _, _ := strings.Cut(got, ":"); strings.ContainsAny(n, "\r\n") {
			t.Fatalf("line break in the name of %q", got)
		}
		for i := 0; i < len(got); i++ {
			if got[i] != '\n' {
				continue
			}
			if i == 0 || got[i-1] != '\r' {
				t.Fatalf("lone LF at %d in %q", i, got)
			}
			if i+1 < len(got) && got[i+1] != ' ' && got[i+1] != '\t' {
				t.Fatalf("a line break at %d in %q starts a new field", i, got)
			}
		}
		if a, b := bareCRs(got), bareCRs(value); a != b {
			t.Fatalf("rawField(%q, %q) = %q: %d bare CRs, the value has %d", name, value, got, a, b)
		}
		// The round trip holds for values whose line breaks are CRLF folds.
		stripped := strings.ReplaceAll(strings.ReplaceAll(value, "\r\n ", ""), "\r\n\t", "")
		if strings.ContainsAny(stripped, "\r\n") || strings.ContainsAny(name, "\r\n") {
			return
		}
		asMTA := strings.ReplaceAll(value, "\r\n", "\n")
		if want := name + ":" + value + "\r\n"; rawField(name, asMTA) != want {
			t.Fatalf("rawField(%q, %q) = %q, want %q", name, asMTA, rawField(name, asMTA), want)
		}
	})
}

// bareCRs counts the CRs of s that are not followed by LF.
func bareCRs(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\r' && (i+1 == len(s) || s[i+1] != '\n') {
			n++
		}
	}
	return n
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
