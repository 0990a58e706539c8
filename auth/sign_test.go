package auth_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/authmilter/authmilter/auth"
)

// writeKey writes a PKCS#8 PEM key file and returns its path.
func writeKey(t testing.TB, key any) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func edKeyFile(t *testing.T) string {
	t.Helper()
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	return writeKey(t, k)
}

func signConfig(entries ...auth.SignEntry) auth.Config {
	cfg := auth.DefaultConfig()
	cfg.AuthservID = "mx.test"
	cfg.TrustedNetworks = []string{"203.0.113.0/24"}
	cfg.DKIM.SignDaemons = []string{"ORIGINATING"}
	cfg.DKIM.Sign = entries
	return cfg
}

// TestSignsClient: who is a signing client, and that nobody is without keys.
func TestSignsClient(t *testing.T) {
	key := edKeyFile(t)
	ev, err := auth.New(signConfig(auth.SignEntry{Domain: "sign.test", Selector: "s", Key: key}), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	none, err := auth.New(signConfig(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		env  auth.Envelope
		want bool
	}{
		{auth.Envelope{ClientIP: net.ParseIP("198.51.100.1"), AuthUser: "alice"}, true},
		{auth.Envelope{ClientIP: net.ParseIP("203.0.113.9")}, true},
		{auth.Envelope{ClientIP: net.ParseIP("198.51.100.1"), DaemonName: "ORIGINATING"}, true},
		{auth.Envelope{ClientIP: net.ParseIP("198.51.100.1"), DaemonName: "smtpd"}, false},
		{auth.Envelope{ClientIP: net.ParseIP("198.51.100.1")}, false},
	} {
		if got := ev.SignsClient(c.env); got != c.want {
			t.Errorf("SignsClient(%+v) = %v", c.env, got)
		}
		if none.SignsClient(c.env) {
			t.Errorf("without keys SignsClient(%+v) = true", c.env)
		}
	}
	cfg := signConfig(auth.SignEntry{Domain: "sign.test", Selector: "s", Key: key})
	cfg.DKIM.SignAuthenticated, cfg.DKIM.SignTrusted = false, false
	off, _ := auth.New(cfg, nil, nil)
	if off.SignsClient(auth.Envelope{ClientIP: net.ParseIP("203.0.113.9"), AuthUser: "alice"}) {
		t.Error("sign_authenticated and sign_trusted off, still a signing client")
	}
}

func signOne(ev *auth.Evaluator, raw string) auth.SignResult {
	m := ev.NewSignMessage(auth.Envelope{AuthUser: "alice"})
	head, body, _ := strings.Cut(raw, "\r\n\r\n")
	for _, field := range splitLF(strings.ReplaceAll(head, "\r\n", "\n")) {
		name, value, _ := strings.Cut(field, ":")
		m.Header(name, value)
	}
	m.EndHeaders()
	m.Body([]byte(body))
	return m.Finish()
}

// TestSignMessage: which From gets which keys, why a message is not
// signed, and the warnings.
func TestSignMessage(t *testing.T) {
	key := edKeyFile(t)
	ev, err := auth.New(signConfig(
		auth.SignEntry{Domain: "sign.test", Selector: "a", Key: key},
		auth.SignEntry{Domain: "sign.test", Selector: "b", Key: key, Canonicalization: "simple/simple"},
		auth.SignEntry{Domain: "Parent.TEST.", Selector: "p", Key: key, Subdomains: true},
		auth.SignEntry{Domain: "exact.test", Selector: "e", Key: key},
	), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, raw string
		selectors string
		notSigned string
		warning   string
	}{
		{"two keys", "From: a@Sign.Test\r\n\r\nx\r\n", "a._domainkey.sign.test,b._domainkey.sign.test", "", ""},
		{"subdomain", "From: a@x.y.parent.test\r\n\r\nx\r\n", "p._domainkey.parent.test", "", ""},
		{"parent itself", "From: a@parent.test\r\n\r\nx\r\n", "p._domainkey.parent.test", "", ""},
		{"no subdomains", "From: a@sub.exact.test\r\n\r\nx\r\n", "", "no [[dkim.sign]] entry for sub.exact.test", ""},
		{"two From", "From: a@sign.test\r\nFrom: b@sign.test\r\n\r\nx\r\n", "", "unusable From", ""},
		{"two domains", "From: a@sign.test, b@exact.test\r\n\r\nx\r\n", "", "From names 2 domains", ""},
		{"no From", "Subject: x\r\n\r\nx\r\n", "", "unusable From", ""},
		{"folds", "From: a@sign.test\r\nX: a" + strings.Repeat("\r\n b", 1001) + "\r\n\r\nx\r\n", "", "limits.max_field_lines", ""},
		{"8-bit", "From: a@sign.test\r\n\r\nGr\xc3\xbc\xc3\x9fe\r\n", "a._domainkey.sign.test,b._domainkey.sign.test", "", "disable_mime_output_conversion"},
		{"long line", "From: a@sign.test\r\n\r\n" + strings.Repeat("x", 999) + "\r\n", "a._domainkey.sign.test,b._domainkey.sign.test", "", "998 octets"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := signOne(ev, c.raw)
			if got := strings.Join(r.Selectors, ","); got != c.selectors || !strings.Contains(r.NotSigned, c.notSigned) ||
				(c.notSigned == "") != (r.NotSigned == "") {
				t.Errorf("signed %q, not signed %q; want %q, %q", got, r.NotSigned, c.selectors, c.notSigned)
			}
			if len(r.Signatures) != len(r.Selectors) {
				t.Errorf("%d signatures for %d selectors", len(r.Signatures), len(r.Selectors))
			}
			if w := strings.Join(r.Warnings, ";"); !strings.Contains(w, c.warning) || (c.warning == "") != (w == "") {
				t.Errorf("warnings %q, want one with %q", w, c.warning)
			}
		})
	}
}

// TestSignConfigErrors: bad keys and files are refused, naming the key
// (an RSA key under 1024 bits: auth/dkim's TestParseSigningKey).
func TestSignConfigErrors(t *testing.T) {
	good := edKeyFile(t)
	junk := filepath.Join(t.TempDir(), "junk.pem")
	os.WriteFile(junk, []byte("not a key"), 0o600)
	e := func(d, s, k string) auth.SignEntry { return auth.SignEntry{Domain: d, Selector: s, Key: k} }
	for _, c := range []struct {
		name string
		edit func(*auth.Config)
		want string
	}{
		{"missing key", func(c *auth.Config) { c.DKIM.Sign = []auth.SignEntry{e("a.test", "s", "")} }, "dkim.sign[0]: domain, selector and key are required"},
		{"unreadable", func(c *auth.Config) { c.DKIM.Sign = []auth.SignEntry{e("a.test", "s", "/nonexistent.pem")} }, "dkim.sign[0] (s._domainkey.a.test): dkim: signing key: open /nonexistent.pem"},
		{"not a key", func(c *auth.Config) { c.DKIM.Sign = []auth.SignEntry{e("a.test", "s", junk)} }, "no PEM private key block"},
		{"twice", func(c *auth.Config) { c.DKIM.Sign = []auth.SignEntry{e("a.test", "s", good), e("A.test", "S", good)} }, "dkim.sign[1]: selector S of A.test is configured twice"},
		{"bad domain", func(c *auth.Config) { c.DKIM.Sign = []auth.SignEntry{e("a test", "s", good)} }, "bad domain"},
		{"canonicalization", func(c *auth.Config) {
			c.DKIM.Sign = []auth.SignEntry{{Domain: "a.test", Selector: "s", Key: good, Canonicalization: "relaxed"}}
		}, "dkim.sign[0].canonicalization"},
		{"sign_canonicalization", func(c *auth.Config) { c.DKIM.SignCanonicalization = "simple/strict" }, "dkim.sign_canonicalization"},
		{"expire", func(c *auth.Config) { c.DKIM.SignExpire = 1 }, "dkim.sign_expire"},
		{"Received", func(c *auth.Config) { c.DKIM.SignHeaders = []string{"Received"} }, "Received is never signed"},
		{"no From", func(c *auth.Config) { c.DKIM.SignOversign = []string{"Subject"} }, "must sign From"},
		{"key check", func(c *auth.Config) { c.DKIM.SignKeyCheck = "maybe" }, "dkim.sign_key_check"},
		{"daemon", func(c *auth.Config) { c.DKIM.SignDaemons = []string{""} }, "dkim.sign_daemons"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := signConfig()
			c.edit(&cfg)
			_, err := auth.New(cfg, nil, nil)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}

// TestSignWeakKeyWarned: an RSA key under 2048 bits is used, with a
// warning naming it.
func TestSignWeakKeyWarned(t *testing.T) {
	k, _ := rsa.GenerateKey(rand.Reader, 1024)
	file := writeKey(t, k)
	var logs bytes.Buffer
	_, err := auth.New(signConfig(auth.SignEntry{Domain: "a.test", Selector: "old", Key: file}), nil,
		slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "weak") || !strings.Contains(logs.String(), "old._domainkey.a.test") || !strings.Contains(logs.String(), "bits=1024") {
		t.Errorf("log %q", logs.String())
	}
}

// TestSignStreamingMemory: a signing client's 10 MB message streams
// through in 64 KiB chunks without being held: the live heap does not
// grow with it, and little is allocated in all.
func TestSignStreamingMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("10 MB message")
	}
	key := edKeyFile(t)
	ev, err := auth.New(signConfig(auth.SignEntry{Domain: "sign.test", Selector: "a", Key: key},
		auth.SignEntry{Domain: "sign.test", Selector: "b", Key: key, Canonicalization: "simple/simple"}), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(strings.Repeat("The quick brown fox jumps over the lazy dog, again and again.\r\n", (10<<20)/64))
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base, total0 := ms.HeapAlloc, ms.TotalAlloc
	var peak uint64
	m := ev.NewSignMessage(auth.Envelope{AuthUser: "u"})
	m.Header("From", " a@sign.test")
	m.Header("Subject", " big")
	m.EndHeaders()
	for i, p := 0, body; len(p) > 0; i++ {
		n := min(64<<10, len(p))
		m.Body(p[:n])
		p = p[n:]
		if i%16 == 15 {
			runtime.GC()
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > base {
				peak = max(peak, ms.HeapAlloc-base)
			}
		}
	}
	if r := m.Finish(); len(r.Signatures) != 2 {
		t.Fatalf("%+v", r)
	}
	runtime.ReadMemStats(&ms)
	total := ms.TotalAlloc - total0
	t.Logf("live heap growth while streaming %d bytes: %d bytes; allocated in all: %d bytes", len(body), peak, total)
	if peak > 1<<20 || total > 1<<20 {
		t.Errorf("live heap grew by %d bytes, %d bytes allocated, for a %d-byte body: the body is being held", peak, total, len(body))
	}
}
