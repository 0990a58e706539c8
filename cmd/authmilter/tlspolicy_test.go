package main

import (
	"bytes"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authmilter/authmilter/auth/dns"
	"github.com/authmilter/authmilter/auth/dns/dnstest"
	"github.com/authmilter/authmilter/auth/mtasts"
	"github.com/authmilter/authmilter/auth/tlspolicy"
)

func TestTLSPolicyConfigErrors(t *testing.T) {
	for _, c := range []struct{ file, key string }{
		{"[tls_policy]\nlisten = \"tcp:8461\"\n", "tls_policy.listen"},
		{"[tls_policy]\npostfix_version = \"3\"\n", "tls_policy.postfix_version"},
		{"[tls_policy]\npostfix_version = \"2.10\"\n", "tls_policy.postfix_version"},
		{"[tls_policy]\non_failure = \"defer\"\n", "tls_policy.on_failure"},
		{"[tls_policy]\nmax_policies = 0\n", "tls_policy.max_policies"},
		{"[tls_policy]\nrefresh_interval = \"10s\"\n", "tls_policy.refresh_interval"},
		{"[tls_policy]\nretry_interval = \"0s\"\n", "tls_policy.retry_interval"},
		{"[tls_policy]\nlookup_timeout = \"2m\"\n", "tls_policy.lookup_timeout"},
		{"[tls_policy]\nlookup_timeout = 15\n", "tls_policy.lookup_timeout"},
	} {
		path := filepath.Join(t.TempDir(), "c.toml")
		os.WriteFile(path, []byte(c.file), 0o644)
		if _, err := loadConfig(path); err == nil || !strings.Contains(err.Error(), c.key) {
			t.Errorf("%q: error %v does not name %s", c.file, err, c.key)
		}
	}
	path := filepath.Join(t.TempDir(), "c.toml")
	os.WriteFile(path, []byte("[tls_policy]\nlisten = \"inet:127.0.0.1:8461\"\npostfix_version = \"3.10.2\"\non_failure = \"temp\"\n"), 0o644)
	if _, err := loadConfig(path); err != nil {
		t.Errorf("good [tls_policy]: %v", err)
	}
}

// TestTLSPolicyLookupCommand: "authmilter tls-policy lookup" answers from
// the cache file without writing it, DANE before MTA-STS, NOTFOUND else.
func TestTLSPolicyLookupCommand(t *testing.T) {
	srv, err := dnstest.Start(`
_mta-sts.example.test.   TXT "v=STSv1; id=7"
example.test.            MX 10 mx1.example.test.
dane.test.               MX 10 mx.dane.test.
_25._tcp.mx.dane.test.   TLSA 3 1 1 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
`)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	srv.AD("dane.test")
	srv.AD("_25._tcp.mx.dane.test")
	dir := t.TempDir()
	cache := filepath.Join(dir, "tls-policy.json")
	store, _ := tlspolicy.OpenStore(cache, false, 10)
	now := time.Now()
	store.Put(tlspolicy.Entry{Domain: "example.test", ID: "7", Fetched: now, Expires: now.Add(time.Hour),
		Policy: mtasts.Policy{Mode: mtasts.ModeEnforce, MaxAge: 3600, MX: []string{"mx1.example.test", "*.example.net"}}})
	before, _ := os.ReadFile(cache)
	conf := filepath.Join(dir, "a.toml")
	os.WriteFile(conf, []byte(fmt.Sprintf("[dns]\nservers = [%q]\n[tls_policy]\ncache_file = %q\n", srv.Addr, cache)), 0o644)
	for _, c := range []struct{ domain, want string }{
		{"example.test", "answer: OK secure match=mx1.example.test:.example.net servername=hostname\nkind:   sts-enforce\n"},
		{"dane.test", "answer: OK dane-only\nkind:   dane-only\n"},
		{"plain.test", "answer: NOTFOUND \nkind:   none\n"},
	} {
		var out, errb bytes.Buffer
		code := run([]string{"tls-policy", "lookup", "-config", conf, c.domain}, nil, &out, &errb)
		if code != 0 || !strings.HasPrefix(out.String(), c.want) || !strings.Contains(out.String(), "why:\n  ") {
			t.Errorf("%s: exit %d\n%s%s", c.domain, code, out.String(), errb.String())
		}
	}
	if after, _ := os.ReadFile(cache); !bytes.Equal(before, after) {
		t.Errorf("lookup wrote the cache file")
	}
	var out, errb bytes.Buffer
	if code := run([]string{"tls-policy"}, nil, &out, &errb); code != 2 || !strings.Contains(errb.String(), "usage") {
		t.Errorf("no subcommand: exit %d, %q", code, errb.String())
	}
}

// TestTLSPolicyMetrics: answers and fetches are exported by kind.
func TestTLSPolicyMetrics(t *testing.T) {
	res, err := dns.New(dns.Config{Servers: []string{"127.0.0.1:1"}})
	if err != nil {
		t.Fatal(err)
	}
	m := newMetrics(res)
	tm := newTLSPolicyMetrics(m.reg)
	tm.Answered("sts-enforce")
	tm.Answered("sts-enforce")
	tm.Fetched("sts-webpki-invalid")
	rec := httptest.NewRecorder()
	m.handler(false).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, want := range []string{
		`authmilter_tls_policy_answers_total{kind="sts-enforce"} 2`,
		`authmilter_tls_policy_fetches_total{result="sts-webpki-invalid"} 1`,
	} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
