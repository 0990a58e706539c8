package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

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
