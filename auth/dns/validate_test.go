package dns_test

import (
	"strings"
	"testing"
	"time"

	"github.com/authmilter/authmilter/auth/dns"
)

// TestValidate: the one validator of [dns] names each key; the defaults
// pass it, and New applies it after filling zero values.
func TestValidate(t *testing.T) {
	if err := dns.DefaultConfig().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for _, c := range []struct {
		mod  func(*dns.Config)
		want string
	}{
		{func(c *dns.Config) { c.Servers = []string{""} }, `dns.servers: "" is not host:port`},
		{func(c *dns.Config) { c.Servers = []string{"a b:53"} }, `dns.servers: "a b:53" is not host:port`},
		{func(c *dns.Config) { c.Timeout = 0 }, "dns.timeout: must be positive, got 0s"},
		{func(c *dns.Config) { c.Attempts = 0 }, "dns.attempts: must be at least 1, got 0"},
		{func(c *dns.Config) { c.MinTTL = -time.Second }, "dns.min_ttl: must not be negative"},
		{func(c *dns.Config) { c.MinTTL = 2 * time.Hour }, "dns.max_ttl: 1h0m0s is below dns.min_ttl 2h0m0s"},
		{func(c *dns.Config) { c.CacheBytes = 0 }, "dns.cache_bytes: must be positive, got 0 (dns.cache = false turns the cache off)"},
		{func(c *dns.Config) { c.MaxAnswerBytes = c.CacheBytes + 1 }, "dns.cache_max_answer_bytes: must be between 1 and dns.cache_bytes"},
		{func(c *dns.Config) { c.NegativeMaxTTL = -1 }, "dns.negative_max_ttl: must not be negative"},
		{func(c *dns.Config) { c.TempFailTTL = -1 }, "dns.tempfail_ttl: must not be negative"},
	} {
		cfg := dns.DefaultConfig()
		c.mod(&cfg)
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Validate() = %v, want %q", err, c.want)
		}
	}
	// With the cache off, its sizes are not checked.
	cfg := dns.DefaultConfig()
	cfg.NoCache, cfg.CacheBytes = true, 0
	if err := cfg.Validate(); err != nil {
		t.Errorf("cache off: %v", err)
	}
	// New: zero values are defaults, the rest goes through Validate.
	if _, err := dns.New(dns.Config{Servers: []string{"127.0.0.1"}, Timeout: -time.Second}); err == nil ||
		!strings.Contains(err.Error(), "dns.timeout: must be positive") {
		t.Errorf("New with a negative timeout: %v", err)
	}
}
