package dns_test

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/authmilter/authmilter/auth/dns"
)

func TestConfigServers(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "resolv.conf")
	err := os.WriteFile(conf, []byte("# test\nnameserver 192.0.2.53\nnameserver 2001:db8::53\nsearch example.com\n"), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	r, err := dns.New(dns.Config{ResolvConf: conf})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := r.Servers(), []string{"192.0.2.53:53", "[2001:db8::53]:53"}; !slices.Equal(got, want) {
		t.Errorf("servers from resolv.conf = %q, want %q", got, want)
	}
	r, err = dns.New(dns.Config{Servers: []string{"192.0.2.1", "192.0.2.2:5353", "::1", "[::2]"}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := r.Servers(), []string{"192.0.2.1:53", "192.0.2.2:5353", "[::1]:53", "[::2]:53"}; !slices.Equal(got, want) {
		t.Errorf("servers = %q, want %q", got, want)
	}
}

func TestConfigErrors(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(empty, []byte("search example.com\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := []string{"127.0.0.1"}
	for name, cfg := range map[string]dns.Config{
		"no resolv.conf":   {ResolvConf: filepath.Join(t.TempDir(), "missing")},
		"no nameserver":    {ResolvConf: empty},
		"empty server":     {Servers: []string{""}},
		"negative timeout": {Servers: srv, Timeout: -time.Second},
		"min over max":     {Servers: srv, MinTTL: time.Hour, MaxTTL: time.Minute},
		"negative attempt": {Servers: srv, Attempts: -1},
		"negative tempttl": {Servers: srv, TempFailTTL: -1},
	} {
		if _, err := dns.New(cfg); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestNoGoroutineLeak checks that lookups, timeouts included, leave no
// goroutine behind once their flights end.
func TestNoGoroutineLeak(t *testing.T) {
	srv, r, _ := setup(t, zone, func(c *dns.Config) { c.Timeout = 50 * time.Millisecond; c.Attempts = 1 })
	srv.Truncate("example.com")
	srv.Drop("nx.example.com")
	before := runtime.NumGoroutine()
	ctx := context.Background()
	for range 20 {
		r.LookupTXT(ctx, "example.com")
		r.LookupIP(ctx, "ip", "www.example.com")
		r.LookupTXT(ctx, "nx.example.com")
	}
	// Flights end within Timeout × Attempts; give the scheduler time.
	for range 100 {
		if runtime.NumGoroutine() <= before {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Errorf("goroutines: %d before, %d after", before, runtime.NumGoroutine())
}
