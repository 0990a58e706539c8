package main

import (
	"context"
	"strings"
	"testing"

	"github.com/authmilter/authmilter/auth/dns/dnstest"
)

// TestDNSCacheKeys: the [dns] cache is said with explicit keys, bad values
// name their key, and the removed cache_size says what replaced it.
func TestDNSCacheKeys(t *testing.T) {
	load := func(text string) (Config, error) {
		t.Helper()
		path := t.TempDir() + "/c.toml"
		if err := writeFile(path, text); err != nil {
			t.Fatal(err)
		}
		return loadConfig(path)
	}
	for _, c := range []struct{ file, want string }{
		{"[dns]\ncache_size = 100000\n", "dns.cache_size: removed: the DNS cache is bounded by memory, dns.cache_bytes"},
		{"[dns]\ncache_size = -1\n", "dns.cache = false turns it off"},
		{"[dns]\ncache_bytes = 0\n", "dns.cache_bytes: must be positive"},
		{"[dns]\ncache_bytes = -1\n", "dns.cache_bytes: must be positive"},
		{"[dns]\ncache_bytes = 1000\n", "dns.cache_max_answer_bytes: must be between 1 and dns.cache_bytes (1000), got 16384"},
		{"[dns]\ncache_max_answer_bytes = 0\n", "dns.cache_max_answer_bytes"},
		{"[dns]\ncache = \"no\"\n", "dns.cache"},
		{"[dns]\ncache = 0\n", "dns.cache: must be true or false"},
		{"[dns]\nnegative_max_ttl = \"-1s\"\n", "dns.negative_max_ttl: must not be negative"},
	} {
		if _, err := load(c.file); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want %q", c.file, err, c.want)
		}
	}

	cfg, err := load("[dns]\ncache = false\ncache_bytes = 0\n")
	if err != nil {
		t.Fatal(err)
	}
	if rc := cfg.DNS; !rc.NoCache {
		t.Errorf("cache = false: resolver config %+v", rc)
	}
	cfg, err = load("[dns]\ncache_bytes = 1048576\ncache_max_answer_bytes = 4096\n")
	if err != nil {
		t.Fatal(err)
	}
	if rc := cfg.DNS; rc.NoCache || rc.CacheBytes != 1<<20 || rc.MaxAnswerBytes != 4096 {
		t.Errorf("resolver config %+v", rc)
	}
}

// TestDNSCacheMetrics: the cache's size and what it dropped are exported.
func TestDNSCacheMetrics(t *testing.T) {
	_, res := dnstest.StartResolver(t, "a.example. 60 TXT \"x\"\n")
	if _, err := res.LookupTXT(context.Background(), "a.example"); err != nil {
		t.Fatal(err)
	}
	m := newMetrics(res)
	families, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		for _, mt := range f.GetMetric() {
			name := f.GetName()
			for _, l := range mt.GetLabel() {
				name += "/" + l.GetValue()
			}
			got[name] = mt.GetGauge().GetValue() + mt.GetCounter().GetValue()
		}
	}
	if got["authmilter_dns_cache_entries"] != 1 || got["authmilter_dns_cache_bytes"] <= 0 {
		t.Errorf("cache gauges: entries %v, bytes %v", got["authmilter_dns_cache_entries"], got["authmilter_dns_cache_bytes"])
	}
	for _, reason := range []string{"evicted", "expired", "too_big"} {
		if v, ok := got["authmilter_dns_cache_dropped_total/"+reason]; !ok || v != 0 {
			t.Errorf("dropped %s: %v, %v", reason, v, ok)
		}
	}
}
