package dns

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Defaults for the zero values of Config.
const (
	DefaultTimeout        = 2 * time.Second
	DefaultAttempts       = 2
	DefaultCacheBytes     = 64 << 20
	DefaultMaxAnswerBytes = 16 << 10
	DefaultMaxTTL         = time.Hour
	DefaultNegativeMaxTTL = 15 * time.Minute
	DefaultResolvConf     = "/etc/resolv.conf"
)

// Config configures a Resolver. The zero value works: the nameservers of
// /etc/resolv.conf, 2 s per attempt, 2 attempts, a cache of 64 MiB.
//
// It is also the daemon's [dns] section: the toml tags are its keys
// (documented with their defaults in contrib/authmilter.toml), DefaultConfig
// its defaults and Validate its one validator.
type Config struct {
	// Servers are the upstream recursive resolvers, "host:port" or "host"
	// (port 53). Empty: the nameservers of ResolvConf.
	Servers []string `toml:"servers"`
	// ResolvConf is the file read when Servers is empty
	// (default /etc/resolv.conf).
	ResolvConf string `toml:"-"`
	// Timeout bounds one attempt, its TCP retry included (default 2 s);
	// the context's deadline, if sooner, bounds it too. A query takes at
	// most Timeout × Attempts; a lookup makes one query, and up to 3 more
	// for targets of CNAME chains that leave the answer.
	Timeout time.Duration `toml:"timeout"`
	// Attempts is how many queries one lookup may send, spread round-robin
	// over Servers (default 2).
	Attempts int `toml:"attempts"`
	// NoCache turns the cache off: every lookup asks upstream (identical
	// lookups in flight still share one query). The file says it the
	// other way round, as the key cache (true by default).
	NoCache NoCache `toml:"cache"`
	// CacheBytes bounds the memory of the cache (default 64 MiB): every
	// cached answer, negative ones included, counts at its size in memory
	// with its bookkeeping. The least recently used answers make room;
	// expired ones are dropped at the next lookup, whatever its name.
	CacheBytes int64 `toml:"cache_bytes"`
	// MaxAnswerBytes is the largest answer, in memory, that is cached
	// (default 16 KiB, 1/4096 of the default CacheBytes); a larger one is
	// used once and not kept. At most CacheBytes.
	MaxAnswerBytes int64 `toml:"cache_max_answer_bytes"`
	// MinTTL and MaxTTL clamp the TTL of positive answers (defaults 0 and
	// 1 h). MinTTL is also the floor of negative answers.
	MinTTL time.Duration `toml:"min_ttl"`
	MaxTTL time.Duration `toml:"max_ttl"`
	// NegativeMaxTTL caps the TTL of NXDOMAIN and NODATA answers, which
	// RFC 2308 section 5 takes from min(SOA TTL, SOA minimum) (default 15 m).
	NegativeMaxTTL time.Duration `toml:"negative_max_ttl"`
	// TempFailTTL is how long SERVFAIL and REFUSED answers are cached
	// (default 0: not cached). Timeouts and network errors never are.
	TempFailTTL time.Duration `toml:"tempfail_ttl"`
	// Now is the clock for cache expiry (default time.Now).
	Now func() time.Time `toml:"-"`
	// Logger receives debug lines; nil discards them.
	Logger *slog.Logger `toml:"-"`
}

// NoCache is true when the cache is off. The configuration file has it as
// the key cache, true by default, so that the zero Config keeps its cache:
// cache = false decodes to NoCache true.
type NoCache bool

// UnmarshalTOML reads the key cache: a TOML boolean, inverted. (The TOML
// decoder calls it, and names the key in its error.)
func (n *NoCache) UnmarshalTOML(v any) error {
	b, ok := v.(bool)
	if !ok {
		return fmt.Errorf("must be true or false, got %#v", v)
	}
	*n = NoCache(!b)
	return nil
}

// DefaultConfig is the zero Config with its defaults written out: the
// daemon's [dns] section before the file is read. Servers stays empty (the
// nameservers of /etc/resolv.conf).
func DefaultConfig() Config {
	return Config{
		Timeout: DefaultTimeout, Attempts: DefaultAttempts,
		CacheBytes: DefaultCacheBytes, MaxAnswerBytes: DefaultMaxAnswerBytes,
		MaxTTL: DefaultMaxTTL, NegativeMaxTTL: DefaultNegativeMaxTTL,
	}
}

// Validate checks every value as given (zero values are not defaults
// here: New fills those before it validates). Each error names its key in
// the configuration file ("dns.timeout: must be positive, got 0s").
func (c Config) Validate() error {
	for _, s := range c.Servers {
		if _, err := hostPort(s); err != nil || strings.ContainsAny(s, " /") {
			return fmt.Errorf("dns.servers: %q is not host:port", s)
		}
	}
	switch {
	case c.Timeout <= 0:
		return fmt.Errorf("dns.timeout: must be positive, got %s", c.Timeout)
	case c.Attempts < 1:
		return fmt.Errorf("dns.attempts: must be at least 1, got %d", c.Attempts)
	case c.MinTTL < 0:
		return fmt.Errorf("dns.min_ttl: must not be negative, got %s", c.MinTTL)
	case c.MaxTTL < c.MinTTL:
		return fmt.Errorf("dns.max_ttl: %s is below dns.min_ttl %s", c.MaxTTL, c.MinTTL)
	case !bool(c.NoCache) && c.CacheBytes <= 0:
		return fmt.Errorf("dns.cache_bytes: must be positive, got %d (dns.cache = false turns the cache off)", c.CacheBytes)
	case !bool(c.NoCache) && (c.MaxAnswerBytes <= 0 || c.MaxAnswerBytes > c.CacheBytes):
		return fmt.Errorf("dns.cache_max_answer_bytes: must be between 1 and dns.cache_bytes (%d), got %d",
			c.CacheBytes, c.MaxAnswerBytes)
	case c.NegativeMaxTTL < 0:
		return fmt.Errorf("dns.negative_max_ttl: must not be negative, got %s", c.NegativeMaxTTL)
	case c.TempFailTTL < 0:
		return fmt.Errorf("dns.tempfail_ttl: must not be negative, got %s", c.TempFailTTL)
	}
	return nil
}

// withDefaults fills the zero fields of c and validates the result.
func (c Config) withDefaults() (Config, error) {
	if len(c.Servers) == 0 {
		path := c.ResolvConf
		if path == "" {
			path = DefaultResolvConf
		}
		cc, err := dns.ClientConfigFromFile(path)
		if err != nil {
			return c, fmt.Errorf("dns: servers: %w", err)
		}
		port := cc.Port
		if port == "" {
			port = "53"
		}
		for _, s := range cc.Servers {
			c.Servers = append(c.Servers, net.JoinHostPort(s, port))
		}
		if len(c.Servers) == 0 {
			return c, fmt.Errorf("dns: servers: no nameserver in %s", path)
		}
	} else {
		servers := make([]string, 0, len(c.Servers))
		for _, s := range c.Servers {
			hp, err := hostPort(s)
			if err != nil {
				return c, fmt.Errorf("dns: servers: %w", err)
			}
			servers = append(servers, hp)
		}
		c.Servers = servers
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Attempts == 0 {
		c.Attempts = DefaultAttempts
	}
	if c.CacheBytes == 0 {
		c.CacheBytes = DefaultCacheBytes
	}
	if c.MaxAnswerBytes == 0 {
		c.MaxAnswerBytes = min(DefaultMaxAnswerBytes, c.CacheBytes)
	}
	if c.MaxTTL == 0 {
		c.MaxTTL = DefaultMaxTTL
	}
	if c.NegativeMaxTTL == 0 {
		c.NegativeMaxTTL = DefaultNegativeMaxTTL
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c, c.Validate()
}

// hostPort adds port 53 to a server given without one.
func hostPort(s string) (string, error) {
	if _, _, err := net.SplitHostPort(s); err == nil {
		return s, nil
	}
	host := s
	if len(host) > 1 && host[0] == '[' && host[len(host)-1] == ']' {
		host = host[1 : len(host)-1]
	}
	if host == "" {
		return "", errors.New("empty server address")
	}
	return net.JoinHostPort(host, "53"), nil
}
