package dns

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
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
type Config struct {
	// Servers are the upstream recursive resolvers, "host:port" or "host"
	// (port 53). Empty: the nameservers of ResolvConf.
	Servers []string
	// ResolvConf is the file read when Servers is empty
	// (default /etc/resolv.conf).
	ResolvConf string
	// Timeout bounds one attempt, its TCP retry included (default 2 s);
	// the context's deadline, if sooner, bounds it too. A query takes at
	// most Timeout × Attempts; a lookup makes one query, and up to 3 more
	// for targets of CNAME chains that leave the answer.
	Timeout time.Duration
	// Attempts is how many queries one lookup may send, spread round-robin
	// over Servers (default 2).
	Attempts int
	// NoCache turns the cache off: every lookup asks upstream (identical
	// lookups in flight still share one query).
	NoCache bool
	// CacheBytes bounds the memory of the cache (default 64 MiB): every
	// cached answer, negative ones included, counts at its size in memory
	// with its bookkeeping. The least recently used answers make room;
	// expired ones are dropped at the next lookup, whatever its name.
	CacheBytes int64
	// MaxAnswerBytes is the largest answer, in memory, that is cached
	// (default 16 KiB, 1/4096 of the default CacheBytes); a larger one is
	// used once and not kept. At most CacheBytes.
	MaxAnswerBytes int64
	// MinTTL and MaxTTL clamp the TTL of positive answers (defaults 0 and
	// 1 h). MinTTL is also the floor of negative answers.
	MinTTL, MaxTTL time.Duration
	// NegativeMaxTTL caps the TTL of NXDOMAIN and NODATA answers, which
	// RFC 2308 section 5 takes from min(SOA TTL, SOA minimum) (default 15 m).
	NegativeMaxTTL time.Duration
	// TempFailTTL is how long SERVFAIL and REFUSED answers are cached
	// (default 0: not cached). Timeouts and network errors never are.
	TempFailTTL time.Duration
	// Now is the clock for cache expiry (default time.Now).
	Now func() time.Time
	// Logger receives debug lines; nil discards them.
	Logger *slog.Logger
}

// withDefaults fills the zero fields of c and checks the others.
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
	switch {
	case c.Timeout < 0:
		return c, errors.New("dns: timeout: must be positive")
	case c.Attempts < 0:
		return c, errors.New("dns: attempts: must be positive")
	case c.MinTTL < 0 || c.MaxTTL < c.MinTTL:
		return c, errors.New("dns: min_ttl, max_ttl: need 0 <= min_ttl <= max_ttl")
	case !c.NoCache && (c.CacheBytes < 0 || c.MaxAnswerBytes < 0):
		return c, errors.New("dns: cache_bytes, cache_max_answer_bytes: must not be negative")
	case !c.NoCache && c.MaxAnswerBytes > c.CacheBytes:
		return c, errors.New("dns: cache_max_answer_bytes: must not exceed cache_bytes")
	case c.NegativeMaxTTL < 0 || c.TempFailTTL < 0:
		return c, errors.New("dns: negative_max_ttl, tempfail_ttl: must not be negative")
	}
	return c, nil
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
