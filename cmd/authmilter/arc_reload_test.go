package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	gomilter "github.com/emersion/go-milter"

	"github.com/authmilter/authmilter/auth/arc"
	"github.com/authmilter/authmilter/auth/dkim"
	"github.com/authmilter/authmilter/auth/dns"
)

// txtZone is an in-memory TXT resolver.
type txtZone map[string]string

func (z txtZone) LookupTXT(_ context.Context, name string) ([]string, error) {
	if v, ok := z[strings.TrimSuffix(name, ".")]; ok {
		return []string{v}, nil
	}
	return nil, dns.NewError(dns.ErrNXDomain, name)
}

// writeEd25519 writes a new Ed25519 key to path and returns its record.
func writeEd25519(t *testing.T, path string) string {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	rec, _ := dkim.KeyRecord(k)
	return rec
}

// sealedRoundTrip sends milterRoundTrip's message and returns it as the
// MTA would deliver it, the inserted fields applied on top.
func sealedRoundTrip(t *testing.T, addr string) string {
	t.Helper()
	c := gomilter.NewClientWithOptions("tcp", addr, gomilter.ClientOptions{
		ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second,
		ActionMask: gomilter.OptAddHeader | gomilter.OptChangeHeader | gomilter.OptQuarantine,
	})
	defer c.Close()
	s, err := c.Session()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i, step := range []func() (*gomilter.Action, error){
		func() (*gomilter.Action, error) {
			return s.Conn("client.test", gomilter.FamilyInet, 4321, "198.51.100.7")
		},
		func() (*gomilter.Action, error) { return s.Helo("client.test") },
		func() (*gomilter.Action, error) { return s.Mail("<a@other.test>", nil) },
		func() (*gomilter.Action, error) { return s.Rcpt("<u@rcpt.test>", nil) },
		func() (*gomilter.Action, error) { return s.HeaderField("From", " a@other.test") },
		func() (*gomilter.Action, error) { return s.HeaderField("Subject", " hi") },
		func() (*gomilter.Action, error) { return s.HeaderEnd() },
		func() (*gomilter.Action, error) { return s.BodyChunk([]byte("hello\r\n")) },
	} {
		if a, err := step(); err != nil || a.Code != gomilter.ActContinue {
			t.Fatalf("step %d: %v %v", i, a, err)
		}
	}
	mods, _, err := s.End()
	if err != nil {
		t.Fatal(err)
	}
	msg := "From: a@other.test\r\nSubject: hi\r\n\r\nhello\r\n"
	for _, m := range mods {
		if m.Code == gomilter.ActInsertHeader && m.HeaderIndex == 0 {
			msg = m.HeaderName + ":" + strings.ReplaceAll(m.HeaderValue, "\n", "\r\n") + "\r\n" + msg
		}
	}
	return msg
}

// TestDaemonARCSealKeyReload: the [arc.seal] key is read at start and
// again at each reload (a new key seals from then on); a key file that
// cannot be read refuses the reload, naming the key.
func TestDaemonARCSealKeyReload(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon")
	}
	srv := otherTestDNS(t)
	keyFile := filepath.Join(t.TempDir(), "arc.pem")
	first := writeEd25519(t, keyFile)
	d := startDaemon(t, srv.Addr, "authserv_id = \"mx.test\"\n[arc.seal]\ndomain = \"mx.test\"\nselector = \"s\"\nkey = \""+keyFile+"\"\n")
	verify := func(msg, rec string) arc.Status {
		res, _ := arc.Verify(context.Background(), arc.Options{Resolver: txtZone{"s._domainkey.mx.test": rec}}, strings.NewReader(msg))
		return res.Result
	}
	msg := sealedRoundTrip(t, d.Addr)
	if got := verify(msg, first); got != arc.Pass || !strings.Contains(msg, "cv=none") {
		t.Fatalf("sealed with the first key: %s\n%s", got, msg)
	}

	second := writeEd25519(t, keyFile)
	d.cmd.Process.Signal(syscall.SIGHUP)
	waitForLog(t, d, "configuration reloaded")
	msg = sealedRoundTrip(t, d.Addr)
	if verify(msg, second) != arc.Pass || verify(msg, first) != arc.Fail {
		t.Errorf("after the reload the seal is not made with the new key:\n%s", msg)
	}

	os.Remove(keyFile)
	d.cmd.Process.Signal(syscall.SIGHUP)
	waitForLog(t, d, "reload refused")
	if !strings.Contains(d.log.String(), "arc.seal.key") {
		t.Errorf("refusal does not name arc.seal.key:\n%s", d.log.String())
	}
}
