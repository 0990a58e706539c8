package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	gomilter "github.com/emersion/go-milter"

	"github.com/authmilter/authmilter/auth/dkim"
	"github.com/authmilter/authmilter/auth/dns/dnstest"
)

// checkKeysWorld makes two Ed25519 keys with dkim keygen, publishes only
// the first (s1) and writes a configuration signing with both.
func checkKeysWorld(t *testing.T, keyCheck string) (conf string, srv *dnstest.Server) {
	t.Helper()
	dir := t.TempDir()
	for _, sel := range []string{"s1", "s2"} {
		var out, errOut bytes.Buffer
		if code := run([]string{"dkim", "keygen", "-domain", "example.com", "-selector", sel, "-algorithm", "ed25519", "-out", dir}, nil, &out, &errOut); code != 0 {
			t.Fatalf("keygen: %s", errOut.String())
		}
	}
	key, err := dkim.LoadSigningKey(filepath.Join(dir, "example.com.s1.pem"))
	if err != nil {
		t.Fatal(err)
	}
	rec, _ := dkim.KeyRecord(key)
	srv, err = dnstest.Start(fmt.Sprintf("s1._domainkey.example.com. TXT %q\n", rec))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	conf = filepath.Join(dir, "authmilter.toml")
	body := fmt.Sprintf(`authserv_id = "mx.example.com"
[dkim]
sign_key_check = %q
[[dkim.sign]]
domain = "example.com"
selector = "s1"
key = %q
[[dkim.sign]]
domain = "example.com"
selector = "s2"
key = %q
[dns]
servers = [%q]
`, keyCheck, filepath.Join(dir, "example.com.s1.pem"), filepath.Join(dir, "example.com.s2.pem"), srv.Addr)
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return conf, srv
}

// TestDKIMCheckKeys: check-keys prints each key's state and exits 1 when
// one is not published.
func TestDKIMCheckKeys(t *testing.T) {
	conf, srv := checkKeysWorld(t, "warn")
	var out, errOut bytes.Buffer
	code := run([]string{"dkim", "check-keys", "-config", conf, "-dns", srv.Addr}, nil, &out, &errOut)
	if code != 1 || !strings.Contains(out.String(), "s1._domainkey.example.com (") ||
		!matches(out.String(), `s1\._domainkey\.example\.com \(.*\): ok`) ||
		!matches(out.String(), `s2\._domainkey\.example\.com \(.*\): FAIL: dkim: published key: no key record at s2\._domainkey\.example\.com`) {
		t.Errorf("exit %d\n%s%s", code, out.String(), errOut.String())
	}
	out.Reset()
	code = run([]string{"dkim", "check-keys", "-json", "-config", conf}, nil, &out, &errOut)
	var j struct {
		Keys []struct {
			Selector string
			OK       bool
			Problem  string
		}
	}
	if err := json.Unmarshal(out.Bytes(), &j); err != nil || code != 1 || len(j.Keys) != 2 || !j.Keys[0].OK || j.Keys[1].OK {
		t.Errorf("exit %d, %s (%v)", code, out.String(), err)
	}
	out.Reset()
	if code := run([]string{"dkim", "check-keys"}, nil, &out, &errOut); code != 0 || !strings.Contains(out.String(), "no [[dkim.sign]] keys") {
		t.Errorf("no config: exit %d %q", code, out.String())
	}
}

// TestSignKeyCheckAtStart: a key missing from DNS is a warning, or with
// sign_key_check = "refuse" stops the start (and a reload: same build).
func TestSignKeyCheckAtStart(t *testing.T) {
	for _, mode := range []string{"warn", "refuse"} {
		conf, _ := checkKeysWorld(t, mode)
		cfg, err := loadConfig(conf)
		if err != nil {
			t.Fatal(err)
		}
		var logs bytes.Buffer
		_, _, err = build(cfg, slog.New(slog.NewTextHandler(&logs, nil)), nil, nil)
		if (err != nil) != (mode == "refuse") {
			t.Errorf("%s: build error %v", mode, err)
		}
		if !strings.Contains(logs.String(), "DKIM signing key does not match DNS") || !strings.Contains(logs.String(), "selector=s2") {
			t.Errorf("%s: log %s", mode, logs.String())
		}
	}
	// A failed lookup is not a mismatch: refused never.
	conf, srv := checkKeysWorld(t, "refuse")
	srv.ServFail("s2._domainkey.example.com.")
	cfg, err := loadConfig(conf)
	if err != nil {
		t.Fatal(err)
	}
	cfg.DNS.Attempts = 1
	var logs bytes.Buffer
	if _, _, err := build(cfg, slog.New(slog.NewTextHandler(&logs, nil)), nil, nil); err != nil {
		t.Errorf("SERVFAIL refused the start: %v", err)
	}
	if !strings.Contains(logs.String(), "lookup failed") {
		t.Errorf("log %s", logs.String())
	}
}

func matches(s, pattern string) bool { return regexp.MustCompile(pattern).MatchString(s) }

// signRoundTrip sends one message of SASL user alice from a@example.com to
// the daemon and returns the selectors of the DKIM-Signature fields added.
func signRoundTrip(t *testing.T, addr string) []string {
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
	if _, err := s.Conn("client.test", gomilter.FamilyInet, 4321, "198.51.100.7"); err != nil {
		t.Fatal(err)
	}
	if err := s.Macros(gomilter.CodeMail, "{auth_authen}", "alice"); err != nil {
		t.Fatal(err)
	}
	for i, step := range []func() (*gomilter.Action, error){
		func() (*gomilter.Action, error) { return s.Mail("<a@example.com>", nil) },
		func() (*gomilter.Action, error) { return s.Rcpt("<u@rcpt.test>", nil) },
		func() (*gomilter.Action, error) { return s.HeaderField("From", " a@example.com") },
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
	var sels []string
	for _, m := range mods {
		if m.HeaderName == "DKIM-Signature" {
			for _, tag := range strings.Split(m.HeaderValue, ";") {
				if k, v, _ := strings.Cut(tag, "="); strings.TrimSpace(k) == "s" {
					sels = append(sels, v)
				}
			}
		}
	}
	slices.Sort(sels) // inserted at the top one by one: the last first
	return sels
}

// TestDaemonReloadSignKeys: SIGHUP reads the keys again (a new selector
// signs the next message); an unreadable key refuses the reload, naming
// the entry, and the running keys stay.
func TestDaemonReloadSignKeys(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon")
	}
	conf, srv := checkKeysWorld(t, "warn")
	dir := filepath.Dir(conf)
	entry := func(sel string) string {
		return fmt.Sprintf("[[dkim.sign]]\ndomain = \"example.com\"\nselector = %q\nkey = %q\n", sel,
			filepath.Join(dir, "example.com."+sel+".pem"))
	}
	first := entry("s1")
	second := first + entry("s2")
	d := startDaemon(t, srv.Addr, "authserv_id = \"mx.example.com\"\n"+first)
	daemonConf := d.cmd.Args[len(d.cmd.Args)-1]
	if got := signRoundTrip(t, d.Addr); strings.Join(got, ",") != "s1" {
		t.Fatalf("before reload: selectors %q", got)
	}
	waitLog := func(sub string) {
		t.Helper()
		for i := 0; i < 100 && !strings.Contains(d.log.String(), sub); i++ {
			time.Sleep(50 * time.Millisecond)
		}
		if !strings.Contains(d.log.String(), sub) {
			t.Fatalf("log lacks %q:\n%s", sub, d.log.String())
		}
	}
	cur, _ := os.ReadFile(daemonConf)
	os.WriteFile(daemonConf, []byte(strings.Replace(string(cur), first, second, 1)), 0o644)
	d.cmd.Process.Signal(syscall.SIGHUP)
	waitLog("configuration reloaded")
	if got := signRoundTrip(t, d.Addr); strings.Join(got, ",") != "s1,s2" {
		t.Fatalf("after reload: selectors %q", got)
	}
	cur, _ = os.ReadFile(daemonConf)
	os.WriteFile(daemonConf, []byte(strings.Replace(string(cur), "example.com.s2.pem", "missing.pem", 1)), 0o644)
	d.cmd.Process.Signal(syscall.SIGHUP)
	waitLog("reload refused")
	logHas(t, d, "reload refused", "dkim.sign[1] (s2._domainkey.example.com)", "missing.pem")
	if got := signRoundTrip(t, d.Addr); strings.Join(got, ",") != "s1,s2" {
		t.Fatalf("after a refused reload: selectors %q", got)
	}
}
