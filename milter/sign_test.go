package milter

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gomilter "github.com/emersion/go-milter"

	"github.com/authmilter/authmilter/auth"
	"github.com/authmilter/authmilter/auth/dkim"
	"github.com/authmilter/authmilter/auth/dns"
)

// signEnv is a testEnv whose configuration signs sign.test with an
// Ed25519 key twice (relaxed and simple), for SASL-authenticated clients
// and the ORIGINATING listener; trusted_networks is 203.0.113.0/24.
func signEnv(t *testing.T) *testEnv {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	file := filepath.Join(t.TempDir(), "ed.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	rec, _ := dkim.KeyRecord(key)
	zone := sessionZone + fmt.Sprintf("ed._domainkey.sign.test. TXT %q\nsimple._domainkey.sign.test. TXT %q\n", rec, rec)
	return newTestEnv(t, zone, envOptions{auth: func(c *auth.Config) {
		c.TrustedNetworks = []string{"203.0.113.0/24"}
		c.DKIM.SignDaemons = []string{"ORIGINATING"}
		c.DKIM.Sign = []auth.SignEntry{{Domain: "sign.test", Selector: "ed", Key: file},
			{Domain: "sign.test", Selector: "simple", Key: file, Canonicalization: "simple/simple"}}
	}})
}

// signedMessage has odd spacing that c=simple keeps: no space after one
// colon, a tab after another, a fold.
const signedMessage = "From: Alice <alice@sign.test>\r\nTo:  two@example.net\r\nSubject:nospace\r\n" +
	"X-Tab:\tvalue\r\nX-Folded: one\r\n\ttwo\r\nMessage-ID: <m1@sign.test>\r\n\r\nBody line.  \r\n\r\n"

// deliver builds the message as the MTA stores it after our header
// changes: "name:" + value for each inserted field (the leading-space
// option), folds as CRLF.
func deliver(t *testing.T, mods []gomilter.ModifyAction, raw string) string {
	t.Helper()
	var b strings.Builder
	for _, m := range mods {
		if m.Code != gomilter.ActInsertHeader || m.HeaderIndex != 0 {
			t.Fatalf("unexpected modification %+v", m)
		}
	}
	// Inserted at index 0 one after the other: the last one is on top.
	for i := len(mods) - 1; i >= 0; i-- {
		b.WriteString(mods[i].HeaderName + ":" + strings.ReplaceAll(mods[i].HeaderValue, "\n", "\r\n") + "\r\n")
	}
	return b.String() + raw
}

func verifyAll(t *testing.T, env *testEnv, msg string, want int) {
	t.Helper()
	r, err := dns.New(dns.Config{Servers: []string{env.dns.Addr}, Timeout: time.Second, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	v := dkim.NewVerifier(context.Background(), dkim.Options{Resolver: r})
	v.Write([]byte(msg))
	res := v.Close()
	if len(res) != want {
		t.Fatalf("%d signatures, want %d:\n%s", len(res), want, msg)
	}
	for _, x := range res {
		if x.Result != dkim.Pass {
			t.Errorf("s=%s: %s (%s)\n%s", x.Selector, x.Result, x.Reason, msg)
		}
	}
}

// TestSigningClients: a SASL-authenticated client and a client of the
// ORIGINATING listener are signed at end of message, with the leading
// space the negotiated header mode needs (c=simple verifies); a client in
// trusted_networks too; a client that is none of them is evaluated as
// before, and a signing client's message without an entry is accepted
// unsigned with a log line.
func TestSigningClients(t *testing.T) {
	env := signEnv(t)
	for _, c := range []struct {
		name          string
		ip            string
		connMacros    []string
		mailMacros    []string
		raw           string
		wantSigs      int
		wantEvaluated bool
	}{
		{"SASL", sessionIP, nil, []string{"{auth_authen}", "alice"}, signedMessage, 2, false},
		{"daemon_name", sessionIP, []string{"{daemon_name}", "ORIGINATING"}, nil, signedMessage, 2, false},
		{"trusted", "203.0.113.7", nil, nil, signedMessage, 2, false},
		{"no entry", sessionIP, nil, []string{"{auth_authen}", "bob"}, string(simpleMessage("bob@other.test", "x")), 0, false},
		{"port 25", sessionIP, []string{"{daemon_name}", "smtpd"}, nil, signedMessage, 0, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := env.client()
			defer s.Close()
			if len(c.connMacros) > 0 {
				if err := s.Macros(gomilter.CodeConn, c.connMacros...); err != nil {
					t.Fatal(err)
				}
			}
			connect(t, s, c.ip, "helo.test")
			mods, act := sendMessage(t, s, "alice@sign.test", []byte(c.raw), c.mailMacros...)
			if c.wantEvaluated {
				if insertedAR(mods) == "" {
					t.Errorf("not evaluated: %+v", mods)
				}
				for _, m := range mods {
					if m.HeaderName == "DKIM-Signature" {
						t.Errorf("signed: %+v", m)
					}
				}
				return
			}
			if act.Code != gomilter.ActAccept {
				t.Fatalf("action %c, want accept", act.Code)
			}
			if len(mods) != c.wantSigs {
				t.Fatalf("%d modifications, want %d signatures: %+v", len(mods), c.wantSigs, mods)
			}
			for _, m := range mods {
				if m.HeaderName != "DKIM-Signature" || !strings.HasPrefix(m.HeaderValue, " v=1; a=ed25519-sha256; ") ||
					strings.Contains(m.HeaderValue, "\r") {
					t.Errorf("inserted %s:%q", m.HeaderName, m.HeaderValue)
				}
			}
			if c.wantSigs > 0 {
				verifyAll(t, env, deliver(t, mods, c.raw), c.wantSigs)
			}
		})
	}
	if !strings.Contains(env.logs.String(), `msg="message not signed"`) ||
		!strings.Contains(env.logs.String(), `reason="no [[dkim.sign]] entry for other.test"`) {
		t.Errorf("no log line for the unsigned message:\n%s", env.logs.String())
	}
}

// TestSigningNeedsKeys: without [[dkim.sign]] entries an authenticated
// client is still accepted at MAIL FROM, its message not sent to us.
func TestSigningNeedsKeys(t *testing.T) {
	env := newTestEnv(t, sessionZone, envOptions{})
	s := env.client()
	defer s.Close()
	if err := s.Macros(gomilter.CodeConn, "{daemon_name}", "ORIGINATING"); err != nil {
		t.Fatal(err)
	}
	connect(t, s, sessionIP, "helo.test")
	if err := s.Macros(gomilter.CodeMail, "{auth_authen}", "alice"); err != nil {
		t.Fatal(err)
	}
	act, err := s.Mail("a@sign.test", nil)
	if err != nil || act.Code != gomilter.ActAccept {
		t.Fatalf("MAIL: %v %v, want accept", act, err)
	}
}
