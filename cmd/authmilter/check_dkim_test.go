package main

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/authmilter/authmilter/auth/dns/dnstest"
	msgauth "github.com/emersion/go-msgauth/dkim"
)

// dkimTestMessage is signed twice with one Ed25519 key: selector "good"
// (published), "sf" (SERVFAIL). It is returned with LF line ends.
func dkimTestMessage(t *testing.T) (string, *dnstest.Server) {
	t.Helper()
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, 32))
	msg := "From: joe@example.com\r\nTo: sue@example.net\r\nSubject: hi\r\n\r\nHello.\r\n"
	for _, sel := range []string{"sf", "good"} {
		var out bytes.Buffer
		if err := msgauth.Sign(&out, strings.NewReader(msg), &msgauth.SignOptions{
			Domain: "example.com", Selector: sel, Signer: key,
			HeaderCanonicalization: "relaxed", BodyCanonicalization: "simple",
		}); err != nil {
			t.Fatal(err)
		}
		msg = out.String()
	}
	rec := "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(key.Public().(ed25519.PublicKey))
	srv, err := dnstest.Start(fmt.Sprintf("good._domainkey.example.com. 300 IN TXT %q\nsf._domainkey.example.com. 300 IN TXT %q\n", rec, rec))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	srv.ServFail("sf._domainkey.example.com")
	return strings.ReplaceAll(msg, "\r\n", "\n"), srv
}

func TestCheckDKIM(t *testing.T) {
	msg, srv := dkimTestMessage(t)
	for _, input := range []struct{ name, msg string }{
		{"LF", msg},
		{"CRLF", strings.ReplaceAll(msg, "\n", "\r\n")},
	} {
		t.Run(input.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := checkDKIM([]string{"-dns", srv.Addr, "-dns-timeout", "500ms"}, strings.NewReader(input.msg), &stdout, &stderr)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr.String())
			}
			lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
			if len(lines) != 2 ||
				!strings.HasPrefix(lines[0], "dkim=pass header.d=example.com header.i=@example.com header.s=good header.a=ed25519-sha256 header.b=") ||
				!strings.HasSuffix(lines[0], "key_bits=256") ||
				!strings.HasPrefix(lines[1], "dkim=temperror header.d=example.com") ||
				!strings.HasSuffix(lines[1], "(key lookup: server failure)") {
				t.Errorf("output:\n%s", stdout.String())
			}
		})
	}
}

func TestCheckDKIMJSON(t *testing.T) {
	msg, srv := dkimTestMessage(t)
	var stdout, stderr bytes.Buffer
	if code := checkDKIM([]string{"-json", "-dns", srv.Addr}, strings.NewReader(msg), &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var out struct {
		Signatures []map[string]any `json:"signatures"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("%v:\n%s", err, stdout.String())
	}
	if len(out.Signatures) != 2 {
		t.Fatalf("%d signatures:\n%s", len(out.Signatures), stdout.String())
	}
	s := out.Signatures[0]
	for k, want := range map[string]any{"result": "pass", "domain": "example.com", "selector": "good",
		"algorithm": "ed25519-sha256", "reason": "", "identifier": "@example.com", "key_bits": 256.0} {
		if s[k] != want {
			t.Errorf("%s = %v, want %v", k, s[k], want)
		}
	}
	if b, _ := s["header_b"].(string); len(b) != 8 {
		t.Errorf("header_b %q", s["header_b"])
	}
	if out.Signatures[1]["result"] != "temperror" {
		t.Errorf("second signature: %v", out.Signatures[1])
	}

	// No signature: an empty list, not null.
	stdout.Reset()
	if code := checkDKIM([]string{"-json", "-dns", srv.Addr}, strings.NewReader("From: a@example.com\n\nhi\n"), &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if got := strings.Join(strings.Fields(stdout.String()), ""); got != `{"signatures":[]}` {
		t.Errorf("unsigned: %s", stdout.String())
	}
}

func TestCheckDKIMUsage(t *testing.T) {
	for _, args := range [][]string{{"-dns", "nonsense"}, {"extra"}, {"-dns-timeout", "-1s"}, {"-bogus"}} {
		var stdout, stderr bytes.Buffer
		if code := checkDKIM(args, strings.NewReader(""), &stdout, &stderr); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}

func TestCRLFWriter(t *testing.T) {
	var out bytes.Buffer
	w := &crlfWriter{w: &out}
	for _, chunk := range []string{"a\n", "b\r", "\nc\r\n", "\n", "d"} {
		w.Write([]byte(chunk))
	}
	if got := out.String(); got != "a\r\nb\r\nc\r\n\r\nd" {
		t.Errorf("got %q", got)
	}
}
